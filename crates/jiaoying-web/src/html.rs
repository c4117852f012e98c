//! A minimal HTML page frame for the answer pages (the board gets a template crate later).

/// HTML escaping, shared with the e-mail bodies.
pub use jiaoying_core::message::escape_html as escape;

/// A whole page. `body` must already be escaped HTML.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:1em auto;padding:0 1em;line-height:1.5}}\
         .tier{{display:inline-block;padding:.1em .5em;border-radius:.3em;color:#fff}}\
         .red{{background:#c00}}.orange{{background:#e67e00}}.yellow{{background:#d4b000;color:#000}}.blue{{background:#1f5fbf}}\
         button{{font-size:1.3em;padding:.6em 1.2em;width:100%}}.en{{color:#555;font-size:.9em}}</style></head>\
         <body>{body}</body></html>",
        escape(title)
    )
}

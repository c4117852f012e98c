//! The Atom feed of jiaoying's alerts (RFC 4287), newest first, paged (RFC 5005 `next` links).
//! One entry per alert; its `link` (type `application/cap+xml`) names the alert's current CAP
//! version ([`crate::cap_out`]), with the version in the URL so a reader that takes every linked
//! document once (jiaoying's own poller does) takes each new version.

use std::io;

use jiaoying_core::Timestamp;
use jiaoying_store::AlertRow;
use quick_xml::events::{BytesDecl, Event};
use quick_xml::Writer;

use crate::cap_out::text_el;
use crate::config::FeedConfig;

pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

/// One entry: an alert and the URL of its CAP document.
pub struct Entry<'a> {
    pub alert: &'a AlertRow,
    pub cap_href: String,
}

/// One page of the feed.
pub struct Page<'a> {
    pub feed: &'a FeedConfig,
    pub self_href: String,
    pub next_href: Option<String>,
    pub entries: Vec<Entry<'a>>,
}

fn rfc3339(ms: i64) -> String {
    Timestamp(ms).to_rfc3339()
}

fn link<W: io::Write>(w: &mut Writer<W>, rel: &str, mime: Option<&str>, href: &str) -> io::Result<()> {
    let mut el = w.create_element("link").with_attribute(("rel", rel)).with_attribute(("href", href));
    if let Some(m) = mime {
        el = el.with_attribute(("type", m));
    }
    el.write_empty()?;
    Ok(())
}

/// The feed document, UTF-8.
pub fn write_atom(page: &Page<'_>) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_into(&mut w, page).expect("writing to a Vec cannot fail");
    let mut out = w.into_inner();
    out.push(b'\n');
    out
}

fn write_into(w: &mut Writer<Vec<u8>>, page: &Page<'_>) -> io::Result<()> {
    let feed = page.feed;
    // An empty feed is as old as the epoch: nothing in it has changed.
    let updated = page.entries.iter().map(|e| e.alert.updated_at).max().unwrap_or(0);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("feed").with_attribute(("xmlns", ATOM_NS)).write_inner_content(|w| {
        text_el(w, "id", &format!("{}/feeds/alerts.atom", feed.public_url))?;
        text_el(w, "title", &format!("{} 预警 (alerts)", feed.sender_name))?;
        text_el(w, "updated", &rfc3339(updated))?;
        w.create_element("author").write_inner_content(|w| {
            text_el(w, "name", &feed.sender_name)?;
            text_el(w, "uri", &feed.public_url)
        })?;
        text_el(w, "generator", "jiaoying")?;
        link(w, "self", Some("application/atom+xml"), &page.self_href)?;
        if let Some(next) = &page.next_href {
            link(w, "next", Some("application/atom+xml"), next)?;
        }
        for e in &page.entries {
            let a = e.alert;
            w.create_element("entry").write_inner_content(|w| {
                text_el(w, "id", &format!("{}/feeds/alerts/{}.cap", feed.public_url, a.id))?;
                let title = if a.headline.trim().is_empty() {
                    format!("{}{}预警", a.tier.zh(), a.event)
                } else {
                    a.headline.clone()
                };
                text_el(w, "title", &title)?;
                text_el(w, "updated", &rfc3339(a.updated_at))?;
                text_el(w, "published", &rfc3339(a.created_at))?;
                w.create_element("category")
                    .with_attribute(("term", a.tier.as_str()))
                    .with_attribute(("label", a.tier.zh()))
                    .write_empty()?;
                w.create_element("category")
                    .with_attribute(("term", a.state.as_str()))
                    .with_attribute(("scheme", "urn:jiaoying:alert-state"))
                    .write_empty()?;
                if !a.description.trim().is_empty() {
                    text_el(w, "summary", &a.description)?;
                }
                link(w, "alternate", Some("application/cap+xml"), &e.cap_href)
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

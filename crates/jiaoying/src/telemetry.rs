//! Logging set-up, in one place: human-readable by default, one JSON object per line with
//! `[log] format = "json"`. The writer is a parameter, so tests can read what would be logged.
//!
//! What the code logs at info and above names no secret and no whole phone number: recipients
//! and senders go through `jiaoying_core::mask_recipient` / `mask_mobile`, gateway errors through
//! `mask_numbers_in`. Spans carry the ids a line is about (`alert_id`, `call_id`, `message_id`);
//! the JSON format writes the current span and its parents with every event.

use std::io;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// `[log] format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, for a terminal or journald.
    #[default]
    Text,
    /// One JSON object per line: the event's fields at the top level, `span` (the innermost) and
    /// `spans` (all, outermost first), for a log pipeline.
    Json,
}

/// The subscriber for `format`, keeping what `filter` lets through, writing to `writer` (plain
/// text: no terminal colours).
pub fn subscriber<W>(format: LogFormat, filter: EnvFilter, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    build(format, filter, writer, false)
}

fn build<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => {
            Box::new(builder.json().flatten_event(true).with_current_span(true).with_span_list(true).finish())
        }
    }
}

/// Installs the process's logger on stderr; `RUST_LOG`, when set, wins over `level`.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only for a person at a terminal, not for journald or a file.
    let ansi = format == LogFormat::Text && io::IsTerminal::is_terminal(&io::stderr());
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = build(format, filter, io::stderr, ansi).try_init();
}

/// Installs the process's logger on `writer` with the filter `level` (the environment is not
/// read): how a test captures the logs of the applications it runs. False when a logger was
/// already installed.
pub fn init_with<W>(format: LogFormat, level: &str, writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber(format, EnvFilter::new(level), writer).try_init().is_ok()
}

/// A log sink that keeps what is written, for tests that read the logs.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'w self) -> CapturedLogs {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_some(format: LogFormat) -> String {
        let logs = CapturedLogs::default();
        let sub = subscriber(format, EnvFilter::new("info"), logs.clone());
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!("send", message_id = 7, call_id = 3, alert_id = 1);
            let _entered = span.enter();
            tracing::info!(channel = "sms", to = %jiaoying_core::mask_mobile("+8613900000004"), "message sent");
            tracing::debug!(to = "+8613900000004", "below the filter");
        });
        logs.text()
    }

    #[test]
    fn json_lines_carry_the_event_and_its_span() {
        let text = log_some(LogFormat::Json);
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "message sent");
        assert_eq!(line["channel"], "sms");
        assert_eq!(line["to"], "+86139****0004");
        assert_eq!(line["span"]["name"], "send");
        assert_eq!((line["span"]["message_id"].as_i64(), line["span"]["call_id"].as_i64()), (Some(7), Some(3)));
        assert_eq!(line["spans"][0]["alert_id"], 1);
        assert!(!text.contains("+8613900000004"), "{text}");
    }

    #[test]
    fn text_is_the_default_and_reads_as_lines() {
        assert_eq!(toml::from_str::<crate::Settings>("").unwrap().log.format, LogFormat::Text);
        assert_eq!(
            toml::from_str::<crate::Settings>("[log]\nformat = \"json\"\n").unwrap().log.format,
            LogFormat::Json
        );
        assert!(toml::from_str::<crate::Settings>("[log]\nformat = \"xml\"\n").is_err());
        let text = log_some(LogFormat::Text);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(serde_json::from_str::<serde_json::Value>(text.trim()).is_err(), "{text}");
        assert!(
            text.contains("message sent") && text.contains("message_id=7") && text.contains("+86139****0004"),
            "{text}"
        );
    }
}

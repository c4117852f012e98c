//! A real SMTP server process (tests/support/smtp_sink.py) and the messages it reports.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw message as the server received it.
    pub data: String,
}

impl Mail {
    /// The decoded subject and every decoded text part (plain and HTML), for assertions that
    /// must not depend on transfer encodings.
    pub fn decoded(&self) -> String {
        let Ok(parsed) = mailparse::parse_mail(self.data.as_bytes()) else { return String::new() };
        let mut out =
            parsed.headers.iter().map(|h| format!("{}: {}", h.get_key(), h.get_value())).collect::<Vec<_>>().join("\n");
        fn walk(p: &mailparse::ParsedMail<'_>, out: &mut String) {
            if p.subparts.is_empty() {
                if let Ok(body) = p.get_body() {
                    out.push('\n');
                    out.push_str(&body);
                }
            }
            for s in &p.subparts {
                walk(s, out);
            }
        }
        walk(&parsed, &mut out);
        out
    }
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
    _child: Child,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start python3 smtp_sink.py");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("smtp sink did not start")
            .expect("read smtp sink")
            .expect("smtp sink closed");
        let port: u16 = first.strip_prefix("LISTENING ").and_then(|p| p.trim().parse().ok()).expect("LISTENING <port>");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (m, a) = (mails.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(json) = line.strip_prefix("MESSAGE ") {
                    let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                    let to = v["to"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    m.lock().unwrap().push(Mail {
                        from: v["from"].as_str().unwrap_or("").to_string(),
                        to,
                        data: v["data"].as_str().unwrap_or("").to_string(),
                    });
                    a.notify_waiters();
                }
            }
        });
        SmtpServer { port, mails, arrived, _child: child }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits until at least `n` mails have arrived in all (timeout only as a safety net).
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let got = self.mails();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("smtp: waited for {n} mails, got {}", got.len());
            }
        }
    }
}

//! The console channel: writes each message as one line to stdout or a file, so a demo or a test
//! works without any gateway.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::channel::{AddressKind, Channel, Outgoing, SendError, Sent};

pub struct ConsoleChannel {
    /// Behind a mutex so that concurrent sends never interleave their lines.
    sink: Mutex<Sink>,
}

enum Sink {
    Stdout,
    /// The file is opened lazily on the first send, so that a missing directory is reported as a
    /// send error (and retried) instead of failing the whole config at startup.
    File {
        path: PathBuf,
        file: Option<tokio::fs::File>,
    },
}

impl ConsoleChannel {
    pub fn stdout() -> Self {
        ConsoleChannel { sink: Mutex::new(Sink::Stdout) }
    }

    pub fn file(path: impl Into<PathBuf>) -> Self {
        ConsoleChannel { sink: Mutex::new(Sink::File { path: path.into(), file: None }) }
    }

    pub fn new(path: Option<&str>) -> Self {
        match path {
            Some(p) => Self::file(p),
            None => Self::stdout(),
        }
    }
}

/// The line a console channel writes for one message (without the newline).
pub fn format_line(msg: &Outgoing<'_>) -> String {
    // A message text may span lines; keep one message per line so the file stays greppable.
    let text = msg.text.replace('\r', "").replace('\n', " / ");
    format!(
        "[console] to={} id={} code={} link={} | {}",
        msg.to,
        msg.id,
        msg.code.unwrap_or("-"),
        msg.link.unwrap_or("-"),
        text
    )
}

#[async_trait]
impl Channel for ConsoleChannel {
    fn kind(&self) -> &'static str {
        "console"
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        let mut line = format_line(msg);
        line.push('\n');
        let mut sink = self.sink.lock().await;
        match &mut *sink {
            Sink::Stdout => {
                let mut out = tokio::io::stdout();
                out.write_all(line.as_bytes())
                    .await
                    .map_err(|e| SendError::Transient(format!("writing to stdout: {e}")))?;
                out.flush().await.map_err(|e| SendError::Transient(format!("flushing stdout: {e}")))?;
            }
            Sink::File { path, file } => {
                if file.is_none() {
                    *file = Some(open_append(path).await?);
                }
                let f = file.as_mut().expect("opened above");
                let res = async {
                    f.write_all(line.as_bytes()).await?;
                    f.flush().await
                }
                .await;
                if let Err(e) = res {
                    // Drop the handle so the next send reopens (the file may have been rotated).
                    *file = None;
                    return Err(SendError::Transient(format!("writing to {}: {e}", path.display())));
                }
            }
        }
        Ok(Sent { provider_id: None })
    }
}

async fn open_append(path: &std::path::Path) -> Result<tokio::fs::File, SendError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| SendError::Transient(format!("creating directory {}: {e}", dir.display())))?;
    }
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|e| SendError::Transient(format!("opening {}: {e}", path.display())))
}

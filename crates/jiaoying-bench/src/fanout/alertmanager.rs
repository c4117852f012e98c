//! The peer: Prometheus Alertmanager (Debian package `prometheus-alertmanager`), run as a child
//! process on a free loopback port with a temporary config and storage directory and clustering
//! off. One alert per person with a `person` label, routed with `group_by: ['person']` and
//! `group_wait: 0s`, so every person is one group and one webhook to the sink. Alertmanager keeps
//! its alerts in memory only: this is the speed of a dispatcher that writes nothing to disk.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::sink::{Route, Sink};

/// Alerts per `POST /api/v2/alerts`.
pub const BATCH: usize = 1000;

pub struct AmFigures {
    pub version: String,
    /// From the first POST to the last batch answered.
    pub post: Duration,
    /// From the first POST to the first webhook at the sink.
    pub first: Duration,
    /// From the first POST to the last person's webhook at the sink.
    pub all: Duration,
    pub persons: usize,
    pub webhooks: usize,
    pub duplicates: usize,
    pub malformed: usize,
}

/// The binary: `JIAOYING_BENCH_ALERTMANAGER`, else `prometheus-alertmanager` (Debian's name) or
/// `alertmanager` on the PATH.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("JIAOYING_BENCH_ALERTMANAGER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["prometheus-alertmanager", "alertmanager"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn version(bin: &Path) -> String {
    std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            version_of(&format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
        })
        .unwrap_or_else(|| "Alertmanager (version unknown)".into())
}

/// "alertmanager, version 0.25.0 (branch: ...)" → "Alertmanager 0.25.0".
fn version_of(text: &str) -> Option<String> {
    let v = text.lines().next()?.split("version").nth(1)?.split_whitespace().next()?;
    Some(format!("Alertmanager {v}"))
}

fn free_port() -> anyhow::Result<u16> {
    // Bound and released at once: Alertmanager binds it a moment later. A race with another
    // process taking the same port in between fails the readiness check loudly, not silently.
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn config(sink_url: &str) -> String {
    format!(
        r#"route:
  receiver: sink
  group_by: ['person']
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: '{sink_url}'
        send_resolved: false
"#
    )
}

/// Runs the peer measure; `Ok(None)` with a note on stderr when no binary is installed.
pub async fn run(persons: usize) -> anyhow::Result<Option<AmFigures>> {
    let Some(bin) = binary() else {
        eprintln!(
            "note: Alertmanager not found (apt-get install prometheus-alertmanager, or set \
             JIAOYING_BENCH_ALERTMANAGER); the peer comparison is skipped"
        );
        return Ok(None);
    };
    let version = version(&bin);
    let sink = Sink::start("unused")?;
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("alertmanager.yml");
    std::fs::write(&config_path, config(&sink.url("/am")))?;
    let storage = dir.path().join("data");
    std::fs::create_dir_all(&storage)?;
    let log_path = dir.path().join("alertmanager.log");
    let log = std::fs::File::create(&log_path)?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(&bin)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let result = measure(&base, &sink, persons, &mut child, &log_path).await;
    // Our own child, by its handle.
    let _ = child.kill().await;
    result.map(|(post, first, all)| {
        let c = sink.counts();
        Some(AmFigures {
            version,
            post,
            first,
            all,
            persons: c.am_persons,
            webhooks: c.am_posts,
            duplicates: c.am_duplicates,
            malformed: c.am_malformed,
        })
    })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

async fn measure(
    base: &str,
    sink: &Sink,
    persons: usize,
    child: &mut tokio::process::Child,
    log: &Path,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    // Readiness: Alertmanager answers /-/ready once its config is loaded.
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("Alertmanager exited at start ({status}):\n{}", log_tail(log));
        }
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        anyhow::ensure!(Instant::now() < ready_by, "Alertmanager not ready after 30 s:\n{}", log_tail(log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bodies built before the clock starts, as jiaoying's one small alert is.
    let bodies: Vec<String> = (0..persons)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|chunk| {
            let alerts: Vec<serde_json::Value> = chunk
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "labels": {"alertname": "RainstormRed", "severity": "red", "person": format!("p-{i}")},
                        "annotations": {"summary": "暴雨红色预警"}
                    })
                })
                .collect();
            serde_json::Value::Array(alerts).to_string()
        })
        .collect();

    let started = Instant::now();
    for body in bodies {
        let r = client
            .post(format!("{base}/api/v2/alerts"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        anyhow::ensure!(status.is_success(), "Alertmanager refused alerts: {status} {}", r.text().await?);
    }
    let post = started.elapsed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    sink.wait_for(Route::Alertmanager, persons, deadline).await?;
    let at = |i| sink.arrival(Route::Alertmanager, i).map(|t: Instant| t.saturating_duration_since(started));
    let first = at(0).unwrap_or_default();
    let all = at(persons - 1).unwrap_or_default();
    Ok((post, first, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_groups_by_person_without_waiting() {
        let c = config("http://127.0.0.1:1/am");
        assert!(c.contains("group_by: ['person']"));
        assert!(c.contains("group_wait: 0s"));
        assert!(c.contains("url: 'http://127.0.0.1:1/am'"));
    }

    #[test]
    fn version_is_read_from_the_first_line() {
        let out = "alertmanager, version 0.25.0 (branch: debian/sid, revision: 0.25.0-1+b4)\n  build user: x\n";
        assert_eq!(version_of(out).as_deref(), Some("Alertmanager 0.25.0"));
        assert_eq!(version_of(""), None);
        assert_eq!(version_of("garbage"), None);
    }
}

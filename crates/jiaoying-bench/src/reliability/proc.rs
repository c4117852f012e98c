//! The real binary as child processes: built (or found), started with a config file and a port,
//! waited on until `/readyz` says ready, killed with SIGKILL or stopped with SIGTERM, and its
//! resident memory read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

/// The `jiaoying` binary under test.
#[derive(Debug, Clone)]
pub struct Binary {
    pub path: PathBuf,
}

/// The workspace's root (this crate lives in `crates/jiaoying-bench`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Binary {
    /// `JIAOYING_BIN` when set; else `target/release/jiaoying`, built first with `cargo build
    /// --release -p jiaoying` unless `build` is false.
    pub fn locate(build: bool) -> anyhow::Result<Binary> {
        if let Ok(p) = std::env::var("JIAOYING_BIN") {
            let path = PathBuf::from(p);
            anyhow::ensure!(path.exists(), "JIAOYING_BIN={} does not exist", path.display());
            return Ok(Binary { path });
        }
        let root = workspace();
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let path = target.join("release").join("jiaoying");
        if build {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            println!("building the binary: cargo build --release -p jiaoying");
            let status = std::process::Command::new(cargo)
                .args(["build", "--release", "-p", "jiaoying"])
                .current_dir(&root)
                .status()
                .context("running cargo build")?;
            anyhow::ensure!(status.success(), "cargo build --release -p jiaoying failed");
        }
        anyhow::ensure!(
            path.exists(),
            "{} does not exist: build it (cargo build --release -p jiaoying) or drop --no-build",
            path.display()
        );
        Ok(Binary { path })
    }

    /// `jiaoying token add NAME --role ROLE --config FILE`: the token, its output's last line.
    pub async fn token_add(&self, config: &Path, name: &str, role: &str) -> anyhow::Result<String> {
        let out = Command::new(&self.path)
            .args(["token", "add", name, "--role", role, "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .await
            .context("running jiaoying token add")?;
        anyhow::ensure!(out.status.success(), "token add failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout)?;
        stdout
            .lines()
            .last()
            .map(|l| l.trim().to_string())
            .filter(|t| !t.is_empty())
            .context("token add printed nothing")
    }
}

/// A free loopback port (bound and released: a small race, fine on a machine of our own).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One running instance of the service.
pub struct Instance {
    pub name: String,
    pub port: u16,
    child: Child,
    pub log: PathBuf,
    /// How long the last start took to become ready.
    pub ready_after: Duration,
}

impl Instance {
    /// Starts `jiaoying serve --config CONFIG` listening on `port` (the same config file for every
    /// instance; the address comes from `JIAOYING_SERVER__LISTEN`), its output appended to
    /// `log_dir/NAME.log`, and waits until `/readyz` answers 200.
    pub async fn start(bin: &Binary, config: &Path, port: u16, log_dir: &Path, name: &str) -> anyhow::Result<Instance> {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let err = out.try_clone()?;
        let started = Instant::now();
        let child = Command::new(&bin.path)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("JIAOYING_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", std::env::var("JIAOYING_RELIABILITY_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.path.display()))?;
        let mut instance = Instance { name: name.to_string(), port, child, log, ready_after: Duration::ZERO };
        instance.wait_ready(Duration::from_secs(120)).await?;
        instance.ready_after = started.elapsed();
        Ok(instance)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("{} exited before it was ready ({status}); see {}", self.name, self.log.display());
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base())).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} not ready within {within:?}; see {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing released.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// SIGTERM, then waits up to `grace` for the exit; SIGKILL after that. The exit status, or
    /// `None` when it had to be killed.
    pub async fn stop(&mut self, grace: Duration) -> anyhow::Result<Option<std::process::ExitStatus>> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(Some(status));
        }
        if let Some(pid) = self.pid() {
            // No signal crate in the workspace: the kill(1) every Linux has.
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(Some(status?)),
            Err(_) => {
                self.kill9().await?;
                Ok(None)
            }
        }
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// Lines of the instance's log that are errors (`ERROR`), for the report.
    pub fn error_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ERROR"))
            .map(str::to_string)
            .collect()
    }
}

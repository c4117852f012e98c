//! The CLI commands other than `serve`: each returns what to print, so tests can check it.

use std::path::Path;

use anyhow::{bail, Context};
use jiaoying_core::{Clock, SystemClock};
use jiaoying_dispatch::{build_channel, Outgoing};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::registry_file::read_registry;
use crate::settings::Settings;

/// `jiaoying migrate`
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    store.close().await;
    Ok("migrations applied".into())
}

/// `jiaoying import FILE`: all or nothing.
pub async fn import(settings: &Settings, file: &Path) -> anyhow::Result<String> {
    let registry = read_registry(file)?;
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let changes = store.upsert_registry(&registry, SystemClock.now().millis()).await?;
    store.close().await;
    Ok(format!(
        "imported {}: {} areas, {} persons, {} units ({} added, {} changed, {} unchanged)",
        file.display(),
        registry.areas.len(),
        registry.persons.len(),
        registry.units.len(),
        changes.added,
        changes.changed,
        changes.unchanged
    ))
}

/// `jiaoying check-config`: every problem of the config and of the registry it names.
/// Returns the report and whether it found errors.
pub fn check_config(settings: &Settings) -> (String, bool) {
    let mut lines = Vec::new();
    let mut errors = settings.problems();
    if let Some(path) = &settings.registry {
        if path.exists() {
            if let Err(e) = read_registry(path) {
                errors.push(format!("{e:#}"));
            }
        } else {
            errors.push(format!("registry file {} does not exist", path.display()));
        }
    }
    for e in &errors {
        lines.push(format!("error: {e}"));
    }
    for w in settings.warnings() {
        lines.push(format!("warning: {w}"));
    }
    if errors.is_empty() {
        lines.push("config OK".into());
    }
    (lines.join("\n"), !errors.is_empty())
}

pub const ROLES: [&str; 3] = ["admin", "officer", "viewer"];

/// `jiaoying token add NAME --role ROLE`: the token is printed once, as the last line; only its
/// SHA-256 is stored.
pub async fn token_add(settings: &Settings, name: &str, role: &str) -> anyhow::Result<String> {
    if !ROLES.contains(&role) {
        bail!("role {role:?} is not one of admin, officer, viewer");
    }
    if name.trim().is_empty() || name.len() > 64 {
        bail!("the token name must be 1 to 64 characters");
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("jy_{}", hex::encode(bytes));
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    store.put_api_token(name.trim(), role, &hash, SystemClock.now().millis()).await?;
    store.close().await;
    Ok(format!("API token {:?} ({role}) created; it is shown only now:\n{token}", name.trim()))
}

/// `jiaoying user add NAME --role ROLE`: adds the board user, or sets the role and password of
/// an existing one (which ends its sessions). Only the argon2id hash of the password is stored.
pub async fn user_add(settings: &Settings, name: &str, role: &str, password: &str) -> anyhow::Result<String> {
    if !ROLES.contains(&role) {
        bail!("role {role:?} is not one of admin, officer, viewer");
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        bail!("the user name must be 1 to 64 characters, without control characters");
    }
    let password = password.to_string();
    // argon2id is slow on purpose: off the runtime, as in the server.
    let hash = tokio::task::spawn_blocking(move || jiaoying_web::session::hash_password(&password))
        .await
        .context("hashing the password")??;
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let created = store.put_user(name, role, &hash, SystemClock.now().millis()).await?;
    store.close().await;
    Ok(if created {
        format!("board user {name:?} ({role}) added")
    } else {
        format!("board user {name:?} updated: role {role}, new password; its sessions have ended")
    })
}

/// The password for `user add`: `JIAOYING_PASSWORD`, else asked twice on the terminal (not echoed).
pub fn password_from_env_or_terminal() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("JIAOYING_PASSWORD") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("password / 密码: ")
        .context("reading the password from the terminal (or set JIAOYING_PASSWORD)")?;
    let second = rpassword::prompt_password("again / 再次输入: ").context("reading the password again")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// `jiaoying send-test CHANNEL TO`: one message straight through the channel, no outbox.
pub async fn send_test(settings: &Settings, channel: &str, to: &str) -> anyhow::Result<String> {
    let spec =
        settings.channels.get(channel).with_context(|| format!("no channel named {channel:?} under [channels]"))?;
    let ch = build_channel(channel, spec)?;
    let text = format!("【{}】这是一条测试消息，无需回复。This is a test message.", settings.messages.signature);
    let msg = Outgoing { id: 0, to, subject: "jiaoying 测试 / test", text: &text, code: None, link: None };
    match ch.send(&msg).await {
        Ok(sent) => Ok(format!(
            "sent through {channel} ({}); provider id: {}",
            ch.kind(),
            sent.provider_id.unwrap_or_else(|| "-".into())
        )),
        Err(e) => bail!("{channel} ({}) did not take the message: {e}", ch.kind()),
    }
}

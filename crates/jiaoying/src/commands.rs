//! The CLI commands other than `serve`: each returns what to print, so tests can check it.

use std::path::Path;

use anyhow::{bail, Context};
use jiaoying_core::{Clock, SystemClock};
use jiaoying_dispatch::{build_channel, Outgoing};
use jiaoying_store::{RegistryImport, RegistryRemoval};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::registry_file::{missing_registry, read_incoming, read_registry, RegistryProblems};
use crate::settings::Settings;

/// `jiaoying migrate`
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    store.close().await;
    Ok("migrations applied".into())
}

/// How `jiaoying import` treats the stored registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Print what would change; change nothing.
    pub dry_run: bool,
    /// Make each table the file has exactly the file's: stored entries it lacks are removed.
    pub replace: bool,
}

/// `jiaoying import FILE`: upserts, all or nothing.
pub async fn import(settings: &Settings, file: &Path) -> anyhow::Result<String> {
    import_with(settings, file, ImportOptions::default()).await
}

/// `jiaoying import FILE [--dry-run] [--replace]`: all or nothing. The file is checked together
/// with the stored registry it changes (a `persons.csv` alone is checked against the stored
/// areas); every problem names its file, sheet and row. See docs/adr/0013-registry-import.md.
pub async fn import_with(settings: &Settings, file: &Path, opts: ImportOptions) -> anyhow::Result<String> {
    let path = file.to_path_buf();
    // Spreadsheets are parsed off the runtime.
    let incoming = tokio::task::spawn_blocking(move || read_incoming(&path)).await.context("reading the file")??;
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let current = store.load_registry().await?;
    let plan = match jiaoying_registry_io::plan(&current, &incoming, opts.replace) {
        Ok(plan) => plan,
        Err(problems) => {
            store.close().await;
            return Err(RegistryProblems { path: file.display().to_string(), problems }.into());
        }
    };
    let lines: Vec<String> = plan.describe(100).into_iter().map(|l| format!("  {l}")).collect();
    if opts.dry_run {
        store.close().await;
        let verdict = if plan.is_noop() { "it would change nothing" } else { "it would change:" };
        return Ok(format!("dry run of {}: nothing was changed; {verdict}\n{}", file.display(), lines.join("\n")));
    }
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let added: usize = plan.diff.values().map(|d| d.added.len()).sum();
    let changed: usize = plan.diff.values().map(|d| d.changed.len()).sum();
    let r = &plan.remove;
    let remove = RegistryRemoval {
        areas: r.areas.clone(),
        persons: r.persons.clone(),
        units: r.units.clone(),
        rosters: r.rosters.clone(),
    };
    let note = format!("{name}: {added} added, {changed} changed, {} removed", remove.len());
    let import = RegistryImport { registry: plan.upsert.clone(), remove, actor: "cli".into(), note };
    let outcome = store.import_registry(&import, SystemClock.now().millis()).await;
    store.close().await;
    let outcome = outcome?;
    let registry = &plan.upsert;
    Ok(format!(
        "imported {}: {} areas, {} persons, {} units, {} roster entries ({} added, {} changed, {} unchanged, {} removed)\n{}",
        file.display(),
        registry.areas.len(),
        registry.persons.len(),
        registry.units.len(),
        registry.rosters.len(),
        outcome.changes.added,
        outcome.changes.changed,
        outcome.changes.unchanged,
        outcome.removed,
        lines.join("\n")
    ))
}

/// `jiaoying export FILE.xlsx`: the stored registry as a workbook in the import's layout.
pub async fn export(settings: &Settings, file: &Path) -> anyhow::Result<String> {
    if !file.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) {
        bail!("{}: the registry is exported as XLSX: name the file *.xlsx", file.display());
    }
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let registry = store.load_registry().await;
    store.close().await;
    let registry = registry?;
    let counts = format!(
        "{} areas, {} persons, {} units, {} roster entries",
        registry.areas.len(),
        registry.persons.len(),
        registry.units.len(),
        registry.rosters.len()
    );
    let bytes = tokio::task::spawn_blocking(move || jiaoying_registry_io::write_xlsx(&registry))
        .await
        .context("writing the workbook")??;
    std::fs::write(file, bytes).with_context(|| format!("writing {}", file.display()))?;
    Ok(format!("exported the registry to {}: {counts}", file.display()))
}

/// `jiaoying check-config`: every problem of the config and of the registry it names.
/// Returns the report and whether it found errors.
pub fn check_config(settings: &Settings) -> (String, bool) {
    let mut lines = Vec::new();
    let mut errors = settings.problems();
    let mut warnings = settings.warnings();
    let mut registry = None;
    match &settings.registry {
        // As `serve` treats it: the file is loaded when present (SPEC), so a missing one is not
        // an error; the service then runs with the registry its database holds.
        Some(path) if !path.exists() => warnings.push(missing_registry(path)),
        // One line per problem, each naming the unit, person or row it is about.
        Some(path) => match read_registry(path) {
            Ok(r) => registry = Some(r),
            Err(e) => match e.downcast_ref::<RegistryProblems>() {
                Some(found) => {
                    errors.extend(found.problems.iter().map(|p| format!("registry {}: {p}", path.display())))
                }
                None => errors.push(format!("{e:#}")),
            },
        },
        None => {}
    }
    for e in &errors {
        lines.push(format!("error: {e}"));
    }
    for w in warnings {
        lines.push(format!("warning: {w}"));
    }
    // Issue 7: times in the next days with nobody on duty in a rostered area. A warning, not an
    // error: escalation then calls the area's duty_officer persons.
    if let Some(registry) = &registry {
        let days = settings.duties.roster_gap_days;
        let gaps = jiaoying_tracker::duties::gap_warnings(registry, SystemClock.now(), days);
        lines.extend(gaps.into_iter().map(|w| format!("warning: {w}")));
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

//! `jiaoying drill FILE`: a drill (演练) from a CAP or JSON alert file.
//!
//! The command accepts the alert itself, through the tracker's own accept path, into the
//! configured database, and exits: the calls, their first messages and their timers are rows
//! there, so the running service sends them (within `tracker.poll_backstop`) and repeats and
//! escalates them as it does any alert's. Nothing needs the service's API token or address, and
//! a drill started while the service is down goes out when it starts.
//!
//! Whatever the file says, the alert becomes an `Exercise` (every message marked 【演练】, its
//! answers counted apart), so a real alert file can be used. Its identifier gets a `#drill-<ms>`
//! suffix: the same file drilled twice is two drills, and a real alert already taken from the
//! file is neither repeated nor touched (references are dropped for the same reason).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use jiaoying_core::alert::{AlertStatus, MsgType, NewAlert};
use jiaoying_core::{Clock, SystemClock};
use jiaoying_dispatch::{build_channels_with, BuildContext};
use jiaoying_tracker::{Accepted, Tracker};
use tokio::sync::Notify;

use crate::app::tracker_config;
use crate::settings::Settings;

/// The source drills from the command are filed under.
pub const DRILL_SOURCE: &str = "drill";

/// The file as a drill: status `Exercise`, an `Alert` of its own.
pub fn as_drill(mut alert: NewAlert, now_ms: i64) -> anyhow::Result<NewAlert> {
    if matches!(alert.msg_type, MsgType::Cancel | MsgType::Ack | MsgType::Error) {
        bail!("a drill needs an Alert or Update message; this file is a {}", alert.msg_type.as_str());
    }
    alert.status = AlertStatus::Exercise;
    alert.msg_type = MsgType::Alert;
    alert.references.clear();
    alert.key.identifier = format!("{}#drill-{now_ms}", alert.key.identifier);
    Ok(alert)
}

/// Reads a CAP (XML) or JSON alert file.
fn read_alert(settings: &Settings, file: &Path) -> anyhow::Result<NewAlert> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let is_xml = text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    let parsed = if is_xml { settings.normalise.cap_alert(&bytes) } else { settings.normalise.json_alert(&bytes) };
    parsed.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// `jiaoying drill FILE`, with the system clock: what to print.
pub async fn drill(settings: &Settings, file: &Path) -> anyhow::Result<String> {
    let (alert, accepted) = start_drill(settings, file, Arc::new(SystemClock)).await?;
    Ok(format!(
        "drill (演练) started: alert {id} ({event} {tier}), {calls} calls; the running service sends them and \
         follows them up. Report: /drills/{id} (GET /api/v1/drills/{id}/report)",
        id = accepted.id,
        event = alert.event,
        tier = accepted.tier.zh(),
        calls = accepted.calls,
    ))
}

/// Accepts the file as a drill on `clock` (tests give the service's test clock): the alert as
/// taken, and what the tracker made of it.
pub async fn start_drill(
    settings: &Settings,
    file: &Path,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(NewAlert, Accepted)> {
    let alert = as_drill(read_alert(settings, file)?, clock.now().millis())?;
    let build_context = BuildContext { public_url: settings.server.public_url.trim_end_matches('/').to_string() };
    let channels = build_channels_with(&settings.channels, &build_context)
        .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?;
    let config = tracker_config(settings, &channels)?;
    let store = jiaoying_store::connect(&settings.database.url).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let tracker = Tracker::new(store.clone(), clock, config, Arc::new(Notify::new()));
    let body = serde_json::to_string(&alert).context("recording the drill")?;
    let accepted = tracker.accept(&alert, DRILL_SOURCE, &body).await;
    store.close().await;
    let accepted = accepted.context("accepting the drill")?;
    Ok((alert, accepted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiaoying_core::alert::{AlertKey, Reference};
    use jiaoying_core::{Tier, Timestamp};

    fn alert(msg_type: MsgType) -> NewAlert {
        NewAlert {
            key: AlertKey { sender: "cq@cma".into(), identifier: "x-1".into(), sent: Timestamp(5) },
            msg_type,
            status: AlertStatus::Actual,
            references: vec![Reference { sender: "cq@cma".into(), identifier: "x-0".into(), sent: None }],
            event: "暴雨".into(),
            tier: Tier::Red,
            headline: String::new(),
            description: String::new(),
            instruction: String::new(),
            onset: None,
            expires: None,
            areas: vec![],
        }
    }

    #[test]
    fn a_real_alert_becomes_an_exercise_of_its_own() {
        let d = as_drill(alert(MsgType::Update), 42).expect("drill");
        assert_eq!((d.status, d.msg_type), (AlertStatus::Exercise, MsgType::Alert));
        assert_eq!(d.key.identifier, "x-1#drill-42");
        assert!(d.references.is_empty());
        assert!(as_drill(alert(MsgType::Cancel), 42).is_err());
    }
}

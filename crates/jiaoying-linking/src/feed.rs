//! The feed and the CAP documents as the web layer serves them: read from the store, rendered,
//! with the time they last changed (for `Last-Modified`). The web layer adds the validators and
//! answers conditional requests.

use jiaoying_store::{AlertFilter, AlertRow, StoreResult};

use crate::atom::{write_atom, Entry, Page};
use crate::cap_out::{version_of, write_cap, CapInput};
use crate::Linker;

/// Entries per page when the reader names no `limit`, and the most it may name.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

/// A rendered document and when what it shows last changed (Unix ms).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Vec<u8>,
    pub last_modified: i64,
}

/// `?token=` for links in a feed that was read with one (feed readers that cannot send headers
/// follow the links with the same token).
fn token_query(token: Option<&str>) -> String {
    token
        .map(|t| format!("&token={}", url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()))
        .unwrap_or_default()
}

impl Linker {
    fn cap_href(&self, alert: &AlertRow, version: i64, token: Option<&str>) -> String {
        format!("{}/feeds/alerts/{}.cap?v={version}{}", self.config.feed.public_url, alert.id, token_query(token))
    }

    /// The current CAP version of alert `id`; `None` when there is no such alert.
    pub async fn cap_document(&self, id: i64) -> StoreResult<Option<Rendered>> {
        let Some(alert) = self.store.alert(id).await? else { return Ok(None) };
        let messages = self.store.alert_messages_of(id).await?;
        let version = version_of(&alert, &messages);
        // A duty officer's cancel says why; a source's Cancel carries its own note on its side.
        let note = if version.msg_type == "Cancel" {
            self.store.alert_actions_of(id).await?.into_iter().rev().find(|a| a.action == "cancel").and_then(|a| a.note)
        } else {
            None
        };
        let registry = self.store.load_registry().await?;
        let area_name = |code: &str| registry.areas.iter().find(|a| a.code.as_str() == code).map(|a| a.name.clone());
        let body = write_cap(&CapInput {
            feed: &self.config.feed,
            alert: &alert,
            version: &version,
            area_name: &area_name,
            note: note.as_deref(),
        });
        Ok(Some(Rendered { body, last_modified: alert.updated_at }))
    }

    /// One page of the feed, newest alerts first. `limit` is clamped to `1..=MAX_PAGE`.
    pub async fn feed_page(&self, limit: i64, offset: i64, token: Option<&str>) -> StoreResult<Rendered> {
        let limit = limit.clamp(1, MAX_PAGE);
        let offset = offset.max(0);
        let (alerts, total) = self.store.list_alerts(&AlertFilter { state: None, limit, offset }).await?;
        let mut entries = Vec::with_capacity(alerts.len());
        for a in &alerts {
            let messages = self.store.alert_messages_of(a.id).await?;
            let version = version_of(a, &messages);
            entries.push(Entry { alert: a, cap_href: self.cap_href(a, version.number, token) });
        }
        let base = format!("{}/feeds/alerts.atom", self.config.feed.public_url);
        let tq = token_query(token);
        let next = offset + (alerts.len() as i64);
        let page = Page {
            feed: &self.config.feed,
            self_href: format!("{base}?limit={limit}&offset={offset}{tq}"),
            next_href: (next < total && !alerts.is_empty()).then(|| format!("{base}?limit={limit}&offset={next}{tq}")),
            entries,
        };
        let last_modified = alerts.iter().map(|a| a.updated_at).max().unwrap_or(0);
        Ok(Rendered { body: write_atom(&page), last_modified })
    }
}

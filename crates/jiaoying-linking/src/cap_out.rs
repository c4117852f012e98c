//! One of jiaoying's alerts as a CAP 1.2 document, written with a real XML writer (quick-xml:
//! escaping and well-formedness are its job, not string formatting's).
//!
//! An alert is published in versions, so that a receiver that keeps CAP's lifecycle (another
//! jiaoying, the district platform) links them as one alert:
//! - first as `Alert`, identifier `alert-<id>`, `sent` when jiaoying took it;
//! - after every Update or Cancel it received (from its source, or a duty officer's cancel), as
//!   `Update` or `Cancel`, identifier `alert-<id>-m<message id>`, `sent` when that message came,
//!   `references` naming the first version.
//!
//! `urgency`, `severity` and `certainty` are the tier's ([`tier_words`]); the tier itself is also
//! a parameter `预警级别` (红色/橙色/黄色/蓝色), which CAP readers in China look for.

use std::io;

use chrono::{FixedOffset, SecondsFormat};
use jiaoying_core::alert::AlertArea;
use jiaoying_core::{Tier, Timestamp};
use jiaoying_store::{AlertMessageInfo, AlertRow};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::config::FeedConfig;

pub const CAP_1_2_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// The geocode `valueName` of jiaoying's area codes (行政区划代码, or a local grid code that
/// extends its parent's).
pub const AREA_CODE_SCHEME: &str = "AREACODE";
/// The parameter carrying the tier's colour.
pub const TIER_PARAMETER: &str = "预警级别";

/// Which version of an alert is published now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `Alert`, `Update` or `Cancel` (or `Ack`/`Error` for alerts that were such messages).
    pub msg_type: &'static str,
    pub identifier: String,
    /// Unix ms; written to the second.
    pub sent: i64,
    /// The first version, `(identifier, sent)`, for an Update or Cancel.
    pub references: Option<(String, i64)>,
    /// A number that changes with every version (the feed puts it in the document's link, so a
    /// reader that takes each link once takes each version).
    pub number: i64,
}

/// The version of `alert` to publish, from its received messages (oldest first).
pub fn version_of(alert: &AlertRow, messages: &[AlertMessageInfo]) -> Version {
    let first = Version {
        msg_type: match alert.msg_type.as_str() {
            "Cancel" => "Cancel",
            "Ack" => "Ack",
            "Error" => "Error",
            // An Update that arrived before its Alert created this alert: to our readers it is new.
            _ => "Alert",
        },
        identifier: format!("alert-{}", alert.id),
        sent: alert.created_at,
        references: None,
        number: 0,
    };
    let latest = messages.iter().skip(1).rev().find(|m| matches!(m.msg_type.as_str(), "Update" | "Cancel"));
    let cancelled = alert.state == "cancelled";
    match latest {
        Some(m) => Version {
            msg_type: if cancelled || m.msg_type == "Cancel" { "Cancel" } else { "Update" },
            identifier: format!("alert-{}-m{}", alert.id, m.id),
            sent: m.received_at,
            references: Some((first.identifier.clone(), first.sent)),
            number: m.id,
        },
        None => first,
    }
}

/// CAP's date-time: China time, to the second, with its offset (CAP forbids `Z`).
pub fn cap_time(ms: i64) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    Timestamp(ms).to_datetime().with_timezone(&cst).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `(urgency, severity, certainty)` of a tier.
pub fn tier_words(tier: Tier) -> (&'static str, &'static str, &'static str) {
    match tier {
        Tier::Red => ("Immediate", "Extreme", "Likely"),
        Tier::Orange => ("Expected", "Severe", "Likely"),
        Tier::Yellow => ("Expected", "Moderate", "Likely"),
        Tier::Blue => ("Future", "Minor", "Possible"),
    }
}

/// CAP's category of a (normalised) event type.
pub fn category(event: &str) -> &'static str {
    const MET: &[&str] = &[
        "台风",
        "暴雨",
        "暴雪",
        "寒潮",
        "大风",
        "沙尘暴",
        "高温",
        "干旱",
        "雷电",
        "冰雹",
        "霜冻",
        "大雾",
        "霾",
        "道路结冰",
        "山洪",
        "洪水",
    ];
    if MET.iter().any(|m| event.contains(m)) {
        "Met"
    } else if event.contains("地质灾害") || event.contains("地震") || event.contains("滑坡") {
        "Geo"
    } else if event.contains("火") {
        "Fire"
    } else {
        "Other"
    }
}

/// What one document needs besides the alert.
pub struct CapInput<'a> {
    pub feed: &'a FeedConfig,
    pub alert: &'a AlertRow,
    pub version: &'a Version,
    /// The registry's name of an area code.
    pub area_name: &'a dyn Fn(&str) -> Option<String>,
    /// CAP `<note>`: why it was cancelled, when a duty officer said so.
    pub note: Option<&'a str>,
}

/// XML 1.0 cannot carry most control characters, even escaped: they are dropped.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if s.chars().any(bad) {
        std::borrow::Cow::Owned(s.chars().filter(|&c| !bad(c)).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

pub(crate) fn text_el<W: io::Write>(w: &mut Writer<W>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(&clean(text)))?;
    Ok(())
}

fn pair<W: io::Write>(w: &mut Writer<W>, element: &str, name: &str, value: &str) -> io::Result<()> {
    w.create_element(element).write_inner_content(|w| {
        text_el(w, "valueName", name)?;
        text_el(w, "value", value)
    })?;
    Ok(())
}

/// `lat,lon` as CAP writes points (the domain keeps `[lon, lat]`).
fn point(lon: f64, lat: f64) -> String {
    format!("{lat},{lon}")
}

fn areas<W: io::Write>(w: &mut Writer<W>, input: &CapInput<'_>) -> io::Result<()> {
    let list: Vec<AlertArea> = serde_json::from_str(&input.alert.areas).unwrap_or_default();
    for a in &list {
        match a {
            AlertArea::Code(code) => w.create_element("area").write_inner_content(|w| {
                let desc = (input.area_name)(code.as_str()).unwrap_or_else(|| code.as_str().to_string());
                text_el(w, "areaDesc", &desc)?;
                pair(w, "geocode", AREA_CODE_SCHEME, code.as_str())
            })?,
            AlertArea::Polygon(points) => {
                let mut ring: Vec<[f64; 2]> = points.clone();
                if ring.first() != ring.last() {
                    if let Some(p) = ring.first().copied() {
                        ring.push(p);
                    }
                }
                // CAP wants a closed ring of at least four points; a smaller shape names no area.
                if ring.len() < 4 {
                    continue;
                }
                let text = ring.iter().map(|p| point(p[0], p[1])).collect::<Vec<_>>().join(" ");
                w.create_element("area").write_inner_content(|w| {
                    text_el(w, "areaDesc", "多边形范围 (polygon)")?;
                    text_el(w, "polygon", &text)
                })?
            }
            AlertArea::Circle([lon, lat, radius]) => w.create_element("area").write_inner_content(|w| {
                text_el(w, "areaDesc", &format!("圆形范围，半径{radius}公里 (circle, {radius} km)"))?;
                text_el(w, "circle", &format!("{} {radius}", point(*lon, *lat)))
            })?,
        };
    }
    Ok(())
}

/// The CAP 1.2 document of one version of an alert, UTF-8.
pub fn write_cap(input: &CapInput<'_>) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_into(&mut w, input).expect("writing to a Vec cannot fail");
    let mut out = w.into_inner();
    out.push(b'\n');
    out
}

fn write_into(w: &mut Writer<Vec<u8>>, input: &CapInput<'_>) -> io::Result<()> {
    let (a, v, feed) = (input.alert, input.version, input.feed);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("alert").with_attribute(("xmlns", CAP_1_2_NS)).write_inner_content(|w| {
        text_el(w, "identifier", &v.identifier)?;
        text_el(w, "sender", &feed.sender)?;
        text_el(w, "sent", &cap_time(v.sent))?;
        text_el(w, "status", &a.status)?;
        text_el(w, "msgType", v.msg_type)?;
        text_el(w, "source", &a.source)?;
        text_el(w, "scope", "Public")?;
        if let Some(note) = input.note.filter(|n| !n.trim().is_empty()) {
            text_el(w, "note", note)?;
        }
        if let Some((identifier, sent)) = &v.references {
            text_el(w, "references", &format!("{},{identifier},{}", feed.sender, cap_time(*sent)))?;
        }
        w.create_element("info").write_inner_content(|w| {
            let (urgency, severity, certainty) = tier_words(a.tier);
            let event = if a.event.trim().is_empty() { "预警" } else { a.event.as_str() };
            text_el(w, "language", "zh-CN")?;
            text_el(w, "category", category(event))?;
            text_el(w, "event", event)?;
            text_el(w, "urgency", urgency)?;
            text_el(w, "severity", severity)?;
            text_el(w, "certainty", certainty)?;
            if let Some(t) = a.onset {
                text_el(w, "onset", &cap_time(t))?;
            }
            if let Some(t) = a.expires {
                text_el(w, "expires", &cap_time(t))?;
            }
            text_el(w, "senderName", &feed.sender_name)?;
            for (name, value) in
                [("headline", &a.headline), ("description", &a.description), ("instruction", &a.instruction)]
            {
                if !value.trim().is_empty() {
                    text_el(w, name, value)?;
                }
            }
            pair(w, "parameter", TIER_PARAMETER, a.tier.zh())?;
            areas(w, input)
        })?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiaoying_core::MsgType;

    fn feed() -> FeedConfig {
        FeedConfig {
            public: false,
            sender: "jiaoying@gyq.example".into(),
            sender_name: "观音桥街道应急办".into(),
            public_url: "http://jy.example".into(),
            readers: Vec::new(),
        }
    }

    fn alert() -> AlertRow {
        AlertRow {
            id: 42,
            source: "duty_officer".into(),
            status: "Exercise".into(),
            msg_type: "Alert".into(),
            event: "暴雨".into(),
            tier: Tier::Red,
            headline: "暴雨红色预警 <演练> & 测试".into(),
            description: "预计3小时降雨100毫米\u{1}以上".into(),
            instruction: "转移危险区域人员".into(),
            onset: Some(1_782_864_000_000),
            expires: Some(1_782_885_600_000),
            areas: serde_json::to_string(&vec![
                AlertArea::Code(jiaoying_core::AreaCode::parse("500105002001").unwrap()),
                AlertArea::Polygon(vec![[106.53, 29.57], [106.55, 29.57], [106.55, 29.59]]),
                AlertArea::Circle([106.54, 29.58, 2.5]),
            ])
            .unwrap(),
            state: "active".into(),
            created_at: 1_782_864_000_000,
            updated_at: 1_782_864_000_000,
            content_sent: 1_782_864_000_000,
        }
    }

    fn msg(id: i64, t: &str, at: i64) -> AlertMessageInfo {
        AlertMessageInfo {
            id,
            alert_id: 42,
            sender: "cq@cma".into(),
            identifier: format!("x{id}"),
            sent: at,
            msg_type: t.into(),
            received_at: at,
        }
    }

    fn names(code: &str) -> Option<String> {
        (code == "500105002001").then(|| "建新社区".to_string())
    }

    #[test]
    fn versions_follow_the_lifecycle() {
        let mut a = alert();
        let v = version_of(&a, &[msg(5, "Alert", a.created_at)]);
        assert_eq!((v.msg_type, v.identifier.as_str(), v.references.clone()), ("Alert", "alert-42", None));
        let updated = [msg(5, "Alert", a.created_at), msg(9, "Update", a.created_at + 60_000)];
        let v = version_of(&a, &updated);
        assert_eq!((v.msg_type, v.identifier.as_str(), v.sent), ("Update", "alert-42-m9", a.created_at + 60_000));
        assert_eq!(v.references, Some(("alert-42".into(), a.created_at)));
        a.state = "cancelled".into();
        let cancelled = [msg(5, "Alert", 0), msg(9, "Update", 1), msg(12, "Cancel", 2), msg(13, "Alert", 3)];
        let v = version_of(&a, &cancelled);
        assert_eq!((v.msg_type, v.identifier.as_str(), v.number), ("Cancel", "alert-42-m12", 12));
    }

    #[test]
    fn the_document_reads_back_with_our_parser() {
        let a = alert();
        let v = version_of(&a, &[msg(5, "Alert", a.created_at), msg(9, "Update", a.created_at + 61_500)]);
        let xml = write_cap(&CapInput { feed: &feed(), alert: &a, version: &v, area_name: &names, note: None });
        let cap = jiaoying_ingest::parse_cap(&xml).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&xml)));
        assert_eq!(cap.identifier, "alert-42-m9");
        assert_eq!(cap.sender, "jiaoying@gyq.example");
        assert_eq!(cap.sent.to_rfc3339(), "2026-07-01T08:01:01+08:00", "to the second, China time");
        assert_eq!(cap.status.as_str(), "Exercise");
        assert_eq!(cap.msg_type, MsgType::Update);
        assert_eq!(cap.source.as_deref(), Some("duty_officer"));
        assert_eq!(cap.scope, jiaoying_ingest::cap::Scope::Public);
        assert_eq!(cap.references.len(), 1);
        assert_eq!(cap.references[0].identifier, "alert-42");
        let info = &cap.infos[0];
        assert_eq!(info.headline.as_deref(), Some("暴雨红色预警 <演练> & 测试"), "escaped and read back");
        assert_eq!(info.description.as_deref(), Some("预计3小时降雨100毫米以上"), "control characters dropped");
        assert_eq!(info.categories, vec![jiaoying_ingest::cap::Category::Met]);
        assert_eq!(
            (info.urgency.as_str(), info.severity.as_str(), info.certainty.as_str()),
            ("Immediate", "Extreme", "Likely")
        );
        assert_eq!(info.areas.len(), 3);
        assert_eq!(info.areas[0].area_desc, "建新社区");
        assert_eq!(info.areas[1].polygons[0].len(), 4, "the ring was closed");
        assert_eq!(info.areas[2].circles[0].radius_km, 2.5);

        let back = cap.to_new_alert().unwrap();
        assert_eq!(back.tier, Tier::Red);
        assert_eq!(back.event, "暴雨");
        assert_eq!(back.onset.map(|t| t.millis()), a.onset);
        assert_eq!(back.expires.map(|t| t.millis()), a.expires);
        let areas: Vec<AlertArea> = serde_json::from_str(&a.areas).unwrap();
        let mut want = areas.clone();
        if let AlertArea::Polygon(p) = &mut want[1] {
            p.push(p[0]);
        }
        for w in &want {
            assert!(back.areas.contains(w), "{w:?} not in {:?}", back.areas);
        }
    }

    #[test]
    fn every_tier_reads_back_as_itself() {
        for tier in [Tier::Red, Tier::Orange, Tier::Yellow, Tier::Blue] {
            let mut a = alert();
            a.tier = tier;
            a.headline = "预警".into();
            a.status = "Actual".into();
            let v = version_of(&a, &[]);
            let xml = write_cap(&CapInput { feed: &feed(), alert: &a, version: &v, area_name: &names, note: None });
            assert_eq!(jiaoying_ingest::parse_cap_alert(&xml).unwrap().tier, tier);
        }
    }

    #[test]
    fn a_cancel_carries_its_reason_and_reference() {
        let mut a = alert();
        a.state = "cancelled".into();
        a.areas = "[]".into();
        let v = version_of(&a, &[msg(5, "Alert", 0), msg(7, "Cancel", a.created_at + 5_000)]);
        let xml =
            write_cap(&CapInput { feed: &feed(), alert: &a, version: &v, area_name: &names, note: Some("误报") });
        let cap = jiaoying_ingest::parse_cap(&xml).unwrap();
        assert_eq!(cap.msg_type, MsgType::Cancel);
        assert_eq!(cap.note.as_deref(), Some("误报"));
        let refs = cap.references_to_others();
        assert_eq!(refs[0].sender, "jiaoying@gyq.example");
        assert_eq!(refs[0].sent.map(|t| t.millis()), Some(a.created_at));
    }
}

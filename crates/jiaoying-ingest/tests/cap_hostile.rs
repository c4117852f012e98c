//! Hostile, broken and quirky CAP documents: what is refused is refused quickly and with the
//! right kind of error, what real feeds send is accepted, and nothing panics.

use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, SecondsFormat};
use jiaoying_core::alert::AlertArea;
use jiaoying_core::{AlertKey, AreaCode, MsgType, Tier, Timestamp};
use jiaoying_ingest::cap::{CapVersion, MAX_CAP_BYTES, MAX_CAP_DEPTH};
use jiaoying_ingest::{parse_cap, parse_cap_alert, IngestError};
use proptest::prelude::*;

const NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// A small valid alert; `{HEAD}` is replaced by alert-level elements after `scope`, `{INFO}` by
/// info-level elements after `certainty`, `{AREA}` by area-level elements after `areaDesc`.
const TEMPLATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>cq-2026-001</identifier>
  <sender>cq@cma</sender>
  <sent>2026-07-01T08:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>{HEAD}
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>{INFO}
    <area>
      <areaDesc>观音桥街道</areaDesc>{AREA}
    </area>
  </info>
</alert>"#;

fn doc(head: &str, info: &str, area: &str) -> String {
    TEMPLATE.replace("{HEAD}", head).replace("{INFO}", info).replace("{AREA}", area)
}

fn good() -> String {
    doc("", "", "<geocode><valueName>ADCODE</valueName><value>500105002</value></geocode>")
}

fn invalid(xml: &str) -> String {
    match parse_cap(xml.as_bytes()) {
        Err(IngestError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn unsafe_(xml: &[u8]) -> String {
    match parse_cap(xml) {
        Err(IngestError::Unsafe(m)) => m,
        other => panic!("expected Unsafe, got {other:?}"),
    }
}

fn malformed(xml: &[u8]) -> String {
    match parse_cap(xml) {
        Err(IngestError::Malformed(m)) => m,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn the_template_is_valid() {
    let a = parse_cap_alert(good().as_bytes()).unwrap();
    assert_eq!(a.tier, Tier::Orange);
    assert_eq!(a.area_codes(), vec![AreaCode::parse("500105002").unwrap()]);
}

#[test]
fn billion_laughs_is_refused() {
    let mut dtd = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        dtd.push_str(&format!(" <!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
    }
    dtd.push_str("]>\n");
    let xml = good().replacen("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", &dtd, 1).replace("暴雨", "&lol9;");
    let started = Instant::now();
    let m = unsafe_(xml.as_bytes());
    assert!(m.contains("DOCTYPE"), "{m}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn an_external_entity_is_refused_and_nothing_is_read() {
    let dtd = "<?xml version=\"1.0\"?>\n<!DOCTYPE alert [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n";
    let xml = good().replacen("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", dtd, 1).replace("暴雨", "&xxe;");
    let m = unsafe_(xml.as_bytes());
    assert!(!m.contains("root:"), "{m}");
}

#[test]
fn an_undeclared_entity_without_a_doctype_is_refused() {
    let xml = good().replace("暴雨", "暴雨&xxe;");
    let m = unsafe_(xml.as_bytes());
    assert!(m.contains("&xxe;"), "{m}");
}

#[test]
fn predefined_entities_and_character_references_are_fine() {
    let xml = good().replace("<event>暴雨</event>", "<event>&#26292;&#x96E8; &amp; &lt;b&gt; &quot;&apos;</event>");
    let cap = parse_cap(xml.as_bytes()).unwrap();
    assert_eq!(cap.infos[0].event, "暴雨 & <b> \"'");
}

#[test]
fn a_doctype_after_a_comment_or_without_entities_is_refused_too() {
    let xml = good().replacen("<alert", "<!-- hi --><!DOCTYPE alert><alert", 1);
    unsafe_(xml.as_bytes());
}

#[test]
fn xinclude_is_an_ignored_foreign_element_never_processed() {
    let xi = r#"
  <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>
  <x xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="http://127.0.0.1:1/x"/></x>"#;
    let cap = parse_cap(doc(xi, "", "").as_bytes()).unwrap();
    let dump = serde_json::to_string(&cap).unwrap();
    assert!(!dump.contains("root:") && !dump.contains("passwd"), "{dump}");
    // Inside a text element it is refused, not expanded.
    let inside = good().replace(
        "<event>暴雨</event>",
        r#"<event>暴雨<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/></event>"#,
    );
    assert!(invalid(&inside).contains("alert.info[0].event"));
}

#[test]
fn nesting_200000_deep_is_refused_quickly_without_overflowing_the_stack() {
    let depth = 200_000;
    let xml = format!("<alert xmlns=\"{NS}\">{}{}</alert>", "<a>".repeat(depth), "</a>".repeat(depth));
    assert!(xml.len() < MAX_CAP_BYTES, "the nesting test must not be stopped by the size limit");
    // A small stack: the refusal must not recurse.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let started = Instant::now();
            let result = parse_cap(xml.as_bytes());
            (result, started.elapsed())
        })
        .unwrap();
    let (result, elapsed) = handle.join().expect("no stack overflow");
    match result {
        Err(IngestError::Unsafe(m)) => assert!(m.contains(&MAX_CAP_DEPTH.to_string()), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn depth_within_the_limit_is_fine() {
    let nest = format!("<x xmlns=\"urn:ext\">{}{}</x>", "<y>".repeat(40), "</y>".repeat(40));
    parse_cap(doc(&nest, "", "").as_bytes()).unwrap();
}

#[test]
fn a_20_mb_body_is_too_large_before_parsing() {
    // Not even XML: had it been parsed, this would be Malformed.
    let body = vec![b'<'; 20 * 1024 * 1024];
    let started = Instant::now();
    match parse_cap(&body) {
        Err(IngestError::TooLarge(m)) => assert!(m.contains(&MAX_CAP_BYTES.to_string()), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(200));
    // A valid document padded just past the limit is refused too, one byte under is not.
    let xml = good();
    let pad = |n: usize| format!("{xml}{}", " ".repeat(n - xml.len()));
    assert!(matches!(parse_cap(pad(MAX_CAP_BYTES + 1).as_bytes()), Err(IngestError::TooLarge(_))));
    parse_cap(pad(MAX_CAP_BYTES).as_bytes()).unwrap();
}

#[test]
fn truncated_xml_is_malformed_at_every_cut() {
    let xml = good();
    let bytes = xml.as_bytes();
    for cut in (0..bytes.len() - 1).step_by(7) {
        if !xml.is_char_boundary(cut) {
            continue;
        }
        match parse_cap(&bytes[..cut]) {
            Err(IngestError::Malformed(_)) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn bad_dates_are_named() {
    let m = invalid(&good().replace("2026-07-01T08:00:00+08:00", "2026-07-01 08:00"));
    assert!(m.contains("alert.sent"), "{m}");
    let m = invalid(&good().replace("2026-07-01T08:00:00+08:00", "2026-07-01T08:00:00"));
    assert!(m.contains("alert.sent") && m.contains("offset"), "{m}");
    let m = invalid(&doc("", "<onset>tomorrow</onset>", ""));
    assert!(m.contains("alert.info[0].onset"), "{m}");
    let m = invalid(&doc("", "<expires>2026-02-30T00:00:00+08:00</expires>", ""));
    assert!(m.contains("alert.info[0].expires"), "{m}");
}

#[test]
fn z_times_and_minus_zero_are_the_same_instant_as_an_offset() {
    let plus8 = parse_cap_alert(good().as_bytes()).unwrap();
    for utc in ["2026-07-01T00:00:00Z", "2026-07-01T00:00:00-00:00", "2026-07-01T00:00:00.000Z"] {
        let z = parse_cap_alert(good().replace("2026-07-01T08:00:00+08:00", utc).as_bytes()).unwrap();
        assert_eq!(z.key, plus8.key, "{utc}");
    }
    let a = parse_cap_alert(
        doc("", "<onset>2026-07-01T00:00:00Z</onset><expires>2026-07-01T12:00:00Z</expires>", "").as_bytes(),
    )
    .unwrap();
    assert_eq!(a.onset, Some(Timestamp(1_782_864_000_000)));
    assert_eq!(a.expires, Some(Timestamp(1_782_864_000_000 + 12 * 3_600_000)));
}

#[test]
fn an_open_polygon_ring_is_refused() {
    let m = invalid(&doc("", "", "<polygon>29.57,106.53 29.57,106.55 29.59,106.55 29.59,106.53</polygon>"));
    assert!(m.contains("alert.info[0].area[0].polygon[0]") && m.contains("not closed"), "{m}");
    let m = invalid(&doc("", "", "<polygon>29.57,106.53 29.57,106.55 29.57,106.53</polygon>"));
    assert!(m.contains("at least 4"), "{m}");
}

#[test]
fn latitude_91_is_refused() {
    let m = invalid(&doc("", "", "<polygon>91,106.53 29.57,106.55 29.59,106.55 91,106.53</polygon>"));
    assert!(m.contains("polygon[0]") && m.contains("latitude 91"), "{m}");
    let m = invalid(&doc("", "", "<circle>91,106.5 2</circle>"));
    assert!(m.contains("circle[0]") && m.contains("latitude 91"), "{m}");
    let m = invalid(&doc("", "", "<circle>29.5,106.5 -2</circle>"));
    assert!(m.contains("circle[0]") && m.contains("radius"), "{m}");
}

#[test]
fn polygon_points_separated_by_newlines_and_tabs_are_accepted() {
    let xml = doc(
        "",
        "",
        "<polygon>\n\t29.57,106.53\n\t29.57,106.55\t29.59,106.55  29.59,106.53\r\n29.57,106.53\n</polygon>",
    );
    let a = parse_cap_alert(xml.as_bytes()).unwrap();
    let AlertArea::Polygon(ring) = &a.areas[0] else { panic!("{:?}", a.areas) };
    assert_eq!(ring.len(), 5);
    assert_eq!(ring[0], [106.53, 29.57]);
}

#[test]
fn an_iso_8859_1_document_is_transcoded() {
    let xml = good()
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .replace("暴雨", "Orage")
        .replace("观音桥街道", "AREA")
        .replace(
            "<certainty>Likely</certainty>",
            "<certainty>Likely</certainty><headline>Caf\u{e9} ferm\u{e9}</headline>",
        );
    // Encode as Latin-1: every char here is below U+0100.
    let bytes: Vec<u8> = xml.chars().map(|c| u8::try_from(u32::from(c)).unwrap()).collect();
    assert!(bytes.contains(&0xE9) && std::str::from_utf8(&bytes).is_err());
    let a = parse_cap_alert(&bytes).unwrap();
    assert_eq!(a.headline, "Café fermé");
}

#[test]
fn a_gb18030_document_is_transcoded() {
    let xml = good().replace("encoding=\"UTF-8\"", "encoding=\"GB18030\"");
    let (bytes, _, bad) = encoding_rs::GB18030.encode(&xml);
    assert!(!bad);
    assert_eq!(parse_cap_alert(&bytes).unwrap().event, "暴雨");
}

#[test]
fn invalid_utf8_in_a_utf8_document_is_malformed() {
    let mut bytes = good().into_bytes();
    let at = bytes.len() / 2;
    bytes.insert(at, 0xFF);
    let m = malformed(&bytes);
    assert!(m.contains("UTF-8"), "{m}");
}

#[test]
fn a_prefixed_namespace_and_cap_1_1_are_accepted() {
    let prefixed = good()
        .replace("<alert xmlns=", "<cap:alert xmlns:cap=")
        .replace("</alert>", "</cap:alert>")
        .replace('<', "<cap:")
        .replace("<cap:/", "</cap:")
        .replace("<cap:?", "<?")
        .replace("<cap:cap:", "<cap:")
        .replace("</cap:cap:", "</cap:");
    assert!(prefixed.contains("<cap:identifier>"), "{prefixed}");
    let a = parse_cap_alert(prefixed.as_bytes()).unwrap();
    assert_eq!(a.key.identifier, "cq-2026-001");
    assert_eq!(a.tier, Tier::Orange);
    let v11 = good().replace(":cap:1.2", ":cap:1.1");
    assert_eq!(parse_cap(v11.as_bytes()).unwrap().version, CapVersion::V1_1);
}

#[test]
fn other_namespaces_are_not_cap() {
    for root in [
        r#"<alert>"#,
        r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.0">"#,
        r#"<alert xmlns="http://example.org/">"#,
    ] {
        let m = invalid(&good().replace(&format!("<alert xmlns=\"{NS}\">"), root));
        assert!(m.contains("not a CAP alert"), "{m}");
    }
    // CAP elements in another namespace are not read: the required ones are then missing.
    let m = invalid(&good().replace("<scope>Public</scope>", "<scope xmlns=\"urn:other\">Public</scope>"));
    assert!(m.contains("alert.scope"), "{m}");
}

#[test]
fn enumerations_are_named_when_wrong_and_read_leniently_in_case() {
    let m = invalid(&good().replace("<status>Actual</status>", "<status>Real</status>"));
    assert!(m.contains("alert.status") && m.contains("Actual, Exercise"), "{m}");
    let m = invalid(&good().replace("<category>Met</category>", "<category> </category>"));
    assert!(m.contains("alert.info[0].category") && m.contains("required"), "{m}");
    let m = invalid(&good().replace("<category>Met</category>", "<category>Weather</category>"));
    assert!(m.contains("alert.info[0].category[0]"), "{m}");
    let m = invalid(&doc("", "<responseType>Run</responseType>", ""));
    assert!(m.contains("alert.info[0].responseType[0]"), "{m}");
    let m = invalid(&good().replace("<msgType>Alert</msgType>", "<msgType>Notice</msgType>"));
    assert!(m.contains("alert.msgType"), "{m}");
    let a = parse_cap_alert(good().replace("<status>Actual</status>", "<status>actual</status>").as_bytes()).unwrap();
    assert_eq!(a.status, jiaoying_core::AlertStatus::Actual);
    parse_cap(good().replace("<certainty>Likely</certainty>", "<certainty>Very Likely</certainty>").as_bytes())
        .unwrap();
}

#[test]
fn required_elements_are_named() {
    for (el, path) in [
        ("<identifier>cq-2026-001</identifier>", "alert.identifier"),
        ("<sender>cq@cma</sender>", "alert.sender"),
        ("<sent>2026-07-01T08:00:00+08:00</sent>", "alert.sent"),
        ("<status>Actual</status>", "alert.status"),
        ("<msgType>Alert</msgType>", "alert.msgType"),
        ("<scope>Public</scope>", "alert.scope"),
        ("<category>Met</category>", "alert.info[0].category"),
        ("<event>暴雨</event>", "alert.info[0].event"),
        ("<urgency>Immediate</urgency>", "alert.info[0].urgency"),
        ("<severity>Severe</severity>", "alert.info[0].severity"),
        ("<certainty>Likely</certainty>", "alert.info[0].certainty"),
        ("<areaDesc>观音桥街道</areaDesc>", "alert.info[0].area[0].areaDesc"),
    ] {
        let m = invalid(&good().replace(el, ""));
        assert!(m.contains(path) && m.contains("required"), "{path}: {m}");
    }
    let m = invalid(&good().replace("<identifier>cq-2026-001</identifier>", "<identifier>cq 2026,001</identifier>"));
    assert!(m.contains("alert.identifier"), "{m}");
    let m = invalid(&good().replace("<sender>cq@cma</sender>", "<sender>a</sender><sender>b</sender>"));
    assert!(m.contains("alert.sender") && m.contains("more than once"), "{m}");
}

#[test]
fn references_drop_the_message_itself_and_updates_need_others() {
    let own = "cq@cma,cq-2026-001,2026-07-01T08:00:00+08:00";
    let other = "cq@cma,cq-2026-000,2026-07-01T07:00:00+08:00";
    let head = format!("\n  <references>{own}\n\t{other} cq@cma,cq-2025-9,2025-07-01T00:00:00Z</references>");
    let xml = doc(&head, "", "").replace("<msgType>Alert</msgType>", "<msgType>Update</msgType>");
    let cap = parse_cap(xml.as_bytes()).unwrap();
    assert_eq!(cap.references.len(), 3, "all kept in CapAlert");
    let a = cap.to_new_alert().unwrap();
    assert_eq!(a.msg_type, MsgType::Update);
    let ids: Vec<&str> = a.references.iter().map(|r| r.identifier.as_str()).collect();
    assert_eq!(ids, ["cq-2026-000", "cq-2025-9"]);

    let only_self = doc(&format!("<references>{own}</references>"), "", "").replace(">Alert<", ">Cancel<");
    let m = invalid(&only_self);
    assert!(m.contains("alert.references") && m.contains("itself"), "{m}");
    let m = invalid(&doc("<references>just-one-word</references>", "", ""));
    assert!(m.contains("alert.references"), "{m}");
}

#[test]
fn several_infos_prefer_chinese_texts_and_merge_areas() {
    let en = r#"
  <info>
    <language>en-US</language>
    <category>Met</category>
    <event>Rainstorm</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <headline>Red rainstorm warning</headline>
    <area><areaDesc>Guanyinqiao</areaDesc><geocode><valueName>CPEAS</valueName><value>500105003000</value></geocode></area>
  </info>"#;
    // The English info comes first; the Chinese one still speaks for the message.
    let xml = good().replacen("<info>", &format!("{}\n  <info>", en.trim_start()), 1);
    let xml = xml.replace(
        "<certainty>Likely</certainty>\n    <area>\n      <areaDesc>观音桥",
        "<certainty>Likely</certainty><headline>暴雨红色预警</headline>\n    <area>\n      <areaDesc>观音桥",
    );
    let cap = parse_cap(xml.as_bytes()).unwrap();
    assert_eq!(cap.infos.len(), 2);
    let a = cap.to_new_alert().unwrap();
    assert_eq!(a.headline, "暴雨红色预警");
    assert_eq!(a.event, "暴雨");
    assert_eq!(a.tier, Tier::Red);
    let codes: Vec<String> = a.area_codes().iter().map(|c| c.to_string()).collect();
    assert_eq!(codes, ["500105003", "500105002"]);
}

#[test]
fn empty_optional_elements_are_absent() {
    let xml = doc(
        "<source/><note></note><references>  </references><incidents/>",
        "<headline></headline><onset/><audience> </audience><eventCode><valueName>x</valueName><value/></eventCode>",
        "<polygon></polygon><circle/><altitude></altitude>",
    );
    let cap = parse_cap(xml.as_bytes()).unwrap();
    assert_eq!(cap.source, None);
    assert!(cap.references.is_empty());
    assert_eq!(cap.infos[0].headline, None);
    assert_eq!(cap.infos[0].onset, None);
    assert_eq!(cap.infos[0].event_codes[0].value, "");
    assert!(cap.infos[0].areas[0].polygons.is_empty() && cap.infos[0].areas[0].circles.is_empty());
}

#[test]
fn an_alert_without_info_is_refused_only_when_it_would_call_people() {
    let strip = |xml: String| {
        let start = xml.find("<info>").unwrap();
        let end = xml.find("</info>").unwrap() + "</info>".len();
        format!("{}{}", &xml[..start], &xml[end..])
    };
    let m = match parse_cap_alert(strip(good()).as_bytes()) {
        Err(IngestError::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(m.contains("alert.info"), "{m}");
    let test = strip(good().replace(">Actual<", ">Test<"));
    let a = parse_cap_alert(test.as_bytes()).unwrap();
    assert_eq!((a.tier, a.event.as_str(), a.areas.len()), (Tier::Blue, "", 0));
}

#[test]
fn a_bom_and_leading_whitespace_before_the_declaration_are_accepted() {
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), good().as_bytes()].concat();
    parse_cap(&with_bom).unwrap();
    parse_cap(format!("\n  {}", good()).as_bytes()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Property tests.

/// What a generated alert should come back as.
#[derive(Debug, Clone)]
struct Generated {
    identifier: String,
    sender: String,
    sent: DateTime<FixedOffset>,
    use_z: bool,
    /// Some(tier): a colour word in the headline; None: the tier comes from the severity.
    word_tier: Option<Tier>,
    severity: (&'static str, Tier),
    event: &'static str,
    polygons: Vec<Vec<(f64, f64)>>,
    circles: Vec<(f64, f64, f64)>,
    codes: Vec<String>,
    prefix: bool,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A small CAP serialiser for the round trip.
fn to_xml(g: &Generated) -> String {
    let p = if g.prefix { "cap:" } else { "" };
    let ns = if g.prefix { format!("xmlns:cap=\"{NS}\"") } else { format!("xmlns=\"{NS}\"") };
    let el = |name: &str, text: &str| format!("<{p}{name}>{}</{p}{name}>", escape(text));
    let sent = if g.use_z {
        g.sent.with_timezone(&chrono::Utc).to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        g.sent.to_rfc3339_opts(SecondsFormat::Secs, false)
    };
    let mut x = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{p}alert {ns}>");
    for (n, t) in [
        ("identifier", g.identifier.as_str()),
        ("sender", &g.sender),
        ("sent", &sent),
        ("status", "Actual"),
        ("msgType", "Alert"),
        ("scope", "Public"),
    ] {
        x += &el(n, t);
    }
    x += &format!("<{p}info>");
    x += &el("language", "zh-CN");
    x += &el("category", "Met");
    x += &el("event", g.event);
    x += &el("urgency", "Expected");
    x += &el("severity", g.severity.0);
    x += &el("certainty", "Likely");
    let headline = match g.word_tier {
        Some(t) => format!("{}{}预警", g.event, t.zh()),
        None => format!("{}预警", g.event),
    };
    x += &el("headline", &headline);
    x += &format!("<{p}area>");
    x += &el("areaDesc", "generated");
    for ring in &g.polygons {
        let pts: Vec<String> = ring.iter().map(|(lat, lon)| format!("{lat},{lon}")).collect();
        x += &el("polygon", &pts.join("\n\t"));
    }
    for (lat, lon, r) in &g.circles {
        x += &el("circle", &format!("{lat},{lon} {r}"));
    }
    for code in &g.codes {
        x += &format!("<{p}geocode>{}{}</{p}geocode>", el("valueName", "GB/T 2260"), el("value", code));
    }
    x += &format!("</{p}area></{p}info></{p}alert>");
    x
}

fn tier_strategy() -> impl Strategy<Value = Tier> {
    prop::sample::select(vec![Tier::Red, Tier::Orange, Tier::Yellow, Tier::Blue])
}

fn generated() -> impl Strategy<Value = Generated> {
    let point = (-90.0f64..=90.0, -180.0f64..=180.0);
    let ring = prop::collection::vec(point.clone(), 3..8).prop_map(|mut pts| {
        pts.push(pts[0]);
        pts
    });
    let circle = (point, 0.0f64..500.0).prop_map(|((lat, lon), r)| (lat, lon, r));
    let severity = prop::sample::select(vec![
        ("Extreme", Tier::Red),
        ("Severe", Tier::Orange),
        ("Moderate", Tier::Yellow),
        ("Minor", Tier::Blue),
        ("Unknown", Tier::Blue),
    ]);
    let event = prop::sample::select(vec!["暴雨", "台风", "大风", "地质灾害", "高温", "道路结冰", "Flood"]);
    (
        "[A-Za-z0-9_.:-]{1,40}",
        "[a-z0-9.@-]{1,30}",
        (0i64..4_000_000_000, -12i32 * 4..=14 * 4, any::<bool>()),
        prop::option::of(tier_strategy()),
        severity,
        event,
        prop::collection::vec(ring, 0..3),
        prop::collection::vec(circle, 0..3),
        prop::collection::vec("[1-6][0-9]{5}([0-9]{3})?", 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(
                identifier,
                sender,
                (secs, quarters, use_z),
                word_tier,
                severity,
                event,
                polygons,
                circles,
                codes,
                prefix,
            )| {
                let offset = FixedOffset::east_opt(quarters * 15 * 60).unwrap();
                let sent = DateTime::from_timestamp(secs, 0).unwrap().with_timezone(&offset);
                Generated {
                    identifier,
                    sender,
                    sent,
                    use_z,
                    word_tier,
                    severity,
                    event,
                    polygons,
                    circles,
                    codes,
                    prefix,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_cap(&bytes).map(|c| c.to_new_alert());
    }

    #[test]
    fn parse_never_panics_on_a_mangled_valid_alert(
        at in 0usize..1000,
        cut in 0usize..40,
        insert in prop::collection::vec(prop::sample::select(b"<>/&;'\"!?[]-=: \n\xC3\xA9\xFFaxZ0,.".to_vec()), 0..12),
    ) {
        let mut bytes = good().into_bytes();
        let at = at % bytes.len();
        let end = (at + cut).min(bytes.len());
        bytes.splice(at..end, insert);
        let _ = parse_cap(&bytes).map(|c| c.to_new_alert());
    }

    #[test]
    fn a_generated_alert_round_trips(g in generated()) {
        let xml = to_xml(&g);
        let a = parse_cap_alert(xml.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e:?}\n{xml}")))?;
        let key = AlertKey { sender: g.sender.clone(), identifier: g.identifier.clone(), sent: Timestamp::from_datetime(&g.sent) };
        prop_assert_eq!(&a.key, &key);
        prop_assert_eq!(a.tier, g.word_tier.unwrap_or(g.severity.1));
        let mut areas: Vec<AlertArea> = g.polygons.iter()
            .map(|r| AlertArea::Polygon(r.iter().map(|(lat, lon)| [*lon, *lat]).collect()))
            .collect();
        areas.extend(g.circles.iter().map(|(lat, lon, r)| AlertArea::Circle([*lon, *lat, *r])));
        for c in &g.codes {
            let code = AlertArea::Code(AreaCode::parse(c).unwrap());
            if !areas.contains(&code) {
                areas.push(code);
            }
        }
        let mut want = Vec::new();
        for area in areas {
            if !want.contains(&area) {
                want.push(area);
            }
        }
        prop_assert_eq!(a.areas, want);
    }
}

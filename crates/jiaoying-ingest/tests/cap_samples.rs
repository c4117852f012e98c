//! The CAP sample corpus (`tests/fixtures/cap-samples`, a copy of `shared/cap-samples`): every valid file is taken with the fields
//! that matter, every invalid one is refused with a message naming its problem.

use std::path::PathBuf;

use jiaoying_core::alert::AlertArea;
use jiaoying_core::{AreaCode, MsgType, NewAlert, Tier, Timestamp};
use jiaoying_ingest::cap::{CapVersion, Category, ResponseType, Severity, TierSource};
use jiaoying_ingest::{parse_cap, CapAlert, IngestError, TierTable};

fn samples() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cap-samples");
    assert!(dir.is_dir(), "the CAP samples are expected beside the workspace, at {}", dir.display());
    dir
}

fn load(rel: &str) -> Vec<u8> {
    let path = samples().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn both(rel: &str) -> (CapAlert, NewAlert) {
    let cap = parse_cap(&load(rel)).unwrap_or_else(|e| panic!("{rel}: {e:?}"));
    let new = cap.to_new_alert().unwrap_or_else(|e| panic!("{rel}: {e:?}"));
    (cap, new)
}

fn rejected(rel: &str) -> IngestError {
    match parse_cap(&load(rel)).and_then(|c| c.to_new_alert()) {
        Ok(a) => panic!("{rel} was accepted: {a:?}"),
        Err(e) => e,
    }
}

fn time(s: &str) -> Timestamp {
    Timestamp::from_datetime(&chrono::DateTime::parse_from_rfc3339(s).unwrap())
}

#[test]
fn every_valid_sample_parses_and_converts() {
    let mut n = 0;
    for entry in std::fs::read_dir(samples().join("valid")).unwrap() {
        let path = entry.unwrap().path();
        let cap = parse_cap(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let new = cap.to_new_alert().unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert_eq!(new.key.identifier, cap.identifier);
        n += 1;
    }
    assert!(n >= 10, "only {n} valid samples found");
}

#[test]
fn every_invalid_sample_is_rejected() {
    let mut n = 0;
    for entry in std::fs::read_dir(samples().join("invalid")).unwrap() {
        let path = entry.unwrap().path();
        let result = parse_cap(&std::fs::read(&path).unwrap()).and_then(|c| c.to_new_alert());
        assert!(result.is_err(), "{} was accepted", path.display());
        n += 1;
    }
    assert!(n >= 4, "only {n} invalid samples found");
}

#[test]
fn oasis_thunderstorm_polygon_is_turned_to_lon_lat() {
    let (cap, a) = both("valid/01-oasis-a2-thunderstorm-polygon-same.xml");
    assert_eq!((a.key.sender.as_str(), a.key.identifier.as_str()), ("KSTO@NWS.NOAA.GOV", "KSTO1055887203"));
    assert_eq!(a.key.sent, time("2003-06-17T21:57:00Z"));
    assert_eq!(a.msg_type, MsgType::Alert);
    assert_eq!(cap.version, CapVersion::V1_2);
    assert_eq!(cap.infos.len(), 1);
    assert_eq!(cap.infos[0].areas.len(), 1);
    assert_eq!(cap.infos[0].areas[0].geocodes.len(), 3, "SAME geocodes are kept in CapAlert");
    assert_eq!(cap.infos[0].event_codes[0].value, "SVR");
    assert_eq!(cap.infos[0].response_types, vec![ResponseType::Shelter]);
    // Only the polygon reaches the domain: SAME codes are not area codes.
    let AlertArea::Polygon(ring) = &a.areas[..].first().unwrap().clone() else { panic!("{:?}", a.areas) };
    assert_eq!(a.areas.len(), 1);
    assert_eq!(ring.len(), 5);
    assert_eq!(ring[0], [-120.14, 38.47]);
    assert_eq!(ring[1], [-119.95, 38.34]);
    assert_eq!(a.tier, Tier::Orange, "Severe, no tier words");
    assert_eq!(a.event, "SEVERE THUNDERSTORM");
    assert_eq!(a.expires, Some(time("2003-06-17T23:00:00Z")));
    assert!(a.description.starts_with("AT 254 PM PDT"));
}

#[test]
fn oasis_earthquake_update_has_its_reference_and_a_point_circle() {
    let (cap, a) = both("valid/02-oasis-a3-earthquake-update-circle.xml");
    assert_eq!(a.msg_type, MsgType::Update);
    assert_eq!(a.references.len(), 1);
    assert_eq!(a.references[0].identifier, "TRI13970876.1");
    assert_eq!(a.references[0].sent, Some(time("2003-06-12T03:30:00Z")));
    assert_eq!(a.areas, vec![AlertArea::Circle([-115.5527, 32.9525, 0.0])]);
    assert_eq!(a.tier, Tier::Blue, "Minor");
    assert_eq!(a.event, "地震");
    assert_eq!(cap.infos[0].parameters.len(), 5);
    assert_eq!(cap.infos[0].web.as_deref(), Some("http://www.trinet.org/scsn/scsn.html"));
}

#[test]
fn two_languages_without_chinese_use_the_first_info() {
    let (cap, a) = both("valid/03-oasis-a4-amber-two-languages.xml");
    assert_eq!(cap.infos.len(), 2);
    assert_eq!(cap.infos[1].language, "es-US");
    assert_eq!(cap.source.as_deref(), Some("SW"));
    assert_eq!(a.headline, "Amber Alert in Los Angeles County");
    assert_eq!(cap.infos[0].categories, vec![Category::Rescue]);
    assert_eq!(a.tier, Tier::Orange);
    assert!(a.areas.is_empty(), "SAME geocode only: {:?}", a.areas);
}

#[test]
fn taiwan_sample_with_a_bom_is_read_in_traditional_chinese() {
    let bytes = load("valid/05-taiwan-wra-reservoir-zh-tw.xml");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "the sample should start with a UTF-8 BOM");
    let (cap, a) = both("valid/05-taiwan-wra-reservoir-zh-tw.xml");
    assert_eq!(cap.sender, "ddmt01@wra.gov.tw");
    assert_eq!(cap.infos[0].language, "zh-tw");
    assert_eq!(a.event, "水庫洩洪", "unknown events keep their text");
    assert_eq!(a.headline, "明德水庫:洩洪中");
    // alert_color 紅色 (traditional) and severity_level 一級警戒 name red; severity says Moderate.
    assert_eq!(a.tier, Tier::Red);
    assert_eq!(cap.tier_decision(&TierTable::default()).unwrap().source, TierSource::Parameter);
    assert_eq!(a.onset, Some(time("2014-05-14T12:10:00Z")), "no onset: effective");
    assert_eq!(a.expires, Some(time("2014-05-14T13:10:00Z")));
    assert_eq!(cap.codes, vec!["Progress".to_string()]);
    assert!(a.areas.is_empty(), "Taiwan_Geocode_100 is not an area code scheme");
}

#[test]
fn ipaws_cancel_without_info_keeps_its_signature() {
    let (cap, a) = both("valid/07-ipaws-cancel-no-info-xmldsig.xml");
    assert_eq!(a.msg_type, MsgType::Cancel);
    assert!(cap.infos.is_empty());
    assert_eq!(a.references.len(), 1);
    assert_eq!(a.references[0].identifier, "AS-NV-e18921c7-1b35-4a81-9705-42d25c265ddd");
    assert_eq!((a.event.as_str(), a.headline.as_str()), ("", ""));
    assert_eq!(a.tier, Tier::Blue, "a Cancel without info names no tier; Blue by convention");
    assert!(a.areas.is_empty());
    assert_eq!(cap.codes, vec!["IPAWSv1.0".to_string()]);
    let sig = cap.signature.as_deref().expect("signature kept");
    assert!(sig.starts_with("<ds:Signature") && sig.contains("SignatureValue") && sig.ends_with("</ds:Signature>"));
}

#[test]
fn tsunami_update_keeps_three_references() {
    let (cap, a) = both("valid/08-ntwc-tsunami-cancellation-update-3refs.xml");
    assert_eq!(a.msg_type, MsgType::Update);
    assert_eq!(cap.references.len(), 3);
    assert_eq!(a.references.len(), 3);
    let ids: Vec<&str> = a.references.iter().map(|r| r.identifier.as_str()).collect();
    assert_eq!(ids, ["PAAQ-1-mg5a94", "PAAQ-2-mg5a94", "PAAQ-3-mg5a94"]);
    assert_eq!(a.references[2].sent, Some(time("2013-01-05T10:17:31Z")));
    assert_eq!(cap.incidents, vec!["mg5a94".to_string()]);
    assert_eq!(cap.infos[0].resources.len(), 1);
    assert_eq!(cap.infos[0].resources[0].mime_type.as_deref(), Some("application/json"));
    assert_eq!(cap.infos[0].severity, Severity::Unknown);
    assert_eq!(a.tier, Tier::Blue, "Unknown severity");
    assert_eq!(a.areas, vec![AlertArea::Circle([-134.9, 55.3, 0.0])]);
    assert!(cap.signature.is_some(), "the default-namespace xmldsig Signature is kept");
    // `&gt;` in a parameter is read as `>`.
    assert!(cap.infos[0].parameters.iter().any(|p| p.value_name == "NWSUGC" && p.value.contains("AKZ026>029")));
}

#[test]
fn meteoalarm_awareness_level_gives_the_tier_and_emma_ids_stay_in_cap() {
    let (cap, a) = both("valid/10-met-eireann-meteoalarm-emma-geocode.xml");
    assert_eq!(a.tier, Tier::Yellow);
    assert_eq!(cap.tier_decision(&TierTable::default()).unwrap().source, TierSource::AwarenessLevel);
    assert_eq!(cap.infos[0].areas[0].geocodes.len(), 4);
    assert!(a.areas.is_empty());
    assert!(cap.incidents.is_empty(), "an empty <incidents/> is absent");
    assert_eq!(cap.infos[0].instruction, None, "an empty <instruction/> is absent");
    assert_eq!(a.instruction, "");
    assert_eq!(a.key.sent, time("2025-04-13T23:16:48Z"));
}

#[test]
fn icelandic_two_languages_resource_and_colour_parameter() {
    let (cap, a) = both("valid/12-icelandic-met-is-en-resource.xml");
    assert_eq!(cap.infos.len(), 2);
    assert_eq!(a.headline, "Hvöss suðaustanátt", "no Chinese info: the first");
    assert_eq!(a.tier, Tier::Yellow, "Color = Yellow");
    let r = &cap.infos[1].resources[0];
    assert_eq!(r.size, Some(17296));
    assert_eq!(r.digest.as_deref(), Some("1c8015126336af265ec36ef202e91611f9cfd7a7"));
    // Both infos name the same polygon: it reaches the domain once.
    assert_eq!(a.areas.len(), 1);
    let AlertArea::Polygon(ring) = &a.areas[0] else { panic!("{:?}", a.areas) };
    assert_eq!(ring.len(), 8);
    assert_eq!(ring[0], [-22.04, 64.17]);
}

#[test]
fn chongqing_rainstorm_red_with_a_cpeas_code() {
    let (cap, a) = both("valid/cn-01-rainstorm-red-jiangbei.xml");
    assert_eq!((a.key.sender.as_str(), a.key.identifier.as_str()), ("50010541600000", "50010541600000_20260701080000"));
    assert_eq!(a.key.sent, Timestamp(1_782_864_000_000));
    assert_eq!(a.tier, Tier::Red);
    assert_eq!(a.event, "暴雨");
    assert_eq!(a.headline, "江北区气象台发布暴雨红色预警信号[I级/特别严重]");
    assert!(a.instruction.starts_with("停止集会"));
    assert_eq!(a.onset, Some(time("2026-07-01T08:00:00+08:00")));
    assert_eq!(a.expires, Some(time("2026-07-01T20:00:00+08:00")));
    assert_eq!(a.area_codes(), vec![AreaCode::parse("500105002").unwrap()], "the 12-digit CPEAS code, trimmed");
    let polygon = [[106.53, 29.57], [106.55, 29.57], [106.55, 29.59], [106.53, 29.59], [106.53, 29.57]];
    assert_eq!(a.areas[0], AlertArea::Polygon(polygon.to_vec()));
    assert_eq!(a.areas.len(), 2);
    assert_eq!(cap.infos[0].language, "zh-CN");
}

#[test]
fn chongqing_geohazard_orange_circle_is_lon_lat_radius() {
    let (cap, a) = both("valid/cn-02-geohazard-orange-circle.xml");
    assert_eq!(a.tier, Tier::Orange);
    assert_eq!(a.event, "地质灾害");
    assert_eq!(a.areas, vec![AlertArea::Circle([106.541, 29.585, 1.5])]);
    assert_eq!(cap.infos[0].response_types, vec![ResponseType::Evacuate, ResponseType::Monitor]);
    assert_eq!(cap.infos[0].parameters[0].value, "二级");
}

#[test]
fn m1_external_dtd_entities_and_xinclude_are_refused_as_unsafe() {
    match rejected("invalid/m1-xxe-xinclude-external-dtd.cap.xml") {
        IngestError::Unsafe(m) => assert!(m.contains("DOCTYPE") || m.contains("entity"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn m3_names_the_missing_scope() {
    match rejected("invalid/m3-missing-scope.cap.xml") {
        IngestError::Invalid(m) => assert!(m.contains("alert.scope") && m.contains("required"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn m4_names_the_empty_references_of_an_update() {
    match rejected("invalid/m4-update-empty-references.cap.xml") {
        IngestError::Invalid(m) => assert!(m.contains("alert.references"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn m5_names_the_empty_enumerations_and_the_bad_polygon() {
    match rejected("invalid/m5-cap11-empty-enums-bad-polygon.cap.xml") {
        IngestError::Invalid(m) => {
            for part in ["alert.info[0].urgency", "alert.info[0].severity", "alert.info[0].certainty"] {
                assert!(m.contains(part), "{part} in {m}");
            }
            assert!(m.contains("alert.info[0].area[0].polygon[0]"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_atom_index_feed_is_not_an_alert() {
    match parse_cap(&load("feeds/nws-atom-index-cap1.1.atom")) {
        Err(IngestError::Invalid(m)) => assert!(m.contains("not a CAP alert") && m.contains("feed"), "{m}"),
        other => panic!("{other:?}"),
    }
}

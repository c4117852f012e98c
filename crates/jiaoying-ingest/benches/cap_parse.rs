//! CAP parser throughput: `parse_cap` then `to_new_alert`, in alerts per second, over every valid
//! sample of the shared corpus (copied into `benches/samples/` so the bench stands alone).
//!
//! `cargo bench -p jiaoying-ingest --bench cap_parse` (release). Groups:
//! - `cap_parse/<sample>`: one alert per iteration;
//! - `cap_parse_all/mixed`: all samples, one after another, per iteration (throughput counts them
//!   all); `cap_parse_all/mixed_tables_built_once`: the same with the tier and event tables built
//!   once, as the service's `Normaliser` does (`to_new_alert` builds them on every call);
//! - `cap_steps/*`: the mix again, cut at successive steps (UTF-8 check, the XML tree alone,
//!   `parse_cap`, `parse_cap` + `to_new_alert`), then the conversion alone (`to_new_alert`, and
//!   `to_new_alert_with` tables built once), to see which step costs what.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jiaoying_ingest::{parse_cap, EventTable, TierTable};

const SAMPLES: &[(&str, &[u8])] = &[
    ("01-oasis-a2-thunderstorm-polygon-same", include_bytes!("samples/01-oasis-a2-thunderstorm-polygon-same.xml")),
    ("02-oasis-a3-earthquake-update-circle", include_bytes!("samples/02-oasis-a3-earthquake-update-circle.xml")),
    ("03-oasis-a4-amber-two-languages", include_bytes!("samples/03-oasis-a4-amber-two-languages.xml")),
    ("05-taiwan-wra-reservoir-zh-tw", include_bytes!("samples/05-taiwan-wra-reservoir-zh-tw.xml")),
    ("07-ipaws-cancel-no-info-xmldsig", include_bytes!("samples/07-ipaws-cancel-no-info-xmldsig.xml")),
    (
        "08-ntwc-tsunami-cancellation-update-3refs",
        include_bytes!("samples/08-ntwc-tsunami-cancellation-update-3refs.xml"),
    ),
    ("10-met-eireann-meteoalarm-emma-geocode", include_bytes!("samples/10-met-eireann-meteoalarm-emma-geocode.xml")),
    ("12-icelandic-met-is-en-resource", include_bytes!("samples/12-icelandic-met-is-en-resource.xml")),
    ("cn-01-rainstorm-red-jiangbei", include_bytes!("samples/cn-01-rainstorm-red-jiangbei.xml")),
    ("cn-02-geohazard-orange-circle", include_bytes!("samples/cn-02-geohazard-orange-circle.xml")),
];

/// What the service does with a CAP body: parse, validate, convert to the domain's alert.
fn ingest(bytes: &[u8]) {
    let alert = parse_cap(bytes).expect("valid sample parses");
    black_box(alert.to_new_alert().expect("valid sample converts"));
}

/// The samples as text (a UTF-8 BOM stripped), for the step-by-step group.
fn texts() -> Vec<&'static str> {
    SAMPLES
        .iter()
        .map(|(name, b)| {
            let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
            std::str::from_utf8(b).unwrap_or_else(|e| panic!("{name}: not UTF-8: {e}"))
        })
        .collect()
}

fn per_sample(c: &mut Criterion) {
    let mut group = c.benchmark_group("cap_parse");
    group.throughput(Throughput::Elements(1));
    for (name, bytes) in SAMPLES {
        ingest(bytes); // fail early, outside the measure, if a sample stopped parsing
        group.bench_function(*name, |b| b.iter(|| ingest(black_box(bytes))));
    }
    group.finish();
}

fn mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("cap_parse_all");
    group.throughput(Throughput::Elements(SAMPLES.len() as u64));
    group.bench_function("mixed", |b| {
        b.iter(|| {
            for (_, bytes) in SAMPLES {
                ingest(black_box(bytes));
            }
        })
    });
    // The service's path (`Normaliser::cap_alert`): the same, with the tables built once.
    let (tiers, events) = (TierTable::default(), EventTable::default());
    group.bench_function("mixed_tables_built_once", |b| {
        b.iter(|| {
            for (_, bytes) in SAMPLES {
                let alert = parse_cap(black_box(bytes)).expect("valid sample parses");
                black_box(alert.to_new_alert_with(&tiers, &events).expect("valid sample converts"));
            }
        })
    });
    group.finish();
}

fn steps(c: &mut Criterion) {
    let texts = texts();
    let mut group = c.benchmark_group("cap_steps");
    group.throughput(Throughput::Elements(SAMPLES.len() as u64));
    group.bench_function("1_utf8_check", |b| {
        b.iter(|| {
            for (_, bytes) in SAMPLES {
                black_box(std::str::from_utf8(black_box(bytes)).is_ok());
            }
        })
    });
    // The same options as the parser's `parse_tree` (DTDs refused, nodes bounded).
    let options = || roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 200_000, ..Default::default() };
    group.bench_function("2_roxmltree_only", |b| {
        b.iter(|| {
            for text in &texts {
                black_box(roxmltree::Document::parse_with_options(black_box(text), options()).expect("well-formed"));
            }
        })
    });
    group.bench_function("3_parse_cap", |b| {
        b.iter(|| {
            for (_, bytes) in SAMPLES {
                black_box(parse_cap(black_box(bytes)).expect("valid sample parses"));
            }
        })
    });
    group.bench_function("4_parse_cap_to_new_alert", |b| {
        b.iter(|| {
            for (_, bytes) in SAMPLES {
                ingest(black_box(bytes));
            }
        })
    });
    // The conversion alone, on alerts parsed beforehand: with the built-in tables that
    // `to_new_alert` builds on every call, and with tables built once.
    let parsed: Vec<_> = SAMPLES.iter().map(|(_, b)| parse_cap(b).expect("valid sample parses")).collect();
    group.bench_function("5_to_new_alert_only", |b| {
        b.iter(|| {
            for alert in &parsed {
                black_box(black_box(alert).to_new_alert().expect("valid sample converts"));
            }
        })
    });
    let (tiers, events) = (TierTable::default(), EventTable::default());
    group.bench_function("6_to_new_alert_with_tables_built_once", |b| {
        b.iter(|| {
            for alert in &parsed {
                black_box(black_box(alert).to_new_alert_with(&tiers, &events).expect("valid sample converts"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, per_sample, mixed, steps);
criterion_main!(benches);

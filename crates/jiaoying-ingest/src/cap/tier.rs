//! Tier normalisation: the alert's own words where it has them, else CAP severity.
//!
//! Order (first that names a tier wins; within one field the most severe named wins):
//! 1. the event, 2. the headline, 3. the parameters — colour words (红色/橙色/黄色/蓝色, also in
//!    traditional characters and, as whole words, Red/Orange/Yellow/Blue), level words (I级–IV级,
//!    Ⅰ级–Ⅳ级, 一级–四级, `Level IV`);
//! 4. a MeteoAlarm `awareness_level` parameter (`4; red; Extreme`; green names no tier);
//! 5. CAP severity (Extreme red, Severe orange, Moderate yellow, Minor blue, Unknown blue).
//!
//! [`normalise_tier`] is pure and takes its words from a [`TierTable`], which is serde-ready so
//! that a caller can load one from config; [`TierTable::default`] is the built-in table.

use jiaoying_core::Tier;
use serde::{Deserialize, Serialize};

use super::model::{CapInfo, Severity, ValuePair};

/// One word and the tier it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierWord {
    pub word: String,
    pub tier: Tier,
}

fn words(list: &[(&str, Tier)]) -> Vec<TierWord> {
    list.iter().map(|(w, t)| TierWord { word: w.to_string(), tier: *t }).collect()
}

/// The tier of each CAP severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityTiers {
    pub extreme: Tier,
    pub severe: Tier,
    pub moderate: Tier,
    pub minor: Tier,
    pub unknown: Tier,
}

impl SeverityTiers {
    pub fn get(&self, s: Severity) -> Tier {
        match s {
            Severity::Extreme => self.extreme,
            Severity::Severe => self.severe,
            Severity::Moderate => self.moderate,
            Severity::Minor => self.minor,
            Severity::Unknown => self.unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TierTable {
    /// Words that name a tier wherever they appear in a field (colour words in Chinese).
    pub words: Vec<TierWord>,
    /// Words matched as whole words only, ignoring ASCII case, in the event and headline; in a
    /// parameter only when they are its whole value (`Color = Yellow`).
    pub english_words: Vec<TierWord>,
    /// Level numerals written before 级/級 (`I级`, `Ⅱ级`, `三级`) or after `Level` (`Level IV`).
    pub levels: Vec<TierWord>,
    /// The level marks that follow a numeral.
    pub level_marks: Vec<String>,
    /// Phrases removed (ignoring ASCII case) before looking for words: product names that hold
    /// a colour without naming a tier, such as the US "Red Flag Warning".
    pub ignore_phrases: Vec<String>,
    /// Parameter names (ignoring case) of MeteoAlarm-style levels such as `4; red; Extreme`.
    pub awareness_parameters: Vec<String>,
    /// The colours of an awareness level; a colour not listed (green) names no tier.
    pub awareness_colours: Vec<TierWord>,
    pub severity: SeverityTiers,
}

impl Default for TierTable {
    fn default() -> Self {
        use Tier::*;
        TierTable {
            words: words(&[
                ("红色", Red),
                ("紅色", Red),
                ("橙色", Orange),
                ("黄色", Yellow),
                ("黃色", Yellow),
                ("蓝色", Blue),
                ("藍色", Blue),
            ]),
            english_words: words(&[("red", Red), ("orange", Orange), ("yellow", Yellow), ("blue", Blue)]),
            levels: words(&[
                ("I", Red),
                ("II", Orange),
                ("III", Yellow),
                ("IV", Blue),
                ("Ⅰ", Red),
                ("Ⅱ", Orange),
                ("Ⅲ", Yellow),
                ("Ⅳ", Blue),
                ("一", Red),
                ("二", Orange),
                ("三", Yellow),
                ("四", Blue),
            ]),
            level_marks: vec!["级".into(), "級".into()],
            ignore_phrases: [
                "red flag",
                "red tide",
                "red river",
                "red sea",
                "yellow sea",
                "orange county",
                "blue ridge",
            ]
            .map(String::from)
            .to_vec(),
            awareness_parameters: vec!["awareness_level".into()],
            awareness_colours: words(&[("yellow", Yellow), ("orange", Orange), ("red", Red)]),
            severity: SeverityTiers { extreme: Red, severe: Orange, moderate: Yellow, minor: Blue, unknown: Blue },
        }
    }
}

/// Where a tier was read from, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TierSource {
    Event,
    Headline,
    Parameter,
    AwarenessLevel,
    Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierDecision {
    pub tier: Tier,
    pub source: TierSource,
}

/// What the tier is read from: one info block's fields.
#[derive(Debug, Clone, Copy)]
pub struct TierInput<'a> {
    pub event: &'a str,
    pub headline: &'a str,
    pub parameters: &'a [ValuePair],
    pub severity: Severity,
}

impl<'a> TierInput<'a> {
    pub fn from_info(info: &'a CapInfo) -> Self {
        TierInput {
            event: &info.event,
            headline: info.headline.as_deref().unwrap_or(""),
            parameters: &info.parameters,
            severity: info.severity,
        }
    }
}

/// The tier of one info block; see the module docs for the order.
pub fn normalise_tier(table: &TierTable, input: &TierInput) -> TierDecision {
    let found = [(TierSource::Event, input.event), (TierSource::Headline, input.headline)]
        .into_iter()
        .find_map(|(source, text)| tier_in_text(table, text).map(|tier| TierDecision { tier, source }));
    if let Some(d) = found {
        return d;
    }
    let is_awareness =
        |p: &ValuePair| table.awareness_parameters.iter().any(|a| a.eq_ignore_ascii_case(p.value_name.trim()));
    let from_params =
        input.parameters.iter().filter(|p| !is_awareness(p)).filter_map(|p| tier_in_parameter(table, &p.value)).max();
    if let Some(tier) = from_params {
        return TierDecision { tier, source: TierSource::Parameter };
    }
    let awareness =
        input.parameters.iter().filter(|p| is_awareness(p)).filter_map(|p| awareness_tier(table, &p.value)).max();
    if let Some(tier) = awareness {
        return TierDecision { tier, source: TierSource::AwarenessLevel };
    }
    TierDecision { tier: table.severity.get(input.severity), source: TierSource::Severity }
}

/// The tier of a whole message from the decisions of its info blocks: the most explicit source
/// wins (words over awareness over severity), and among equally explicit ones the most severe.
pub fn combine_tiers(decisions: impl IntoIterator<Item = TierDecision>) -> Option<TierDecision> {
    decisions.into_iter().min_by(|a, b| a.source.cmp(&b.source).then(b.tier.cmp(&a.tier)))
}

/// The most severe tier named in free text (an event or a headline), if any.
pub fn tier_in_text(table: &TierTable, text: &str) -> Option<Tier> {
    let text = without_ignored(table, text);
    let colours = table.words.iter().filter(|w| text.contains(&w.word)).map(|w| w.tier);
    let english = table.english_words.iter().filter(|w| contains_word(&text, &w.word)).map(|w| w.tier);
    colours.chain(english).chain(levels_in(table, &text)).max()
}

/// The most severe tier named in a parameter's value: colour and level words anywhere, English
/// colour words only as the whole value.
pub fn tier_in_parameter(table: &TierTable, value: &str) -> Option<Tier> {
    let v = value.trim();
    let colours = table.words.iter().filter(|w| v.contains(&w.word)).map(|w| w.tier);
    let english = table.english_words.iter().filter(|w| v.eq_ignore_ascii_case(&w.word)).map(|w| w.tier);
    colours.chain(english).chain(levels_in(table, v)).max()
}

/// `4; red; Extreme` → red; `1; green; Minor` → none.
pub fn awareness_tier(table: &TierTable, value: &str) -> Option<Tier> {
    value
        .split(';')
        .map(str::trim)
        .filter_map(|part| table.awareness_colours.iter().find(|c| c.word.eq_ignore_ascii_case(part)).map(|c| c.tier))
        .max()
}

fn without_ignored<'t>(table: &TierTable, text: &'t str) -> std::borrow::Cow<'t, str> {
    // Most texts hold no ignored phrase: find that out without allocating.
    if !table.ignore_phrases.iter().any(|p| !p.is_empty() && find_ignore_ascii_case(text, p, 0).is_some()) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for phrase in table.ignore_phrases.iter().filter(|p| !p.is_empty()) {
        while let Some(at) = find_ignore_ascii_case(&out, phrase, 0) {
            out.replace_range(at..at + phrase.len(), " ");
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first byte offset at or after `from` where `needle` occurs in `hay`, ASCII case ignored.
fn find_ignore_ascii_case(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (from..=h.len() - n.len()).find(|&at| hay.is_char_boundary(at) && h[at..at + n.len()].eq_ignore_ascii_case(n))
}

/// Whether `word` occurs in `text` as a whole word (ASCII case ignored; ASCII letters and digits
/// on either side break the match).
fn contains_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = find_ignore_ascii_case(text, word, from) {
        let end = at + word.len();
        let before_ok = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let after_ok = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Characters that, just before a numeral, show it is part of a larger number (十一级 is wind
/// force 11, not level one) or of a word (`VI级`, `XII级`).
fn extends_number(c: char) -> bool {
    c.is_ascii_alphanumeric() || "十百千零〇两五六七八九".contains(c)
}

/// The tiers of the levels named in `text`: a run of numeral characters right before a level
/// mark (`II级`, `二级`, `Ⅳ級`), or `Level` and a roman numeral (`Level IV`).
fn levels_in<'t>(table: &'t TierTable, text: &'t str) -> impl Iterator<Item = Tier> + 't {
    let numeral_chars: Vec<char> = table.levels.iter().flat_map(|l| l.word.chars()).collect();
    let is_numeral = move |c: char| numeral_chars.contains(&c);
    let lookup = |run: &str| table.levels.iter().find(|l| l.word == run).map(|l| l.tier);
    let mut found = Vec::new();
    for mark in table.level_marks.iter().filter(|m| !m.is_empty()) {
        for (at, _) in text.match_indices(mark.as_str()) {
            let before = &text[..at];
            let run_start = before.char_indices().rev().take_while(|(_, c)| is_numeral(*c)).last().map(|(i, _)| i);
            let Some(start) = run_start else { continue };
            let run = &before[start..];
            if before[..start].chars().next_back().is_some_and(extends_number) {
                continue;
            }
            found.extend(lookup(run));
        }
    }
    // English: "Level IV", "level ii".
    let lower = text.to_ascii_lowercase();
    for (at, _) in lower.match_indices("level") {
        if at > 0 && lower.as_bytes()[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = text[at + 5..].trim_start();
        let run: String = rest.chars().take_while(|c| matches!(c, 'I' | 'V' | 'i' | 'v')).collect();
        let after = rest[run.len()..].chars().next();
        if run.is_empty() || after.is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        found.extend(lookup(&run.to_ascii_uppercase()));
    }
    found.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Tier::*;

    fn input<'a>(event: &'a str, headline: &'a str, params: &'a [ValuePair], severity: Severity) -> TierInput<'a> {
        TierInput { event, headline, parameters: params, severity }
    }

    fn pair(name: &str, value: &str) -> ValuePair {
        ValuePair { value_name: name.into(), value: value.into() }
    }

    #[test]
    fn words_in_event_and_headline() {
        let t = TierTable::default();
        let cases: &[(&str, Option<Tier>)] = &[
            ("暴雨红色预警信号", Some(Red)),
            ("暴雨橙色预警", Some(Orange)),
            ("大风黄色预警", Some(Yellow)),
            ("寒潮蓝色预警", Some(Blue)),
            ("江北区气象台发布暴雨红色预警信号[I级/特别严重]", Some(Red)),
            ("[II级/严重]", Some(Orange)),
            ("III级", Some(Yellow)),
            ("IV级", Some(Blue)),
            ("Ⅰ级", Some(Red)),
            ("Ⅱ级响应", Some(Orange)),
            ("Ⅲ级", Some(Yellow)),
            ("Ⅳ级", Some(Blue)),
            ("地质灾害气象风险一级预警", Some(Red)),
            ("地质灾害气象风险二级预警（橙色）", Some(Orange)),
            ("三级预警", Some(Yellow)),
            ("四级", Some(Blue)),
            ("一級警戒", Some(Red)),
            ("水庫洩洪紅色警戒", Some(Red)),
            ("黃色", Some(Yellow)),
            ("藍色", Some(Blue)),
            ("Guangling issued a blue gale warning [Level IV/general]", Some(Blue)),
            ("Level II", Some(Orange)),
            ("RED WARNING", Some(Red)),
            ("Orange warning for wind", Some(Orange)),
            // Several in one field: the most severe.
            ("解除暴雨黄色预警，发布暴雨红色预警", Some(Red)),
            // Not tiers.
            ("阵风十一级", None),
            ("阵风8级", None),
            ("VI级", None),
            ("Red Flag Warning", None),
            ("Redding flood", None),
            ("Bluetooth outage", None),
            ("Gale warning for the Yellow Sea", None),
            ("Orange County Flood Warning", None),
            ("Amber Alert in Los Angeles County", None),
            ("SEVERE THUNDERSTORM", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(tier_in_text(&t, text), *want, "{text:?}");
        }
    }

    #[test]
    fn parameters_and_awareness() {
        let t = TierTable::default();
        assert_eq!(tier_in_parameter(&t, "红色"), Some(Red));
        assert_eq!(tier_in_parameter(&t, "二级"), Some(Orange));
        assert_eq!(tier_in_parameter(&t, " Yellow "), Some(Yellow));
        assert_eq!(tier_in_parameter(&t, "seas of red tide expected"), None);
        let aw = |v: &str| awareness_tier(&t, v);
        assert_eq!(aw("4; red; Extreme"), Some(Red));
        assert_eq!(aw("3; orange; Severe"), Some(Orange));
        assert_eq!(aw("2; yellow; Moderate"), Some(Yellow));
        assert_eq!(aw("1; green; Minor"), None);
    }

    #[test]
    fn precedence_event_headline_parameters_awareness_severity() {
        let t = TierTable::default();
        let none: &[ValuePair] = &[];
        let yellow_param = [pair("color", "黄色")];
        let red_awareness = [pair("awareness_level", "4; red; Extreme")];
        let green_awareness = [pair("awareness_level", "1; green; Minor")];
        let cases: Vec<(TierInput, TierDecision)> = vec![
            (
                input("暴雨红色预警", "暴雨黄色预警", none, Severity::Minor),
                TierDecision { tier: Red, source: TierSource::Event },
            ),
            (
                input("暴雨", "暴雨橙色预警", &yellow_param, Severity::Minor),
                TierDecision { tier: Orange, source: TierSource::Headline },
            ),
            (
                input("暴雨", "暴雨预警", &yellow_param, Severity::Extreme),
                TierDecision { tier: Yellow, source: TierSource::Parameter },
            ),
            (
                input("Wind", "Wind warning", &red_awareness, Severity::Minor),
                TierDecision { tier: Red, source: TierSource::AwarenessLevel },
            ),
            (
                input("Wind", "Wind warning", &green_awareness, Severity::Moderate),
                TierDecision { tier: Yellow, source: TierSource::Severity },
            ),
            (input("x", "", none, Severity::Extreme), TierDecision { tier: Red, source: TierSource::Severity }),
            (input("x", "", none, Severity::Severe), TierDecision { tier: Orange, source: TierSource::Severity }),
            (input("x", "", none, Severity::Moderate), TierDecision { tier: Yellow, source: TierSource::Severity }),
            (input("x", "", none, Severity::Minor), TierDecision { tier: Blue, source: TierSource::Severity }),
            (input("x", "", none, Severity::Unknown), TierDecision { tier: Blue, source: TierSource::Severity }),
        ];
        for (inp, want) in cases {
            assert_eq!(normalise_tier(&t, &inp), want, "{inp:?}");
        }
    }

    #[test]
    fn combining_prefers_explicit_words_then_the_most_severe() {
        let d = |tier, source| TierDecision { tier, source };
        let got = combine_tiers([d(Orange, TierSource::Severity), d(Yellow, TierSource::Headline)]);
        assert_eq!(got, Some(d(Yellow, TierSource::Headline)));
        let got = combine_tiers([d(Yellow, TierSource::Headline), d(Red, TierSource::Headline)]);
        assert_eq!(got, Some(d(Red, TierSource::Headline)));
        assert_eq!(combine_tiers([]), None);
    }

    #[test]
    fn a_table_from_config_changes_the_answer() {
        let mut t = TierTable::default();
        t.severity.unknown = Yellow;
        t.words.push(TierWord { word: "白色".into(), tier: Blue });
        assert_eq!(normalise_tier(&t, &input("x", "", &[], Severity::Unknown)).tier, Yellow);
        assert_eq!(tier_in_text(&t, "台风白色预警"), Some(Blue));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TierTable>(&json).unwrap(), t);
        let partial: TierTable = serde_json::from_str(r#"{"ignore_phrases": []}"#).unwrap();
        assert_eq!(tier_in_text(&partial, "Red Flag Warning"), Some(Red));
    }
}

//! Event normalisation: the event text of an alert mapped to a Chinese event type where known
//! (`暴雨红色预警信号` → `暴雨`, `地质灾害气象风险预警` → `地质灾害`), so that directives and
//! policies can name event types. Unknown events keep their text.
//!
//! [`normalise_event`] is pure and takes its aliases from an [`EventTable`] (serde-ready, so it
//! can come from config). An alias made of ASCII matches as a whole word ignoring case; any other
//! alias matches anywhere in the text. The alias found earliest in the text wins, and among those
//! starting at the same place the longest (`Flash Flood` before `Flood`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAlias {
    pub alias: String,
    pub event: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventTable {
    pub aliases: Vec<EventAlias>,
}

/// The built-in event types and their aliases: simplified, traditional, and the English the CMA
/// feed uses.
const DEFAULT_ALIASES: &[(&str, &[&str])] = &[
    ("台风", &["台风", "颱風", "颱风", "台風", "Typhoon", "Tropical Cyclone"]),
    ("暴雨", &["暴雨", "Rainstorm", "Heavy Rain"]),
    ("暴雪", &["暴雪", "Snowstorm", "Blizzard", "Heavy Snow"]),
    ("寒潮", &["寒潮", "Cold Wave"]),
    ("大风", &["大风", "大風", "Gale"]),
    ("沙尘暴", &["沙尘暴", "沙塵暴", "Sandstorm", "Sand Storm", "Dust Storm", "Sand and Dust Storm"]),
    ("高温", &["高温", "高溫", "Heat Wave", "High Temperature"]),
    ("干旱", &["干旱", "乾旱", "Drought"]),
    ("雷电", &["雷电", "雷電", "Lightning"]),
    ("冰雹", &["冰雹", "Hail"]),
    ("霜冻", &["霜冻", "霜凍", "Frost"]),
    ("大雾", &["大雾", "大霧", "浓雾", "濃霧", "Heavy Fog", "Fog"]),
    ("霾", &["霾", "Haze"]),
    ("道路结冰", &["道路结冰", "道路結冰", "道路冰雪", "Road Icing", "Icy Road"]),
    ("地质灾害", &["地质灾害", "地質災害", "Geological Hazard", "Geologic Hazard", "Geo-hazard", "Landslide"]),
    ("森林火险", &["森林火险", "森林火險", "森林（草原）火险", "森林(草原)火险", "森林草原火险", "Forest Fire"]),
    ("山洪", &["山洪", "Flash Flood", "Mountain Torrent"]),
    ("洪水", &["洪水", "Flood"]),
    ("地震", &["地震", "Earthquake"]),
];

impl Default for EventTable {
    fn default() -> Self {
        let aliases = DEFAULT_ALIASES
            .iter()
            .flat_map(|(event, aliases)| {
                aliases.iter().map(|a| EventAlias { alias: a.to_string(), event: event.to_string() })
            })
            .collect();
        EventTable { aliases }
    }
}

/// The normalised event type of `text`, or `text` itself (trimmed) when no alias matches.
pub fn normalise_event(table: &EventTable, text: &str) -> String {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    table
        .aliases
        .iter()
        .filter(|a| !a.alias.is_empty())
        .filter_map(|a| first_match(text, &lower, &a.alias).map(|at| (at, a)))
        .min_by(|(at_a, a), (at_b, b)| at_a.cmp(at_b).then(b.alias.len().cmp(&a.alias.len())))
        .map(|(_, a)| a.event.clone())
        .unwrap_or_else(|| text.to_string())
}

/// Where `alias` first occurs in `text`: as a whole word ignoring ASCII case when it is ASCII,
/// anywhere otherwise.
fn first_match(text: &str, lower: &str, alias: &str) -> Option<usize> {
    if !alias.is_ascii() {
        return text.find(alias);
    }
    let alias = alias.to_ascii_lowercase();
    let b = lower.as_bytes();
    lower.match_indices(&alias).map(|(at, _)| at).find(|&at| {
        let end = at + alias.len();
        (at == 0 || !b[at - 1].is_ascii_alphanumeric()) && (end == b.len() || !b[end].is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_events_are_normalised_and_unknown_ones_kept() {
        let t = EventTable::default();
        let cases = [
            ("暴雨", "暴雨"),
            ("暴雨预警", "暴雨"),
            ("暴雨红色预警信号", "暴雨"),
            ("台风橙色预警", "台风"),
            ("颱風警報", "台风"),
            ("暴雪", "暴雪"),
            ("寒潮蓝色预警", "寒潮"),
            ("大风黄色预警", "大风"),
            ("沙尘暴", "沙尘暴"),
            ("高温橙色预警信号", "高温"),
            ("气象干旱", "干旱"),
            ("雷电黄色预警", "雷电"),
            ("冰雹橙色预警", "冰雹"),
            ("霜冻蓝色预警", "霜冻"),
            ("大雾红色预警", "大雾"),
            ("霾橙色预警", "霾"),
            ("道路结冰黄色预警", "道路结冰"),
            ("地质灾害", "地质灾害"),
            ("地质灾害气象风险预警", "地质灾害"),
            ("森林火险", "森林火险"),
            ("森林（草原）火险橙色预警", "森林火险"),
            ("山洪灾害气象预警", "山洪"),
            ("洪水蓝色预警", "洪水"),
            ("地震", "地震"),
            ("Earthquake", "地震"),
            ("Flash Flood Warning", "山洪"),
            ("Flood Warning", "洪水"),
            ("gale", "大风"),
            ("Rainstorm", "暴雨"),
            // Earliest in the text wins.
            ("暴雨引发地质灾害", "暴雨"),
            // Unknown: kept as sent (trimmed).
            ("  水庫洩洪 ", "水庫洩洪"),
            ("SEVERE THUNDERSTORM", "SEVERE THUNDERSTORM"),
            ("Child Abduction", "Child Abduction"),
            ("Floodgate repair", "Floodgate repair"),
            ("Tsunami Cancellation", "Tsunami Cancellation"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(normalise_event(&t, text), want, "{text:?}");
        }
    }

    #[test]
    fn a_table_from_config_adds_types() {
        let mut t = EventTable::default();
        t.aliases.insert(0, EventAlias { alias: "雷雨大风".into(), event: "雷雨大风".into() });
        assert_eq!(normalise_event(&t, "雷雨大风黄色预警"), "雷雨大风");
        assert_eq!(normalise_event(&EventTable::default(), "雷雨大风黄色预警"), "大风");
        let back: EventTable = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}

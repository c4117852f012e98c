//! Warning tiers: red 红色/I级 is the most severe, blue 蓝色/IV级 the least.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    // Ordered least to most severe so that `max` picks the most severe.
    Blue,
    Yellow,
    Orange,
    Red,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tier {0:?}: use red, orange, yellow or blue")]
pub struct TierError(pub String);

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Red, Tier::Orange, Tier::Yellow, Tier::Blue];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Red => "red",
            Tier::Orange => "orange",
            Tier::Yellow => "yellow",
            Tier::Blue => "blue",
        }
    }

    /// The colour word used in Chinese warning texts.
    pub fn zh(self) -> &'static str {
        match self {
            Tier::Red => "红色",
            Tier::Orange => "橙色",
            Tier::Yellow => "黄色",
            Tier::Blue => "蓝色",
        }
    }
}

impl FromStr for Tier {
    type Err = TierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "red" | "红色" | "i" => Ok(Tier::Red),
            "orange" | "橙色" | "ii" => Ok(Tier::Orange),
            "yellow" | "黄色" | "iii" => Ok(Tier::Yellow),
            "blue" | "蓝色" | "iv" => Ok(Tier::Blue),
            _ => Err(TierError(s.to_string())),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Tier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl TryFrom<String> for Tier {
    type Error = TierError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_is_most_severe() {
        assert_eq!(Tier::ALL.iter().copied().max(), Some(Tier::Red));
        assert!(Tier::Orange > Tier::Yellow);
    }

    #[test]
    fn parses_english_chinese_and_roman() {
        assert_eq!("RED".parse::<Tier>().unwrap(), Tier::Red);
        assert_eq!("橙色".parse::<Tier>().unwrap(), Tier::Orange);
        assert_eq!("iii".parse::<Tier>().unwrap(), Tier::Yellow);
        assert!("purple".parse::<Tier>().is_err());
    }
}

//! Area codes: 行政区划代码 or local grid codes that extend their parent's code.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AreaCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid area code {0:?}: use 2 to 24 digits")]
pub struct AreaCodeError(pub String);

impl AreaCode {
    /// Parses an area code. A 12-digit CPEAS code with trailing zeros (统计用区划代码, e.g.
    /// `500105002000`) names the area of its leading digits, so the zeros are dropped down to the
    /// nearest level boundary (2, 4, 6 or 9 digits).
    pub fn parse(raw: &str) -> Result<Self, AreaCodeError> {
        let s = raw.trim();
        if !(2..=24).contains(&s.len()) || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(AreaCodeError(raw.to_string()));
        }
        let mut code = s.to_string();
        if code.len() == 12 {
            for keep in [9usize, 6, 4, 2] {
                if code[keep..].chars().all(|c| c == '0') {
                    code.truncate(keep);
                } else {
                    break;
                }
            }
        }
        Ok(AreaCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `self` is `other` or an ancestor of it: a code covers the codes that extend it.
    pub fn covers(&self, other: &AreaCode) -> bool {
        other.0.starts_with(&self.0)
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AreaCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AreaCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> AreaCode {
        AreaCode::parse(s).unwrap()
    }

    #[test]
    fn a_code_covers_itself_and_codes_that_extend_it_never_its_parent() {
        assert!(a("500105002").covers(&a("500105002")));
        assert!(a("500105002").covers(&a("500105002003")));
        assert!(!a("500105002003").covers(&a("500105002")));
        assert!(!a("500105002").covers(&a("500105003001")));
    }

    #[test]
    fn twelve_digit_codes_with_trailing_zeros_name_their_leading_digits() {
        assert_eq!(a("500105002000").as_str(), "500105002");
        assert_eq!(a("500105000000").as_str(), "500105");
        assert_eq!(a("500000000000").as_str(), "50");
        assert_eq!(a("500105002003").as_str(), "500105002003");
    }

    #[test]
    fn refuses_non_codes() {
        for bad in ["", "5", "50a", "5".repeat(25).as_str(), "５００"] {
            assert!(AreaCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}

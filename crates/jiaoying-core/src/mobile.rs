//! Mobile numbers in E.164. A bare 11-digit Chinese mobile (1xxxxxxxxxx) is read as +86.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct MobileNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mobile number {0:?}: write it in E.164 (+8613800000001) or as an 11-digit Chinese mobile")]
pub struct MobileError(pub String);

impl MobileNumber {
    pub fn parse(raw: &str) -> Result<Self, MobileError> {
        let err = || MobileError(raw.to_string());
        // Gateways and spreadsheets add spaces, dashes and full-width digits; strip the first two
        // and fold the third before judging the number.
        let folded: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '\u{3000}'))
            .map(fold_fullwidth)
            .collect();
        if let Some(rest) = folded.strip_prefix('+') {
            let ok =
                (8..=15).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_digit()) && !rest.starts_with('0');
            if !ok {
                return Err(err());
            }
            if let Some(cn) = rest.strip_prefix("86") {
                if cn.starts_with('1') && cn.len() != 11 {
                    return Err(err());
                }
            }
            return Ok(MobileNumber(format!("+{rest}")));
        }
        let digits = folded.strip_prefix("0086").or_else(|| folded.strip_prefix("86")).unwrap_or(&folded);
        if digits.len() == 11 && digits.starts_with('1') && digits.chars().all(|c| c.is_ascii_digit()) {
            return Ok(MobileNumber(format!("+86{digits}")));
        }
        Err(err())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle digits hidden, for logs and pages shown to viewers.
    pub fn masked(&self) -> String {
        let s = &self.0;
        let n = s.len();
        if n <= 8 {
            return "*".repeat(n);
        }
        format!("{}****{}", &s[..n - 8], &s[n - 4..])
    }
}

pub(crate) fn fold_fullwidth(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MobileNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MobileNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bare_chinese_mobiles_become_e164() {
        assert_eq!(MobileNumber::parse("13800000001").unwrap().as_str(), "+8613800000001");
        assert_eq!(MobileNumber::parse("138-0000-0001").unwrap().as_str(), "+8613800000001");
        assert_eq!(MobileNumber::parse("８６１３８０００００００１").unwrap().as_str(), "+8613800000001");
        assert_eq!(MobileNumber::parse("+8613800000001").unwrap().as_str(), "+8613800000001");
        assert_eq!(MobileNumber::parse("+14155550100").unwrap().as_str(), "+14155550100");
    }

    #[test]
    fn refuses_what_cannot_be_dialled() {
        for bad in ["", "12345", "+86138", "2380000000100", "+0123456789", "phone", "+86 1380000000a"] {
            assert!(MobileNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(MobileNumber::parse("13812345678").unwrap().masked(), "+86138****5678");
    }

    proptest! {
        #[test]
        fn any_11_digit_mobile_parses_and_is_idempotent(rest in "[3-9][0-9]{9}") {
            let raw = format!("1{rest}");
            let m = MobileNumber::parse(&raw).unwrap();
            prop_assert_eq!(MobileNumber::parse(m.as_str()).unwrap(), m.clone());
            prop_assert!(m.as_str().ends_with(&raw));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = MobileNumber::parse(&s);
        }
    }
}

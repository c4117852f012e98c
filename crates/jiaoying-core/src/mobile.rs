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
        mask_mobile(&self.0)
    }
}

/// A phone number as logs may show it: the four digits before the last four hidden
/// (`13800000001` → `138****0001`, `+8613800000001` → `+86138****0001`, separators kept). Takes
/// any text, parsed or not, so a log line can mask what a gateway sent before it is understood;
/// text with fewer than 8 digits is no dialable number, and all its digits are hidden.
pub fn mask_mobile(raw: &str) -> String {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    let hidden = if digits < 8 { 0..digits } else { digits - 8..digits - 4 };
    let mut seen = 0;
    raw.chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if hidden.contains(&(seen - 1)) {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// A message's recipient as logs may show it: a number masked as [`mask_mobile`] does, an
/// e-mail address reduced to its first character and its domain (`h***@example.org`).
pub fn mask_recipient(raw: &str) -> String {
    match raw.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_mobile(raw),
    }
}

/// Free text (a gateway's error, a provider's answer) with every run of 8 or more digits, a
/// leading `+` included, masked as [`mask_mobile`] does: such text may echo the number it was
/// about, and it goes to the logs.
pub fn mask_numbers_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.chars().filter(char::is_ascii_digit).count();
        out.push_str(&if digits >= 8 { mask_mobile(run) } else { run.clone() });
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
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

    #[test]
    fn mask_mobile_keeps_the_prefix_and_last_four() {
        for (raw, want) in [
            ("13800000001", "138****0001"),
            ("+8613800000001", "+86138****0001"),
            ("138-0000-0001", "138-****-0001"),
            ("+14155550100", "+141****0100"),
            ("12345678", "****5678"),
            ("1234567", "*******"),
            ("", ""),
            ("no number", "no number"),
        ] {
            assert_eq!(mask_mobile(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn recipients_and_free_text_are_masked() {
        assert_eq!(mask_recipient("+8613900000004"), "+86139****0004");
        assert_eq!(mask_recipient("grid@example.org"), "g***@example.org");
        assert_eq!(
            mask_numbers_in("invalid mobile number \"+8613900000004\" (code 1017), or 13900000004"),
            "invalid mobile number \"+86139****0004\" (code 1017), or 139****0004"
        );
        assert_eq!(mask_numbers_in("HTTP 503 after 3 tries"), "HTTP 503 after 3 tries");
        assert_eq!(mask_numbers_in("a+b"), "a+b");
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

        #[test]
        fn no_masked_text_holds_a_whole_mobile(rest in "[3-9][0-9]{9}", before in "[^0-9]{0,5}", after in "[^0-9]{0,5}") {
            let mobile = format!("1{rest}");
            let masked = mask_numbers_in(&format!("{before}{mobile}{after}"));
            prop_assert!(!masked.contains(&mobile), "{}", masked);
            prop_assert!(masked.ends_with(&format!("{}{after}", &mobile[7..])), "{}", masked);
        }
    }
}

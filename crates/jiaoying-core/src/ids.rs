//! Identifiers of registry entries: stable, non-empty, printable, short.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id {0:?}: use 1 to 64 letters, digits, '-', '_' or '.'")]
pub struct IdError(pub String);

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

macro_rules! registry_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let t = s.trim();
                if valid_id(t) { Ok($name(t.to_string())) } else { Err(IdError(s.to_string())) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

registry_id!(
    /// A person's stable registry id, e.g. `p-duty-1`.
    PersonId
);
registry_id!(
    /// A unit's stable registry id, e.g. `u-school-1`.
    UnitId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_registry_forms_and_refuse_others() {
        assert!(PersonId::parse("p-duty-1").is_ok());
        assert!(UnitId::parse("u_school.1").is_ok());
        for bad in ["", "a b", "人", "x/y", &"a".repeat(65)] {
            assert!(PersonId::parse(bad).is_err(), "{bad:?}");
        }
    }
}

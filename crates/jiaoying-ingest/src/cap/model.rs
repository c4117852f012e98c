//! The CAP message as sent, element for element: nothing is dropped here. `NewAlert` (see
//! `convert.rs`) is the narrower form the rest of jiaoying works with.

use chrono::{DateTime, FixedOffset};
use jiaoying_core::alert::Reference;
use jiaoying_core::{AlertStatus, MsgType};
use serde::{Deserialize, Serialize};

/// The CAP namespace of version 1.2.
pub const CAP_1_2_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// The CAP namespace of version 1.1, still sent by real feeds.
pub const CAP_1_1_NS: &str = "urn:oasis:names:tc:emergency:cap:1.1";
/// The XML-Signature namespace of `<ds:Signature>`.
pub const XMLDSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Which CAP namespace the document used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CapVersion {
    V1_1,
    V1_2,
}

impl CapVersion {
    pub fn namespace(self) -> &'static str {
        match self {
            CapVersion::V1_1 => CAP_1_1_NS,
            CapVersion::V1_2 => CAP_1_2_NS,
        }
    }

    pub fn from_namespace(ns: &str) -> Option<Self> {
        match ns {
            CAP_1_2_NS => Some(CapVersion::V1_2),
            CAP_1_1_NS => Some(CapVersion::V1_1),
            _ => None,
        }
    }
}

/// A `lat,lon` point as CAP writes it (WGS 84). Note the order: the domain's `AlertArea` is
/// `[lon, lat]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// `<circle>`: `lat,lon radius`, the radius in km (0 is a point).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapCircle {
    pub center: LatLon,
    pub radius_km: f64,
}

/// A `valueName`/`value` pair: `eventCode`, `parameter` and `geocode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValuePair {
    pub value_name: String,
    /// May be empty: real feeds send `<value></value>`.
    pub value: String,
}

/// The root `<alert>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapAlert {
    pub version: CapVersion,
    pub identifier: String,
    pub sender: String,
    /// As sent, with its offset (`Z` and `-00:00` read as UTC).
    pub sent: DateTime<FixedOffset>,
    pub status: AlertStatus,
    pub msg_type: MsgType,
    pub source: Option<String>,
    pub scope: Scope,
    pub restriction: Option<String>,
    /// Raw, as sent: space-separated, multi-word addresses in double quotes.
    pub addresses: Option<String>,
    pub codes: Vec<String>,
    pub note: Option<String>,
    /// Every triple of `<references>`, in order, including any that names this message itself
    /// (see [`CapAlert::references_to_others`]).
    pub references: Vec<Reference>,
    pub incidents: Vec<String>,
    pub infos: Vec<CapInfo>,
    /// The raw XML of an enveloped `<ds:Signature>`, kept but not verified.
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapInfo {
    /// `en-US` when absent, as CAP says.
    pub language: String,
    pub categories: Vec<Category>,
    pub event: String,
    pub response_types: Vec<ResponseType>,
    pub urgency: Urgency,
    pub severity: Severity,
    pub certainty: Certainty,
    pub audience: Option<String>,
    pub event_codes: Vec<ValuePair>,
    pub effective: Option<DateTime<FixedOffset>>,
    pub onset: Option<DateTime<FixedOffset>>,
    pub expires: Option<DateTime<FixedOffset>>,
    pub sender_name: Option<String>,
    pub headline: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    pub web: Option<String>,
    pub contact: Option<String>,
    pub parameters: Vec<ValuePair>,
    pub resources: Vec<CapResource>,
    pub areas: Vec<CapArea>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapResource {
    pub resource_desc: String,
    /// Required in CAP 1.2, optional in 1.1.
    pub mime_type: Option<String>,
    /// Bytes.
    pub size: Option<u64>,
    pub uri: Option<String>,
    /// Base64 content, kept as sent (never decoded or fetched).
    pub deref_uri: Option<String>,
    /// SHA-1 of the resource, as sent.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapArea {
    pub area_desc: String,
    /// Closed rings of `lat,lon` points, first == last, at least 4 points.
    pub polygons: Vec<Vec<LatLon>>,
    pub circles: Vec<CapCircle>,
    pub geocodes: Vec<ValuePair>,
    /// Feet above mean sea level.
    pub altitude: Option<f64>,
    /// Feet above mean sea level.
    pub ceiling: Option<f64>,
}

impl CapAlert {
    /// The references without any naming this very message (same sender and identifier, and the
    /// same `sent` or none): real feeds list themselves, and an alert cannot update itself.
    pub fn references_to_others(&self) -> Vec<Reference> {
        let own_sent = jiaoying_core::Timestamp::from_datetime(&self.sent);
        self.references
            .iter()
            .filter(|r| {
                !(r.sender == self.sender && r.identifier == self.identifier && r.sent.is_none_or(|s| s == own_sent))
            })
            .cloned()
            .collect()
    }

    /// The info whose texts speak for the message: the first `zh-CN` one, else the first `zh`,
    /// else the first `zh-*` (Taiwan, Hong Kong, `zh-Hans`), else the first of all.
    pub fn preferred_info(&self) -> Option<&CapInfo> {
        let rank = |lang: &str| {
            let l = lang.trim().to_ascii_lowercase().replace('_', "-");
            match l.as_str() {
                "zh-cn" | "zh-hans-cn" => 0,
                "zh" => 1,
                _ if l.starts_with("zh-") => 2,
                _ => 3,
            }
        };
        // `min_by_key` keeps the first of equal keys.
        self.infos.iter().min_by_key(|i| rank(&i.language))
    }
}

/// Generates a CAP enumeration: its variants, their exact CAP spelling, and a lenient reader
/// (ASCII case is ignored: real feeds send `actual`).
macro_rules! cap_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value for a CAP text, ignoring ASCII case; `None` when it is not one of them.
            pub fn from_cap(s: &str) -> Option<Self> {
                let s = s.trim();
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }

            /// The allowed values, for error messages: `A, B, C`.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

cap_enum!(
    /// `<scope>`.
    Scope { Public => "Public", Restricted => "Restricted", Private => "Private" }
);

cap_enum!(
    /// `<category>`.
    Category {
        Geo => "Geo",
        Met => "Met",
        Safety => "Safety",
        Security => "Security",
        Rescue => "Rescue",
        Fire => "Fire",
        Health => "Health",
        Env => "Env",
        Transport => "Transport",
        Infra => "Infra",
        Cbrne => "CBRNE",
        Other => "Other",
    }
);

cap_enum!(
    /// `<responseType>`.
    ResponseType {
        Shelter => "Shelter",
        Evacuate => "Evacuate",
        Prepare => "Prepare",
        Execute => "Execute",
        Avoid => "Avoid",
        Monitor => "Monitor",
        Assess => "Assess",
        AllClear => "AllClear",
        None => "None",
    }
);

cap_enum!(
    /// `<urgency>`.
    Urgency { Immediate => "Immediate", Expected => "Expected", Future => "Future", Past => "Past", Unknown => "Unknown" }
);

cap_enum!(
    /// `<severity>`.
    Severity { Extreme => "Extreme", Severe => "Severe", Moderate => "Moderate", Minor => "Minor", Unknown => "Unknown" }
);

cap_enum!(
    /// `<certainty>`. CAP 1.0's `Very Likely` is read as `Likely`, as CAP 1.2 tells receivers to.
    Certainty { Observed => "Observed", Likely => "Likely", Possible => "Possible", Unlikely => "Unlikely", Unknown => "Unknown" }
);

impl Certainty {
    /// Like [`Certainty::from_cap`], also taking CAP 1.0's `Very Likely`.
    pub fn from_cap_lenient(s: &str) -> Option<Self> {
        Self::from_cap(s).or_else(|| s.trim().eq_ignore_ascii_case("Very Likely").then_some(Certainty::Likely))
    }
}

/// Reads a core enumeration (`status`, `msgType`) by its CAP spelling, ignoring ASCII case.
pub(crate) fn status_from_cap(s: &str) -> Option<AlertStatus> {
    [AlertStatus::Actual, AlertStatus::Exercise, AlertStatus::System, AlertStatus::Test, AlertStatus::Draft]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
}

pub(crate) fn msg_type_from_cap(s: &str) -> Option<MsgType> {
    [MsgType::Alert, MsgType::Update, MsgType::Cancel, MsgType::Ack, MsgType::Error]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
}

//! An incoming alert after parsing: the form every ingest path (JSON, CAP) produces.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::area::AreaCode;
use crate::clock::Timestamp;
use crate::tier::Tier;

/// The identity of one message from a source: CAP's (sender, identifier, sent). The same key
/// again is a repeat, answered `200` and calling nobody.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    pub sender: String,
    pub identifier: String,
    /// `sent` normalised to Unix milliseconds, so `+08:00` and `Z` forms of one instant match.
    pub sent: Timestamp,
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.sender, self.identifier, self.sent.to_rfc3339())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
    Ack,
    Error,
}

impl MsgType {
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
            MsgType::Ack => "Ack",
            MsgType::Error => "Error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertStatus {
    Actual,
    Exercise,
    System,
    Test,
    Draft,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Actual => "Actual",
            AlertStatus::Exercise => "Exercise",
            AlertStatus::System => "System",
            AlertStatus::Test => "Test",
            AlertStatus::Draft => "Draft",
        }
    }
}

/// A reference to an earlier message, as CAP writes it: `sender,identifier,sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
    pub sent: Option<Timestamp>,
}

/// Where an alert applies. Codes for now; polygons and circles are kept for geometric targeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertArea {
    Code(AreaCode),
    Polygon(Vec<[f64; 2]>),
    /// lon, lat, radius in km.
    Circle([f64; 3]),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAlert {
    pub key: AlertKey,
    pub msg_type: MsgType,
    pub status: AlertStatus,
    pub references: Vec<Reference>,
    pub event: String,
    pub tier: Tier,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub onset: Option<Timestamp>,
    pub expires: Option<Timestamp>,
    pub areas: Vec<AlertArea>,
}

impl NewAlert {
    /// Whether this message calls people at all (SPEC: Actual and Exercise alerts and updates do;
    /// Test, Draft, System, Ack and Error are stored only).
    pub fn calls_people(&self) -> bool {
        matches!(self.status, AlertStatus::Actual | AlertStatus::Exercise)
            && matches!(self.msg_type, MsgType::Alert | MsgType::Update | MsgType::Cancel)
    }

    pub fn is_drill(&self) -> bool {
        self.status == AlertStatus::Exercise
    }

    pub fn area_codes(&self) -> Vec<AreaCode> {
        self.areas
            .iter()
            .filter_map(|a| match a {
                AlertArea::Code(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }
}

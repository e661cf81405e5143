//! How a deployment's payloads map onto the twin contract: where the asset id, the event time
//! and the hierarchy come from, and how event fields are named.
//!
//! The defaults are the documented topic contract; a TOML config can override every part.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Where the asset id comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdSource {
    /// The record key, as UTF-8.
    #[default]
    Key,
    /// A JSON pointer into the value, such as `/vin`.
    #[serde(untagged)]
    Pointer(String),
}

/// Unit of a time field in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Numbers are epoch ms, strings are RFC 3339.
    #[default]
    Auto,
    /// Epoch milliseconds.
    Ms,
    /// Epoch seconds (fractions allowed).
    S,
    /// An RFC 3339 string.
    Rfc3339,
}

/// How the tree above an asset is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Hierarchy {
    /// Split the asset id on this separator: `a/b/c` sits under `a/b`.
    Separator(String),
    /// Values at these JSON pointers form the path; the last one names the asset itself.
    Pointers(Vec<String>),
}

impl Default for Hierarchy {
    fn default() -> Self {
        Self::Separator("/".to_owned())
    }
}

/// Field names of the events topic, for producers that use other names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventFields {
    pub kind: String,
    pub code: String,
    pub severity: String,
    pub state: String,
    pub message: String,
    pub by: String,
    pub comment: String,
    /// Maps raw severity values (such as `"1"`) to `critical|high|medium|low|info`.
    pub severity_map: HashMap<String, String>,
    /// Maps raw state values to `active|cleared|acked|shelved|unshelved`.
    pub state_map: HashMap<String, String>,
}

impl Default for EventFields {
    fn default() -> Self {
        Self {
            kind: "type".into(),
            code: "code".into(),
            severity: "severity".into(),
            state: "state".into(),
            message: "message".into(),
            by: "by".into(),
            comment: "comment".into(),
            severity_map: HashMap::new(),
            state_map: HashMap::new(),
        }
    }
}

/// Parsing limits: hostile input is rejected per record, never allowed to stall ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Records with a larger value are counted as bad instead of parsed.
    pub max_value_bytes: usize,
    /// Objects nested deeper than this are counted as bad.
    pub max_depth: usize,
    /// At most this many properties are taken from one record.
    pub max_properties: usize,
    /// A payload event time more than this far ahead of the record's Kafka timestamp is a
    /// broken producer clock, not the future: such records are counted as bad.
    pub max_ahead_s: u64,
    /// A payload event time more than this far behind the record's Kafka timestamp is counted
    /// as bad. Generous, because backfills legitimately write old event times.
    pub max_behind_s: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_value_bytes: 1 << 20,
            max_depth: 16,
            max_properties: 256,
            max_ahead_s: 86_400,
            max_behind_s: 10 * 366 * 86_400,
        }
    }
}

/// The whole mapping from Kafka records to twin records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mapping {
    pub asset_id: IdSource,
    /// `"kafka"` for the record timestamp, or a JSON pointer such as `/ts`.
    pub time: String,
    pub time_unit: TimeUnit,
    pub hierarchy: Hierarchy,
    pub events: EventFields,
    pub limits: Limits,
    /// Units per property name, shown in the property table (e.g. `temperature = "°C"`).
    pub units: HashMap<String, String>,
}

impl Default for Mapping {
    fn default() -> Self {
        Self {
            asset_id: IdSource::Key,
            time: "/ts".into(),
            time_unit: TimeUnit::Auto,
            hierarchy: Hierarchy::default(),
            events: EventFields::default(),
            limits: Limits::default(),
            units: default_units(),
        }
    }
}

fn default_units() -> HashMap<String, String> {
    [
        ("temperature", "°C"),
        ("vibration", "mm/s"),
        ("spindle_rpm", "rpm"),
        ("power_kw", "kW"),
        ("good_count", "pcs"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Mapping {
    /// The separator used for group paths in the tree.
    #[must_use]
    pub fn separator(&self) -> &str {
        match &self.hierarchy {
            Hierarchy::Separator(s) if !s.is_empty() => s,
            _ => "/",
        }
    }

    /// The top-level payload field that holds the time, so it is not shown as a property.
    #[must_use]
    pub fn time_field(&self) -> Option<&str> {
        top_level_field(&self.time)
    }

    /// The top-level payload field that holds the asset id, if the id comes from the payload.
    #[must_use]
    pub fn id_field(&self) -> Option<&str> {
        match &self.asset_id {
            IdSource::Key => None,
            IdSource::Pointer(p) => top_level_field(p),
        }
    }
}

fn top_level_field(pointer: &str) -> Option<&str> {
    let rest = pointer.strip_prefix('/')?;
    (!rest.contains('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pointer_hierarchy_and_id_from_toml() {
        let text = format!(
            "{}{}",
            crate::testkit::mapping::POINTER_HIERARCHY,
            r#"
            [events]
            severity = "sev"
            severity_map = { "1" = "critical", "2" = "high" }
            "#,
        );
        let m: Mapping = toml::from_str(&text).unwrap();
        assert_eq!(m.asset_id, IdSource::Pointer("/vin".into()));
        assert_eq!(m.time_unit, TimeUnit::S);
        assert_eq!(m.time_field(), Some("t"));
        assert_eq!(m.id_field(), Some("vin"));
        assert!(matches!(m.hierarchy, Hierarchy::Pointers(ref v) if v.len() == 3));
        assert_eq!(m.events.severity, "sev");
        assert_eq!(m.events.code, "code");
        assert_eq!(m.events.severity_map["1"], "critical");
    }

    #[test]
    fn key_is_the_default_id_source() {
        let m: Mapping = toml::from_str(r#"asset_id = "key""#).unwrap();
        assert_eq!(m.asset_id, IdSource::Key);
        assert_eq!(m.separator(), "/");
    }
}

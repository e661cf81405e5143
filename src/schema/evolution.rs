//! What a schema change did to an asset between two times: which schema was in force at A and
//! at B, which properties appeared, and which disappeared (the newer schema no longer writes
//! them).
//!
//! The store answers "as of T" with the last value of each property, so a field dropped by a
//! new schema version keeps its last value forever; only the schema of the record that set it
//! tells that it is no longer written. This joins the store's provenance (partition, offset)
//! with the schema each record was written with ([`super::provenance`]).

use std::sync::Arc;

use crate::twin::{Store, seq_parts};

use super::SchemaTag;

/// How an asset's schema changed from A to B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// The schema of the asset's newest record at A (`None`: plain JSON or no record).
    pub from: Option<Arc<SchemaTag>>,
    /// The same at B.
    pub to: Option<Arc<SchemaTag>>,
    /// Properties with a value at B and none at A.
    pub appeared: Vec<String>,
    /// Properties whose value at B was written under another schema than the one in force at
    /// B: the schema at B no longer has them, so the value shown is the last one ever written.
    pub disappeared: Vec<String>,
}

impl SchemaChange {
    /// One line for the diff window and export, e.g.
    /// `schema twin.telemetry-value v1 → v2: + humidity, − pressure`.
    #[must_use]
    pub fn summary(&self) -> String {
        let name = |t: &Option<Arc<SchemaTag>>| match t.as_deref() {
            None => "plain JSON".to_owned(),
            Some(SchemaTag {
                subject: Some(s),
                version: Some(v),
                ..
            }) => format!("{s} v{v}"),
            Some(t) => format!("id {}", t.id),
        };
        let (from, to) = (name(&self.from), name(&self.to));
        // The subject once when both versions share it.
        let head = match (self.from.as_deref(), self.to.as_deref()) {
            (
                Some(SchemaTag {
                    subject: Some(a),
                    version: Some(_),
                    ..
                }),
                Some(SchemaTag {
                    subject: Some(b),
                    version: Some(v),
                    ..
                }),
            ) if a == b => format!("{from} → v{v}"),
            _ => format!("{from} → {to}"),
        };
        let mut parts: Vec<String> = self.appeared.iter().map(|p| format!("+ {p}")).collect();
        parts.extend(self.disappeared.iter().map(|p| format!("− {p}")));
        if parts.is_empty() {
            format!("schema {head}: same properties")
        } else {
            format!("schema {head}: {}", parts.join(", "))
        }
    }
}

/// The schema change of `asset` between `a` and `b` (B after A), read from telemetry `topic`
/// of the cluster at `brokers`; `None` when the same schema is in force at both times.
#[must_use]
pub fn schema_change(
    store: &Store,
    brokers: &str,
    topic: &str,
    asset: &str,
    a: i64,
    b: i64,
) -> Option<SchemaChange> {
    let idx = store.asset_by_id(asset)?;
    let schema_of = |seq: u64| {
        let (partition, offset) = seq_parts(seq);
        super::provenance::lookup(brokers, topic, partition, offset)
    };
    let at_a = store.props_at(idx, a);
    let at_b = store.props_at(idx, b);
    let newest = |props: &[crate::twin::store::PropView]| {
        props
            .iter()
            .map(|p| (p.sample.ts, p.sample.seq))
            .max()
            .and_then(|(_, seq)| schema_of(seq))
    };
    let (from, to) = (newest(&at_a), newest(&at_b));
    if from.as_ref().map(|t| t.id) == to.as_ref().map(|t| t.id) {
        return None;
    }
    let appeared = at_b
        .iter()
        .filter(|p| !at_a.iter().any(|q| q.name == p.name))
        .map(|p| p.name.to_string())
        .collect();
    let disappeared = at_b
        .iter()
        .filter(|p| schema_of(p.sample.seq).map(|t| t.id) != to.as_ref().map(|t| t.id))
        .map(|p| p.name.to_string())
        .collect();
    Some(SchemaChange {
        from,
        to,
        appeared,
        disappeared,
    })
}

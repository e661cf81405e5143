//! Builders for decoded records, as the ingest thread hands them to the store, so that a test
//! or benchmark that loads a store directly gives every record a provenance a log could have.

use std::sync::Arc;

use crate::twin::alarms::Priority;
use crate::twin::decode::{AlarmAction, Event, EventKind, Severity};
use crate::twin::{Decoded, Origin, Rec, Role, Value};

/// The provenance of one record.
#[must_use]
pub fn origin(role: Role, partition: i32, offset: i64, kafka_ts: i64) -> Origin {
    Origin {
        role,
        partition,
        offset,
        kafka_ts,
    }
}

/// Offsets as a log of `partitions` partitions assigns them: per partition, from 0, in the
/// order records are written. Records about one asset stay in one partition.
#[derive(Debug, Clone)]
pub struct LogOffsets {
    next: Vec<i64>,
}

impl LogOffsets {
    /// A log of `partitions` empty partitions (at least one).
    #[must_use]
    pub fn new(partitions: usize) -> Self {
        Self {
            next: vec![0; partitions.max(1)],
        }
    }

    /// The number of partitions.
    #[must_use]
    pub fn partitions(&self) -> usize {
        self.next.len()
    }

    /// The provenance of the next record about asset number `asset`, with Kafka timestamp
    /// `kafka_ts`.
    pub fn next(&mut self, role: Role, asset: usize, kafka_ts: i64) -> Origin {
        let p = asset % self.next.len();
        let o = self.next[p];
        self.next[p] += 1;
        origin(role, p as i32, o, kafka_ts)
    }
}

/// `body` as the record at `offset` of partition 0 of the topic it comes from (Kafka time 0):
/// for a test about the order records are applied in, not about where they sat in the log.
#[must_use]
pub fn logged(offset: i64, body: Decoded) -> Rec {
    let role = match body {
        Decoded::Telemetry { .. } => Role::Telemetry,
        Decoded::Event(_) => Role::Events,
        Decoded::Asset { .. } => Role::Assets,
    };
    Rec {
        origin: origin(role, 0, offset, 0),
        body,
    }
}

/// A telemetry record of `asset` at event time `ts`.
#[must_use]
pub fn telemetry(origin: Origin, asset: &str, ts: i64, props: Vec<(Arc<str>, Value)>) -> Rec {
    Rec {
        origin,
        body: Decoded::Telemetry {
            asset: Arc::from(asset),
            parent: None,
            ts,
            props,
        },
    }
}

/// One numeric property as a telemetry record carries it.
#[must_use]
pub fn num(name: &str, v: f64) -> (Arc<str>, Value) {
    (Arc::from(name), Value::Num(v))
}

/// One string property as a telemetry record carries it.
#[must_use]
pub fn text(name: &str, v: &str) -> (Arc<str>, Value) {
    (Arc::from(name), Value::Str(Arc::from(v)))
}

/// An alarm transition of `asset` at event time `ts`.
#[must_use]
pub fn alarm(
    origin: Origin,
    asset: &str,
    ts: i64,
    code: &str,
    priority: Priority,
    action: AlarmAction,
    message: Option<String>,
) -> Rec {
    Rec {
        origin,
        body: Decoded::Event(Event {
            asset: asset.to_owned(),
            parent: None,
            ts,
            kind: EventKind::Alarm {
                action,
                until: None,
            },
            code: code.to_owned(),
            severity: Severity::Alarm(priority),
            message,
            by: None,
            comment: None,
        }),
    }
}

//! Write-back: acknowledgements, shelving and operator commands, produced to Kafka so every
//! twinscope on the cluster (and the plant) sees them.
//!
//! This is the only producer outside the demo, and it cannot be built unless write-back was
//! enabled (`--allow-write` or `write.enabled = true`): a read-only viewer has no code path
//! that produces.

use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};

use super::KafkaLayerError;
use super::client::ClientSettings;
use crate::config::Topics;

/// Errors of write-back.
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    #[error(
        "write-back is disabled (read-only); start with --allow-write or set write.enabled = true"
    )]
    ReadOnly,
    #[error("cannot produce to {topic}: {reason}")]
    Produce { topic: String, reason: String },
    #[error(transparent)]
    Client(#[from] KafkaLayerError),
}

/// A producer for operator actions.
pub struct WriteBack {
    producer: BaseProducer,
    topics: Topics,
    operator: String,
}

impl std::fmt::Debug for WriteBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBack")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

/// What an alarm action does.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorAction {
    Ack { comment: Option<String> },
    Shelve { minutes: u32 },
    Unshelve,
}

/// The record an operator command is sent as (key: the asset id). One function, so the demo
/// simulator's parser is tested against exactly what the app sends.
#[must_use]
pub fn command_record(
    command: &str,
    args: &Value,
    by: &str,
    correlation_id: &str,
    now: i64,
) -> Value {
    json!({"ts": now, "command": command, "args": args, "by": by, "correlation_id": correlation_id})
}

impl WriteBack {
    /// Creates the producer, only when `enabled`.
    ///
    /// # Errors
    /// [`WriteBackError::ReadOnly`] when not enabled; a client error on bad settings.
    pub fn new(
        settings: &ClientSettings,
        topics: &Topics,
        operator: String,
        enabled: bool,
    ) -> Result<Self, WriteBackError> {
        if !enabled {
            return Err(WriteBackError::ReadOnly);
        }
        let producer = settings
            .producer_config("writeback")
            .set("linger.ms", "0")
            .create()
            .map_err(KafkaLayerError::from)?;
        Ok(Self {
            producer,
            topics: topics.clone(),
            operator,
        })
    }

    /// The operator name written as `by`.
    #[must_use]
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// Acknowledges, shelves or unshelves an alarm by writing an alarm record to the events
    /// topic.
    ///
    /// # Errors
    /// When the record cannot be queued.
    pub fn alarm(
        &self,
        asset: &str,
        code: &str,
        severity: &str,
        action: &OperatorAction,
        now: i64,
    ) -> Result<(), WriteBackError> {
        let mut v = json!({"ts": now, "type": "alarm", "code": code, "severity": severity, "by": self.operator});
        match action {
            OperatorAction::Ack { comment } => {
                v["state"] = json!("acked");
                if let Some(c) = comment.as_ref().filter(|c| !c.trim().is_empty()) {
                    v["comment"] = json!(c);
                }
            }
            OperatorAction::Shelve { minutes } => {
                v["state"] = json!("shelved");
                v["until"] = json!(now + i64::from(*minutes) * 60_000);
            }
            OperatorAction::Unshelve => v["state"] = json!("unshelved"),
        }
        self.send(&self.topics.events, asset, &v)
    }

    /// Sends an operator command; returns its correlation id, which the outcome on the events
    /// topic (`type: command_result`) will carry.
    ///
    /// # Errors
    /// When the record cannot be queued.
    pub fn command(
        &self,
        asset: &str,
        command: &str,
        args: &Value,
        now: i64,
    ) -> Result<String, WriteBackError> {
        let correlation_id = format!("{}-{now:x}-{:04x}", self.operator, fastrand::u16(..));
        let v = command_record(command, args, &self.operator, &correlation_id, now);
        self.send(&self.topics.commands, asset, &v)?;
        Ok(correlation_id)
    }

    fn send(&self, topic: &str, key: &str, v: &Value) -> Result<(), WriteBackError> {
        let payload = v.to_string();
        self.producer
            .send(BaseRecord::to(topic).key(key).payload(&payload))
            .map_err(|(e, _)| WriteBackError::Produce {
                topic: topic.to_owned(),
                reason: e.to_string(),
            })?;
        // Never block the UI thread on the broker: librdkafka sends in the background, and the
        // outcome shows up on the events topic (ack state, command result, or a time-out).
        self.producer.poll(Duration::ZERO);
        Ok(())
    }
}

impl Drop for WriteBack {
    fn drop(&mut self) {
        if let Err(e) = self.producer.flush(Duration::from_secs(2)) {
            tracing::warn!("write-back: unsent operator actions at shutdown: {e}");
        }
    }
}

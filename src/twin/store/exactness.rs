//! Whether an answer "as of T" rests on records Kafka still holds: the ingest thread reports
//! what retention deleted and compaction removed per topic, and the store turns that into the
//! first exact time, so callers can say an older answer may differ from what the fleet was.

use std::sync::Arc;

use super::Store;
use crate::twin::decode::Role;

/// Why an answer "as of T" cannot be proven exact from the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotExact {
    /// Retention deleted telemetry or events at or before this time.
    #[error(
        "not retained: Kafka has deleted {topic} records up to {through} (epoch ms); the earliest \
         exact time is {}",
        through + 1
    )]
    NotRetained { topic: Arc<str>, through: i64 },
    /// Compaction removed asset definitions that were in force at or before this time.
    #[error(
        "asset history incomplete: compaction removed definitions from {topic} that were in force \
         up to {through} (epoch ms); the tree is exact from {} on",
        through + 1
    )]
    Compacted { topic: Arc<str>, through: i64 },
}

impl Store {
    /// Records what the ingest thread found missing from `role`'s topic in Kafka: history at
    /// or before `through` may be incomplete there. Only ever moves forward.
    pub fn note_incomplete(&mut self, role: Role, through: Option<i64>) {
        let slot = &mut self.incomplete_through[role.index()];
        *slot = (*slot).max(through);
    }

    /// The latest time at or before which Kafka no longer holds all of `role`'s records.
    #[must_use]
    pub fn incomplete_through(&self, role: Role) -> Option<i64> {
        self.incomplete_through[role.index()]
    }

    /// The earliest time whose state the log still proves: after everything retention
    /// deleted from telemetry and events. `None` when nothing was deleted.
    #[must_use]
    pub fn retained_from(&self) -> Option<i64> {
        [Role::Telemetry, Role::Events]
            .into_iter()
            .filter_map(|r| self.incomplete_through(r))
            .max()
            .map(|t| t.saturating_add(1))
    }

    /// Whether the state at `t` rests on records Kafka still holds. An answer for a time at or
    /// before what retention deleted, or before asset definitions compaction removed, may
    /// differ from what the fleet was; callers say so instead of showing it as fact.
    ///
    /// # Errors
    /// [`NotExact`] names the topic and the first exact time.
    pub fn exact_at(&self, t: i64) -> Result<(), NotExact> {
        for role in [Role::Telemetry, Role::Events] {
            if let Some(through) = self.incomplete_through(role)
                && t <= through
            {
                return Err(NotExact::NotRetained {
                    topic: self.topic_names[role.index()].clone(),
                    through,
                });
            }
        }
        if let Some(through) = self.incomplete_through(Role::Assets)
            && t <= through
        {
            return Err(NotExact::Compacted {
                topic: self.topic_names[Role::Assets.index()].clone(),
                through,
            });
        }
        Ok(())
    }
}

//! Forking a store to re-read history that eviction removed: the fork starts from the latest
//! checkpoint at or before the wanted time, with everything that is never evicted, and is
//! then fed the telemetry from that checkpoint on. Its [`StoreRole`] says it is such a fork,
//! which decides what it counts itself.

use super::{Asset, Store};
use crate::twin::series::Series;

/// What a store is for, which decides what it counts into the time range and density map
/// (see `density.rs`): those describe the whole log, and a fork inherits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreRole {
    /// Reads the log for itself, from wherever its ingest starts: the live store, a headless
    /// snapshot, or a re-read from the beginning of the log when no checkpoint is old enough.
    /// Every record it applies counts.
    Primary,
    /// Made by [`Store::fork_at`] to re-read evicted history from the checkpoint at `from`.
    /// Its time range and density map are copies of the store it was forked from, which
    /// already counted every record the fork re-reads, so it does not count them again.
    Reread {
        /// The checkpoint the fork starts from: replaying telemetry from here on makes it
        /// exact for the times after it.
        from: i64,
    },
}

/// A store forked from a checkpoint for re-reading evicted history, with the time it starts
/// from (its role is [`StoreRole::Reread`] with the same `from`).
#[derive(Debug)]
pub struct Fork {
    pub store: Store,
    /// The checkpoint time: the re-read must replay telemetry from here on.
    pub from: i64,
}

impl Store {
    /// What this store is for.
    #[must_use]
    pub fn role(&self) -> StoreRole {
        self.role
    }

    /// A store for re-reading evicted history around `at`: everything that is never evicted
    /// (assets, definitions, alarms, events) plus the property values in force at the latest
    /// checkpoint at or before `at`. Replaying telemetry from [`Fork::from`] on makes it exact
    /// for `at`. `None` when no checkpoint is old enough.
    #[must_use]
    pub fn fork_at(&self, at: i64) -> Option<Fork> {
        let cp = self.checkpoints.iter().rev().find(|c| c.at <= at)?;
        let assets = self
            .assets
            .iter()
            .map(|a| Asset {
                id: a.id.clone(),
                implied_parent: a.implied_parent.clone(),
                defs: a.defs.clone(),
                first_seen: a.first_seen,
                props: Vec::new(),
                alarms: a.alarms.clone(),
            })
            .collect();
        // Everything not listed starts empty, as in a new store: no bad records, counters,
        // checkpoints or rules (the fork's alarms are complete already, and replayed telemetry
        // must not re-derive them).
        let mut fork = Store {
            assets,
            by_id: self.by_id.clone(),
            prop_names: self.prop_names.clone(),
            prop_ids: self.prop_ids.clone(),
            alarms: self.alarms.clone(),
            alarm_ids: self.alarm_ids.clone(),
            notes: self.notes.clone(),
            command_results: self.command_results.clone(),
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            role: StoreRole::Reread { from: cp.at },
            density: self.density.clone(),
            budget_bytes: self.budget_bytes,
            structure_gen: self.structure_gen,
            topic_names: self.topic_names.clone(),
            incomplete_through: self.incomplete_through,
            partition_newest: self.partition_newest.clone(),
            late: self.late.clone(),
            late_open: self.late_open.clone(),
            late_after_ms: self.late_after_ms,
            ..Store::new(&self.separator, 0)
        };
        for (a, p, s) in &cp.samples {
            let asset = &mut fork.assets[*a as usize];
            let mut series = Series::default();
            series.insert(s.ts, s.seq, s.kafka_ts, s.value.clone());
            fork.series_bytes += series.bytes();
            asset.props.push((*p, series));
        }
        Some(Fork {
            store: fork,
            from: cp.at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{noisy, tele, x_at};
    use super::*;

    #[test]
    fn a_fork_starts_at_its_checkpoint_and_does_not_recount_what_it_re_reads() {
        let mut live = Store::new("/", 1);
        let recs: Vec<_> = (0..100_000i64)
            .map(|i| tele(0, i, "a", i * 10, noisy(i)))
            .collect();
        live.apply_batch(recs.clone(), vec![]);
        assert_eq!(live.role(), StoreRole::Primary);
        let start = live.history_start().expect("evicted");
        let at = live.checkpoints[0].at + 1_000;
        assert!(at < start, "the test must fork inside the evicted range");
        let Fork { mut store, from } = live.fork_at(at).expect("a checkpoint");
        assert!(from <= at);
        assert_eq!(store.role(), StoreRole::Reread { from });
        // The checkpoint holds the value in force at `from`.
        assert_eq!(x_at(&store, "a", from), Some(noisy(from / 10)));
        assert_eq!(
            x_at(&store, "a", at),
            Some(noisy(from / 10)),
            "not re-read yet"
        );
        // Re-reading the evicted telemetry makes the fork exact there, while the time range
        // and density stay those of the whole log, counted once.
        let density = live.density(0, 1_000_000, 10);
        store.apply_batch(
            recs.into_iter()
                .filter(|r| match &r.body {
                    crate::twin::Decoded::Telemetry { ts, .. } => *ts >= from && *ts <= at,
                    _ => false,
                })
                .collect(),
            vec![],
        );
        assert_eq!(x_at(&store, "a", at), Some(noisy(at / 10)));
        assert_eq!(store.time_range(), live.time_range());
        assert_eq!(store.density(0, 1_000_000, 10), density);
        // A store of its own counts what it reads.
        let mut own = Store::new("/", 0);
        own.apply(tele(0, 0, "a", 5, 1.0));
        assert_eq!(own.time_range(), Some((5, 5)));
    }
}

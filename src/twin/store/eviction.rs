//! Keeping the history within its memory budget: the oldest samples are evicted, and the state
//! at each cut is kept as a checkpoint, so a re-read of evicted history (see `fork.rs`) can
//! start there instead of at the beginning of the log. Everything at or after
//! [`Store::history_start`] stays exact.

use super::{AssetIdx, PropId, Store};
use crate::twin::series::Sample;

/// Most checkpoints kept; a re-read before the oldest starts at the beginning of the log.
const MAX_CHECKPOINTS: usize = 32;

/// The share of `history.budget_mb` the columns and checkpoints may use. The rest is for what
/// the process needs around them: allocator fragmentation from many growing columns (measured
/// at about 1.5x the live bytes with glibc), records in flight and the tree; `tests/flood.rs`
/// checks that peak RSS stays within the budget plus 20%. At 50% that check passed by 8% on
/// one machine and failed by 0.3% on a CI machine (growth 154.1 MB at 128 MB), so 40%.
const HISTORY_SHARE_PERCENT: usize = 40;

/// The bytes the columns and checkpoints may use under a `history.budget_mb` of `budget_mb`.
pub(super) fn budget_bytes(budget_mb: usize) -> usize {
    budget_mb.saturating_mul(1 << 20) / 100 * HISTORY_SHARE_PERCENT
}

/// The value in force of every property at an eviction cut.
#[derive(Debug, Clone)]
pub(super) struct Checkpoint {
    pub(super) at: i64,
    pub(super) samples: Vec<(AssetIdx, PropId, Sample)>,
}

impl Store {
    /// Keeps every answer for times `>= t` exact whatever the budget: eviction only removes
    /// history before `t`. A headless snapshot at T sets this to T, so it can read a log far
    /// larger than memory and still answer exactly.
    pub fn keep_from(&mut self, t: i64) {
        self.keep_from = t;
    }

    /// Drops the oldest history while the store is over its budget. Everything at or after
    /// [`Self::history_start`] stays exact; earlier times must be re-read from Kafka.
    pub(super) fn enforce_budget(&mut self) {
        if self.budget_bytes == 0 || self.history_bytes() <= self.budget_bytes {
            return;
        }
        let (Some(min), Some(max)) = (self.min_ts, self.max_ts) else {
            return;
        };
        let max = max.min(self.keep_from);
        let start = self.history_start.unwrap_or(min).max(min);
        // Evict in steps of a tenth of the held range down to 80% of the budget, so eviction
        // is rare and amortised rather than run on every batch once the budget is reached.
        let low_water = self.budget_bytes / 10 * 8;
        let mut cut = start + ((max - start) / 10).max(1);
        while self.history_bytes() > low_water && cut <= max {
            // Keep the state at the cut, so a later re-read from Kafka can start here instead
            // of at the beginning of the log.
            // Sized up front: growing by doubling would briefly hold up to three times a
            // fleet-wide copy at the moment the store is already over its budget.
            let mut samples = Vec::with_capacity(self.assets.iter().map(|a| a.props.len()).sum());
            for (ai, a) in self.assets.iter_mut().enumerate() {
                for (p, s) in &mut a.props {
                    if let Some(sample) = s.at(cut) {
                        samples.push((ai as AssetIdx, *p, sample));
                    }
                    let before = s.bytes();
                    s.evict_before(cut);
                    s.shrink();
                    self.series_bytes = (self.series_bytes + s.bytes()).saturating_sub(before);
                }
            }
            self.checkpoints.push(Checkpoint { at: cut, samples });
            // Checkpoints are state copies of the whole fleet: a large fleet gets fewer, so
            // they never take more than a quarter of the budget. They are thinned where they
            // are densest, so they keep covering the whole evicted range: dropping the oldest
            // instead left old times to be re-read from the beginning of the log.
            while self.checkpoints.len() > 1
                && (self.checkpoints.len() > MAX_CHECKPOINTS
                    || self.checkpoint_bytes() > self.budget_bytes / 4)
            {
                let densest = (1..self.checkpoints.len().saturating_sub(1))
                    .min_by_key(|&i| self.checkpoints[i + 1].at - self.checkpoints[i - 1].at)
                    .unwrap_or(0);
                self.checkpoints.remove(densest);
            }
            self.history_start = Some(cut);
            cut += ((max - start) / 10).max(1);
        }
        self.structure_gen += 1;
    }

    /// Approximate bytes of property history held.
    #[must_use]
    pub fn history_bytes(&self) -> usize {
        self.series_bytes + self.checkpoint_bytes()
    }

    /// Heap bytes of the checkpoints kept for re-reading evicted history.
    fn checkpoint_bytes(&self) -> usize {
        self.checkpoints
            .iter()
            .map(|c| c.samples.capacity() * std::mem::size_of::<(AssetIdx, PropId, Sample)>())
            .sum()
    }

    /// The earliest time answered exactly from memory, once older history has been evicted.
    #[must_use]
    pub fn history_start(&self) -> Option<i64> {
        self.history_start
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{noisy, tele, x_at};
    use super::*;

    #[test]
    fn budget_evicts_oldest_history_but_keeps_recent_answers_exact() {
        let mut s = Store::new("/", 1);
        let mut recs = Vec::new();
        for i in 0..100_000i64 {
            recs.push(tele(0, i, "a", i, noisy(i)));
        }
        s.apply_batch(recs, vec![]);
        let start = s.history_start().expect("evicted");
        assert!(s.history_bytes() <= 1 << 20);
        assert_eq!(x_at(&s, "a", start), Some(noisy(start)));
        assert_eq!(x_at(&s, "a", 99_999), Some(noisy(99_999)));
    }

    #[test]
    fn compressed_history_holds_more_samples_in_the_same_budget() {
        // Short decimals at a regular period (what JSON telemetry carries) pack to a few bits
        // a sample, so a budget that the incompressible series above overflows holds them.
        let mut s = Store::new("/", 1);
        let recs = (0..100_000i64)
            .map(|i| {
                tele(
                    0,
                    i,
                    "a",
                    i * 1_000,
                    (6_000 + i * 7_919 % 2_000) as f64 / 100.0,
                )
            })
            .collect();
        s.apply_batch(recs, vec![]);
        assert_eq!(s.history_start(), None);
        assert!(s.history_bytes() < 100_000 * 4, "{}", s.history_bytes());
        assert_eq!(s.history_bytes(), recount(&s));
    }

    fn recount(s: &Store) -> usize {
        s.assets
            .iter()
            .flat_map(|a| a.props.iter())
            .map(|(_, x)| x.bytes())
            .sum()
    }

    #[test]
    fn the_running_history_count_matches_a_recount_through_growth_late_data_and_eviction() {
        let mut s = Store::new("/", 1);
        let mut recs = Vec::new();
        for i in 0..60_000i64 {
            // Several assets, some records late (out of order), so columns grow, shift and
            // are evicted and shrunk.
            let ts = if i % 7 == 0 { i - 500 } else { i };
            recs.push(tele(0, i, ["a", "b", "c"][i as usize % 3], ts, noisy(i)));
            if recs.len() == 1000 {
                s.apply_batch(std::mem::take(&mut recs), vec![]);
                assert_eq!(s.series_bytes, recount(&s), "after {i} records");
            }
        }
        assert!(s.history_start().is_some(), "the test must reach eviction");
        let fork = s.fork_at(i64::MAX).expect("a checkpoint").store;
        assert!(fork.series_bytes > 0);
        assert_eq!(fork.series_bytes, recount(&fork));
    }

    #[test]
    fn checkpoints_keep_covering_the_whole_evicted_range() {
        let mut s = Store::new("/", 1);
        // 500 assets make each checkpoint large, so only a few fit a quarter of the budget;
        // many evictions then force thinning.
        let mut recs = Vec::new();
        for i in 0..400_000i64 {
            recs.push(tele(0, i, &format!("a{}", i % 500), i, noisy(i)));
            if recs.len() == 4000 {
                s.apply_batch(std::mem::take(&mut recs), vec![]);
            }
        }
        let start = s.history_start().expect("evicted");
        let at: Vec<i64> = s.checkpoints.iter().map(|c| c.at).collect();
        assert!(at.len() >= 2, "{at:?}");
        assert!(at.len() < 40, "the budget must force thinning: {at:?}");
        // The first checkpoint is still near the beginning, so an early time is re-read from
        // there rather than from the beginning of the log, and the last one is at the start
        // of the retained history.
        assert!(at[0] < 100_000, "{at:?}");
        assert!(s.fork_at(150_000).is_some());
        assert_eq!(at.last(), Some(&start));
    }
}

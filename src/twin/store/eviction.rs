//! Keeping the history within its memory budget: the oldest samples are evicted, and the state
//! at each cut is kept as a checkpoint, so a re-read of evicted history (see `fork.rs`) can
//! start there instead of at the beginning of the log. Everything at or after
//! [`Store::history_start`] stays exact.
//!
//! A cut visits every series. At 100k cars × 8 properties that took seconds, and the live
//! store was cut in one batch, so the live view stopped for seconds each time the budget was
//! reached (a 100k msg/s fleet reaches the default budget within a minute). A cut is now
//! spread over batches, [`SERIES_PER_BATCH`] series at a time, unless the columns alone are
//! far over the budget ([`FORCE_PERCENT`]).

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

/// Series one batch cuts before it lets the next batch in: about a millisecond of work, so a
/// cut of a 100k-car fleet takes ~100 batches (a second or two live) instead of one of
/// seconds.
const SERIES_PER_BATCH: usize = 2_048;

/// When the columns alone are over this share of the budget (percent), a cut runs to its end
/// in one batch: the memory bound comes first when data arrives faster than spread-out cuts
/// free it (a catch-up). Checkpoints do not count here: they are bounded by thinning, and
/// at 100k cars one is ~38 MB, more than a cut of young series frees, so counting them made
/// every cut finish at once (1.5 s, three passes over 800k series in one batch).
const FORCE_PERCENT: usize = 110;

/// An eviction under way: cuts at `cut`, `step` apart, until the history is down to the low
/// water mark or the cut passes `last`.
#[derive(Debug, Clone)]
pub(super) struct Evicting {
    cut: i64,
    step: i64,
    last: i64,
    /// Assets before this one are cut at `cut` already.
    next_asset: usize,
    /// The state at `cut` of the series cut so far: the checkpoint, once all are.
    samples: Vec<(AssetIdx, PropId, Sample)>,
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

    /// Drops the oldest history while the store is over its budget, a share of it per call
    /// (see the module's notes). Everything at or after [`Self::history_start`] stays exact;
    /// earlier times must be re-read from Kafka.
    pub(super) fn enforce_budget(&mut self) {
        if self.evicting.is_none() && !self.start_eviction() {
            return;
        }
        // At most one eviction (down to the low water mark, or out of cuts) per call, as
        // before cuts were spread: a fleet whose fixed per-series bytes alone exceed the
        // budget must not be cut again and again within one batch.
        let mut work = 0;
        while self.evicting.is_some() {
            let force = self.series_bytes > self.budget_bytes / 100 * FORCE_PERCENT;
            if work >= SERIES_PER_BATCH && !force {
                return;
            }
            work += self.cut_next_asset();
        }
    }

    /// Starts an eviction when the store is over its budget: cuts a tenth of the held range
    /// apart down to 80% of the budget, so eviction is rare and amortised rather than run on
    /// every batch once the budget is reached.
    fn start_eviction(&mut self) -> bool {
        if self.budget_bytes == 0 || self.history_bytes() <= self.budget_bytes {
            return false;
        }
        let (Some(min), Some(max)) = (self.min_ts, self.max_ts) else {
            return false;
        };
        let last = max.min(self.keep_from);
        let start = self.history_start.unwrap_or(min).max(min);
        let step = ((last - start) / 10).max(1);
        if start + step > last {
            return false;
        }
        self.start_cut(start + step, step, last);
        true
    }

    /// Starts the cut at `cut`. From now on some series hold nothing before it, so it is where
    /// exact history starts.
    fn start_cut(&mut self, cut: i64, step: i64, last: i64) {
        // Sized up front: growing by doubling would briefly hold up to three times a
        // fleet-wide copy at the moment the store is already over its budget.
        let samples = Vec::with_capacity(self.assets.iter().map(|a| a.props.len()).sum());
        self.history_start = Some(cut);
        self.evicting = Some(Evicting {
            cut,
            step,
            last,
            next_asset: 0,
            samples,
        });
    }

    /// Cuts the next asset's series (or, past the last asset, ends the cut); returns how many
    /// series it cut.
    fn cut_next_asset(&mut self) -> usize {
        let Some(mut ev) = self.evicting.take() else {
            return 0;
        };
        let Some(a) = self.assets.get_mut(ev.next_asset) else {
            self.end_cut(ev);
            return 0;
        };
        for (p, s) in &mut a.props {
            // Keep the state at the cut, so a later re-read from Kafka can start here instead
            // of at the beginning of the log.
            if let Some(sample) = s.at(ev.cut) {
                ev.samples.push((ev.next_asset as AssetIdx, *p, sample));
            }
            let before = s.bytes();
            s.evict_before(ev.cut);
            s.shrink();
            self.series_bytes = (self.series_bytes + s.bytes()).saturating_sub(before);
        }
        let n = a.props.len();
        ev.next_asset += 1;
        self.evicting = Some(ev);
        n.max(1)
    }

    /// Keeps the finished cut's checkpoint, then starts the next cut while the history is over
    /// the low water mark.
    fn end_cut(&mut self, ev: Evicting) {
        self.checkpoints.push(Checkpoint {
            at: ev.cut,
            samples: ev.samples,
        });
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
        self.structure_gen += 1;
        let low_water = self.budget_bytes / 10 * 8;
        let next = ev.cut + ev.step;
        if self.history_bytes() > low_water && next <= ev.last {
            self.start_cut(next, ev.step, ev.last);
        }
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
    use crate::twin::Rec;

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

    /// A fleet larger than one batch's share of cutting: the cut is spread over batches, every
    /// answer from `history_start` on stays exact meanwhile, and a batch that takes the store
    /// far over its budget still cuts it back at once.
    #[test]
    fn a_large_fleet_is_cut_over_several_batches_and_stays_exact_meanwhile() {
        let assets = (SERIES_PER_BATCH + SERIES_PER_BATCH / 2) as i64;
        let value = |r: i64, a: i64| noisy(r * assets + a);
        let round = |r: i64| -> Vec<Rec> {
            (0..assets)
                .map(|a| {
                    tele(
                        0,
                        r * assets + a,
                        &format!("car{a}"),
                        r * 1_000 + a % 1_000,
                        value(r, a),
                    )
                })
                .collect()
        };
        let mut s = Store::new("/", 8);
        let (mut r, mut spread) = (0, None);
        while r < 400 {
            s.apply_batch(round(r), vec![]);
            r += 1;
            if let Some(ev) = &s.evicting {
                spread = Some(ev.next_asset);
                break;
            }
        }
        // The budget was reached, and the batch cut only part of the fleet.
        let cut_so_far = spread.expect("the test must reach eviction") as i64;
        assert!(
            cut_so_far > 0 && cut_so_far < assets,
            "{cut_so_far} of {assets}"
        );
        let start = s.history_start().expect("exact history starts at the cut");
        // Cars already cut and cars not yet cut answer exactly from the cut on.
        for a in [0, cut_so_far - 1, cut_so_far, assets - 1] {
            for t in [start, start + 1_500, (r - 1) * 1_000 + 999] {
                let want = (0..r)
                    .rev()
                    .find(|&q| q * 1_000 + a % 1_000 <= t)
                    .map(|q| value(q, a));
                assert_eq!(x_at(&s, &format!("car{a}"), t), want, "car{a} at {t}");
            }
        }
        // The next batches finish the cut: its checkpoint is where exact history starts.
        let mut batches = 0;
        while s.evicting.is_some() && batches < 40 {
            s.apply_batch(round(r), vec![]);
            r += 1;
            batches += 1;
        }
        assert!(s.evicting.is_none() && batches >= 1, "{batches} batches");
        assert_eq!(s.checkpoints.last().map(|c| c.at), s.history_start());
        assert!(s.history_bytes() <= s.budget_bytes);
        assert_eq!(s.series_bytes, recount(&s));
        // Far over the budget in one batch: cut back at once, not over the next batches.
        let flood: Vec<Rec> = (r..r + 40).flat_map(round).collect();
        s.apply_batch(flood, vec![]);
        assert!(
            s.series_bytes <= s.budget_bytes / 100 * FORCE_PERCENT,
            "{} over {}",
            s.series_bytes,
            s.budget_bytes
        );
        assert_eq!(s.series_bytes, recount(&s));
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
        // A cut under way has no checkpoint yet (exact history starts at it already).
        assert!(at.last() <= Some(&start), "{at:?} {start}");
        if s.evicting.is_none() {
            assert_eq!(at.last(), Some(&start));
        }
    }
}

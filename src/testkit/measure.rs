//! What the benchmarks measure and how they summarise it: the work a frame redoes when the
//! cursor moves, through the app's own tree cache, and nearest-rank percentiles.

use crate::app::{StoreId, StoreKind, TreeView};
use crate::twin::Store;
use crate::twin::hierarchy::Tree;

/// The one store a scrub benchmark reads, named as the app names its live store.
const SCRUB_STORE: StoreId = StoreId {
    kind: StoreKind::Live,
    n: 0,
};

/// What a frame recomputes when the cursor moves: the tree at T (with alarm roll-up), the
/// alarm list at T and the selected asset's properties at T. With `view`, the tree comes
/// through the app's own per-frame tree cache ([`TreeView`], kept across frames as the app
/// keeps it); without, it is built from scratch, as on the first frame or when the fleet's
/// shape at T differs from the last. Returns the number of rows, so nothing is optimised out.
pub fn ui_scrub(store: &Store, t: i64, selected: u32, view: Option<&mut TreeView>) -> usize {
    let tree = match view {
        Some(v) => {
            // The store does not change while scrubbing, so the tree is never left waiting.
            let waits = v.refresh(SCRUB_STORE, store, t);
            debug_assert!(waits.is_none(), "a scrub's tree was left to wait");
            v.tree().map_or(0, Tree::len)
        }
        None => Tree::build(store, t).len(),
    };
    let alarms = store.alarms_at(t);
    let props = store.props_at(selected, t);
    tree + alarms.len() + props.len()
}

/// Percentiles of a set of measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pcts {
    pub n: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Pcts {
    /// Nearest-rank percentiles of `v`.
    #[must_use]
    pub fn of(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        Self {
            n: v.len(),
            p50: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
            max: at(100.0),
        }
    }

    /// The same percentiles shown as counts (frames, rows), not milliseconds.
    #[must_use]
    pub fn counts(self) -> impl std::fmt::Display {
        Counts(self)
    }
}

/// [`Pcts`] of counts.
struct Counts(Pcts);

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.0;
        write!(
            f,
            "p50 {} p95 {} p99 {} max {} (n={})",
            p.p50, p.p95, p.p99, p.max, p.n
        )
    }
}

impl std::fmt::Display for Pcts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms  max {:.3} ms  (n={})",
            self.p50, self.p95, self.p99, self.max, self.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = Pcts::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
    }
}

//! The event-time range the store has seen and how many records fell in each 10 s of it, for
//! the timeline's bounds and density mini-map.

use super::{Store, StoreRole};

/// Width of a density bucket.
const DENSITY_BUCKET_MS: i64 = 10_000;

impl Store {
    /// Counts a record's event time into the time range and the density map. A re-read fork
    /// inherited both from the store it was forked from, which already counted every record
    /// the fork re-reads, so it counts nothing again.
    pub(super) fn see_time(&mut self, ts: i64) {
        if let StoreRole::Reread { .. } = self.role {
            return;
        }
        *self
            .density
            .entry(ts.div_euclid(DENSITY_BUCKET_MS))
            .or_insert(0) += 1;
        self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
    }

    /// Records per column over `[from, to]`, for the timeline mini-map.
    #[must_use]
    pub fn density(&self, from: i64, to: i64, cols: usize) -> Vec<u32> {
        let mut out = vec![0u32; cols.max(1)];
        let span = (to - from).max(1) as f64;
        let range = from.div_euclid(DENSITY_BUCKET_MS)..=to.div_euclid(DENSITY_BUCKET_MS);
        for (&b, &n) in self.density.range(range) {
            let t = b * DENSITY_BUCKET_MS;
            let i = (((t - from).max(0) as f64 / span) * out.len() as f64) as usize;
            let last = out.len() - 1;
            out[i.min(last)] += n;
        }
        out
    }
}

//! Decimated plot points of a series, on a time grid fixed to the epoch, and a cache of them
//! that lives from frame to frame.
//!
//! A plot asks for about one bucket per pixel column. The buckets are aligned to multiples of
//! a "nice" width ([`grid_width`]) rather than to the view's left edge, so when the view slides
//! (live data, a playing or scrubbed cursor) every bucket already drawn keeps its points.
//! [`PlotCache`] then recomputes only the buckets that new samples can change (the one holding
//! the last sample and later ones) and those that scrolled into view: a frame at a one-hour
//! zoom over 1M samples per series costs a few buckets, not a thousand pyramid walks.
//!
//! Each bucket gives the distinct ones of its first, min, max and last samples (M4), so spikes
//! survive at any zoom, and the line reaches the view's edges through one sample on each side.

use std::collections::VecDeque;

use super::pyramid::{Column, higher, lower};
use super::{Nums, Series, gallop};

/// The points of one bucket: the distinct ones of its first, min, max and last samples, in
/// time order (`n` of them; zero for an empty bucket).
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    pts: [[f64; 2]; 4],
    n: u8,
}

impl Bucket {
    fn points(&self) -> &[[f64; 2]] {
        self.pts.get(..self.n as usize).unwrap_or_default()
    }

    fn push(&mut self, p: [f64; 2]) {
        if let Some(slot) = self.pts.get_mut(self.n as usize) {
            *slot = p;
            self.n += 1;
        }
    }
}

/// Bucket widths above 10 ms, per decade: each at most 1.33× the one before, so a bucket is
/// never much wider than the pixel column it stands for, yet a zoom that changes the view's
/// width by a few percent keeps the same grid (and the cache).
const NICE: [u64; 10] = [10, 12, 16, 20, 25, 32, 40, 50, 64, 80];

/// The grid's bucket width in ms for `columns` columns over `[from, to]`: the smallest nice
/// width at least the column width, and at least 1 ms.
#[must_use]
pub fn grid_width(from: i64, to: i64, columns: usize) -> i64 {
    let span = to.saturating_sub(from).max(1).unsigned_abs();
    let column = span.div_ceil(columns.max(1) as u64).max(1);
    if column <= 10 {
        return column as i64;
    }
    let mut decade = 1u64;
    loop {
        for m in NICE {
            let w = m.saturating_mul(decade);
            if w >= column {
                return i64::try_from(w).unwrap_or(i64::MAX);
            }
        }
        decade = decade.saturating_mul(10);
    }
}

/// The grid's buckets covering `[from, to]`: `b0 ..= b1`, with `b1 = b0 - 1` (none) for an
/// empty view.
fn grid(from: i64, to: i64, w: i64) -> (i64, i64) {
    let b0 = from.div_euclid(w);
    (b0, to.div_euclid(w).max(b0 - 1))
}

/// The bucket points of one plotted series, kept between frames (see the module docs). One
/// per plotted series; it recognises a different series, or a series that got late data, by
/// the series' stamp and starts again.
#[derive(Debug, Clone, Default)]
pub struct PlotCache {
    /// The series' stamp and the grid width the buckets were computed for.
    stamp: u64,
    w: i64,
    /// Bucket index of `buckets[0]`; the buckets are contiguous.
    first: i64,
    buckets: VecDeque<Bucket>,
    /// From this bucket on, appends may still change the points: the bucket of the series'
    /// last sample at the time they were computed.
    open_from: i64,
    /// Key `(ts, seq)` of the series' first sample then: eviction changes it.
    front: (i64, u64),
    /// Buckets computed by the last call (the rest were reused): for tests and benchmarks.
    computed: usize,
}

impl PlotCache {
    /// Buckets computed by the last [`Series::plot_points_cached`] (the rest came from the
    /// cache).
    #[must_use]
    pub fn computed(&self) -> usize {
        self.computed
    }

    fn reset(&mut self, stamp: u64, w: i64, first: i64) {
        self.stamp = stamp;
        self.w = w;
        self.first = first;
        self.buckets.clear();
    }

    fn end(&self) -> i64 {
        self.first + self.buckets.len() as i64
    }
}

impl Series {
    /// Points to draw for `[from, to]` at about `columns` pixel columns: per bucket of the grid
    /// ([`grid_width`]) the distinct ones of its first, min, max and last samples (M4), plus one
    /// sample on each side so lines reach the edges.
    ///
    /// Within a bucket, the min and max are the earliest of equal values and skip NaN unless
    /// the bucket holds nothing else; a non-number is never drawn. For a numeric series the
    /// result is exactly (bit for bit) that of scanning every sample, but costs O(buckets ·
    /// (log samples + 16 · levels)) rather than O(samples in view): bucket edges are found by
    /// galloping search and the extremes come from the pyramid, whole blocks at a time.
    /// Other series are scanned.
    #[must_use]
    pub fn plot_points(&self, from: i64, to: i64, columns: usize) -> Vec<[f64; 2]> {
        self.points_on_grid(from, to, columns, !self.numeric)
    }

    /// [`Self::plot_points`], reusing the buckets `cache` kept from earlier calls that the
    /// series' changes since cannot have touched. The result is the same, bit for bit.
    #[must_use]
    pub fn plot_points_cached(
        &self,
        from: i64,
        to: i64,
        columns: usize,
        cache: &mut PlotCache,
    ) -> Vec<[f64; 2]> {
        let w = grid_width(from, to, columns);
        let (b0, b1) = grid(from, to, w);
        cache.computed = 0;
        let (Some(first_ts), Some(last_ts)) = (
            self.ts(0),
            self.len().checked_sub(1).and_then(|i| self.ts(i)),
        ) else {
            cache.reset(self.stamp, w, b0);
            return Vec::new();
        };
        if cache.stamp != self.stamp || cache.w != w {
            cache.reset(self.stamp, w, b0);
        }
        // Eviction (which keeps the stamp) dropped samples before the first one left: the
        // buckets up to the first sample's may have lost some.
        let front = (first_ts, self.seq_at(0).unwrap_or(0));
        if front != cache.front {
            let b = first_ts.div_euclid(w);
            while cache.first <= b && cache.buckets.pop_front().is_some() {
                cache.first += 1;
            }
        }
        // Appends since (also keeping the stamp) can only change the buckets from the one
        // that held the last sample on.
        let keep = (cache.open_from - cache.first).clamp(0, cache.buckets.len() as i64);
        cache.buckets.truncate(keep as usize);
        if cache.buckets.is_empty() || b1 + 1 < cache.first || b0 > cache.end() {
            cache.reset(self.stamp, w, b0);
        }
        if b0 < cache.first {
            let new = self.grid_buckets(w, b0, cache.first, !self.numeric);
            cache.computed += new.len();
            for b in new.into_iter().rev() {
                cache.buckets.push_front(b);
            }
            cache.first = b0;
        }
        if b1 + 1 > cache.end() {
            let new = self.grid_buckets(w, cache.end(), b1 + 1, !self.numeric);
            cache.computed += new.len();
            cache.buckets.extend(new);
        }
        // Keep a view's width of buckets on either side (a pan back reuses them), no more.
        let slack = b1 + 1 - b0;
        while cache.first < b0 - slack && cache.buckets.pop_front().is_some() {
            cache.first += 1;
        }
        let keep = (b1 + 1 + slack - cache.first).max(0) as usize;
        cache.buckets.truncate(keep);
        cache.open_from = last_ts.div_euclid(w);
        cache.front = front;
        let mut out = Vec::new();
        self.side_before(b0, w, &mut out);
        let skip = (b0 - cache.first).max(0) as usize;
        let take = (b1 + 1 - b0).max(0) as usize;
        for b in cache.buckets.iter().skip(skip).take(take) {
            out.extend_from_slice(b.points());
        }
        self.side_after(b1, w, &mut out);
        out
    }

    /// [`Self::plot_points`] by visiting every sample in view (in one pass over the chunks):
    /// the reference the pyramid is tested against.
    #[cfg(test)]
    pub(super) fn plot_points_scan(&self, from: i64, to: i64, columns: usize) -> Vec<[f64; 2]> {
        self.points_on_grid(from, to, columns, true)
    }

    fn points_on_grid(&self, from: i64, to: i64, columns: usize, scan: bool) -> Vec<[f64; 2]> {
        let w = grid_width(from, to, columns);
        let (b0, b1) = grid(from, to, w);
        let mut out = Vec::new();
        self.side_before(b0, w, &mut out);
        for b in self.grid_buckets(w, b0, b1 + 1, scan) {
            out.extend_from_slice(b.points());
        }
        self.side_after(b1, w, &mut out);
        out
    }

    /// The point of the last sample before bucket `b0`, if it is a number.
    fn side_before(&self, b0: i64, w: i64, out: &mut Vec<[f64; 2]>) {
        let i = self.count_before(b0.saturating_mul(w));
        if let Some(p) = i.checked_sub(1).and_then(|i| self.point(i)) {
            out.push(p);
        }
    }

    /// The point of the first sample after bucket `b1`, if it is a number.
    fn side_after(&self, b1: i64, w: i64, out: &mut Vec<[f64; 2]>) {
        let i = self.count_before((b1 + 1).saturating_mul(w));
        if let Some(p) = self.point(i) {
            out.push(p);
        }
    }

    fn point(&self, i: usize) -> Option<[f64; 2]> {
        Some([self.ts(i)? as f64, self.num(i)?])
    }

    /// The points of buckets `ba .. bb` of width `w`, one entry per bucket (empty ones too).
    fn grid_buckets(&self, w: i64, ba: i64, bb: i64, scan: bool) -> Vec<Bucket> {
        let mut out = vec![Bucket::default(); (bb - ba).max(0) as usize];
        let lo = self.count_before(ba.saturating_mul(w));
        let hi = self.count_before(bb.saturating_mul(w)).max(lo);
        let mut put = |b: i64, bucket: Bucket| {
            if let Some(slot) = out.get_mut((b - ba) as usize) {
                *slot = bucket;
            }
        };
        if scan {
            self.scan_buckets(w, lo, hi, &mut put);
        } else {
            self.pyramid_buckets(w, lo, hi, (bb - ba).max(1) as usize, &mut put);
        }
        out
    }

    /// M4 of samples `lo .. hi` per bucket of width `w`, the extremes from the pyramid.
    fn pyramid_buckets(
        &self,
        w: i64,
        lo: usize,
        hi: usize,
        buckets: usize,
        put: &mut impl FnMut(i64, Bucket),
    ) {
        let v = Nums::new(self);
        let (mut i, mut len) = (lo, ((hi - lo) / buckets).max(1));
        while i < hi {
            let b = v.ts(i).div_euclid(w);
            let end = gallop(|k| v.ts(k), i, hi, i + len, |t| t.div_euclid(w) <= b);
            len = end - i;
            let (min_i, max_i) = self.pyr.extremes(&v, i, end);
            let mut idx = [i, min_i, max_i, end - 1];
            idx.sort_unstable();
            let mut bucket = Bucket::default();
            let mut last = usize::MAX;
            for j in idx {
                if j != last {
                    bucket.push([v.ts(j) as f64, v.get(j)]);
                }
                last = j;
            }
            put(b, bucket);
            i = end;
        }
    }

    /// M4 of samples `lo .. hi` per bucket of width `w`, visiting every sample.
    fn scan_buckets(&self, w: i64, lo: usize, hi: usize, put: &mut impl FnMut(i64, Bucket)) {
        // (index, time, value) of the bucket's first, min, max and last samples.
        type Pt = (usize, i64, Option<f64>);
        let flush = |b: i64, mut pts: [Pt; 4], put: &mut dyn FnMut(i64, Bucket)| {
            pts.sort_unstable_by_key(|p| p.0);
            let mut bucket = Bucket::default();
            let mut last = usize::MAX;
            for (j, t, v) in pts {
                if j != last
                    && let Some(v) = v
                {
                    bucket.push([t as f64, v]);
                }
                last = j;
            }
            put(b, bucket);
        };
        let mut cur: Option<(i64, [Pt; 4])> = None;
        for (i, (t, v)) in (lo..hi).zip(self.points_in(lo..hi)) {
            let b = t.div_euclid(w);
            let p = (i, t, v);
            match &mut cur {
                Some((cb, pts)) if *cb == b => {
                    if let Some(x) = v {
                        // A non-number never stands for the bucket's extremes.
                        if pts[1].2.is_none_or(|mn| lower(x, mn)) {
                            pts[1] = p;
                        }
                        if pts[2].2.is_none_or(|mx| higher(x, mx)) {
                            pts[2] = p;
                        }
                    }
                    pts[3] = p;
                }
                _ => {
                    if let Some((cb, pts)) = cur.take() {
                        flush(cb, pts, put);
                    }
                    cur = Some((b, [p; 4]));
                }
            }
        }
        if let Some((cb, pts)) = cur {
            flush(cb, pts, put);
        }
    }
}

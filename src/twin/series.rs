//! One property's history: columns of (event time, tie-break key, Kafka time, value), kept in
//! `(ts, seq)` order so that "the value at T" is a binary search.
//!
//! Numeric series keep a plain `f64` column (they are most of the data and what plots read);
//! a series that ever holds a string or bool switches to a general column.

use std::ops::Range;

use super::decode::Value;

#[derive(Debug, Clone)]
enum Vals {
    Num(Vec<f64>),
    Any(Vec<Value>),
}

/// A sample as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub ts: i64,
    pub seq: u64,
    pub kafka_ts: i64,
    pub value: Value,
}

/// A property's history, sorted by `(ts, seq)`.
#[derive(Debug, Clone)]
pub struct Series {
    ts: Vec<i64>,
    seq: Vec<u64>,
    kafka_ts: Vec<i64>,
    vals: Vals,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            ts: Vec::new(),
            seq: Vec::new(),
            kafka_ts: Vec::new(),
            vals: Vals::Num(Vec::new()),
        }
    }
}

/// Approximate heap bytes per sample, used for the history budget.
pub const BYTES_PER_SAMPLE: usize = 8 + 8 + 8 + 8;

impl Series {
    /// Number of samples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when the series holds no samples.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// True while every sample is a number, i.e. the series can be plotted.
    #[must_use]
    pub fn is_numeric(&self) -> bool {
        matches!(self.vals, Vals::Num(_))
    }

    /// Approximate heap bytes used.
    #[must_use]
    pub fn bytes(&self) -> usize {
        let v = match &self.vals {
            Vals::Num(v) => v.capacity() * 8,
            Vals::Any(v) => v.capacity() * std::mem::size_of::<Value>(),
        };
        (self.ts.capacity() + self.seq.capacity() + self.kafka_ts.capacity()) * 8 + v
    }

    /// Inserts a sample at its `(ts, seq)` position. Returns false for a duplicate key (the same
    /// record read twice), which is ignored.
    pub fn insert(&mut self, ts: i64, seq: u64, kafka_ts: i64, value: Value) -> bool {
        let n = self.ts.len();
        let at = if n == 0 || (ts, seq) > (self.ts[n - 1], self.seq[n - 1]) {
            n
        } else {
            let lo = self.ts.partition_point(|&t| t < ts);
            let hi = self.ts.partition_point(|&t| t <= ts);
            let pos = lo + self.seq[lo..hi].partition_point(|&s| s < seq);
            if pos < hi && self.seq[pos] == seq {
                return false;
            }
            pos
        };
        if let (Vals::Num(nums), false) = (&self.vals, matches!(value, Value::Num(_))) {
            self.vals = Vals::Any(nums.iter().map(|&f| Value::Num(f)).collect());
        }
        self.ts.insert(at, ts);
        self.seq.insert(at, seq);
        self.kafka_ts.insert(at, kafka_ts);
        match (&mut self.vals, value) {
            (Vals::Num(v), Value::Num(f)) => v.insert(at, f),
            (Vals::Any(v), value) => v.insert(at, value),
            (Vals::Num(_), _) => unreachable_numeric(),
        }
        true
    }

    /// The tie-break keys of other records' samples with exactly this event time and value:
    /// candidates for a producer that wrote the same record twice.
    #[must_use]
    pub fn same_at(&self, ts: i64, seq: u64, value: &Value) -> Vec<u64> {
        // In-order appends (the common case) cannot repeat an earlier sample.
        if self.ts.last().is_none_or(|&last| last < ts) {
            return Vec::new();
        }
        let lo = self.ts.partition_point(|&t| t < ts);
        let hi = self.ts.partition_point(|&t| t <= ts);
        (lo..hi)
            .filter(|&i| self.seq[i] != seq && self.value_is(i, value))
            .map(|i| self.seq[i])
            .collect()
    }

    /// The index of the sample with exactly this key.
    #[must_use]
    pub fn find(&self, ts: i64, seq: u64) -> Option<usize> {
        let lo = self.ts.partition_point(|&t| t < ts);
        let hi = self.ts.partition_point(|&t| t <= ts);
        (lo..hi).find(|&i| self.seq[i] == seq)
    }

    /// True when sample `i` holds exactly `value` (numbers compared bit for bit).
    #[must_use]
    pub fn value_is(&self, i: usize, value: &Value) -> bool {
        match (&self.vals, value) {
            (Vals::Num(v), Value::Num(f)) => v.get(i).is_some_and(|x| x.to_bits() == f.to_bits()),
            (Vals::Any(v), value) => v.get(i) == Some(value),
            (Vals::Num(_), _) => false,
        }
    }

    /// Index of the sample in force at `t`: the last one with `ts <= t`.
    #[must_use]
    pub fn index_at(&self, t: i64) -> Option<usize> {
        self.ts.partition_point(|&x| x <= t).checked_sub(1)
    }

    /// The sample at index `i`.
    #[must_use]
    pub fn sample(&self, i: usize) -> Option<Sample> {
        Some(Sample {
            ts: *self.ts.get(i)?,
            seq: self.seq[i],
            kafka_ts: self.kafka_ts[i],
            value: self.value(i)?,
        })
    }

    /// The sample in force at `t`.
    #[must_use]
    pub fn at(&self, t: i64) -> Option<Sample> {
        self.sample(self.index_at(t)?)
    }

    /// The value at index `i`.
    #[must_use]
    pub fn value(&self, i: usize) -> Option<Value> {
        match &self.vals {
            Vals::Num(v) => v.get(i).map(|&f| Value::Num(f)),
            Vals::Any(v) => v.get(i).cloned(),
        }
    }

    /// The numeric value at index `i`, if numeric.
    #[must_use]
    pub fn num(&self, i: usize) -> Option<f64> {
        match &self.vals {
            Vals::Num(v) => v.get(i).copied(),
            Vals::Any(v) => match v.get(i) {
                Some(Value::Num(f)) => Some(*f),
                _ => None,
            },
        }
    }

    /// Event time of sample `i`.
    #[must_use]
    pub fn ts(&self, i: usize) -> Option<i64> {
        self.ts.get(i).copied()
    }

    /// Event times, in order.
    #[must_use]
    pub fn times(&self) -> &[i64] {
        &self.ts
    }

    /// Indices of the samples with `from <= ts <= to`.
    #[must_use]
    pub fn range(&self, from: i64, to: i64) -> Range<usize> {
        let lo = self.ts.partition_point(|&x| x < from);
        let hi = self.ts.partition_point(|&x| x <= to);
        lo..hi.max(lo)
    }

    /// Points to draw for `[from, to]` at about `buckets` columns: the first, min, max and last
    /// of each bucket (M4), so spikes survive and the cost depends on pixels, not samples.
    /// Includes one sample on each side so lines reach the edges.
    #[must_use]
    pub fn plot_points(&self, from: i64, to: i64, buckets: usize) -> Vec<[f64; 2]> {
        let r = self.range(from, to);
        let lo = r.start.saturating_sub(1);
        let hi = (r.end + 1).min(self.len());
        let n = hi - lo;
        let buckets = buckets.max(1);
        let mut out = Vec::with_capacity(n.min(buckets * 4));
        if n <= buckets * 4 {
            for i in lo..hi {
                if let Some(v) = self.num(i) {
                    out.push([self.ts[i] as f64, v]);
                }
            }
            return out;
        }
        let span = (to - from).max(1) as f64;
        let mut i = lo;
        while i < hi {
            let b = (((self.ts[i] - from) as f64 / span) * buckets as f64).floor() as i64;
            let start = i;
            let (mut min_i, mut max_i) = (i, i);
            while i < hi
                && (((self.ts[i] - from) as f64 / span) * buckets as f64).floor() as i64 == b
            {
                if let (Some(v), Some(mn), Some(mx)) =
                    (self.num(i), self.num(min_i), self.num(max_i))
                {
                    if v < mn {
                        min_i = i;
                    }
                    if v > mx {
                        max_i = i;
                    }
                }
                i += 1;
            }
            let mut idx = [start, min_i, max_i, i - 1];
            idx.sort_unstable();
            let mut last = usize::MAX;
            for j in idx {
                if j != last
                    && let Some(v) = self.num(j)
                {
                    out.push([self.ts[j] as f64, v]);
                }
                last = j;
            }
        }
        out
    }

    /// Returns memory freed by eviction to the allocator, keeping a quarter of headroom so the
    /// next appends do not immediately reallocate (and double) every column again.
    pub fn shrink(&mut self) {
        let keep = self.ts.len() + self.ts.len() / 4 + 4;
        self.ts.shrink_to(keep);
        self.seq.shrink_to(keep);
        self.kafka_ts.shrink_to(keep);
        match &mut self.vals {
            Vals::Num(v) => v.shrink_to(keep),
            Vals::Any(v) => v.shrink_to(keep),
        }
    }

    /// Drops samples older than `t`, keeping the one in force at `t` so that every answer for
    /// times `>= t` stays exact. Returns how many samples were dropped.
    pub fn evict_before(&mut self, t: i64) -> usize {
        let keep_from = match self.index_at(t) {
            Some(i) => self.ts[..=i].partition_point(|&x| x < t).min(i),
            None => 0,
        };
        if keep_from == 0 {
            return 0;
        }
        self.ts.drain(..keep_from);
        self.seq.drain(..keep_from);
        self.kafka_ts.drain(..keep_from);
        match &mut self.vals {
            Vals::Num(v) => {
                v.drain(..keep_from);
            }
            Vals::Any(v) => {
                v.drain(..keep_from);
            }
        }
        keep_from
    }
}

#[cold]
fn unreachable_numeric() {
    // The column is converted to `Any` before any non-numeric insert, so this is never reached.
    debug_assert!(false, "non-numeric value in numeric column");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &Series) -> Vec<(i64, f64)> {
        (0..s.len())
            .map(|i| (s.ts(i).unwrap(), s.num(i).unwrap()))
            .collect()
    }

    #[test]
    fn out_of_order_inserts_stay_sorted_and_duplicates_are_ignored() {
        let mut s = Series::default();
        assert!(s.insert(10, 1, 10, Value::Num(1.0)));
        assert!(s.insert(5, 2, 5, Value::Num(2.0)));
        assert!(s.insert(10, 0, 10, Value::Num(3.0)));
        assert!(!s.insert(10, 1, 10, Value::Num(9.0)));
        assert_eq!(n(&s), vec![(5, 2.0), (10, 3.0), (10, 1.0)]);
        assert_eq!(s.at(10).unwrap().value, Value::Num(1.0));
        assert_eq!(s.at(9).unwrap().value, Value::Num(2.0));
        assert!(s.at(4).is_none());
    }

    #[test]
    fn switches_to_general_column_on_first_string() {
        let mut s = Series::default();
        s.insert(1, 0, 1, Value::Num(1.0));
        s.insert(2, 0, 2, Value::Str("FAULT".into()));
        assert!(!s.is_numeric());
        assert_eq!(s.at(1).unwrap().value, Value::Num(1.0));
        assert_eq!(s.at(5).unwrap().value, Value::Str("FAULT".into()));
    }

    #[test]
    fn eviction_keeps_the_value_in_force() {
        let mut s = Series::default();
        for t in 0..10 {
            s.insert(t * 10, 0, 0, Value::Num(t as f64));
        }
        assert_eq!(s.evict_before(35), 3);
        assert_eq!(s.at(35).unwrap().value, Value::Num(3.0));
        assert_eq!(s.at(90).unwrap().value, Value::Num(9.0));
        assert_eq!(s.evict_before(35), 0);
    }

    #[test]
    fn plot_points_keep_extremes_and_are_bounded() {
        let mut s = Series::default();
        for t in 0..100_000 {
            let v = if t == 50_123 { 1000.0 } else { (t % 7) as f64 };
            s.insert(t, 0, t, Value::Num(v));
        }
        let pts = s.plot_points(0, 99_999, 500);
        assert!(pts.len() <= 500 * 4 + 8, "{}", pts.len());
        assert!(pts.iter().any(|p| p[1] == 1000.0));
        let few = s.plot_points(100, 110, 500);
        assert_eq!(few.first().unwrap()[0], 99.0);
        assert_eq!(few.len(), 13);
    }
}

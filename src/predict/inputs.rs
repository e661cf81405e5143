//! Copying what a job needs out of the store, on the UI thread: the strided fit window, the
//! recent samples for the anomaly chart and the actuals after the cursor for a backtest. Each
//! copy is bounded by a window and a sample cap, never by the length of the history.

use std::sync::Arc;

use crate::twin::Store;
use crate::twin::forecast::Threshold;
use crate::twin::series::Series;

use super::{BACKTEST_HORIZON_MS, FIT_WINDOW_MS, MAX_FIT_SAMPLES};

/// Samples before an anomaly window that let the EWMA chart settle (it flags nothing in its
/// first 70 samples).
const ANOMALY_WARMUP: usize = 120;
/// Cap on the samples scanned for anomalies per series and job.
const MAX_ANOMALY_SAMPLES: usize = 20_000;

/// What one series contributes to a job; every column is sorted by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesInput {
    pub asset: Arc<str>,
    pub prop: Arc<str>,
    /// The (strided) fit window at or before `at`; `None` when no forecast is wanted.
    pub fit: Option<(Vec<i64>, Vec<f64>)>,
    /// Limits to estimate the time to.
    pub limits: Vec<Threshold>,
    /// Consecutive samples at or before `at` for the anomaly chart, and the time from which
    /// flags count.
    pub recent: Option<(Vec<i64>, Vec<f64>, i64)>,
    /// Actual samples after `at`, for a backtest.
    pub after: Option<(Vec<i64>, Vec<f64>)>,
}

/// The series' value at `i` as f64 (NaN for a non-number).
fn num(s: &Series, i: usize) -> f64 {
    s.num(i).unwrap_or(f64::NAN)
}

/// The fit window of `s` at `at`: samples in `(at - FIT_WINDOW_MS, at]`, strided from the last
/// one at or before `at` down to at most [`MAX_FIT_SAMPLES`]. Depends only on samples at or
/// before `at`.
#[must_use]
pub fn fit_window(s: &Series, at: i64) -> (Vec<i64>, Vec<f64>) {
    let end = s.count_through(at);
    let start = s.count_through(at.saturating_sub(FIT_WINDOW_MS)).min(end);
    let n = end - start;
    let stride = n.div_ceil(MAX_FIT_SAMPLES).max(1);
    let mut t = Vec::with_capacity(n.min(MAX_FIT_SAMPLES));
    let mut v = Vec::with_capacity(n.min(MAX_FIT_SAMPLES));
    // Anchored at the newest sample at or before `at`, so later samples never shift the pick.
    let mut j = end;
    while j > start {
        let k = j - 1;
        t.push(s.ts(k).unwrap_or(0));
        v.push(num(s, k));
        if k < start + stride {
            break;
        }
        j = k + 1 - stride;
    }
    t.reverse();
    v.reverse();
    (t, v)
}

/// Consecutive samples for the anomaly chart: from `ANOMALY_WARMUP` samples before `from` to
/// the last at or before `at`.
pub(super) fn recent(s: &Series, from: i64, at: i64) -> (Vec<i64>, Vec<f64>, i64) {
    let end = s.count_through(at);
    let lo = s.count_before(from).min(end);
    let start = lo
        .saturating_sub(ANOMALY_WARMUP)
        .max(end.saturating_sub(MAX_ANOMALY_SAMPLES));
    (
        s.times_in(start..end).collect(),
        (start..end).map(|i| num(s, i)).collect(),
        from,
    )
}

/// Samples after `at` for a backtest: up to the horizon, or further until the first one beyond
/// `limit` (which is when the crossing happened).
pub(super) fn after(s: &Series, at: i64, limit: Option<Threshold>) -> (Vec<i64>, Vec<f64>) {
    let start = s.count_through(at);
    let horizon_end = s.count_through(at.saturating_add(BACKTEST_HORIZON_MS));
    let mut end = horizon_end;
    if let Some(l) = limit
        && !(start..horizon_end).any(|i| l.is_beyond(num(s, i)))
    {
        end = (horizon_end..s.len())
            .find(|&i| l.is_beyond(num(s, i)))
            .map_or(horizon_end, |i| i + 1);
    }
    (
        s.times_in(start..end).collect(),
        (start..end).map(|i| num(s, i)).collect(),
    )
}

/// Inputs for one plotted or selected series at `at`: the fit window, optionally the anomaly
/// window from `anomalies_from` and the actuals after `at` for a backtest.
pub fn series_input(
    store: &Store,
    asset: &str,
    prop: &str,
    at: i64,
    limits: Vec<Threshold>,
    anomalies_from: Option<i64>,
    backtest: bool,
) -> Option<SeriesInput> {
    let a = store.asset_by_id(asset)?;
    let p = store.prop_by_name(prop)?;
    let s = store.series(a, p).filter(|s| s.is_numeric())?;
    Some(SeriesInput {
        asset: Arc::from(asset),
        prop: Arc::from(prop),
        fit: Some(fit_window(s, at)),
        recent: anomalies_from.map(|from| recent(s, from, at)),
        after: backtest.then(|| after(s, at, limits.first().copied())),
        limits,
    })
}

/// A series with one sample a second, valued `f(i)`, for the tests of this module and others.
#[cfg(test)]
pub(super) fn test_series(n: i64, f: impl Fn(i64) -> f64) -> Series {
    let mut s = Series::default();
    for i in 0..n {
        s.insert(
            i * 1000,
            i as u64,
            i * 1000,
            crate::twin::decode::Value::Num(f(i)),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::test_series as series;
    use super::*;

    #[test]
    fn fit_window_strides_from_the_cursor_and_ignores_later_samples() {
        let s = series(10_000, |i| i as f64);
        let (t, v) = fit_window(&s, 5_000_000);
        // 3,600 samples in (1,400 s, 5,000 s], stride 5: 720 samples ending at the cursor.
        assert_eq!(t.len(), 720);
        assert_eq!(t.last(), Some(&5_000_000));
        assert_eq!(t[t.len() - 2], 4_995_000);
        assert_eq!(t[0], 5_000_000 - 719 * 5_000);
        assert_eq!(v[0], 1_405.0);
        // Short history: every sample.
        let (t, _) = fit_window(&s, 9_500);
        assert_eq!(t, (0..=9).map(|i| i * 1000).collect::<Vec<_>>());
    }

    #[test]
    fn after_reaches_past_the_horizon_to_the_first_crossing() {
        // One unit per second: the 30 min horizon ends at 1,800 s; a limit at 2,000 is first
        // exceeded at 2,001 s, so the actuals reach that far.
        let s = series(3_000, |i| i as f64);
        let (t, _) = after(&s, 0, Some(Threshold::above(2_000.0)));
        assert_eq!((t[0], t.last().copied()), (1_000, Some(2_001_000)));
        let (t, _) = after(&s, 0, None);
        assert_eq!(t.last().copied(), Some(1_800_000));
    }
}

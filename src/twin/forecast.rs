//! Forecasts, time to threshold and backtests for one numeric property.
//!
//! Everything here is a pure function of `(times, values)` columns as kept by
//! [`Series`](super::series::Series): irregular i64 epoch-millisecond times, f64 values, NaN
//! meaning "no reading". [`predict`] reads only samples with `time <= at`, so a forecast made at a
//! past cursor T depends on exactly the data that existed at T and can be backtested against what
//! came after ([`backtest`]).
//!
//! # Method: Theil–Sen trend with an empirical band
//!
//! The model is a robust straight line fitted to a bounded trailing window ([`ForecastParams`]):
//! the slope is the median of pairwise slopes (Theil–Sen), the intercept the median of
//! `y - slope·x`. The band combines two things: Sen's rank-based confidence interval of the slope
//! (the lines with the low and high slope pivot at the window's median time, so the band widens
//! with the horizon) and the empirical residual quantiles (so noise and any seasonal swing the
//! line does not model show up as band width rather than being ignored). Time to threshold
//! ([`Rul`]) is where the line and the two band edges cross the limit.
//!
//! # Why not augurs (Grafana's `augurs-ets`)
//!
//! Evaluated `augurs-ets` 0.10.3 (`AutoETS::new(1, "ZZN")`, `fit`, `predict(h, 0.95)`) in a
//! scratch crate with this project's profile (dependencies at opt-level 2), on the 2-core machine:
//! - Compile cost: the crates it adds that we do not already build (nalgebra, simba, wide,
//!   matrixmultiply, rand 0.8, rand_distr, roots, lstsq, augurs-core/-ets, ...) took ~117 CPU-s,
//!   roughly one extra minute on CI. Acceptable on its own.
//! - Fit cost (AutoETS fit + 60-step predict, noisy linear series): 3.5 ms at 60 points, 11 ms at
//!   240, 58 ms at 1,000, 156 ms at 3,600. Forecasting 1,000 series of a fleet would take 10+ s
//!   even on a 240-bucket resample; the Theil–Sen fit here costs well under a millisecond (see
//!   `benches/forecast.rs`), cheap enough to refit on every cursor move.
//! - Its own docs say seasonal models are not implemented yet and the API may change, so with
//!   `season_length = 1` it would give us Holt's level+trend smoothing, not seasonality; MSTL
//!   would be yet another dependency. Twin telemetry is irregular, so ETS would also need
//!   resampling, which hides gaps.
//! - It pulls a second `rand` major version and `nalgebra` into a GUI binary for one feature.
//!
//! So the robust trend the issue names as the fallback is the model. If a seasonal model is
//! wanted later, [`Method`] is where it plugs in; the band and RUL code only need a line and
//! its spread.

use std::cmp::Ordering;

/// Fixed seed for pair subsampling, so a forecast is a pure function of its input window.
const PAIR_SEED: u64 = 0x7769_6e73_636f_7065;

/// Which side of a limit is the failure side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Failure when the value rises above the limit.
    Above,
    /// Failure when the value falls below the limit.
    Below,
}

/// A limit whose crossing the time-to-threshold estimate looks for.
///
/// Same semantics as the alarm rules: a value exactly on the limit is not beyond it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// The limit value, in the property's unit.
    pub value: f64,
    /// Which side of `value` is the failure side.
    pub direction: Direction,
}

impl Threshold {
    /// A limit that fails when the value rises above `value`.
    #[must_use]
    pub fn above(value: f64) -> Self {
        Self {
            value,
            direction: Direction::Above,
        }
    }

    /// A limit that fails when the value falls below `value`.
    #[must_use]
    pub fn below(value: f64) -> Self {
        Self {
            value,
            direction: Direction::Below,
        }
    }

    /// Whether `v` is on the failure side (strictly).
    #[must_use]
    pub fn is_beyond(&self, v: f64) -> bool {
        match self.direction {
            Direction::Above => v > self.value,
            Direction::Below => v < self.value,
        }
    }

    /// +1 for `Above`, -1 for `Below`: multiplying by it turns any limit into a rising one.
    fn sign(&self) -> f64 {
        match self.direction {
            Direction::Above => 1.0,
            Direction::Below => -1.0,
        }
    }
}

/// Knobs for [`predict`]. `Default` suits interactive use on one plot or a fleet overview.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastParams {
    /// Fit on at most this many of the latest finite samples at or before `at`.
    pub max_samples: usize,
    /// Fit only on samples newer than `at - window_ms`; `None` means no time bound.
    pub window_ms: Option<i64>,
    /// Fewer finite samples than this in the window gives no forecast.
    pub min_samples: usize,
    /// Cap on the pairwise slopes Theil–Sen looks at; above it pairs are sampled (seeded).
    pub max_pairs: usize,
    /// Coverage of the prediction band and of the slope interval, in (0, 1).
    pub level: f64,
    /// Number of steps between `at` and `at + horizon_ms` in [`Prediction::points`].
    pub steps: usize,
}

impl Default for ForecastParams {
    fn default() -> Self {
        Self {
            max_samples: 512,
            window_ms: None,
            min_samples: 5,
            max_pairs: 20_000,
            level: 0.95,
            steps: 16,
        }
    }
}

/// How a [`Prediction`] was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Theil–Sen line with Sen's slope interval and residual-quantile band.
    TheilSen,
}

/// A robust line fit: `value(t) = intercept + slope * (t - t_ref)`, plus its spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Time origin of the fit (epoch ms); keeps the x values small for f64 precision.
    pub t_ref: i64,
    /// Median pairwise slope, value units per millisecond.
    pub slope: f64,
    /// Fitted value at `t_ref`.
    pub intercept: f64,
    /// Lower end of Sen's confidence interval of the slope at the fit's level.
    pub slope_lo: f64,
    /// Upper end of Sen's confidence interval of the slope.
    pub slope_hi: f64,
    /// Median sample time relative to `t_ref`: where the low/high-slope lines pivot.
    pub x_pivot: f64,
    /// Lower residual quantile ((1 - level) / 2), usually negative.
    pub resid_lo: f64,
    /// Upper residual quantile ((1 + level) / 2), usually positive.
    pub resid_hi: f64,
    /// Finite samples the fit used.
    pub n: usize,
}

impl Trend {
    /// The fitted value at `t`.
    #[must_use]
    pub fn value_at(&self, t: i64) -> f64 {
        self.intercept + self.slope * (t - self.t_ref) as f64
    }

    /// `(mean, lo, hi)` of the prediction band at `t`.
    #[must_use]
    pub fn band_at(&self, t: i64) -> (f64, f64, f64) {
        let x = (t - self.t_ref) as f64;
        let mean = self.intercept + self.slope * x;
        let pivot = self.intercept + self.slope * self.x_pivot;
        let a = pivot + self.slope_lo * (x - self.x_pivot);
        let b = pivot + self.slope_hi * (x - self.x_pivot);
        (mean, a.min(b) + self.resid_lo, a.max(b) + self.resid_hi)
    }
}

/// One point of a forecast: time, central value and band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastPoint {
    /// Epoch milliseconds.
    pub t: i64,
    /// Central forecast.
    pub mean: f64,
    /// Lower edge of the prediction band.
    pub lo: f64,
    /// Upper edge of the prediction band.
    pub hi: f64,
}

/// Time-to-threshold outcome when there is an estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rul {
    /// The latest sample at or before `at` is already beyond the limit.
    AlreadyBeyond,
    /// The trend reaches the limit: expected time, and the range the band allows.
    Crossing {
        /// Where the fitted line crosses the limit (epoch ms, never before `at`).
        expected: i64,
        /// Where the band's failure-side edge crosses it.
        earliest: i64,
        /// Where the band's safe-side edge crosses it.
        latest: i64,
    },
}

/// A forecast made at `at` from data at or before `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The cursor the forecast was made at.
    pub at: i64,
    /// `steps + 1` points from `at` to `at + horizon_ms`.
    pub points: Vec<ForecastPoint>,
    /// How it was made.
    pub method: Method,
    /// The fitted model; [`Trend::band_at`] evaluates it at any time.
    pub trend: Trend,
    /// Time to threshold when a limit was given: `None` means no estimate (flat trend, moving
    /// away from the limit, or slope not distinguishable from zero at the fit's level).
    pub rul: Option<Rul>,
}

impl Prediction {
    /// Trend slope in value units per second, the unit the UI shows.
    #[must_use]
    pub fn slope_per_s(&self) -> f64 {
        self.trend.slope * 1000.0
    }

    /// Last forecast time.
    #[must_use]
    pub fn end(&self) -> i64 {
        self.points.last().map_or(self.at, |p| p.t)
    }
}

/// Forecasts the property from its samples at or before `at`, `horizon_ms` ahead.
///
/// `times` must be sorted ascending (as a `Series` keeps them); `values` is parallel to it and
/// may contain NaN, which is skipped. Returns `None` when fewer than `params.min_samples` finite
/// samples lie in the trailing window, when the window spans no time, or on a non-positive
/// horizon. A constant series gives a flat forecast with a zero-width band and no RUL.
#[must_use]
pub fn predict(
    times: &[i64],
    values: &[f64],
    at: i64,
    horizon_ms: i64,
    limit: Option<Threshold>,
    params: &ForecastParams,
) -> Option<Prediction> {
    if horizon_ms <= 0 || times.len() != values.len() {
        return None;
    }
    let (wt, wv) = window(times, values, at, params);
    if wt.len() < params.min_samples.max(3) {
        return None;
    }
    let trend = theil_sen(&wt, &wv, at, params.max_pairs, params.level)?;
    let steps = params.steps.max(1);
    let points = (0..=steps)
        .map(|k| {
            let t = at.saturating_add(
                (i128::from(horizon_ms) * k as i128 / steps as i128).clamp(0, i64::MAX as i128)
                    as i64,
            );
            let (mean, lo, hi) = trend.band_at(t);
            ForecastPoint { t, mean, lo, hi }
        })
        .collect();
    let rul = limit.and_then(|l| time_to_threshold(&trend, wv.last().copied(), at, l));
    Some(Prediction {
        at,
        points,
        method: Method::TheilSen,
        trend,
        rul,
    })
}

/// The finite samples of the trailing window at `at`, oldest first.
fn window(times: &[i64], values: &[f64], at: i64, params: &ForecastParams) -> (Vec<i64>, Vec<f64>) {
    let end = times.partition_point(|&t| t <= at);
    let start = params.window_ms.map_or(0, |w| {
        times[..end].partition_point(|&t| t <= at.saturating_sub(w))
    });
    let cap = params.max_samples.max(1);
    let mut wt = Vec::with_capacity(cap.min(end - start));
    let mut wv = Vec::with_capacity(cap.min(end - start));
    // Walk backwards so NaN gaps do not eat into the sample budget.
    for i in (start..end).rev() {
        if wt.len() == cap {
            break;
        }
        if values[i].is_finite() {
            wt.push(times[i]);
            wv.push(values[i]);
        }
    }
    wt.reverse();
    wv.reverse();
    (wt, wv)
}

/// Theil–Sen fit of finite `(times, values)` (sorted by time), with x measured from `t_ref`.
///
/// Looks at all pairs with distinct times when there are at most `max_pairs`, else at
/// `max_pairs` pairs drawn with a fixed seed. `level` sets both Sen's slope interval and the
/// residual quantiles. Returns `None` for fewer than 3 finite samples or no time spread.
#[must_use]
pub fn theil_sen(
    times: &[i64],
    values: &[f64],
    t_ref: i64,
    max_pairs: usize,
    level: f64,
) -> Option<Trend> {
    let (xs, ys): (Vec<f64>, Vec<f64>) = times
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .map(|(&t, &v)| ((t - t_ref) as f64, v))
        .unzip();
    let n = xs.len();
    if n < 3 {
        return None;
    }
    let level = if level.is_finite() {
        level.clamp(0.5, 0.999)
    } else {
        0.95
    };
    let total = n * (n - 1) / 2;
    let mut slopes = Vec::with_capacity(total.min(max_pairs.max(1)));
    let pair = |i: usize, j: usize| (xs[j] != xs[i]).then(|| (ys[j] - ys[i]) / (xs[j] - xs[i]));
    if total <= max_pairs.max(1) {
        for i in 0..n {
            for j in i + 1..n {
                slopes.extend(pair(i, j));
            }
        }
    } else {
        let mut rng = fastrand::Rng::with_seed(PAIR_SEED);
        for _ in 0..max_pairs.max(1) {
            let i = rng.usize(..n);
            let j = rng.usize(..n);
            slopes.extend(pair(i.min(j), i.max(j)));
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let slope = median(&mut slopes)?;
    // Sen (1968): the slope interval is bounded by the order statistics of the pairwise slopes
    // at (N ∓ z·sqrt(Var S)) / 2, with Var S = n(n-1)(2n+5)/18 from Kendall's S; as a fraction of
    // N it carries over to a sample of the pairs.
    let z = normal_quantile(0.5 + level / 2.0);
    let nf = n as f64;
    let c = z * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let nt = total as f64;
    let q_lo = ((nt - c) / 2.0 / nt).clamp(0.0, 1.0);
    let q_hi = ((nt + c) / 2.0 / nt).clamp(0.0, 1.0);
    let slope_lo = quantile(&mut slopes, q_lo)?.min(slope);
    let slope_hi = quantile(&mut slopes, q_hi)?.max(slope);

    let mut offsets: Vec<f64> = xs.iter().zip(&ys).map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut offsets)?;
    let mut resid: Vec<f64> = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| y - intercept - slope * x)
        .collect();
    let resid_lo = quantile(&mut resid, (1.0 - level) / 2.0)?.min(0.0);
    let resid_hi = quantile(&mut resid, (1.0 + level) / 2.0)?.max(0.0);
    let mut xs_sorted = xs;
    let x_pivot = median(&mut xs_sorted)?;
    Some(Trend {
        t_ref,
        slope,
        intercept,
        slope_lo,
        slope_hi,
        x_pivot,
        resid_lo,
        resid_hi,
        n,
    })
}

/// When the trend reaches `limit`, seen from `at`, given the latest finite sample `last`.
///
/// `None` (no estimate) when Sen's slope interval includes zero or lies on the safe side: a flat,
/// receding or statistically indistinguishable-from-flat trend says nothing about when the limit
/// will be hit. A crossing too far out to be an epoch-ms time is also `None`.
#[must_use]
pub fn time_to_threshold(
    trend: &Trend,
    last: Option<f64>,
    at: i64,
    limit: Threshold,
) -> Option<Rul> {
    if !limit.value.is_finite() {
        return None;
    }
    if let Some(v) = last
        && limit.is_beyond(v)
    {
        return Some(Rul::AlreadyBeyond);
    }
    // Work in "rising" space: multiplying by the sign turns a falling limit into a rising one,
    // and swaps which slope bound is the pessimistic one.
    let s = limit.sign();
    let (slope, fast, slow, r_fast, r_slow) = if s > 0.0 {
        (
            trend.slope,
            trend.slope_hi,
            trend.slope_lo,
            trend.resid_hi,
            trend.resid_lo,
        )
    } else {
        (
            -trend.slope,
            -trend.slope_lo,
            -trend.slope_hi,
            -trend.resid_lo,
            -trend.resid_hi,
        )
    };
    if slow <= 0.0 || slope <= 0.0 {
        return None;
    }
    let l = s * limit.value;
    let x_at = (at - trend.t_ref) as f64;
    let pivot = s * (trend.intercept + trend.slope * trend.x_pivot);
    let x_exp = ((l - s * trend.intercept) / slope).max(x_at);
    let x_early = (trend.x_pivot + (l - r_fast - pivot) / fast).clamp(x_at, x_exp);
    let x_late = (trend.x_pivot + (l - r_slow - pivot) / slow).max(x_exp);
    let to_t = |x: f64| {
        let t = trend.t_ref as f64 + x;
        (t.is_finite() && t.abs() < 9.0e15).then(|| t.round() as i64)
    };
    Some(Rul::Crossing {
        expected: to_t(x_exp)?,
        earliest: to_t(x_early)?,
        latest: to_t(x_late)?,
    })
}

/// How a forecast compared with what actually happened after it was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backtest {
    /// Actual finite samples in `(at, end]` of the forecast.
    pub overlap: usize,
    /// Mean absolute error of the central forecast over those samples; `None` without overlap.
    pub mae: Option<f64>,
    /// Fraction of those samples inside the band; `None` without overlap.
    pub coverage: Option<f64>,
    /// Predicted crossing time (`Rul::Crossing::expected`), if the forecast had one.
    pub predicted_crossing: Option<i64>,
    /// First actual sample after `at` beyond the limit (any time, not only within the horizon).
    pub actual_crossing: Option<i64>,
}

impl Backtest {
    /// `actual - predicted` crossing time in ms when both exist: positive means it came later
    /// than predicted.
    #[must_use]
    pub fn crossing_error_ms(&self) -> Option<i64> {
        Some(self.actual_crossing? - self.predicted_crossing?)
    }
}

/// Scores `prediction` against the actual samples (`times` ascending, parallel `values`).
///
/// Only samples after `prediction.at` count; the central forecast is evaluated at each sample's
/// own time, so irregular sampling needs no resampling.
#[must_use]
pub fn backtest(
    prediction: &Prediction,
    times: &[i64],
    values: &[f64],
    limit: Option<Threshold>,
) -> Backtest {
    let n = times.len().min(values.len());
    let start = times[..n].partition_point(|&t| t <= prediction.at);
    let end = prediction.end();
    let (mut overlap, mut abs_sum, mut inside) = (0usize, 0.0, 0usize);
    let mut actual_crossing = None;
    for i in start..n {
        let (t, v) = (times[i], values[i]);
        if !v.is_finite() {
            continue;
        }
        if actual_crossing.is_none() && limit.is_some_and(|l| l.is_beyond(v)) {
            actual_crossing = Some(t);
        }
        if t <= end {
            let (mean, lo, hi) = prediction.trend.band_at(t);
            overlap += 1;
            abs_sum += (v - mean).abs();
            inside += usize::from(lo <= v && v <= hi);
        } else if actual_crossing.is_some() || limit.is_none() {
            break;
        }
    }
    let predicted_crossing = match prediction.rul {
        Some(Rul::Crossing { expected, .. }) => Some(expected),
        _ => None,
    };
    Backtest {
        overlap,
        mae: (overlap > 0).then(|| abs_sum / overlap as f64),
        coverage: (overlap > 0).then(|| inside as f64 / overlap as f64),
        predicted_crossing,
        actual_crossing,
    }
}

/// Median of finite `v` (reorders it); `None` when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, cmp_f64);
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lo + hi) / 2.0)
}

/// Quantile `q` in [0, 1] of `v` by linear interpolation between order statistics (reorders it).
fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let k = pos.floor() as usize;
    let frac = pos - k as f64;
    let (_, &mut a, rest) = v.select_nth_unstable_by(k, cmp_f64);
    if frac == 0.0 || rest.is_empty() {
        return Some(a);
    }
    let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
    Some(a + (b - a) * frac)
}

fn cmp_f64(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}

/// Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testkit::T0;

    /// `n` samples about 1 s apart (jittered ±300 ms), value `20 + slope_per_s·t_s + season +
    /// noise` with noise uniform in ±`amp` (the testkit's series, based at 20).
    fn series(
        n: usize,
        slope_per_s: f64,
        amp: f64,
        season: Option<(f64, f64)>,
        seed: u64,
    ) -> (Vec<i64>, Vec<f64>) {
        crate::testkit::workload::NoisySeries {
            n,
            start: T0,
            base: 20.0,
            slope_per_s,
            noise: amp,
            season,
        }
        .generate(seed)
    }

    fn rising_crossing(p: &Prediction) -> (i64, i64, i64) {
        match p.rul {
            Some(Rul::Crossing {
                expected,
                earliest,
                latest,
            }) => (expected, earliest, latest),
            other => panic!("expected a crossing, got {other:?}"),
        }
    }

    #[test]
    fn recovers_slope_within_5_percent() {
        // 500 s of data, slope 0.01/s, noise ±0.5: slope sd ≈ 1e-4/s, so 5 % is ~5σ.
        for seed in 0..5 {
            let (t, v) = series(500, 0.01, 0.5, None, seed);
            let p = predict(
                &t,
                &v,
                *t.last().unwrap_or(&0),
                60_000,
                None,
                &ForecastParams::default(),
            )
            .unwrap_or_else(|| panic!("no prediction for seed {seed}"));
            assert_eq!(p.method, Method::TheilSen);
            assert!(
                (p.slope_per_s() - 0.01).abs() < 0.0005,
                "seed {seed}: {}",
                p.slope_per_s()
            );
            assert!(
                p.trend.slope_lo * 1000.0 <= 0.01 && 0.01 <= p.trend.slope_hi * 1000.0,
                "seed {seed}: {:?}",
                p.trend
            );
            // Band at the cursor: about ±0.95·amp (width 0.95), plus the slope spread.
            let first = p.points[0];
            assert!(first.lo < first.mean && first.mean < first.hi);
            assert!(
                (first.hi - first.lo) > 0.9 && (first.hi - first.lo) < 1.3,
                "{first:?}"
            );
            // Band widens with the horizon.
            let last = p.points[p.points.len() - 1];
            assert!(last.hi - last.lo > first.hi - first.lo);
            assert_eq!(p.points.len(), 17);
            assert_eq!(last.t - first.t, 60_000);
        }
    }

    #[test]
    fn negative_slope_and_subsampled_pairs() {
        // 5,000 samples with no caps: 12.5 M pairs, so the 20k-pair sample path runs.
        let (t, v) = series(5_000, -0.002, 0.5, None, 11);
        let params = ForecastParams {
            max_samples: usize::MAX,
            ..ForecastParams::default()
        };
        let p = predict(&t, &v, T0 + 10_000_000, 1_000, None, &params)
            .unwrap_or_else(|| panic!("none"));
        assert!(
            (p.slope_per_s() + 0.002).abs() < 0.0001,
            "{}",
            p.slope_per_s()
        );
        assert_eq!(p.trend.n, 5_000);
    }

    #[test]
    fn crossing_time_within_tolerance_of_analytic() {
        // Cursor at 500 s, value ≈ 25 there; the limit 28 is reached at 800 s analytically.
        for seed in 0..5 {
            let (t, v) = series(1_000, 0.01, 0.5, None, seed);
            let at = T0 + 500_000;
            let analytic = T0 + 800_000;
            let forecast = |v: &[f64], limit| {
                predict(&t, v, at, 600_000, Some(limit), &ForecastParams::default())
                    .unwrap_or_else(|| panic!("none"))
            };
            let p = forecast(&v, Threshold::above(28.0));
            let (expected, earliest, latest) = rising_crossing(&p);
            assert!(
                (expected - analytic).abs() < 20_000,
                "seed {seed}: off by {} ms",
                expected - analytic
            );
            assert!(
                earliest <= analytic && analytic <= latest,
                "seed {seed}: {earliest}..{latest}"
            );
            assert!(earliest >= at && earliest < expected && expected < latest);
            // The band is not absurdly wide: within ±25 % of the 300 s to go.
            assert!(
                expected - earliest < 75_000 && latest - expected < 75_000,
                "{earliest}..{latest}"
            );

            // The falling mirror: the same series negated against a limit of -28.
            let neg: Vec<f64> = v.iter().map(|x| -x).collect();
            let q = forecast(&neg, Threshold::below(-28.0));
            assert_eq!(rising_crossing(&q), (expected, earliest, latest));
        }
    }

    #[test]
    fn no_estimate_when_flat_or_receding_and_distinct_when_beyond() {
        let (t, v) = series(600, 0.01, 0.5, None, 5);
        let at = *t.last().unwrap_or(&0);
        let params = ForecastParams::default();
        // Moving away from a low limit.
        let p = predict(&t, &v, at, 60_000, Some(Threshold::below(0.0)), &params);
        assert_eq!(p.map(|p| p.rul), Some(None));
        // Already above: latest value ≈ 26.
        let p = predict(&t, &v, at, 60_000, Some(Threshold::above(22.0)), &params);
        assert_eq!(p.map(|p| p.rul), Some(Some(Rul::AlreadyBeyond)));
        // Flat noise: the slope interval contains zero.
        let (t, v) = series(600, 0.0, 0.5, None, 5);
        let p = predict(&t, &v, at, 60_000, Some(Threshold::above(30.0)), &params);
        assert_eq!(p.map(|p| p.rul), Some(None));
    }

    #[test]
    fn seasonal_series_slope_and_band_coverage() {
        // Sine of amplitude 2 and period 120 s on a 0.005/s trend; the window (512 samples)
        // holds ~4 periods, so the line should still find the trend, and the band should carry
        // the swing: ≥ 85 % of the next 120 s inside it.
        let (t, v) = series(2_000, 0.005, 0.3, Some((2.0, 120.0)), 9);
        let at = T0 + 1_000_000;
        let p = predict(&t, &v, at, 120_000, None, &ForecastParams::default())
            .unwrap_or_else(|| panic!("none"));
        assert!(
            (p.slope_per_s() - 0.005).abs() < 0.001,
            "{}",
            p.slope_per_s()
        );
        let b = backtest(&p, &t, &v, None);
        assert!(b.overlap >= 110, "{b:?}");
        assert!(b.coverage.unwrap_or(0.0) >= 0.85, "{b:?}");
        // MAE about the mean |sine| = 2·2/π ≈ 1.27.
        assert!((b.mae.unwrap_or(0.0) - 1.27).abs() < 0.3, "{b:?}");
    }

    #[test]
    fn degenerate_inputs_give_none() {
        let params = ForecastParams::default();
        let lim = Some(Threshold::above(100.0));
        assert!(predict(&[], &[], T0, 1000, lim, &params).is_none());
        assert!(predict(&[T0], &[1.0], T0, 1000, lim, &params).is_none());
        assert!(predict(&[T0, T0 + 1], &[1.0, 2.0], T0 + 1, 1000, lim, &params).is_none());
        let t: Vec<i64> = (0..50).map(|i| T0 + i * 1000).collect();
        assert!(predict(&t, &[f64::NAN; 50], T0 + 60_000, 1000, lim, &params).is_none());
        // All samples at the same instant: no time spread, no slope.
        assert!(
            predict(
                &[T0; 10],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                T0,
                1000,
                lim,
                &params
            )
            .is_none()
        );
        // Mismatched columns and non-positive horizons.
        assert!(predict(&t, &[1.0; 3], T0 + 60_000, 1000, lim, &params).is_none());
        assert!(predict(&t, &[1.0; 50], T0 + 60_000, 0, lim, &params).is_none());
        // Cursor before the data.
        assert!(predict(&t, &[1.0; 50], T0 - 1, 1000, lim, &params).is_none());
        // Constant: a flat, zero-width forecast and no time to threshold either way.
        let p = predict(&t, &[5.0; 50], T0 + 60_000, 1000, lim, &params)
            .unwrap_or_else(|| panic!("none"));
        assert!(
            p.points
                .iter()
                .all(|x| x.mean == 5.0 && x.lo == 5.0 && x.hi == 5.0),
            "{:?}",
            p.points
        );
        assert_eq!(p.trend.slope, 0.0);
        assert_eq!(p.rul, None);
        assert_eq!(
            predict(
                &t,
                &[5.0; 50],
                T0 + 60_000,
                1000,
                Some(Threshold::below(0.0)),
                &params
            )
            .map(|p| p.rul),
            Some(None)
        );
    }

    #[test]
    fn nan_mixed_in_is_skipped() {
        let (t, v) = series(400, 0.01, 0.5, None, 2);
        let at = *t.last().unwrap_or(&0);
        // Only finite samples count toward max_samples, so the clean and holed windows match.
        let params = ForecastParams {
            max_samples: usize::MAX,
            ..ForecastParams::default()
        };
        let mut holed_t = Vec::new();
        let mut holed_v = Vec::new();
        for (i, (&ti, &vi)) in t.iter().zip(&v).enumerate() {
            holed_t.push(ti);
            holed_v.push(vi);
            if i % 7 == 0 {
                holed_t.push(ti);
                holed_v.push(f64::NAN);
            }
        }
        let limit = Some(Threshold::above(40.0));
        let a = predict(&t, &v, at, 60_000, limit, &params);
        let b = predict(&holed_t, &holed_v, at, 60_000, limit, &params);
        assert!(a.is_some());
        assert_eq!(a, b);
    }

    #[test]
    fn data_after_cursor_does_not_change_the_result() {
        let (t, v) = series(3_000, 0.01, 0.5, None, 4);
        let at = T0 + 1_234_567;
        let cut = t.partition_point(|&x| x <= at);
        let lim = Some(Threshold::above(40.0));
        for params in [
            ForecastParams::default(),
            ForecastParams {
                max_samples: usize::MAX,
                window_ms: Some(600_000),
                ..ForecastParams::default()
            },
        ] {
            let full = predict(&t, &v, at, 300_000, lim, &params);
            let past = predict(&t[..cut], &v[..cut], at, 300_000, lim, &params);
            let mut wild = v.clone();
            for x in &mut wild[cut..] {
                *x = 1e9;
            }
            let tampered = predict(&t, &wild, at, 300_000, lim, &params);
            assert!(full.is_some());
            assert_eq!(full, past);
            assert_eq!(full, tampered);
        }
    }

    #[test]
    fn window_bounds_the_fit() {
        // Slope 0.01/s for 1,000 s, then 0.05/s: a 200 s window sees only the new slope.
        let (t, mut v) = series(2_000, 0.01, 0.2, None, 8);
        for (x, &ti) in v.iter_mut().zip(&t).skip(1_000) {
            *x += 0.04 * ((ti - T0) as f64 / 1000.0 - 1_000.0);
        }
        let at = T0 + 1_900_000;
        let params = ForecastParams {
            window_ms: Some(200_000),
            ..ForecastParams::default()
        };
        let p = predict(&t, &v, at, 1_000, None, &params).unwrap_or_else(|| panic!("none"));
        assert!(
            (p.slope_per_s() - 0.05).abs() < 0.002,
            "{}",
            p.slope_per_s()
        );
        assert!(p.trend.n <= 201 && p.trend.n >= 199, "{}", p.trend.n);
    }

    #[test]
    fn backtest_hand_example() {
        // Line 0 + 1/s through (0, 0)..(4 s, 4), exact, so the forecast is value = t_s.
        let t: Vec<i64> = (0..5).map(|i| i * 1000).collect();
        let v: Vec<f64> = (0..5).map(f64::from).collect();
        let params = ForecastParams {
            steps: 4,
            ..ForecastParams::default()
        };
        let p = predict(&t, &v, 4_000, 4_000, Some(Threshold::above(6.5)), &params)
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(p.slope_per_s(), 1.0);
        assert_eq!(
            p.points.iter().map(|x| x.t).collect::<Vec<_>>(),
            vec![4_000, 5_000, 6_000, 7_000, 8_000]
        );
        assert_eq!(
            p.rul,
            Some(Rul::Crossing {
                expected: 6_500,
                earliest: 6_500,
                latest: 6_500
            })
        );
        // Actuals after 4 s: predictions 5, 6, 8 at 5, 6, 8 s (7 s is NaN); errors 1, 0, 1.
        // The 9 s sample is past the horizon and only counts for the crossing.
        let at_t = [0, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000];
        let at_v = [0.0, 4.0, 6.0, 6.0, f64::NAN, 7.0, 7.0];
        let at_t2 = [0, 4_000, 5_000, 6_000, 6_500, 7_000, 8_000, 9_000];
        let at_v2 = [0.0, 4.0, 6.0, 6.0, f64::NAN, 9.0, 7.0, 7.0];
        let b = backtest(&p, &at_t, &at_v, Some(Threshold::above(6.5)));
        assert_eq!(b.overlap, 3);
        assert_eq!(b.mae, Some((1.0 + 0.0 + 1.0) / 3.0));
        assert_eq!(b.predicted_crossing, Some(6_500));
        assert_eq!(b.actual_crossing, Some(8_000));
        assert_eq!(b.crossing_error_ms(), Some(1_500));
        // Second run: 9 at 7 s (predicted 7) adds an error of 2 and is the first crossing.
        let b = backtest(&p, &at_t2, &at_v2, Some(Threshold::above(6.5)));
        assert_eq!(b.overlap, 4);
        assert_eq!(b.mae, Some((1.0 + 0.0 + 2.0 + 1.0) / 4.0));
        assert_eq!(b.actual_crossing, Some(7_000));
        assert_eq!(b.crossing_error_ms(), Some(500));
        // No actuals after the cursor.
        let b = backtest(&p, &t, &v, None);
        assert_eq!((b.overlap, b.mae, b.actual_crossing), (0, None, None));
    }

    #[test]
    fn normal_quantile_matches_tables() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.005) + 2.575_829).abs() < 1e-6);
    }
}

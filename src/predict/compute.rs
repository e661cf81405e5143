//! What the worker computes for one series at a cursor: the forecast, the soonest time to
//! threshold over its limits, the anomalies of the recent window and, when the actuals after
//! the cursor were copied, a backtest. Pure functions, so the CLI and tests compute exactly
//! what the thread does on their own thread.

use crate::twin::Store;
use crate::twin::anomaly::{EwmaParams, ewma_anomalies};
use crate::twin::forecast::{
    Backtest, ForecastParams, Prediction, Rul, Threshold, backtest, predict, time_to_threshold,
};

use super::inputs::{SeriesInput, series_input};
use super::{BACKTEST_HORIZON_MS, FIT_WINDOW_MS, MAX_FIT_SAMPLES};

/// The outcome for one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesOutcome {
    pub prediction: Option<Prediction>,
    /// The soonest time to threshold over the limits, with its limit.
    pub rul: Option<(Threshold, Rul)>,
    /// Anomalous samples `[t, value]` from the count start on.
    pub anomalies: Vec<[f64; 2]>,
    /// Anomalous episodes among them: a run of consecutive anomalous samples (a level shift
    /// while the chart adapts, a machine stopping) counts once, so the tree's badge counts
    /// events an operator would look at, not samples.
    pub anomaly_events: usize,
    /// The backtest against the soonest limit (or without a limit).
    pub backtest: Option<Backtest>,
}

/// Forecast parameters for columns already cut to the fit window.
fn params() -> ForecastParams {
    ForecastParams {
        max_samples: MAX_FIT_SAMPLES,
        window_ms: Some(FIT_WINDOW_MS),
        ..ForecastParams::default()
    }
}

/// Forecast, time to threshold, anomalies and backtest of one series at `at`.
#[must_use]
pub fn compute(input: &SeriesInput, at: i64) -> SeriesOutcome {
    let mut out = SeriesOutcome::default();
    if let Some((t, v)) = &input.fit {
        let first = input.limits.first().copied();
        out.prediction = predict(t, v, at, BACKTEST_HORIZON_MS, first, &params());
        if let Some(p) = &out.prediction {
            let last = v.iter().rev().copied().find(|x| x.is_finite());
            out.rul = input
                .limits
                .iter()
                .filter_map(|&l| time_to_threshold(&p.trend, last, at, l).map(|r| (l, r)))
                .min_by_key(|(_, r)| match r {
                    Rul::AlreadyBeyond => i64::MIN,
                    Rul::Crossing { expected, .. } => *expected,
                });
            if let Some((at_t, at_v)) = &input.after {
                let mut scored = p.clone();
                scored.rul = out.rul.map(|(_, r)| r);
                let limit = out.rul.map(|(l, _)| l).or(first);
                out.backtest = Some(backtest(&scored, at_t, at_v, limit));
            }
        }
    }
    if let Some((t, v, from)) = &input.recent {
        let flagged: Vec<usize> = ewma_anomalies(v, &EwmaParams::default())
            .into_iter()
            .filter(|&i| t[i] >= *from)
            .collect();
        out.anomaly_events = flagged
            .iter()
            .enumerate()
            .filter(|&(k, &i)| k == 0 || flagged[k - 1] + 1 != i)
            .count();
        out.anomalies = flagged.iter().map(|&i| [t[i] as f64, v[i]]).collect();
    }
    out
}

/// The forecast of one property at `at`, computed on the calling thread the same way the
/// worker does (for tests and the CLI).
#[must_use]
pub fn forecast_at(
    store: &Store,
    asset: &str,
    prop: &str,
    at: i64,
    limits: &[Threshold],
) -> Option<SeriesOutcome> {
    let input = series_input(store, asset, prop, at, limits.to_vec(), None, false)?;
    Some(compute(&input, at))
}

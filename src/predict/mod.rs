//! Predictions off the UI thread: forecasts, time to threshold, backtests and anomaly counts,
//! computed on a named "predict" thread from columns the UI copies out of the store.
//!
//! The store belongs to the UI thread, so a job carries its own copy of the few samples it
//! needs: at most [`MAX_FIT_SAMPLES`] strided samples of the fit window per forecast, the plot
//! window for anomaly markers, the data after the cursor for a backtest. Copying is O(samples
//! copied), never O(history), and the fleet-wide job is assembled under a per-frame budget, so
//! no frame waits on a fit. Results are cached per (asset, property, cursor rounded, store,
//! store data generation); the UI keeps drawing the last result while a newer one is computed.
//!
//! Every input is taken at or before the job's `at` except the backtest's actuals, which only
//! score the forecast and never feed it: a forecast made at a past T is the one that could
//! have been made at T.
//!
//! One job per file:
//!
//! - `scheduler.rs`: [`PredictionCache`], the UI side: what a frame asks for, what is in
//!   flight, the cached answers, and [`round_at`], the cursor predictions are made at;
//! - `inputs.rs`: copying a series' samples out of the store into a [`SeriesInput`];
//! - `limits.rs`: the limits that apply to a property ([`limits_of`]);
//! - `worker.rs`: [`PredictWorker`], the "predict" thread and its channels, and the [`Job`]s
//!   it runs;
//! - `compute.rs`: what the worker computes for one series ([`SeriesOutcome`]);
//! - `fleet_risk.rs`: [`FleetRisk`], the fleet job's result as the "At risk" list and the
//!   tree's anomaly counts.
//!
//! Names, so they are not confused: a [`crate::twin::forecast::Prediction`] is one fitted
//! trend; a [`SeriesOutcome`] is everything computed for one series (that prediction, the
//! time to threshold, anomalies, a backtest); the [`PredictWorker`] computes outcomes on its
//! thread; the [`PredictionCache`] asks it for them and keeps them for the panels.

mod compute;
mod fleet_risk;
mod inputs;
mod limits;
mod scheduler;
mod worker;

pub use compute::{SeriesOutcome, compute, forecast_at};
pub use fleet_risk::{FleetRisk, RiskRow};
pub use inputs::{SeriesInput, fit_window, series_input};
pub use limits::limits_of;
pub use scheduler::{FocusWant, PredictionCache, round_at};
pub use worker::{Job, JobKind, JobResult, PredictWorker, PredictWorkerError, run};

/// Forecasts fit the hour before the cursor: long enough to span a few load cycles of a
/// machine, so a cycle's upswing is not mistaken for a trend.
pub const FIT_WINDOW_MS: i64 = 3_600_000;
/// The fit window is strided down to this many samples (a 1 Hz hour is 3,600), which keeps a
/// fit well under a millisecond.
pub const MAX_FIT_SAMPLES: usize = 720;
/// Backtests score the forecast over this long after the cursor.
pub const BACKTEST_HORIZON_MS: i64 = 30 * 60_000;
/// The tree's "anomalous" badge counts anomalies in this long before the cursor.
pub const ANOMALY_WINDOW_MS: i64 = 10 * 60_000;

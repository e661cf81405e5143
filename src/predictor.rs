//! Predictions off the UI thread (issue #7): forecasts, time to threshold, backtests and
//! anomaly counts, computed on a named "predict" thread from columns the UI copies out of the
//! store.
//!
//! The store belongs to the UI thread, so a job carries its own copy of the few samples it
//! needs: at most [`MAX_FIT_SAMPLES`] strided samples of the fit window per forecast, the plot
//! window for anomaly markers, the data after the cursor for a backtest. Copying is O(samples
//! copied), never O(history), and the fleet-wide job is assembled under a per-frame budget, so
//! no frame waits on a fit. Results are cached per (asset, property, cursor rounded, store data
//! generation); the UI keeps drawing the last result while a newer one is computed.
//!
//! Every input is taken at or before the job's `at` except the backtest's actuals, which only
//! score the forecast and never feed it: a forecast made at a past T is the one that could
//! have been made at T.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::twin::Store;
use crate::twin::anomaly::{EwmaParams, ewma_anomalies};
use crate::twin::forecast::{
    Backtest, ForecastParams, Prediction, Rul, Threshold, backtest, predict, time_to_threshold,
};
use crate::twin::series::Series;

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
/// Samples before an anomaly window that let the EWMA chart settle (it flags nothing in its
/// first 70 samples).
const ANOMALY_WARMUP: usize = 120;
/// Cap on the samples scanned for anomalies per series and job.
const MAX_ANOMALY_SAMPLES: usize = 20_000;
/// Time the UI thread may spend per frame copying inputs for the fleet job.
const FLEET_BUILD_BUDGET: Duration = Duration::from_millis(3);
/// A result for the same cursor is refreshed at most this often as new data arrives.
const FOCUS_REFRESH: Duration = Duration::from_secs(1);
const FLEET_REFRESH: Duration = Duration::from_secs(2);
/// Most cached series outcomes.
const CACHE_CAP: usize = 512;

/// Errors of the prediction worker.
#[derive(Debug, thiserror::Error)]
pub enum PredictorError {
    #[error("cannot start the prediction thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Which result a job feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// The plotted series and the selected asset: forecasts, markers, backtests.
    Focus,
    /// Every asset: time to threshold and anomaly counts.
    Fleet,
}

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

/// A unit of work for the thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub kind: JobKind,
    /// The cursor the forecasts are made at.
    pub at: i64,
    /// Store data generation the inputs were copied at.
    pub generation: u64,
    pub inputs: Vec<SeriesInput>,
}

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

/// What the thread sends back.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    pub kind: JobKind,
    pub at: i64,
    pub generation: u64,
    pub outcomes: Vec<(Arc<str>, Arc<str>, SeriesOutcome)>,
}

/// Handle to the "predict" thread. Dropping it stops and joins the thread.
pub struct Predictor {
    jobs: Option<Sender<Job>>,
    results: Receiver<JobResult>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Predictor {
    /// Starts the thread; `waker` is called after each result (the UI requests a repaint).
    ///
    /// # Errors
    /// When the OS cannot start a thread.
    pub fn spawn(waker: Arc<dyn Fn() + Send + Sync>) -> Result<Self, PredictorError> {
        // Two jobs at most: one per kind is the normal load; a full channel means the UI
        // simply tries again next frame with fresher inputs.
        let (job_tx, job_rx) = bounded::<Job>(2);
        let (res_tx, res_rx) = bounded::<JobResult>(4);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_w = stop.clone();
        let thread = std::thread::Builder::new()
            .name("predict".into())
            .spawn(move || {
                while let Ok(job) = job_rx.recv() {
                    if stop_w.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut result = run(&job);
                    loop {
                        match res_tx.send_timeout(result, Duration::from_millis(50)) {
                            Ok(()) => break,
                            Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                                if stop_w.load(Ordering::Relaxed) {
                                    return;
                                }
                                result = back;
                            }
                            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return,
                        }
                    }
                    waker();
                }
            })?;
        Ok(Self {
            jobs: Some(job_tx),
            results: res_rx,
            stop,
            thread: Some(thread),
        })
    }

    /// Queues a job; gives it back when the queue is full (try again later).
    ///
    /// # Errors
    /// The job itself, when it could not be queued.
    pub fn try_submit(&self, job: Job) -> Result<(), Box<Job>> {
        let Some(tx) = &self.jobs else {
            return Err(Box::new(job));
        };
        tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(j) | TrySendError::Disconnected(j) => Box::new(j),
        })
    }

    /// A finished result, if one is waiting.
    #[must_use]
    pub fn try_recv(&self) -> Option<JobResult> {
        self.results.try_recv().ok()
    }

    /// Waits up to `timeout` for a result (for tests and tools).
    #[must_use]
    pub fn recv_timeout(&self, timeout: Duration) -> Option<JobResult> {
        self.results.recv_timeout(timeout).ok()
    }
}

impl Drop for Predictor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Disconnecting the job channel ends the thread's `recv`.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs a job (what the thread does; public so tests can check it without the thread).
#[must_use]
pub fn run(job: &Job) -> JobResult {
    JobResult {
        kind: job.kind,
        at: job.at,
        generation: job.generation,
        outcomes: job
            .inputs
            .iter()
            .map(|i| (i.asset.clone(), i.prop.clone(), compute(i, job.at)))
            .collect(),
    }
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

/// The series' value at `i` as f64 (NaN for a non-number).
fn num(s: &Series, i: usize) -> f64 {
    s.num(i).unwrap_or(f64::NAN)
}

/// The fit window of `s` at `at`: samples in `(at - FIT_WINDOW_MS, at]`, strided from the last
/// one at or before `at` down to at most [`MAX_FIT_SAMPLES`]. Depends only on samples at or
/// before `at`.
#[must_use]
pub fn fit_window(s: &Series, at: i64) -> (Vec<i64>, Vec<f64>) {
    let times = s.times();
    let end = times.partition_point(|&t| t <= at);
    let start = times[..end].partition_point(|&t| t <= at.saturating_sub(FIT_WINDOW_MS));
    let n = end - start;
    let stride = n.div_ceil(MAX_FIT_SAMPLES).max(1);
    let mut t = Vec::with_capacity(n.min(MAX_FIT_SAMPLES));
    let mut v = Vec::with_capacity(n.min(MAX_FIT_SAMPLES));
    // Anchored at the newest sample at or before `at`, so later samples never shift the pick.
    let mut j = end;
    while j > start {
        let k = j - 1;
        t.push(times[k]);
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
fn recent(s: &Series, from: i64, at: i64) -> (Vec<i64>, Vec<f64>, i64) {
    let times = s.times();
    let end = times.partition_point(|&t| t <= at);
    let lo = times[..end].partition_point(|&t| t < from);
    let start = lo
        .saturating_sub(ANOMALY_WARMUP)
        .max(end.saturating_sub(MAX_ANOMALY_SAMPLES));
    (
        times[start..end].to_vec(),
        (start..end).map(|i| num(s, i)).collect(),
        from,
    )
}

/// Samples after `at` for a backtest: up to the horizon, or further until the first one beyond
/// `limit` (which is when the crossing happened).
fn after(s: &Series, at: i64, limit: Option<Threshold>) -> (Vec<i64>, Vec<f64>) {
    let times = s.times();
    let start = times.partition_point(|&t| t <= at);
    let horizon_end = times.partition_point(|&t| t <= at.saturating_add(BACKTEST_HORIZON_MS));
    let mut end = horizon_end;
    if let Some(l) = limit
        && !(start..horizon_end).any(|i| l.is_beyond(num(s, i)))
    {
        end = (horizon_end..times.len())
            .find(|&i| l.is_beyond(num(s, i)))
            .map_or(horizon_end, |i| i + 1);
    }
    (
        times[start..end].to_vec(),
        (start..end).map(|i| num(s, i)).collect(),
    )
}

/// The limits that apply to a property of an asset, from `[[limits]]` and threshold rules.
#[must_use]
pub fn limits_of(
    config: &crate::config::Config,
    limits: &[crate::config::LimitDef],
    store: &Store,
    asset: u32,
    prop: &str,
    at: i64,
) -> Vec<Threshold> {
    let Some(a) = store.asset(asset) else {
        return Vec::new();
    };
    let kind = a.def_at(at).flatten().and_then(|d| d.kind.as_deref());
    crate::config::thresholds_for(limits, &config.rules, &a.id, kind, prop)
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

/// One row of the fleet's "At risk" list.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskRow {
    pub asset: Arc<str>,
    pub prop: Arc<str>,
    pub limit: Threshold,
    pub rul: Rul,
}

/// The fleet-wide result: rows sorted soonest first, anomaly counts per asset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    pub at: i64,
    pub rows: Vec<RiskRow>,
    pub anomalies: HashMap<Arc<str>, usize>,
}

impl Fleet {
    fn from_result(r: &JobResult) -> Self {
        let mut rows = Vec::new();
        let mut anomalies: HashMap<Arc<str>, usize> = HashMap::new();
        for (asset, prop, o) in &r.outcomes {
            if let Some((limit, rul)) = o.rul {
                rows.push(RiskRow {
                    asset: asset.clone(),
                    prop: prop.clone(),
                    limit,
                    rul,
                });
            }
            if o.anomaly_events > 0 {
                *anomalies.entry(asset.clone()).or_default() += o.anomaly_events;
            }
        }
        rows.sort_by(|a, b| {
            rul_key(&a.rul)
                .cmp(&rul_key(&b.rul))
                .then_with(|| a.asset.cmp(&b.asset))
                .then_with(|| a.prop.cmp(&b.prop))
        });
        Self {
            at: r.at,
            rows,
            anomalies,
        }
    }
}

/// Sort key: beyond the limit first, then by expected crossing.
fn rul_key(r: &Rul) -> i64 {
    match r {
        Rul::AlreadyBeyond => i64::MIN,
        Rul::Crossing { expected, .. } => *expected,
    }
}

/// Cache key of a series outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    asset: Arc<str>,
    prop: Arc<str>,
    at: i64,
    generation: u64,
}

/// The fleet job being copied out of the store, a budget's worth per frame.
struct FleetBuild {
    at: i64,
    generation: u64,
    store_id: u64,
    next: usize,
    inputs: Vec<SeriesInput>,
}

/// What a frame wants predicted for its focus (plots and the selected asset).
#[derive(Debug, Clone, PartialEq)]
pub struct FocusWant {
    pub asset: String,
    pub prop: String,
    pub limits: Vec<Threshold>,
    /// Count anomalies from this time (the plot's left edge).
    pub anomalies_from: Option<i64>,
}

/// The UI side of prediction: the worker, the cache, and the requests in flight.
pub struct Predictions {
    worker: Option<Predictor>,
    /// Forecast overlays and panels on (key F).
    pub enabled: bool,
    cache: HashMap<SeriesKey, Arc<SeriesOutcome>>,
    latest: HashMap<(Arc<str>, Arc<str>), Arc<SeriesOutcome>>,
    focus_sent: Option<(i64, Instant)>,
    focus_in_flight: bool,
    fleet: Option<Arc<Fleet>>,
    fleet_key: Option<(i64, u64, u64)>,
    fleet_sent: Option<Instant>,
    fleet_in_flight: bool,
    fleet_build: Option<FleetBuild>,
    error: Option<String>,
}

impl Predictions {
    /// Starts the worker; without one (the OS refused a thread) predictions are off and
    /// [`Self::error`] says why.
    #[must_use]
    pub fn new(waker: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (worker, error) = match Predictor::spawn(waker) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Self {
            worker,
            enabled: true,
            cache: HashMap::new(),
            latest: HashMap::new(),
            focus_sent: None,
            focus_in_flight: false,
            fleet: None,
            fleet_key: None,
            fleet_sent: None,
            fleet_in_flight: false,
            fleet_build: None,
            error,
        }
    }

    /// Why predictions are unavailable, if they are.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Forgets everything (a new store after a reconnect).
    pub fn reset(&mut self) {
        self.cache.clear();
        self.latest.clear();
        self.fleet = None;
        self.fleet_key = None;
        self.fleet_build = None;
        self.focus_sent = None;
    }

    /// Applies finished results. Returns true if any arrived.
    pub fn drain(&mut self) -> bool {
        let Some(w) = &self.worker else {
            return false;
        };
        let mut any = false;
        while let Some(r) = w.try_recv() {
            any = true;
            match r.kind {
                JobKind::Focus => {
                    self.focus_in_flight = false;
                    for (asset, prop, o) in r.outcomes {
                        let o = Arc::new(o);
                        if self.cache.len() >= CACHE_CAP {
                            self.cache.clear();
                        }
                        self.cache.insert(
                            SeriesKey {
                                asset: asset.clone(),
                                prop: prop.clone(),
                                at: r.at,
                                generation: r.generation,
                            },
                            o.clone(),
                        );
                        self.latest.insert((asset, prop), o);
                    }
                }
                JobKind::Fleet => {
                    self.fleet_in_flight = false;
                    self.fleet = Some(Arc::new(Fleet::from_result(&r)));
                }
            }
        }
        any
    }

    /// The newest outcome for a series (exact for the cursor when it has arrived, else the
    /// previous one while the new one is computed).
    #[must_use]
    pub fn outcome(&self, asset: &str, prop: &str) -> Option<&SeriesOutcome> {
        self.latest
            .get(&(Arc::from(asset), Arc::from(prop)))
            .map(AsRef::as_ref)
    }

    /// The fleet result.
    #[must_use]
    pub fn fleet(&self) -> Option<&Fleet> {
        self.fleet.as_deref()
    }

    /// Whether results for the current inputs are still being computed.
    #[must_use]
    pub fn busy(&self) -> bool {
        self.focus_in_flight || self.fleet_in_flight || self.fleet_build.is_some()
    }

    /// Whether the fleet inputs are still being copied (the UI needs more frames for that).
    #[must_use]
    pub fn building(&self) -> bool {
        self.fleet_build.is_some()
    }

    /// Requests what this frame shows. `store_id` tells the main store from a re-read one.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        store: &Store,
        store_id: u64,
        at: i64,
        want: &[FocusWant],
        backtest: bool,
        config: &crate::config::Config,
        limits: &[crate::config::LimitDef],
    ) {
        if !self.enabled || self.worker.is_none() {
            return;
        }
        let generation = store.data_gen() ^ (store_id << 63);
        self.request_focus(store, at, generation, want, backtest);
        self.request_fleet(store, store_id, at, generation, config, limits);
    }

    fn request_focus(
        &mut self,
        store: &Store,
        at: i64,
        generation: u64,
        want: &[FocusWant],
        backtest: bool,
    ) {
        if self.focus_in_flight || want.is_empty() {
            return;
        }
        let missing: Vec<&FocusWant> = want
            .iter()
            .filter(|w| {
                !self.cache.contains_key(&SeriesKey {
                    asset: Arc::from(w.asset.as_str()),
                    prop: Arc::from(w.prop.as_str()),
                    at,
                    generation,
                })
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        // A new cursor is computed at once; new data at the same cursor at most once a second.
        if let Some((sent_at, when)) = self.focus_sent
            && sent_at == at
            && when.elapsed() < FOCUS_REFRESH
        {
            return;
        }
        let inputs: Vec<SeriesInput> = missing
            .iter()
            .filter_map(|w| {
                series_input(
                    store,
                    &w.asset,
                    &w.prop,
                    at,
                    w.limits.clone(),
                    w.anomalies_from,
                    backtest,
                )
            })
            .collect();
        if inputs.is_empty() {
            return;
        }
        let job = Job {
            kind: JobKind::Focus,
            at,
            generation,
            inputs,
        };
        if let Some(w) = &self.worker
            && w.try_submit(job).is_ok()
        {
            self.focus_in_flight = true;
            self.focus_sent = Some((at, Instant::now()));
        }
    }

    fn request_fleet(
        &mut self,
        store: &Store,
        store_id: u64,
        at: i64,
        generation: u64,
        config: &crate::config::Config,
        limits: &[crate::config::LimitDef],
    ) {
        if self.fleet_build.is_none() && !self.fleet_in_flight {
            let stale = match self.fleet_key {
                None => true,
                Some((k_at, k_gen, k_store)) => {
                    k_at != at
                        || k_store != store_id
                        || (k_gen != generation
                            && self.fleet_sent.is_none_or(|t| t.elapsed() >= FLEET_REFRESH))
                }
            };
            if stale {
                self.fleet_build = Some(FleetBuild {
                    at,
                    generation,
                    store_id,
                    next: 0,
                    inputs: Vec::new(),
                });
            }
        }
        let Some(b) = &mut self.fleet_build else {
            return;
        };
        // A moved cursor or another store restarts the copy; new data does not (it would
        // never finish while live on a large fleet).
        if b.at != at || b.store_id != store_id {
            *b = FleetBuild {
                at,
                generation,
                store_id,
                next: 0,
                inputs: Vec::new(),
            };
        }
        let start = Instant::now();
        let assets = store.assets();
        while b.next < assets.len() && start.elapsed() < FLEET_BUILD_BUDGET {
            let idx = b.next as u32;
            b.next += 1;
            let asset = &assets[idx as usize];
            if !store.exists_at(idx, at) {
                continue;
            }
            for (p, s) in asset.series() {
                if !s.is_numeric() || s.index_at(at).is_none() {
                    continue;
                }
                let Some(name) = store.prop_name(p) else {
                    continue;
                };
                let lim = limits_of(config, limits, store, idx, name, at);
                b.inputs.push(SeriesInput {
                    asset: asset.id.clone(),
                    prop: name.clone(),
                    fit: (!lim.is_empty()).then(|| fit_window(s, at)),
                    limits: lim,
                    recent: Some(recent(s, at.saturating_sub(ANOMALY_WINDOW_MS), at)),
                    after: None,
                });
            }
        }
        if b.next < assets.len() {
            return;
        }
        let Some(b) = self.fleet_build.take() else {
            return;
        };
        let key = (b.at, b.generation, b.store_id);
        let job = Job {
            kind: JobKind::Fleet,
            at: b.at,
            generation: b.generation,
            inputs: b.inputs,
        };
        match self.worker.as_ref().map(|w| w.try_submit(job)) {
            Some(Ok(())) => {
                self.fleet_in_flight = true;
                self.fleet_key = Some(key);
                self.fleet_sent = Some(Instant::now());
            }
            // The queue is full: keep the copied inputs and try again next frame.
            Some(Err(job)) => {
                self.fleet_build = Some(FleetBuild {
                    at: job.at,
                    generation: job.generation,
                    store_id: key.2,
                    next: usize::MAX,
                    inputs: job.inputs,
                });
            }
            None => {}
        }
    }
}

/// The cursor a prediction is made at: live forecasts start at the head rounded up to 5 s (so
/// they use all the data and are not redone for every new sample), a playing cursor is rounded
/// down to 1 s, a paused one is exact.
#[must_use]
pub fn round_at(at: i64, live: bool, playing: bool) -> i64 {
    if live {
        at.div_euclid(5_000)
            .saturating_add(i64::from(at.rem_euclid(5_000) != 0))
            * 5_000
    } else if playing {
        at.div_euclid(1_000) * 1_000
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::twin::decode::Value;

    fn series(n: i64, f: impl Fn(i64) -> f64) -> Series {
        let mut s = Series::default();
        for i in 0..n {
            s.insert(i * 1000, i as u64, i * 1000, Value::Num(f(i)));
        }
        s
    }

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
    fn rounding() {
        assert_eq!(round_at(12_001, true, false), 15_000);
        assert_eq!(round_at(15_000, true, false), 15_000);
        assert_eq!(round_at(12_999, false, true), 12_000);
        assert_eq!(round_at(12_999, false, false), 12_999);
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

    #[test]
    fn worker_answers_and_stops_on_drop() {
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w2 = woken.clone();
        let p = Predictor::spawn(Arc::new(move || {
            w2.fetch_add(1, Ordering::Relaxed);
        }))
        .unwrap();
        let s = series(600, |i| 2.0 + 0.01 * i as f64);
        let input = SeriesInput {
            asset: "a".into(),
            prop: "v".into(),
            fit: Some(fit_window(&s, 299_000)),
            limits: vec![Threshold::above(5.0)],
            recent: None,
            after: Some(after(&s, 299_000, Some(Threshold::above(5.0)))),
        };
        p.try_submit(Job {
            kind: JobKind::Focus,
            at: 299_000,
            generation: 1,
            inputs: vec![input],
        })
        .unwrap();
        let r = p.recv_timeout(Duration::from_secs(10)).unwrap();
        let o = &r.outcomes[0].2;
        // Exact line: 5.0 is reached at 300 s; the next sample beyond it is at 301 s.
        assert_eq!(
            o.rul,
            Some((
                Threshold::above(5.0),
                Rul::Crossing {
                    expected: 300_000,
                    earliest: 300_000,
                    latest: 300_000
                }
            ))
        );
        let b = o.backtest.unwrap();
        assert_eq!(b.actual_crossing, Some(301_000));
        assert!(b.mae.unwrap() < 1e-9);
        // The waker runs after the send; joining the thread (drop) makes it certain.
        drop(p);
        assert_eq!(woken.load(Ordering::Relaxed), 1);
    }
}

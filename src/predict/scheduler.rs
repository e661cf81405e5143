//! The UI side of prediction: each frame says what it shows, the cache answers from what the
//! worker already computed, and what is missing or stale is copied out of the store and sent
//! to the worker (the focus at once, the fleet a budget's worth of assets per frame). Also the
//! rule for the cursor predictions are made at, since that cursor is the cache key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::StoreId;
use crate::twin::Store;
use crate::twin::forecast::Threshold;

use super::ANOMALY_WINDOW_MS;
use super::compute::SeriesOutcome;
use super::fleet_risk::FleetRisk;
use super::inputs::{SeriesInput, fit_window, recent, series_input};
use super::limits::limits_of;
use super::worker::{Job, JobKind, PredictWorker};

/// Time the UI thread may spend per frame copying inputs for the fleet job.
const FLEET_BUILD_BUDGET: Duration = Duration::from_millis(3);
/// A result for the same cursor is refreshed at most this often as new data arrives.
const FOCUS_REFRESH: Duration = Duration::from_secs(1);
/// A fleet result for the same cursor is refreshed at most this often as new data arrives.
const FLEET_REFRESH: Duration = Duration::from_secs(2);
/// Most cached series outcomes.
const CACHE_CAP: usize = 512;

/// Cache key of a series outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    asset: Arc<str>,
    prop: Arc<str>,
    at: i64,
    /// The store the inputs were copied from and its data generation: generations restart
    /// with every store, so the id keeps one store's results from being served for another.
    store: StoreId,
    generation: u64,
}

/// The fleet job being copied out of the store, a budget's worth per frame.
struct FleetBuild {
    at: i64,
    generation: u64,
    store_id: StoreId,
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

/// The UI side of prediction: the worker, the cache, and the requests in flight. Each frame
/// asks for what it shows ([`Self::request`]); what is not cached is copied out of the store
/// and sent to the [`PredictWorker`], and the panels read the newest answers.
pub struct PredictionCache {
    worker: Option<PredictWorker>,
    /// Forecast overlays and panels on (key F).
    pub enabled: bool,
    cache: HashMap<SeriesKey, Arc<SeriesOutcome>>,
    latest: HashMap<(Arc<str>, Arc<str>), Arc<SeriesOutcome>>,
    focus_sent: Option<(i64, Instant)>,
    /// The store the focus job in flight was copied from (its results are cached under it).
    focus_in_flight: Option<StoreId>,
    fleet: Option<Arc<FleetRisk>>,
    /// Cursor, data generation and store of the last fleet job sent.
    fleet_key: Option<(i64, u64, StoreId)>,
    fleet_sent: Option<Instant>,
    fleet_in_flight: bool,
    fleet_build: Option<FleetBuild>,
    error: Option<String>,
}

impl PredictionCache {
    /// Starts the worker; without one (the OS refused a thread) predictions are off and
    /// [`Self::error`] says why.
    #[must_use]
    pub fn new(waker: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (worker, error) = match PredictWorker::spawn(waker) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Self {
            worker,
            enabled: true,
            cache: HashMap::new(),
            latest: HashMap::new(),
            focus_sent: None,
            focus_in_flight: None,
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
                    let store = self.focus_in_flight.take();
                    for (asset, prop, o) in r.outcomes {
                        let o = Arc::new(o);
                        if self.cache.len() >= CACHE_CAP {
                            self.cache.clear();
                        }
                        if let Some(store) = store {
                            self.cache.insert(
                                SeriesKey {
                                    asset: asset.clone(),
                                    prop: prop.clone(),
                                    at: r.at,
                                    store,
                                    generation: r.generation,
                                },
                                o.clone(),
                            );
                        }
                        self.latest.insert((asset, prop), o);
                    }
                }
                JobKind::Fleet => {
                    self.fleet_in_flight = false;
                    let risk = match r.fleet {
                        Some(f) => f,
                        None => FleetRisk::from_result(&r),
                    };
                    self.fleet = Some(Arc::new(risk));
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
    pub fn fleet(&self) -> Option<&FleetRisk> {
        self.fleet.as_deref()
    }

    /// Whether results for the current inputs are still being computed.
    #[must_use]
    pub fn busy(&self) -> bool {
        self.focus_in_flight.is_some() || self.fleet_in_flight || self.fleet_build.is_some()
    }

    /// Whether the fleet inputs are still being copied (the UI needs more frames for that).
    #[must_use]
    pub fn building(&self) -> bool {
        self.fleet_build.is_some()
    }

    /// Requests what this frame shows, from `store`, which `store_id` names: results are
    /// cached per store, so the live store's are never shown for a re-read's or the reverse.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        store: &Store,
        store_id: StoreId,
        at: i64,
        want: &[FocusWant],
        backtest: bool,
        config: &crate::config::Config,
        limits: &[crate::config::LimitDef],
    ) {
        if !self.enabled || self.worker.is_none() {
            return;
        }
        let generation = store.data_gen();
        self.request_focus(store, store_id, at, generation, want, backtest);
        self.request_fleet(store, store_id, at, generation, config, limits);
    }

    fn request_focus(
        &mut self,
        store: &Store,
        store_id: StoreId,
        at: i64,
        generation: u64,
        want: &[FocusWant],
        backtest: bool,
    ) {
        if self.focus_in_flight.is_some() || want.is_empty() {
            return;
        }
        let missing: Vec<&FocusWant> = want
            .iter()
            .filter(|w| {
                !self.cache.contains_key(&SeriesKey {
                    asset: Arc::from(w.asset.as_str()),
                    prop: Arc::from(w.prop.as_str()),
                    at,
                    store: store_id,
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
            self.focus_in_flight = Some(store_id);
            self.focus_sent = Some((at, Instant::now()));
        }
    }

    fn request_fleet(
        &mut self,
        store: &Store,
        store_id: StoreId,
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
        // never finish while live on a large fleet). The copy abandoned is freed on the
        // thread (see `PredictWorker::retire`).
        if b.at != at || b.store_id != store_id {
            let old = std::mem::replace(
                b,
                FleetBuild {
                    at,
                    generation,
                    store_id,
                    next: 0,
                    inputs: Vec::new(),
                },
            );
            if let Some(w) = &self.worker {
                w.retire(old.inputs);
            }
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

/// The cursor a prediction is made at, which is also part of its cache key: how finely the
/// cursor is rounded decides how often the worker refits.
///
/// - Live, the head moves with every record: forecasts start at the head rounded *up* to 5 s,
///   so they still use all the data but are refit once per 5 s rather than per sample.
/// - Playing, the cursor moves every frame: it is rounded *down* to 1 s, so playback asks for
///   one fit a second and never uses data after the cursor.
/// - Paused, the cursor is exact: a forecast made at a past T must be the one that could have
///   been made at T (the module's promise), so it is not moved at all.
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
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(round_at(12_001, true, false), 15_000);
        assert_eq!(round_at(15_000, true, false), 15_000);
        assert_eq!(round_at(12_999, false, true), 12_000);
        assert_eq!(round_at(12_999, false, false), 12_999);
    }
}

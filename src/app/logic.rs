//! The app's logic: everything a frame does that is not drawing. It takes what the live apply
//! thread passed on (status, progress, notices), drains the re-read of evicted history and
//! finished predictions, ticks the timeline, starts re-reads, and asks for the predictions the
//! panels will show. eframe runs it before every
//! layout and also, on its own, while the window is hidden, so nothing here may draw.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::headless::spec_for;
use crate::kafka::ingest::{Ingest, IngestEvent, Progress, StartAt};
use crate::predict::{FocusWant, limits_of, round_at};
use crate::timeline::{PlayState, now_ms};
use crate::twin::Store;
use crate::twin::decode::Role;
use crate::twin::forecast::Threshold;
use crate::twin::store::Fork;

use super::TwinApp;
use super::commands::Toast;
use super::live_apply::{Applied, LiveApply};
use super::stores::{Reread, StoreKind};

/// How long one frame may spend applying the re-read's batches (the live ones are applied by
/// their own thread), so the UI stays fluid while evicted history is read again.
const DRAIN_BUDGET: Duration = Duration::from_millis(8);
/// How far past the cursor a re-read reaches, so scrubbing forward does not start another.
const REREAD_AHEAD_MS: i64 = 10 * 60_000;

/// The times and the store this frame works with, fixed by the logic so that the layout and
/// the commands after it see exactly what the logic saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameClock {
    /// Wall clock.
    pub now: i64,
    /// Newest time shown when live (see `TwinApp::head`).
    pub head: i64,
    /// Oldest time the timeline reaches (see `TwinApp::earliest`).
    pub earliest: i64,
    /// The timeline's cursor.
    pub cursor: i64,
    /// Whether the timeline was live.
    pub live: bool,
    /// Whether the finished re-read answers for the cursor instead of the live store.
    pub use_reread: bool,
    /// Re-read batches were left waiting after this frame's budget.
    pub reread_more: bool,
}

impl FrameClock {
    /// The time the panels show: the cursor, or when live the newest data (never before the
    /// cursor).
    #[must_use]
    pub fn display_at(&self) -> i64 {
        if self.live {
            self.head.max(self.cursor)
        } else {
            self.cursor
        }
    }

    /// The time the store is asked about: the cursor, or when live the end of time, so every
    /// latest value is shown even when a producer's clock runs ahead.
    #[must_use]
    pub fn query_at(&self) -> i64 {
        if self.live { i64::MAX } else { self.cursor }
    }

    /// The time alarms are folded at: the cursor, or when live the newest data or the wall
    /// clock, whichever is later. Not the end of time: a shelve runs until a time, and at the
    /// end of time every shelve would have expired.
    #[must_use]
    pub fn alarms_at(&self) -> i64 {
        if self.live {
            self.display_at().max(self.now)
        } else {
            self.cursor
        }
    }
}

/// The limits this frame's predictions look for, which the panels draw too.
#[derive(Debug, Clone, Default)]
pub struct FocusLimits {
    /// One entry per plotted series, in the order of `TwinApp::plotted`.
    pub plots: Vec<Vec<Threshold>>,
    /// The selected asset's numeric properties that have limits, with them.
    pub selected: Vec<(String, Vec<Threshold>)>,
}

impl TwinApp {
    /// Everything a frame does besides drawing: ingest status, tick, re-read, predictions.
    /// eframe calls it before every layout and, while the window is hidden, on its own whenever
    /// a repaint was asked for (the apply and prediction threads ask on every result).
    pub fn logic(&mut self, ctx: &egui::Context) {
        // A read outside the last frame (a test, an export) may still hold a guard: this frame
        // reads what was applied since.
        self.stores.end_frame();
        self.take_applied();
        self.pred.drain();
        if self.first_run && self.status.progress.caught_up {
            self.open_demo_showcase();
        }
        let now = now_ms();
        let head = self.head(now);
        let earliest = self.earliest(head);
        let dt = self.last_tick.map_or(0.0, |l| l.elapsed().as_secs_f64());
        self.last_tick = Some(Instant::now());
        self.timeline.tick(dt, head);
        let cursor = self.timeline.at(head);
        self.ensure_reread(cursor);
        let reread_more = self.drain_reread(DRAIN_BUDGET);
        let use_reread =
            self.stores.reread.as_ref().is_some_and(|r| r.done) && self.in_evicted_range(cursor);
        self.clock = FrameClock {
            now,
            head,
            earliest,
            cursor,
            live: self.timeline.is_live(),
            use_reread,
            reread_more,
        };
        debug_assert_eq!(
            use_reread,
            !std::ptr::eq(self.store_for(cursor), self.stores.live())
        );
        self.request_predictions();
        self.request_repaint(ctx);
        if ctx.input(|i| i.viewport().visible() == Some(false)) {
            // No layout follows to end the frame, and the apply thread must keep going.
            self.stores.end_frame();
        }
    }

    /// The clock without ticking anything: what the app shows before its first frame.
    pub(super) fn read_clock(&self) -> FrameClock {
        let now = now_ms();
        let head = self.head(now);
        FrameClock {
            now,
            head,
            earliest: self.earliest(head),
            cursor: self.timeline.at(head),
            live: self.timeline.is_live(),
            ..FrameClock::default()
        }
    }

    /// Asks for the next run of logic: at once while the timeline plays or this thread has
    /// work waiting, else in a while, as ages and the live window move with the clock.
    ///
    /// Live batches waiting do not count: the apply thread wakes the window
    /// after each slice it applied, so frames follow the data. Asking at once as well kept
    /// the window drawing back to back through a catch-up, each frame taking a core from
    /// the ingest and the apply thread to show a store that had not changed since the last.
    pub(super) fn request_repaint(&self, ctx: &egui::Context) {
        if self.clock.reread_more
            || self.pred.building()
            || matches!(self.timeline.state(), PlayState::Playing { .. })
        {
            ctx.request_repaint();
        } else {
            ctx.request_repaint_after(Duration::from_millis(500));
        }
    }

    /// Takes what the apply thread passed on since the last frame.
    fn take_applied(&mut self) {
        let Some(live) = &self.sources.live else {
            return;
        };
        // Read under this frame's guard, so every batch the store holds is counted here or
        // before. Late records inside a re-read's range change what it answers: drop it, the
        // next frame reads that range again.
        let _ = self.stores.live();
        if let Some(t) = live.take_earliest_applied()
            && self.stores.reread.as_ref().is_some_and(|r| t <= r.until)
        {
            self.stores.reread = None;
            self.sources.reread = None;
        }
        while let Some(e) = live.try_recv() {
            match e {
                Applied::Status(c) => self.status.conn = Some(c),
                Applied::Progress(p) => self.status.progress = p,
                Applied::Notice(n) => {
                    self.toast = Some(Toast::new(n.clone()));
                    self.status.notices.push(n);
                }
            }
        }
    }

    /// Newest time shown when live. Records stamped far in the future must not drag the head
    /// away from now, so it is clamped to a little past the wall clock.
    pub(super) fn head(&self, now: i64) -> i64 {
        self.stores
            .live()
            .time_range()
            .map_or(now, |(_, max)| max.min(now + 60_000))
    }

    /// Oldest time the timeline reaches: the oldest record held, but never before what Kafka's
    /// retention has deleted (that state can no longer be proven from the log).
    pub(super) fn earliest(&self, head: i64) -> i64 {
        let store = self.stores.live();
        let oldest = store
            .time_range()
            .map_or(head - 60_000, |(min, _)| min.min(head));
        store
            .retained_from()
            .map_or(oldest, |r| oldest.max(r).min(head))
    }

    /// Selects the demo's degrading press and plots its vibration, so a new user sees a live
    /// plot, and its forecast toward the vibration limit, without knowing where to click.
    fn open_demo_showcase(&mut self) {
        let id = crate::kafka::demo::SHOWCASE_ASSET;
        if self.stores.live().asset_by_id(id).is_none() {
            // The simulator may still be producing its backfill; try again next frame.
            return;
        }
        self.first_run = false;
        self.plotted.push(crate::ui::PlotKey {
            asset: id.to_owned(),
            prop: "vibration".to_owned(),
        });
        self.selected = Some(id.to_owned());
        let mut prefix = String::new();
        for seg in id.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(seg);
            self.panels
                .tree_state
                .expanded
                .insert(Arc::from(prefix.as_str()));
        }
    }

    /// Predictions for this frame: plotted series and the selected asset's limited properties
    /// (focus), and the whole fleet; copied out here, computed on the "predict" thread. The
    /// limits asked for are kept in `focus` for the panels.
    fn request_predictions(&mut self) {
        let clock = self.clock;
        let (store, id) = self.stores.pick(clock.use_reread);
        let query_at = clock.query_at();
        let selected_asset = self.selected.as_deref().and_then(|s| store.asset_by_id(s));
        let pred_at = round_at(
            clock.display_at(),
            clock.live,
            matches!(self.timeline.state(), PlayState::Playing { .. }),
        );
        let window_ms = self.opts.config.ui.plot_window_s as i64 * 1000;
        let plots: Vec<Vec<Threshold>> = self
            .plotted
            .iter()
            .map(|k| {
                store.asset_by_id(&k.asset).map_or_else(Vec::new, |a| {
                    limits_of(&self.opts.config, &self.limits, store, a, &k.prop, query_at)
                })
            })
            .collect();
        let selected: Vec<(String, Vec<Threshold>)> = selected_asset
            .map(|a| {
                store
                    .props_at(a, query_at)
                    .into_iter()
                    .filter(|p| p.numeric)
                    .filter_map(|p| {
                        let l =
                            limits_of(&self.opts.config, &self.limits, store, a, &p.name, query_at);
                        (!l.is_empty()).then(|| (p.name.to_string(), l))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut wants: Vec<FocusWant> = self
            .plotted
            .iter()
            .zip(&plots)
            .map(|(k, l)| FocusWant {
                asset: k.asset.clone(),
                prop: k.prop.clone(),
                limits: l.clone(),
                anomalies_from: Some(pred_at - window_ms),
            })
            .collect();
        if let Some(sel) = &self.selected {
            for (prop, l) in &selected {
                if !wants.iter().any(|w| &w.asset == sel && &w.prop == prop) {
                    wants.push(FocusWant {
                        asset: sel.clone(),
                        prop: prop.clone(),
                        limits: l.clone(),
                        anomalies_from: None,
                    });
                }
            }
        }
        // Results are cached per store id, so the live store's are never shown for a
        // re-read's (or an earlier re-read's for a new one).
        self.pred.request(
            store,
            id,
            pred_at,
            &wants,
            !clock.live,
            &self.opts.config,
            &self.limits,
        );
        self.focus = FocusLimits { plots, selected };
    }

    /// True when `at` is older than what the live store still holds exactly.
    pub(super) fn in_evicted_range(&self, at: i64) -> bool {
        !self.timeline.is_live() && self.stores.live().history_start().is_some_and(|hs| at < hs)
    }

    /// The store that answers for `at`: the re-read when the cursor is in evicted history.
    pub(super) fn store_for(&self, at: i64) -> &Store {
        self.stores.pick(self.in_evicted_range(at)).0
    }

    /// Starts re-reading from Kafka when the cursor enters evicted history that no finished or
    /// running re-read covers.
    fn ensure_reread(&mut self, at: i64) {
        if !self.in_evicted_range(at) {
            return;
        }
        if let Some(r) = &self.stores.reread
            && r.from <= at
            && at <= r.until
            && r.store.history_start().is_none_or(|s| at >= s)
            && r.lateness >= self.reread_lateness()
        {
            return;
        }
        let Some(hs) = self.stores.live().history_start() else {
            return;
        };
        let until = (at + REREAD_AHEAD_MS).min(hs);
        let lateness = self.reread_lateness();
        let mut spec = spec_for(
            &self.opts.config,
            &self.sources.brokers,
            self.opts.props.clone(),
            StartAt::Beginning,
        );
        spec.stop_at = Some((until, lateness));
        // From the latest checkpoint before `at`, only telemetry needs re-reading (the rest is
        // never evicted), starting where the own index (else the broker, else a bisection)
        // says that time begins. Without a checkpoint, everything is read from the beginning.
        let (store, from) = match self.stores.live().fork_at(at) {
            Some(Fork { store, from }) => {
                spec.topics.retain(|(role, _)| *role == Role::Telemetry);
                spec.start = StartAt::Since(from - lateness);
                spec.index = self.sources.live.as_ref().map(LiveApply::time_indexes);
                (store, from)
            }
            None => (self.new_store(), i64::MIN),
        };
        let ctx = self.waker_ctx.clone();
        match Ingest::spawn(spec, Arc::new(move || ctx.request_repaint())) {
            Ok(ingest) => {
                // A new id: caches built from an earlier re-read (whose generations this one
                // may repeat) are not served for it.
                let id = self.stores.next_id(StoreKind::Reread);
                self.sources.reread = Some(ingest);
                self.stores.reread = Some(Reread {
                    id,
                    store,
                    from,
                    until,
                    lateness,
                    progress: Progress::default(),
                    done: false,
                });
            }
            Err(e) => self.say(format!("Cannot re-read history: {e}")),
        }
    }

    /// How far past its end a re-read of evicted telemetry reads, in event time: the most any
    /// telemetry record has been behind its partition's newest so far (as the live read saw
    /// every record once), plus a second. A re-read bounded by it sees every record the live
    /// read applied for its range; when later data turns out later than that, the re-read is
    /// redone (see `ensure_reread`), so a late upload never leaves it silently short.
    fn reread_lateness(&self) -> i64 {
        self.status
            .progress
            .topics
            .iter()
            .filter(|t| t.role == Role::Telemetry)
            .map(|t| t.max_lateness)
            .max()
            .unwrap_or(0)
            .saturating_add(1_000)
    }

    /// Applies the re-read's batches under a budget. Returns true if more are waiting.
    fn drain_reread(&mut self, budget: Duration) -> bool {
        let (Some(r), Some(ingest)) = (&mut self.stores.reread, &self.sources.reread) else {
            return false;
        };
        let start = Instant::now();
        while start.elapsed() < budget {
            match ingest.try_recv() {
                Some(IngestEvent::Batch { mut recs, bad }) => r.store.apply_lent(&mut recs, bad),
                Some(IngestEvent::Progress(p)) => r.progress = p,
                Some(IngestEvent::Finished) => {
                    r.done = true;
                    self.sources.reread = None;
                    return false;
                }
                Some(IngestEvent::Status(_) | IngestEvent::Notice(_)) => {}
                None => return false,
            }
        }
        true
    }
}

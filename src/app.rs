//! The application: owns the store, the timeline and the ingest handle; drains ingest batches
//! under a time budget each frame, lays out the panels, and applies their commands at the end
//! of the frame.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Key, Modifiers, RichText, Ui};
use serde::{Deserialize, Serialize};

use crate::config::{ClientProps, Config};
use crate::headless::spec_for;
use crate::kafka::demo::{DemoBroker, DemoOptions};
use crate::kafka::ingest::{Ingest, IngestEvent, StartAt};
use crate::predictor::{FocusWant, Predictions, limits_of, round_at};
use crate::timeline::{PlayState, Timeline, TimelineCommand, now_ms};
use crate::twin::Store;
use crate::twin::hierarchy::{Tree, TreeCache};
use crate::ui::alarms::AlarmFilter;
use crate::ui::asset_tree::TreeState;
use crate::ui::plots::PlotState;
use crate::ui::status_bar::IngestStatus;
use crate::ui::time_panel::TimePanelState;
use crate::ui::{self, Command, PlotKey, View};

/// How long one frame may spend applying ingest batches, so the UI stays fluid while a large
/// history is caught up.
const DRAIN_BUDGET: Duration = Duration::from_millis(8);
/// While catching up, frames are given more time for ingest: a software-rendered frame can
/// take tens of ms, and 8 ms per such frame would make catch-up crawl. The UI still redraws
/// at least ~20 times a second.
const CATCH_UP_DRAIN_BUDGET: Duration = Duration::from_millis(35);

/// What the app was started with.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    /// Brokers to read; `None` starts the embedded demo.
    pub brokers: Option<String>,
    pub props: ClientProps,
    pub since: Option<i64>,
    pub allow_write: bool,
    pub demo: DemoOptions,
}

/// The files the app can export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// The plotted series over the plot window before the cursor.
    Csv,
    /// The state at the cursor, in the snapshot JSON shape.
    State,
    /// The open A → B diff.
    Diff,
}

/// What survives a restart (never twin data, never secrets).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    pub config_path: Option<PathBuf>,
    pub selected: Option<String>,
    pub plotted: Vec<PlotKey>,
    pub expanded: Vec<String>,
}

/// The eframe persistence key.
pub const PERSIST_KEY: &str = "twinscope";

/// A bounded re-read of history that was evicted from memory, read from Kafka into its own
/// store with the same ingest code as everything else.
struct Replay {
    ingest: Option<Ingest>,
    store: Store,
    /// The re-read covers the times from this one (its checkpoint) ...
    from: i64,
    /// ... up to this one.
    until: i64,
    /// How late records were allowed to be (ms past `until`) when it stopped reading; see
    /// [`TwinApp::replay_lateness`].
    lateness: i64,
    progress: crate::kafka::ingest::Progress,
    done: bool,
}

/// How far past the cursor a re-read reaches, so scrubbing forward does not start another.
const REPLAY_AHEAD_MS: i64 = 10 * 60_000;

/// The running app.
pub struct TwinApp {
    opts: AppOptions,
    // Drop order: ingest (a consumer of the demo) before the demo broker.
    ingest: Option<Ingest>,
    replay: Option<Replay>,
    /// Exists only when write-back is enabled.
    write: Option<crate::kafka::writeback::WriteBack>,
    dialog: Option<ui::dialogs::Dialog>,
    sent: Vec<ui::SentCommand>,
    demo: Option<DemoBroker>,
    brokers: String,
    topics: [String; 3],
    store: Store,
    timeline: Timeline,
    status: IngestStatus,
    selected: Option<String>,
    plotted: Vec<PlotKey>,
    tree_state: TreeState,
    tree_cache: Option<(u64, i64, Tree)>,
    /// The tree's shape, reused while scrubbing through times where it does not change.
    tree_shapes: TreeCache,
    plot_state: PlotState,
    alarm_filter: AlarmFilter,
    time_state: TimePanelState,
    show_diagnostics: bool,
    /// The open diff and the inputs it was computed from.
    diff: Option<(u64, i64, i64, Option<String>, crate::twin::diff::Diff)>,
    toast: Option<(String, Instant)>,
    last_frame: Option<Instant>,
    waker_ctx: egui::Context,
    /// A first run of the demo opens on something alive: one machine selected and plotted.
    first_run: bool,
    /// Forecasts, time to threshold and anomalies, computed on the "predict" thread.
    pred: Predictions,
    /// The limits predictions look for: the config's, or the simulator's own in the demo.
    limits: Vec<crate::config::LimitDef>,
}

impl TwinApp {
    /// Starts the demo broker (when no brokers are given) and the ingest thread.
    #[must_use]
    pub fn new(ctx: &egui::Context, opts: AppOptions, persisted: Persisted) -> Self {
        install_fonts(ctx);
        let mut opts = opts;
        let mut startup_note = None;
        // Without --config, reopen the config used last time (its secrets are resolved again
        // from env:/file:, never stored).
        if opts.config_path.is_none()
            && let Some(path) = persisted.config_path.clone()
        {
            match Config::load(&path)
                .and_then(|c| ClientProps::resolve(&c.kafka.properties, &[]).map(|p| (c, p)))
            {
                Ok((c, props)) => {
                    if opts.brokers.is_none() {
                        opts.brokers = c.kafka.brokers.clone();
                    }
                    opts.props = props;
                    opts.config = c;
                    opts.config_path = Some(path);
                }
                Err(e) => startup_note = Some(format!("Last config not reopened: {e}")),
            }
        }
        let topics = [
            opts.config.topics.telemetry.clone(),
            opts.config.topics.events.clone(),
            opts.config.topics.assets.clone(),
        ];
        let mut app = Self {
            store: Store::new(
                opts.config.mapping.separator(),
                opts.config.history.budget_mb,
            ),
            opts,
            ingest: None,
            replay: None,
            write: None,
            dialog: None,
            sent: Vec::new(),
            demo: None,
            brokers: String::new(),
            topics,
            timeline: Timeline::default(),
            status: IngestStatus::default(),
            selected: persisted.selected,
            plotted: persisted.plotted,
            tree_state: TreeState {
                filter: String::new(),
                expanded: persisted
                    .expanded
                    .into_iter()
                    .map(Arc::from)
                    .collect::<HashSet<_>>(),
            },
            tree_cache: None,
            tree_shapes: TreeCache::default(),
            plot_state: PlotState::default(),
            alarm_filter: AlarmFilter::default(),
            time_state: TimePanelState::default(),
            show_diagnostics: false,
            diff: None,
            toast: None,
            last_frame: None,
            waker_ctx: ctx.clone(),
            first_run: false,
            pred: Predictions::new({
                let ctx = ctx.clone();
                Arc::new(move || ctx.request_repaint())
            }),
            limits: Vec::new(),
        };
        app.first_run =
            app.opts.brokers.is_none() && app.plotted.is_empty() && app.selected.is_none();
        if let Some(n) = startup_note {
            app.toast = Some((n, Instant::now()));
        }
        app.connect();
        app
    }

    /// An empty store with the config's separator, budget and alarm rules.
    fn new_store(&self) -> Store {
        let mut store = Store::new(
            self.opts.config.mapping.separator(),
            self.opts.config.history.budget_mb,
        );
        store.set_rules(self.opts.config.rules.clone());
        store.set_late_after(
            i64::try_from(self.opts.config.ui.late_after_s.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        );
        store.set_topic_names(crate::headless::topic_names(&crate::headless::topics_of(
            &self.opts.config,
        )));
        store
    }

    /// (Re)starts ingest from scratch with the current options.
    fn connect(&mut self) {
        self.ingest = None;
        self.replay = None;
        self.store = self.new_store();
        self.tree_cache = None;
        self.tree_shapes = TreeCache::default();
        self.pred.reset();
        // The demo alarms from the simulator's events, so twinscope is told its limits.
        self.limits = if self.opts.brokers.is_none() && self.opts.config.limits.is_empty() {
            crate::kafka::simulator::demo_limits()
        } else {
            self.opts.config.limits.clone()
        };
        self.status = IngestStatus::default();
        let brokers = match &self.opts.brokers {
            Some(b) => b.clone(),
            None => {
                if self.demo.is_none() {
                    match DemoBroker::start(&self.opts.demo, &self.opts.config.topics) {
                        Ok(d) => self.demo = Some(d),
                        Err(e) => {
                            self.status.fatal =
                                Some(format!("cannot start the embedded demo broker: {e}"));
                            return;
                        }
                    }
                }
                self.demo
                    .as_ref()
                    .map(|d| d.bootstrap().to_owned())
                    .unwrap_or_default()
            }
        };
        self.brokers = brokers.clone();
        self.status.source = if self.demo.is_some() {
            format!("embedded demo broker at {brokers}")
        } else {
            brokers.clone()
        };
        self.write = None;
        if self.write_enabled() {
            let settings = crate::kafka::client::ClientSettings {
                brokers: brokers.clone(),
                props: self.opts.props.clone(),
            };
            match crate::kafka::writeback::WriteBack::new(
                &settings,
                &self.opts.config.topics,
                self.opts.config.operator(),
                true,
            ) {
                Ok(w) => self.write = Some(w),
                Err(e) => self.status.fatal = Some(format!("write-back: {e}")),
            }
        }
        let start = self.opts.since.map_or(StartAt::Beginning, StartAt::Since);
        let spec = spec_for(&self.opts.config, &brokers, self.opts.props.clone(), start);
        let ctx = self.waker_ctx.clone();
        match Ingest::spawn(spec, Arc::new(move || ctx.request_repaint())) {
            Ok(i) => self.ingest = Some(i),
            Err(e) => self.status.fatal = Some(e.to_string()),
        }
    }

    /// The store (for tests and exports).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for benchmarks that load a large history without going through Kafka.
    #[doc(hidden)]
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The timeline (for tests).
    #[must_use]
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The selected asset id or group path.
    #[must_use]
    pub fn selected(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// Plotted series.
    #[must_use]
    pub fn plotted(&self) -> &[PlotKey] {
        &self.plotted
    }

    /// Predictions and their cache (for tests).
    #[must_use]
    pub fn predictions(&self) -> &Predictions {
        &self.pred
    }

    /// The limits predictions look for.
    #[must_use]
    pub fn limits(&self) -> &[crate::config::LimitDef] {
        &self.limits
    }

    /// Whether catch-up is complete.
    #[must_use]
    pub fn caught_up(&self) -> bool {
        self.status.progress.caught_up
    }

    /// What to persist.
    #[must_use]
    pub fn persisted(&self) -> Persisted {
        Persisted {
            config_path: self.opts.config_path.clone(),
            selected: self.selected.clone(),
            plotted: self.plotted.clone(),
            expanded: self
                .tree_state
                .expanded
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// Applies waiting ingest events for at most `budget`. Returns true if more are waiting.
    pub fn drain(&mut self, budget: Duration) -> bool {
        let Some(ingest) = &self.ingest else {
            return false;
        };
        let start = Instant::now();
        while start.elapsed() < budget {
            match ingest.try_recv() {
                Some(IngestEvent::Batch { recs, bad }) => {
                    // Late records inside a re-read's range change what it answers: drop it,
                    // the next frame reads that range again.
                    if let Some(r) = &self.replay
                        && recs.iter().any(|x| x.body.event_time() <= r.until)
                    {
                        self.replay = None;
                    }
                    self.store.apply_batch(recs, bad);
                }
                Some(IngestEvent::Status(c)) => self.status.conn = Some(c),
                Some(IngestEvent::Progress(p)) => {
                    crate::headless::note_coverage(&mut self.store, &p);
                    self.status.progress = p;
                }
                Some(IngestEvent::Finished) => {}
                Some(IngestEvent::Notice(n)) => {
                    self.toast = Some((n.clone(), Instant::now()));
                    self.status.notices.push(n);
                }
                None => return false,
            }
        }
        ingest.backlog() > 0
    }

    /// Newest time shown when live. Records stamped far in the future must not drag the head
    /// away from now, so it is clamped to a little past the wall clock.
    fn head(&self, now: i64) -> i64 {
        self.store
            .time_range()
            .map_or(now, |(_, max)| max.min(now + 60_000))
    }

    /// Oldest time the timeline reaches: the oldest record held, but never before what Kafka's
    /// retention has deleted (that state can no longer be proven from the log).
    fn earliest(&self, head: i64) -> i64 {
        let oldest = self
            .store
            .time_range()
            .map_or(head - 60_000, |(min, _)| min.min(head));
        self.store
            .retained_from()
            .map_or(oldest, |r| oldest.max(r).min(head))
    }

    /// One frame: drain, keyboard, panels, commands.
    pub fn frame(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        let budget = if self.status.progress.caught_up {
            DRAIN_BUDGET
        } else {
            CATCH_UP_DRAIN_BUDGET
        };
        let more = self.drain(budget);
        self.pred.drain();
        if self.first_run && self.status.progress.caught_up {
            self.open_demo_showcase();
        }
        let now = now_ms();
        let head = self.head(now);
        let earliest = self.earliest(head);
        let dt = self.last_frame.map_or(0.0, |l| l.elapsed().as_secs_f64());
        self.last_frame = Some(Instant::now());
        self.timeline.tick(dt, head);
        let at = self.timeline.at(head);
        self.ensure_replay(at);
        let replay_more = self.drain_replay(DRAIN_BUDGET);
        let use_replay = self.replay.as_ref().is_some_and(|r| r.done) && self.in_evicted_range(at);
        debug_assert_eq!(use_replay, !std::ptr::eq(self.store_for(at), &self.store));
        // A live query uses the end of time, so every latest value is shown even when a
        // producer's clock runs ahead.
        let query_at = if self.timeline.is_live() {
            i64::MAX
        } else {
            at
        };
        if self.diff.is_some() {
            self.refresh_diff();
        }
        let store = match &self.replay {
            Some(r) if use_replay => &r.store,
            _ => &self.store,
        };
        let selected_asset = self.selected.as_deref().and_then(|s| store.asset_by_id(s));
        // The high bit tells the replay store's generations from the main store's.
        let gen_key = (
            store.structure_gen() | (u64::from(use_replay) << 63),
            query_at,
        );
        if self
            .tree_cache
            .as_ref()
            .is_none_or(|(g, t, _)| (*g, *t) != gen_key)
        {
            let tree = self.tree_shapes.tree_at(store, query_at, gen_key.0);
            self.tree_cache = Some((gen_key.0, gen_key.1, tree));
        }
        let mut cmds = keyboard(&ctx, store, selected_asset, at);
        // Predictions for this frame: plotted series and the selected asset's limited
        // properties (focus), and the whole fleet; copied out here, computed on the thread.
        let live = self.timeline.is_live();
        let display_at = if live { head.max(at) } else { at };
        let pred_at = round_at(
            display_at,
            live,
            matches!(self.timeline.state(), PlayState::Playing { .. }),
        );
        let window_ms = self.opts.config.ui.plot_window_s as i64 * 1000;
        let plot_limits: Vec<Vec<crate::twin::forecast::Threshold>> = self
            .plotted
            .iter()
            .map(|k| {
                store.asset_by_id(&k.asset).map_or_else(Vec::new, |a| {
                    limits_of(&self.opts.config, &self.limits, store, a, &k.prop, query_at)
                })
            })
            .collect();
        let limited: Vec<(String, Vec<crate::twin::forecast::Threshold>)> = selected_asset
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
            .zip(&plot_limits)
            .map(|(k, l)| FocusWant {
                asset: k.asset.clone(),
                prop: k.prop.clone(),
                limits: l.clone(),
                anomalies_from: Some(pred_at - window_ms),
            })
            .collect();
        if let Some(sel) = &self.selected {
            for (prop, l) in &limited {
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
        self.pred.request(
            store,
            u64::from(use_replay),
            pred_at,
            &wants,
            !live,
            &self.opts.config,
            &self.limits,
        );
        let alarms_now = store.alarms_at(query_at);
        let view = View {
            store,
            alarms: &alarms_now,
            at: if self.timeline.is_live() {
                head.max(at)
            } else {
                at
            },
            live: self.timeline.is_live(),
            now,
            head,
            selected: self.selected.as_deref(),
            selected_asset,
            ui: &self.opts.config.ui,
            units: &self.opts.config.mapping.units,
            topics: &self.topics,
            brokers: &self.brokers,
            write_enabled: self.write.is_some(),
            commands: &self.opts.config.commands,
            sent: &self.sent,
        };
        // Query panels at `query_at` when live; the View's `at` is for display.
        let qview = View {
            at: query_at,
            ..view
        };
        egui::Panel::top("menu").show(ui, |ui| {
            cmds.extend(ui::menu::show(ui, !self.plotted.is_empty()));
        });
        egui::Panel::top("banners")
            .show_separator_line(false)
            .show(ui, |ui| {
                cmds.extend(ui::status_bar::banners(ui, &view, &self.status));
                if let Some(r) = &self.replay
                    && !r.done
                    && self.in_evicted_range(at)
                {
                    ui::status_bar::replay_banner(ui, r.progress.fraction, r.until);
                }
            });
        egui::Panel::bottom("status").show(ui, |ui| {
            cmds.extend(ui::status_bar::show(
                ui,
                &qview,
                &self.status,
                self.write_enabled(),
            ));
        });
        egui::Panel::bottom("time").resizable(false).show(ui, |ui| {
            ui.add_space(4.0);
            cmds.extend(ui::time_panel::show(
                ui,
                &view,
                self.timeline.state(),
                self.timeline.speed(),
                earliest,
                (self.timeline.marker_a, self.timeline.marker_b),
                &mut self.time_state,
            ));
            ui.add_space(4.0);
        });
        egui::Panel::left("tree")
            .resizable(true)
            .default_size(290.0)
            .show(ui, |ui| {
                ui.add_space(4.0);
                ui.heading("Assets");
                if let Some((_, _, tree)) = &self.tree_cache {
                    cmds.extend(ui::asset_tree::show(
                        ui,
                        &qview,
                        tree,
                        &mut self.tree_state,
                        self.pred
                            .enabled
                            .then(|| self.pred.fleet().map(|f| &f.anomalies))
                            .flatten(),
                    ));
                }
            });
        egui::Panel::right("alarms")
            .resizable(true)
            .default_size(360.0)
            .show(ui, |ui| {
                ui.add_space(4.0);
                cmds.extend(ui::at_risk::show(
                    ui,
                    &view,
                    self.pred.fleet(),
                    self.pred.enabled,
                    self.pred.busy(),
                ));
                ui.separator();
                cmds.extend(ui::alarms::show(ui, &qview, &mut self.alarm_filter));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let h = ui.available_height();
            egui::Panel::top("detail")
                .resizable(true)
                .default_size(h * 0.45)
                // The stored size of a nested panel does not follow `default_size` on first
                // show; a floor keeps the whole property table of a demo machine visible.
                .min_size((h * 0.42).max(250.0))
                .show(ui, |ui| {
                    cmds.extend(ui::asset_detail::show(
                        ui,
                        &qview,
                        &self.plotted,
                        &limited,
                        &self.pred,
                    ));
                });
            egui::CentralPanel::default().show(ui, |ui| {
                let follow = matches!(
                    self.timeline.state(),
                    PlayState::Live | PlayState::Playing { .. }
                );
                cmds.extend(ui::plots::show(
                    ui,
                    &view,
                    &self.plotted,
                    &plot_limits,
                    &self.pred,
                    &mut self.plot_state,
                    follow,
                ));
            });
        });
        if self.show_diagnostics {
            cmds.extend(ui::diagnostics::show(
                &ctx,
                &qview,
                &self.status.notices,
                true,
            ));
        }
        if let Some((_, _, _, _, d)) = &self.diff {
            cmds.extend(ui::diff::show(&ctx, &qview, d));
        }
        let operator = self.opts.config.operator();
        let outcome = self
            .dialog
            .as_mut()
            .and_then(|d| ui::dialogs::show(&ctx, d, &operator));
        if let Some((msg, when)) = &self.toast {
            if when.elapsed() < Duration::from_secs(4) {
                egui::Area::new(egui::Id::unique("toast"))
                    .anchor(egui::Align2::CENTER_TOP, [0.0, 60.0])
                    .show(&ctx, |ui| {
                        egui::Frame::popup(ui.style())
                            .show(ui, |ui| ui.label(RichText::new(msg).strong()));
                    });
            } else {
                self.toast = None;
            }
        }
        for c in cmds {
            self.apply(c, &ctx, head, earliest);
        }
        if let Some(o) = outcome {
            self.close_dialog(&o, now);
        }
        if more
            || replay_more
            || self.pred.building()
            || matches!(self.timeline.state(), PlayState::Playing { .. })
        {
            ctx.request_repaint();
        } else {
            // Ages and the live window move with the clock.
            ctx.request_repaint_after(Duration::from_millis(500));
        }
    }

    /// Selects the demo's degrading press and plots its vibration, so a new user sees a live
    /// plot, and its forecast toward the vibration limit, without knowing where to click.
    fn open_demo_showcase(&mut self) {
        let id = crate::kafka::demo::SHOWCASE_ASSET;
        if self.store.asset_by_id(id).is_none() {
            // The simulator may still be producing its backfill; try again next frame.
            return;
        }
        self.first_run = false;
        self.plotted.push(PlotKey {
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
            self.tree_state.expanded.insert(Arc::from(prefix.as_str()));
        }
    }

    /// Writes an alarm action; time travel is read-only, so only while live.
    fn alarm_action(
        &mut self,
        asset: &str,
        code: &str,
        severity: &str,
        action: &crate::kafka::writeback::AlarmAction,
    ) {
        let Some(w) = &self.write else {
            self.toast = Some((
                "Read-only: start with --allow-write to acknowledge".into(),
                Instant::now(),
            ));
            return;
        };
        if !self.timeline.is_live() {
            self.toast = Some((
                "Time travel is read-only: go live (End) to act".into(),
                Instant::now(),
            ));
            return;
        }
        if let Err(e) = w.alarm(asset, code, severity, action, now_ms()) {
            self.toast = Some((e.to_string(), Instant::now()));
        }
    }

    fn close_dialog(&mut self, outcome: &ui::dialogs::Outcome, now: i64) {
        let Some(dialog) = self.dialog.take() else {
            return;
        };
        if *outcome != ui::dialogs::Outcome::Confirm {
            return;
        }
        match dialog {
            ui::dialogs::Dialog::AckComment {
                asset,
                code,
                severity,
                comment,
            } => {
                let action = crate::kafka::writeback::AlarmAction::Ack {
                    comment: Some(comment),
                };
                self.alarm_action(&asset, &code, severity, &action);
            }
            ui::dialogs::Dialog::Command { asset, def, args } => {
                let Some(w) = &self.write else { return };
                if !self.timeline.is_live() {
                    self.toast = Some((
                        "Time travel is read-only: go live (End) to act".into(),
                        Instant::now(),
                    ));
                    return;
                }
                let args = ui::dialogs::Dialog::args_json(&args);
                match w.command(&asset, &def.name, &args, now) {
                    Ok(correlation_id) => self.sent.push(ui::SentCommand {
                        correlation_id,
                        asset,
                        name: def.name,
                        payload: args.to_string(),
                        at: now,
                    }),
                    Err(e) => self.toast = Some((e.to_string(), Instant::now())),
                }
            }
            ui::dialogs::Dialog::ConfigError { .. } => {}
        }
    }

    /// Whether a write-back dialog is open.
    #[must_use]
    pub fn dialog_open(&self) -> bool {
        self.dialog.is_some()
    }

    /// Commands sent from this window, newest last.
    #[must_use]
    pub fn sent_commands(&self) -> &[ui::SentCommand] {
        &self.sent
    }

    /// True when `at` is older than what the main store still holds exactly.
    fn in_evicted_range(&self, at: i64) -> bool {
        !self.timeline.is_live() && self.store.history_start().is_some_and(|hs| at < hs)
    }

    /// Starts re-reading from Kafka when the cursor enters evicted history that no finished or
    /// running re-read covers.
    fn ensure_replay(&mut self, at: i64) {
        if !self.in_evicted_range(at) {
            return;
        }
        if let Some(r) = &self.replay
            && r.from <= at
            && at <= r.until
            && r.store.history_start().is_none_or(|s| at >= s)
            && r.lateness >= self.replay_lateness()
        {
            return;
        }
        let Some(hs) = self.store.history_start() else {
            return;
        };
        let until = (at + REPLAY_AHEAD_MS).min(hs);
        let lateness = self.replay_lateness();
        let mut spec = spec_for(
            &self.opts.config,
            &self.brokers,
            self.opts.props.clone(),
            StartAt::Beginning,
        );
        spec.stop_at = Some((until, lateness));
        // From the latest checkpoint before `at`, only telemetry needs re-reading (the rest is
        // never evicted), starting where the own index (else the broker, else a bisection)
        // says that time begins. Without a checkpoint, everything is read from the beginning.
        let (store, from) = match self.store.fork_at(at) {
            Some((fork, from)) => {
                spec.topics
                    .retain(|(role, _)| *role == crate::twin::decode::Role::Telemetry);
                spec.start = StartAt::Since(from - lateness);
                spec.index = self.ingest.as_ref().map(Ingest::time_indexes);
                (fork, from)
            }
            None => (self.new_store(), i64::MIN),
        };
        let ctx = self.waker_ctx.clone();
        match Ingest::spawn(spec, Arc::new(move || ctx.request_repaint())) {
            Ok(ingest) => {
                // A new replay store may repeat an earlier one's structure generation.
                self.tree_shapes = TreeCache::default();
                self.replay = Some(Replay {
                    ingest: Some(ingest),
                    store,
                    from,
                    until,
                    lateness,
                    progress: crate::kafka::ingest::Progress::default(),
                    done: false,
                });
            }
            Err(e) => self.toast = Some((format!("Cannot re-read history: {e}"), Instant::now())),
        }
    }

    /// How far past its end a re-read of evicted telemetry reads, in event time: the most any
    /// telemetry record has been behind its partition's newest so far (as the live read saw
    /// every record once), plus a second. A re-read bounded by it sees every record the live
    /// read applied for its range; when later data turns out later than that, the re-read is
    /// redone (see `ensure_replay`), so a late upload never leaves it silently short.
    fn replay_lateness(&self) -> i64 {
        self.status
            .progress
            .topics
            .iter()
            .filter(|t| t.role == crate::twin::decode::Role::Telemetry)
            .map(|t| t.max_lateness)
            .max()
            .unwrap_or(0)
            .saturating_add(1_000)
    }

    /// Applies the re-read's batches under a budget. Returns true if more are waiting.
    fn drain_replay(&mut self, budget: Duration) -> bool {
        let Some(r) = &mut self.replay else {
            return false;
        };
        let Some(ingest) = &r.ingest else {
            return false;
        };
        let start = Instant::now();
        while start.elapsed() < budget {
            match ingest.try_recv() {
                Some(IngestEvent::Batch { recs, bad }) => r.store.apply_batch(recs, bad),
                Some(IngestEvent::Progress(p)) => r.progress = p,
                Some(IngestEvent::Finished) => {
                    r.done = true;
                    r.ingest = None;
                    return false;
                }
                Some(IngestEvent::Status(_) | IngestEvent::Notice(_)) => {}
                None => return false,
            }
        }
        true
    }

    /// The store that answers for `at`: the re-read when the cursor is in evicted history.
    fn store_for(&self, at: i64) -> &Store {
        match &self.replay {
            Some(r) if r.done && self.in_evicted_range(at) => &r.store,
            _ => &self.store,
        }
    }

    /// The state shown at the cursor, in the snapshot JSON shape.
    #[must_use]
    pub fn snapshot_at_cursor(&self) -> serde_json::Value {
        let head = self.head(now_ms());
        let at = self.timeline.at(head);
        self.store_for(at).snapshot(at)
    }

    /// Records applied by the last re-read of evicted history (for tests and diagnostics).
    #[must_use]
    pub fn replay_records(&self) -> Option<u64> {
        self.replay.as_ref().map(|r| r.store.stats().records)
    }

    /// Whether a re-read of evicted history is running (for tests and the status line).
    #[must_use]
    pub fn replaying(&self) -> bool {
        self.replay.as_ref().is_some_and(|r| !r.done)
    }

    fn write_enabled(&self) -> bool {
        self.opts.allow_write || self.opts.config.write.enabled
    }

    fn apply(&mut self, cmd: Command, ctx: &egui::Context, head: i64, earliest: i64) {
        match cmd {
            Command::Select(s) => {
                if let Some(id) = &s
                    && let Some((_, _, tree)) = &self.tree_cache
                    && let Some(n) = tree.find(id)
                {
                    self.tree_state.expanded.extend(tree.ancestors(n));
                }
                self.selected = s;
            }
            Command::AddPlot(k) => {
                if !self.plotted.contains(&k) {
                    self.plotted.push(k);
                }
            }
            Command::RemovePlot(k) => self.plotted.retain(|x| *x != k),
            Command::ClearPlots => self.plotted.clear(),
            Command::Timeline(t) => self.timeline.apply(t, head, earliest),
            Command::ShowDiagnostics(b) => self.show_diagnostics = b,
            Command::ToggleForecast => self.pred.enabled = !self.pred.enabled,
            Command::Alarm {
                asset,
                code,
                severity,
                action,
            } => self.alarm_action(&asset, &code, severity, &action),
            Command::AckWithComment {
                asset,
                code,
                severity,
            } => {
                self.dialog = Some(ui::dialogs::Dialog::AckComment {
                    asset,
                    code,
                    severity,
                    comment: String::new(),
                });
            }
            Command::RequestCommand { asset, name } => {
                if let Some(def) = self.opts.config.commands.iter().find(|c| c.name == name) {
                    self.dialog = Some(ui::dialogs::Dialog::command(&asset, def));
                }
            }
            Command::ShowDiff(true) => {
                self.diff = Some((u64::MAX, 0, 0, None, crate::twin::diff::Diff::default()));
                self.refresh_diff();
            }
            Command::ShowDiff(false) => self.diff = None,
            Command::ExportDiff => self.export(Export::Diff, head),
            Command::Copy { text, what } => {
                ctx.copy_text(text);
                self.toast = Some((format!("Copied {what} to the clipboard"), Instant::now()));
            }
            Command::OpenConfig => self.open_config(),
            Command::ExportCsv => self.export(Export::Csv, head),
            Command::SaveSnapshot => self.export(Export::State, head),
            Command::Reconnect => {
                self.connect();
                self.toast = Some(("Reconnecting…".into(), Instant::now()));
            }
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    /// Recomputes the open diff when its inputs (markers, scope, data) changed.
    fn refresh_diff(&mut self) {
        let (Some(a), Some(b)) = (self.timeline.marker_a, self.timeline.marker_b) else {
            self.diff = None;
            return;
        };
        let key = (self.store.data_gen(), a, b, self.selected.clone());
        if let Some((g, da, db, scope, _)) = &self.diff
            && (*g, *da, *db, scope) == (key.0, key.1, key.2, &key.3)
        {
            return;
        }
        let d = crate::twin::diff::diff(&self.store, a, b, key.3.as_deref());
        self.diff = Some((key.0, a, b, key.3, d));
    }

    fn open_config(&mut self) {
        let Some(path) = rfd::FileDialog::new()
            .add_filter("TOML config", &["toml"])
            .pick_file()
        else {
            return;
        };
        match Config::load(&path) {
            Ok(c) => {
                match ClientProps::resolve(&c.kafka.properties, &[]) {
                    Ok(props) => self.opts.props = props,
                    Err(e) => {
                        self.dialog = Some(ui::dialogs::Dialog::config_error(&path, &e));
                        return;
                    }
                }
                if let Some(b) = &c.kafka.brokers {
                    self.opts.brokers = Some(b.clone());
                }
                self.topics = [
                    c.topics.telemetry.clone(),
                    c.topics.events.clone(),
                    c.topics.assets.clone(),
                ];
                self.opts.config = c;
                self.opts.config_path = Some(path);
                self.connect();
                self.toast = Some(("Config loaded; reconnecting".into(), Instant::now()));
            }
            // Refused: said in a dialog, and the config in force stays.
            Err(e) => self.dialog = Some(ui::dialogs::Dialog::config_error(&path, &e)),
        }
    }

    /// Asks where to save, writes `contents`, and says how it went.
    fn save_as(&mut self, file_name: &str, filter: (&str, &str), contents: &str) {
        let Some(path) = rfd::FileDialog::new()
            .set_file_name(file_name)
            .add_filter(filter.0, &[filter.1])
            .save_file()
        else {
            return;
        };
        let msg = match std::fs::write(&path, contents) {
            Ok(()) => format!("Saved {}", path.display()),
            Err(e) => format!("Saving {} failed: {e}", path.display()),
        };
        self.toast = Some((msg, Instant::now()));
    }

    /// What an export writes, without the file dialog (which tests and scripts cannot drive).
    /// `None` for a diff when no A → B diff is open.
    #[must_use]
    pub fn export_text(&self, what: Export, head: i64) -> Option<String> {
        let at = self.timeline.at(head);
        match what {
            Export::Csv => {
                let window = self.opts.config.ui.plot_window_s as i64 * 1000;
                Some(series_csv(
                    self.store_for(at),
                    &self.plotted,
                    at - window,
                    at,
                ))
            }
            Export::State => serde_json::to_string_pretty(&self.store_for(at).snapshot(at)).ok(),
            Export::Diff => {
                let (_, _, _, _, d) = self.diff.as_ref()?;
                serde_json::to_string_pretty(d).ok()
            }
        }
    }

    /// Asks where to save an export and writes it.
    fn export(&mut self, what: Export, head: i64) {
        let Some(text) = self.export_text(what, head) else {
            return;
        };
        let (name, filter) = match what {
            Export::Csv => ("twinscope-series.csv", ("CSV", "csv")),
            Export::State => ("twinscope-state.json", ("JSON", "json")),
            Export::Diff => ("twinscope-diff.json", ("JSON", "json")),
        };
        self.save_as(name, filter, &text);
    }
}

/// Status glyphs (●, ◉, ◆) live only in the bundled monospace font; proportional text falls
/// back to it instead of drawing boxes.
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    if let Some(p) = fonts.families.get_mut(&egui::FontFamily::Proportional) {
        p.push("Hack".to_owned());
    }
    ctx.set_fonts(fonts);
}

/// Keyboard shortcuts of the time panel, as commands.
fn keyboard(ctx: &egui::Context, store: &Store, selected: Option<u32>, at: i64) -> Vec<Command> {
    if ctx.egui_wants_keyboard_input() {
        return Vec::new();
    }
    let mut cmds = Vec::new();
    ctx.input_mut(|i| {
        if i.consume_key(Modifiers::NONE, Key::Space) {
            cmds.push(Command::Timeline(TimelineCommand::TogglePlay));
        }
        if i.consume_key(Modifiers::SHIFT, Key::ArrowLeft) {
            cmds.push(Command::Timeline(TimelineCommand::Nudge(-10_000)));
        }
        if i.consume_key(Modifiers::SHIFT, Key::ArrowRight) {
            cmds.push(Command::Timeline(TimelineCommand::Nudge(10_000)));
        }
        let left = i.consume_key(Modifiers::NONE, Key::ArrowLeft);
        let right = i.consume_key(Modifiers::NONE, Key::ArrowRight);
        if left || right {
            let times = store.event_times(selected);
            let t = if left {
                times.iter().rev().find(|&&t| t < at).copied()
            } else {
                times.iter().find(|&&t| t > at).copied()
            };
            if let Some(t) = t {
                cmds.push(Command::Timeline(TimelineCommand::Seek(t)));
            }
        }
        if i.consume_key(Modifiers::NONE, Key::Home) {
            cmds.push(Command::Timeline(TimelineCommand::Seek(i64::MIN)));
        }
        if i.consume_key(Modifiers::NONE, Key::End) {
            cmds.push(Command::Timeline(TimelineCommand::GoLive));
        }
        if i.consume_key(Modifiers::NONE, Key::F) {
            cmds.push(Command::ToggleForecast);
        }
    });
    cmds
}

/// The plotted series over `[from, to]` as CSV: `time_ms,time,asset,property,value`.
#[must_use]
pub fn series_csv(store: &Store, plotted: &[PlotKey], from: i64, to: i64) -> String {
    let mut out = String::from("time_ms,time,asset,property,value\n");
    for k in plotted {
        let (Some(a), Some(p)) = (store.asset_by_id(&k.asset), store.prop_by_name(&k.prop)) else {
            continue;
        };
        let Some(s) = store.series(a, p) else {
            continue;
        };
        for i in s.range(from, to) {
            if let (Some(ts), Some(v)) = (s.ts(i), s.num(i)) {
                out.push_str(&format!(
                    "{ts},{},{},{},{v}\n",
                    ui::style::rfc3339(ts),
                    csv_field(&k.asset),
                    csv_field(&k.prop)
                ));
            }
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

impl eframe::App for TwinApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, PERSIST_KEY, &self.persisted());
    }
}

//! The application: owns the stores, the timeline and the Kafka handles. A frame is split
//! along its seams, one file each:
//!
//! - `logic.rs` ([`TwinApp::logic`], which eframe also runs while the window is hidden):
//!   takes what the live apply thread passed on, drains predictions and the re-read of
//!   evicted history, ticks the timeline, and asks for predictions;
//! - `live_apply.rs`: the thread that applies the live ingest to the store between frames;
//! - `context.rs`: the per-frame [`View`](crate::ui::View) every panel reads, with its display
//!   and query times, and the caches behind it (tree, diff);
//! - `ui.rs` ([`TwinApp::layout`]): lays out the panels and collects their
//!   [`Command`](crate::ui::Command)s;
//! - `commands.rs`: resolves those commands and dialog outcomes, in one place, at the end of
//!   the frame; `export.rs`: what the exports write.
//!
//! `sources.rs` holds the threads and connections, `stores.rs` the stores and their
//! [`StoreId`]s, and the read guard a frame holds on the live store.

mod clusters;
mod commands;
mod context;
mod export;
mod fleet_table;
mod incident;
mod live_apply;
mod logic;
mod sources;
mod stores;
mod ui;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use egui::Ui;
use serde::{Deserialize, Serialize};

use crate::config::{ClientProps, Config, LimitDef};
use crate::headless::spec_for;
use crate::kafka::demo::{DemoBroker, DemoOptions};
use crate::kafka::ingest::{Ingest, StartAt};
use crate::predict::PredictionCache;
use crate::timeline::Timeline;
use crate::twin::Store;
use crate::ui::status_bar::IngestStatus;
use crate::ui::{PlotKey, SentCommand};

pub use clusters::{ClusterKey, ClusterState};
/// The per-frame tree cache, public so the scrub benchmark measures the app's own path
/// (`testkit::ui_scrub`).
pub use context::TreeView;
pub use export::{Export, series_csv};
pub use incident::OpenIncident;
pub use stores::{StoreId, StoreKind};

use commands::Toast;
use context::DiffCache;
use live_apply::LiveApply;
use logic::{FocusLimits, FrameClock};
use sources::Sources;
use stores::StoreHub;
use ui::PanelState;

/// What the app was started with.
///
/// The default is the embedded demo with the default config, so tests can write
/// `AppOptions { brokers: Some(b), ..AppOptions::default() }`.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    /// Brokers to read; `None` starts the embedded demo.
    pub brokers: Option<String>,
    pub props: ClientProps,
    pub since: Option<i64>,
    pub allow_write: bool,
    pub demo: DemoOptions,
    /// Where File → Export incident… writes without asking (`--export-dir`); `None` asks.
    pub export_dir: Option<PathBuf>,
}

/// What survives a restart (never twin data, never secrets).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    pub config_path: Option<PathBuf>,
    pub selected: Option<String>,
    pub plotted: Vec<PlotKey>,
    pub expanded: Vec<String>,
    /// The cluster `selected`, `plotted` and `table_columns` belong to. `None` (state handed
    /// in by a test, or saved by a twinscope from before this was kept) applies them to
    /// whichever cluster the app starts on.
    pub cluster: Option<ClusterKey>,
    /// The fleet table's chosen columns on that cluster (`None`: the default ones).
    pub table_columns: Option<Vec<String>>,
    /// The same state of other clusters, restored when the app connects to one of them.
    pub other_clusters: Vec<ClusterState>,
}

/// The eframe persistence key.
pub const PERSIST_KEY: &str = "twinscope";

/// The running app.
pub struct TwinApp {
    opts: AppOptions,
    /// Threads and connections. Declared first, so they are dropped first (see [`Sources`]).
    sources: Sources,
    stores: StoreHub,
    timeline: Timeline,
    /// The times `logic` worked with this frame; the layout and the commands use the same.
    clock: FrameClock,
    /// When `logic` last ticked the timeline.
    last_tick: Option<std::time::Instant>,
    status: IngestStatus,
    /// Topic names per role, for provenance and kcat commands.
    topics: [String; 3],
    selected: Option<String>,
    plotted: Vec<PlotKey>,
    /// The limits behind this frame's prediction requests, which the panels draw too.
    focus: FocusLimits,
    panels: PanelState,
    /// The tree shown, and the shape cache it is built from.
    tree: TreeView,
    /// When the tree waits to be built again for a structure that changed, how long until
    /// it will: the frame asks to be drawn again by then.
    tree_due: Option<std::time::Duration>,
    /// The open A → B diff and the inputs it was computed from.
    diff: Option<DiffCache>,
    /// The open incident view (app/incident.rs).
    incident: Option<incident::OpenIncident>,
    dialog: Option<crate::ui::dialogs::Dialog>,
    toast: Option<Toast>,
    sent: Vec<SentCommand>,
    waker_ctx: egui::Context,
    /// A first run of the demo opens on something alive: one machine selected and plotted.
    first_run: bool,
    /// Forecasts, time to threshold and anomalies, computed on the "predict" thread.
    pred: PredictionCache,
    /// The limits predictions look for: the config's, or the simulator's own in the demo.
    limits: Vec<LimitDef>,
    /// The cluster `selected`, `plotted` and the table's columns belong to.
    cluster: ClusterKey,
    /// What is remembered of the other clusters (see `clusters.rs`).
    other_clusters: Vec<ClusterState>,
    /// Restored references are still to be checked against the store once it caught up.
    prune_pending: bool,
    /// The selected group's fleet table and the caches behind it.
    fleet_table: fleet_table::FleetTableView,
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
        let topics = topics_of(&opts.config);
        let cluster = persisted
            .cluster
            .unwrap_or_else(|| ClusterKey::of(opts.brokers.as_deref(), &opts.config.topics));
        let mut app = Self {
            stores: StoreHub::new(Store::new(
                opts.config.mapping.separator(),
                opts.config.history.budget_mb,
            )),
            opts,
            sources: Sources::default(),
            timeline: Timeline::default(),
            clock: FrameClock::default(),
            last_tick: None,
            status: IngestStatus::default(),
            topics,
            selected: persisted.selected,
            plotted: persisted.plotted,
            focus: FocusLimits::default(),
            panels: PanelState::new(
                persisted
                    .expanded
                    .into_iter()
                    .map(Arc::from)
                    .collect::<HashSet<_>>(),
            ),
            tree: TreeView::default(),
            tree_due: None,
            diff: None,
            incident: None,
            dialog: None,
            toast: None,
            sent: Vec::new(),
            waker_ctx: ctx.clone(),
            first_run: false,
            pred: PredictionCache::new({
                let ctx = ctx.clone();
                Arc::new(move || ctx.request_repaint())
            }),
            limits: Vec::new(),
            cluster,
            other_clusters: persisted.other_clusters,
            prune_pending: true,
            fleet_table: fleet_table::FleetTableView::default(),
        };
        app.panels.fleet.columns = persisted.table_columns;
        // State saved on another cluster is put away before anything looks at it.
        app.enter_cluster();
        app.first_run =
            app.opts.brokers.is_none() && app.plotted.is_empty() && app.selected.is_none();
        if let Some(n) = startup_note {
            app.say(n);
        }
        app.connect();
        app.clock = app.read_clock();
        app
    }

    /// One whole frame, as eframe runs it while the window is shown: [`Self::logic`], then
    /// the layout. Tests and benchmarks drive the app through this.
    pub fn frame(&mut self, ui: &mut Ui) {
        self.logic(ui.ctx());
        self.layout(ui);
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
        self.enter_cluster();
        self.sources.live = None;
        self.sources.reread = None;
        self.stores.replace_live(self.new_store());
        self.tree = TreeView::default();
        // Another cluster's rows are not this one's, even under a group of the same path.
        self.fleet_table.reset();
        // Another cluster's alarm is not this one's.
        self.incident = None;
        self.pred.reset();
        // The demo alarms from the simulator's events, so twinscope is told its limits.
        self.limits = if self.opts.brokers.is_none() && self.opts.config.limits.is_empty() {
            crate::kafka::demo::simulator::demo_limits()
        } else {
            self.opts.config.limits.clone()
        };
        self.status = IngestStatus::default();
        let brokers = match &self.opts.brokers {
            Some(b) => b.clone(),
            None => {
                if self.sources.demo.is_none() {
                    match DemoBroker::start(&self.opts.demo, &self.opts.config.topics) {
                        Ok(d) => self.sources.demo = Some(d),
                        Err(e) => {
                            self.status.fatal =
                                Some(format!("cannot start the embedded demo broker: {e}"));
                            return;
                        }
                    }
                }
                self.sources
                    .demo
                    .as_ref()
                    .map(|d| d.bootstrap().to_owned())
                    .unwrap_or_default()
            }
        };
        self.sources.brokers = brokers.clone();
        self.status.source = if self.sources.demo.is_some() {
            format!("embedded demo broker at {brokers}")
        } else {
            brokers.clone()
        };
        self.sources.write = None;
        if self.write_requested() {
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
                Ok(w) => self.sources.write = Some(w),
                Err(e) => self.status.fatal = Some(format!("write-back: {e}")),
            }
        }
        let start = self.opts.since.map_or(StartAt::Beginning, StartAt::Since);
        let spec = spec_for(&self.opts.config, &brokers, self.opts.props.clone(), start);
        // The apply thread waits on the ingest itself, and wakes the window once it applied.
        let ingest = match Ingest::spawn(spec, Arc::new(|| {})) {
            Ok(i) => i,
            Err(e) => {
                self.status.fatal = Some(e.to_string());
                return;
            }
        };
        let ctx = self.waker_ctx.clone();
        let waker = Arc::new(move || ctx.request_repaint());
        match LiveApply::spawn(ingest, self.stores.shared_live(), waker) {
            Ok(l) => self.sources.live = Some(l),
            Err(e) => self.status.fatal = Some(format!("cannot start the apply thread: {e}")),
        }
    }

    /// Write-back was asked for (on the command line or in the config), whether or not its
    /// producer started; the status bar says which mode the operator chose.
    fn write_requested(&self) -> bool {
        self.opts.allow_write || self.opts.config.write.enabled
    }

    /// The live store (for tests and benchmarks). Hold it only while reading: the apply thread
    /// waits while it is held.
    pub fn store(&self) -> parking_lot::RwLockReadGuard<'_, Store> {
        self.stores.read_live()
    }

    /// **For benchmarks only** (`benches/frame.rs` swaps in a large history without going
    /// through Kafka), so it exists only with the `testkit` feature: the product never hands
    /// out its store, because everything it holds must come from the log.
    #[cfg(feature = "testkit")]
    pub fn store_mut(&mut self) -> parking_lot::RwLockWriteGuard<'_, Store> {
        self.stores.write_live()
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

    /// Whether each plotted series is drawn over its own range (key N).
    #[must_use]
    pub fn plot_scaled(&self) -> bool {
        self.panels.plot_state.scaled
    }

    /// Predictions and their cache (for tests).
    #[must_use]
    pub fn predictions(&self) -> &PredictionCache {
        &self.pred
    }

    /// The limits predictions look for.
    #[must_use]
    pub fn limits(&self) -> &[LimitDef] {
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
            expanded: self.panels.expanded(),
            cluster: Some(self.cluster.clone()),
            table_columns: self.panels.fleet.columns.clone(),
            other_clusters: self.other_clusters.clone(),
        }
    }

    /// The state shown at the cursor, in the snapshot JSON shape.
    #[must_use]
    pub fn snapshot_at_cursor(&self) -> serde_json::Value {
        let head = self.head(crate::timeline::now_ms());
        let at = self.timeline.at(head);
        self.store_for(at).snapshot(at)
    }

    /// Records applied by the last re-read of evicted history (for tests and diagnostics).
    #[must_use]
    pub fn replay_records(&self) -> Option<u64> {
        self.stores.reread.as_ref().map(|r| r.store.stats().records)
    }

    /// Whether a re-read of evicted history is running (for tests and the status line).
    #[must_use]
    pub fn replaying(&self) -> bool {
        self.stores.reread.as_ref().is_some_and(|r| !r.done)
    }

    /// Whether a write-back dialog is open.
    #[must_use]
    pub fn dialog_open(&self) -> bool {
        self.dialog.is_some()
    }

    /// Commands sent from this window, newest last.
    #[must_use]
    pub fn sent_commands(&self) -> &[SentCommand] {
        &self.sent
    }
}

/// Topic names per role (telemetry, events, assets), as the panels show them.
fn topics_of(config: &Config) -> [String; 3] {
    [
        config.topics.telemetry.clone(),
        config.topics.events.clone(),
        config.topics.assets.clone(),
    ]
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

impl eframe::App for TwinApp {
    /// Runs before every [`Self::ui`], and on its own while the window is hidden (minimized
    /// or occluded), when eframe runs no ui at all: so re-reads and predictions keep flowing,
    /// and the live store's read guard is let go for the apply thread.
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        TwinApp::logic(self, ctx);
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.layout(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, PERSIST_KEY, &self.persisted());
    }
}

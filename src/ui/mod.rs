//! The panels, one per file. Each reads the store through the frame's [`View`] and returns
//! [`Command`]s; the app resolves them at the end of the frame. Panels never touch Kafka.

pub mod alarms;
pub mod asset_detail;
pub mod asset_tree;
pub mod at_risk;
pub mod diagnostics;
pub mod dialogs;
pub mod diff;
pub mod fleet_table;
pub mod incident;
pub mod menu;
pub mod plots;
pub mod status_bar;
pub mod style;
pub mod time_panel;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::config::{CommandDef, UiConfig};
use crate::kafka::writeback::OperatorAction;
use crate::timeline::TimelineCommand;
use crate::twin::Store;
use crate::twin::store::{AlarmView, AssetIdx};

/// A plotted series: one property of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlotKey {
    pub asset: String,
    pub prop: String,
}

/// What a panel asks the app to do.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Command {
    /// Select an asset id or group path (None clears the selection).
    Select(Option<String>),
    AddPlot(PlotKey),
    RemovePlot(PlotKey),
    ClearPlots,
    Timeline(TimelineCommand),
    /// Move the cursor to the previous or next alarm event of the selected asset (of every
    /// asset when none is selected). Resolved by the app against the store in use.
    SeekEvent {
        forward: bool,
    },
    ShowDiagnostics(bool),
    /// Forecasts, time to threshold and anomaly markers on or off (key F).
    ToggleForecast,
    /// Each plotted series over its own range, or all on one axis (key N).
    ToggleScaled,
    /// Open or close the A → B diff window.
    ShowDiff(bool),
    ExportDiff,
    /// Copy text to the clipboard and say so.
    Copy {
        text: String,
        what: String,
    },
    /// Acknowledge, shelve or unshelve an alarm (write-back).
    Alarm {
        asset: String,
        code: String,
        severity: &'static str,
        action: OperatorAction,
    },
    /// Open the "acknowledge with comment" dialog.
    AckWithComment {
        asset: String,
        code: String,
        severity: &'static str,
    },
    /// Open the confirmation dialog for a command.
    RequestCommand {
        asset: String,
        name: String,
    },
    OpenConfig,
    ExportCsv,
    SaveSnapshot,
    Reconnect,
    Quit,
    /// The operator closed the open dialog; confirmed ones are carried out.
    CloseDialog(dialogs::Outcome),

    // The fleet table (ui/fleet_table.rs, app/fleet_table.rs).
    /// Save the fleet table's rows as shown (filtered, sorted) as CSV.
    ExportFleetTable,

    // The incident view (ui/incident.rs, app/incident.rs).
    /// Open the incident view of an alarm and go to its onset.
    OpenIncident(incident::IncidentTarget),
    /// Cursor to the open incident's onset; select its asset and plot its numeric properties
    /// from 15 min before to 5 min after, with the alarm shaded.
    IncidentGoToOnset,
    /// What part of the fleet "what changed before" looks at.
    IncidentScope(crate::twin::incident::Scope),
    /// How many minutes before the onset "what changed before" looks.
    IncidentLookback(u32),
    CloseIncident,
    /// Select an asset and plot only that property (`None`: all its numeric properties), so
    /// the plot never keeps showing another asset's series.
    Focus {
        asset: String,
        prop: Option<String>,
    },
    /// Write the incident bundle into `dir`, or into a folder the operator picks.
    ExportIncident {
        dir: Option<std::path::PathBuf>,
    },
}

/// A command sent by this operator, and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SentCommand {
    pub correlation_id: String,
    pub asset: String,
    pub name: String,
    pub payload: String,
    pub at: i64,
}

/// Commands without an outcome after this long are shown as timed out.
pub const COMMAND_TIMEOUT_MS: i64 = 30_000;

/// The per-frame context: everything a panel may read, built once per frame by the app.
///
/// Two times, for two purposes. Ask the store at [`Self::query_at`]; show, label and place
/// things at [`Self::display_at`]. They differ only while live.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// The store that answers for this frame: the live one, or the re-read of evicted history
    /// when the cursor is there.
    pub store: &'a Store,
    /// The time shown: the cursor, or while live the newest data (never before the cursor).
    /// For labels, banners, the time bar's cursor and the plots' right edge.
    pub display_at: i64,
    /// The time the store is asked about: the cursor, or while live the end of time
    /// (`i64::MAX`), so every latest value is shown even when a producer's clock runs ahead.
    /// For the tree, property tables, alarm lists and counts.
    pub query_at: i64,
    pub live: bool,
    /// Wall clock.
    pub now: i64,
    /// Newest event time in the store (or now).
    pub head: i64,
    /// Selected asset id or group path.
    pub selected: Option<&'a str>,
    pub selected_asset: Option<AssetIdx>,
    /// Alarms not in normal state at the query time, worst first: computed once per frame,
    /// as the status bar and the alarm list both need them and each costs a fold per alarm.
    pub alarms: &'a [AlarmView],
    pub ui: &'a UiConfig,
    pub units: &'a HashMap<String, String>,
    /// Topic names per role, for provenance and kcat commands.
    pub topics: &'a [String; 3],
    pub brokers: &'a str,
    /// A write-back producer is up, so acks and commands can be sent (while live). Not the
    /// same as write-back having been asked for: the producer may have failed to start.
    pub can_write: bool,
    pub commands: &'a [CommandDef],
    pub sent: &'a [SentCommand],
}

/// A closable window of `title` and default `size`, drawn by `body`, which adds its commands;
/// `closed` is sent when the operator closes it (and every frame it is shown not `open`). The
/// bad-record, diff and incident windows share it so that they open and close alike.
pub(crate) fn window(
    ctx: &egui::Context,
    title: &str,
    size: [f32; 2],
    open: bool,
    closed: Command,
    body: impl FnOnce(&mut egui::Ui, &mut Vec<Command>),
) -> Vec<Command> {
    let mut cmds = Vec::new();
    let mut still_open = open;
    egui::Window::new(title)
        .open(&mut still_open)
        .default_size(size)
        .show(ctx, |ui: &mut egui::Ui| body(ui, &mut cmds));
    if !still_open {
        cmds.push(closed);
    }
    cmds
}

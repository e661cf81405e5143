//! The panels, one per file. Each reads the store at the cursor through a [`View`] and returns
//! [`Command`]s; the app applies them at the end of the frame. Panels never touch Kafka.

pub mod alarms;
pub mod asset_detail;
pub mod asset_tree;
pub mod at_risk;
pub mod diagnostics;
pub mod dialogs;
pub mod diff;
pub mod menu;
pub mod plots;
pub mod status_bar;
pub mod style;
pub mod time_panel;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::config::{CommandDef, UiConfig};
use crate::kafka::writeback::AlarmAction;
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
    ShowDiagnostics(bool),
    /// Forecasts, time to threshold and anomaly markers on or off (key F).
    ToggleForecast,
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
        action: AlarmAction,
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

/// Everything a panel may read.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub store: &'a Store,
    /// The time every panel shows.
    pub at: i64,
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
    /// Write-back enabled (acks and commands are possible while live).
    pub write_enabled: bool,
    pub commands: &'a [CommandDef],
    pub sent: &'a [SentCommand],
}

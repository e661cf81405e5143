//! Carries out what the panels, the keyboard and the dialogs asked for, in one place at the
//! end of the frame: selection, plots, the timeline (including seeks that need the store, such
//! as "next event"), write-back, dialogs and their outcomes, files, and the toast that says
//! how it went.

use std::time::{Duration, Instant};

use crate::config::{ClientProps, Config};
use crate::kafka::writeback::OperatorAction;
use crate::timeline::{TimelineCommand, now_ms};
use crate::ui::dialogs::{Dialog, Outcome};
use crate::ui::{Command, SentCommand};

use super::context::DiffCache;
use super::{Export, TwinApp, topics_of};

/// How long a toast stays up.
const TOAST_FOR: Duration = Duration::from_secs(4);

/// A short message over the window, for a few seconds.
#[derive(Debug, Clone)]
pub struct Toast {
    pub text: String,
    since: Instant,
}

impl Toast {
    /// A toast shown from now.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self {
            text,
            since: Instant::now(),
        }
    }

    /// Whether it has been up long enough.
    #[must_use]
    pub fn expired(&self) -> bool {
        self.since.elapsed() >= TOAST_FOR
    }
}

impl TwinApp {
    /// Says something in the toast.
    pub(super) fn say(&mut self, text: impl Into<String>) {
        self.toast = Some(Toast::new(text.into()));
    }

    /// Carries out the frame's commands, in order.
    pub(super) fn run_commands(&mut self, cmds: Vec<Command>, ctx: &egui::Context) {
        for c in cmds {
            self.run(c, ctx);
        }
    }

    fn run(&mut self, cmd: Command, ctx: &egui::Context) {
        let (head, earliest) = (self.clock.head, self.clock.earliest);
        match cmd {
            Command::Select(s) => self.select(s),
            Command::AddPlot(k) => {
                if !self.plotted.contains(&k) {
                    self.plotted.push(k);
                }
            }
            Command::RemovePlot(k) => self.plotted.retain(|x| *x != k),
            Command::ClearPlots => self.plotted.clear(),
            Command::Timeline(t) => self.timeline.apply(t, head, earliest),
            Command::SeekEvent { forward } => {
                if let Some(t) = self.event_time_from_cursor(forward) {
                    self.timeline
                        .apply(TimelineCommand::Seek(t), head, earliest);
                }
            }
            Command::ShowDiagnostics(b) => self.panels.show_diagnostics = b,
            Command::ToggleForecast => self.pred.enabled = !self.pred.enabled,
            Command::ToggleScaled => {
                self.panels.plot_state.scaled = !self.panels.plot_state.scaled;
            }
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
                self.dialog = Some(Dialog::AckComment {
                    asset,
                    code,
                    severity,
                    comment: String::new(),
                });
            }
            Command::RequestCommand { asset, name } => {
                if let Some(def) = self.opts.config.commands.iter().find(|c| c.name == name) {
                    self.dialog = Some(Dialog::command(&asset, def));
                }
            }
            Command::CloseDialog(outcome) => self.close_dialog(&outcome),
            Command::ShowDiff(true) => {
                self.diff = Some(DiffCache::default());
                self.refresh_diff();
            }
            Command::ShowDiff(false) => self.diff = None,
            Command::ExportDiff => self.export(Export::Diff, head),
            Command::Copy { text, what } => {
                ctx.copy_text(text);
                self.say(format!("Copied {what} to the clipboard"));
            }
            Command::OpenConfig => self.open_config(),
            Command::ExportCsv => self.export(Export::Csv, head),
            Command::SaveSnapshot => self.export(Export::State, head),
            Command::Reconnect => {
                self.connect();
                self.say("Reconnecting…");
            }
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            // The fleet table (app/fleet_table.rs).
            Command::ExportFleetTable => self.export(Export::FleetTable, head),
            // The incident view (app/incident.rs).
            Command::OpenIncident(target) => self.open_incident(&target),
            Command::IncidentGoToOnset => self.incident_go_to_onset(),
            Command::IncidentScope(scope) => self.set_incident_options(Some(scope), None),
            Command::IncidentLookback(n) => self.set_incident_options(None, Some(n)),
            Command::CloseIncident => self.incident = None,
            Command::Focus { asset, prop } => self.focus_asset(&asset, prop.as_deref()),
            Command::ExportIncident { dir } => self.export_incident(dir, ctx),
        }
    }

    /// Selects an asset or group (None clears), expanding the tree down to it.
    pub(super) fn select(&mut self, s: Option<String>) {
        if let Some(id) = &s
            && let Some(tree) = self.tree.tree()
            && let Some(n) = tree.find(id)
        {
            self.panels.tree_state.expanded.extend(tree.ancestors(n));
        }
        self.selected = s;
    }

    /// The nearest alarm event before (or after) the cursor, of the selected asset or of every
    /// asset, in the store that answers for this frame.
    fn event_time_from_cursor(&self, forward: bool) -> Option<i64> {
        let at = self.timeline.at(self.clock.head);
        let (store, _) = self.stores.pick(self.clock.use_reread);
        let selected = self.selected.as_deref().and_then(|s| store.asset_by_id(s));
        let times = store.event_times(selected);
        if forward {
            times.iter().find(|&&t| t > at).copied()
        } else {
            times.iter().rev().find(|&&t| t < at).copied()
        }
    }

    /// Writes an alarm action; time travel is read-only, so only while live.
    fn alarm_action(&mut self, asset: &str, code: &str, severity: &str, action: &OperatorAction) {
        let Some(w) = &self.sources.write else {
            self.say("Read-only: start with --allow-write to acknowledge");
            return;
        };
        if !self.timeline.is_live() {
            self.say("Time travel is read-only: go live (End) to act");
            return;
        }
        if let Err(e) = w.alarm(asset, code, severity, action, now_ms()) {
            self.say(e.to_string());
        }
    }

    /// Closes the open dialog; a confirmed one is carried out.
    fn close_dialog(&mut self, outcome: &Outcome) {
        let Some(dialog) = self.dialog.take() else {
            return;
        };
        if *outcome != Outcome::Confirm {
            return;
        }
        match dialog {
            Dialog::AckComment {
                asset,
                code,
                severity,
                comment,
            } => {
                let action = OperatorAction::Ack {
                    comment: Some(comment),
                };
                self.alarm_action(&asset, &code, severity, &action);
            }
            Dialog::Command { asset, def, args } => {
                if self.sources.write.is_none() {
                    return;
                }
                if !self.timeline.is_live() {
                    self.say("Time travel is read-only: go live (End) to act");
                    return;
                }
                let Some(w) = &self.sources.write else { return };
                let now = self.clock.now;
                let args = Dialog::args_json(&args);
                match w.command(&asset, &def.name, &args, now) {
                    Ok(correlation_id) => self.sent.push(SentCommand {
                        correlation_id,
                        asset,
                        name: def.name,
                        payload: args.to_string(),
                        at: now,
                    }),
                    Err(e) => self.say(e.to_string()),
                }
            }
            Dialog::ConfigError { .. } => {}
        }
    }

    /// Asks for a config file and reconnects with it; a refused one is said in a dialog and
    /// the config in force stays.
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
                        self.dialog = Some(Dialog::config_error(&path, &e));
                        return;
                    }
                }
                if let Some(b) = &c.kafka.brokers {
                    self.opts.brokers = Some(b.clone());
                }
                self.topics = topics_of(&c);
                self.opts.config = c;
                self.opts.config_path = Some(path);
                self.connect();
                self.say("Config loaded; reconnecting");
            }
            Err(e) => self.dialog = Some(Dialog::config_error(&path, &e)),
        }
    }
}

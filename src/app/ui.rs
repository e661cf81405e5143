//! The layout: where each panel goes and what it is given, the keyboard shortcuts and the
//! toast. It draws from the frame's [`View`](crate::ui::View) and collects the panels'
//! commands, which [`super::commands`] resolves at the end of the frame.

use std::collections::HashSet;
use std::sync::Arc;

use egui::{Key, Modifiers, RichText, Ui};

use crate::timeline::{PlayState, TimelineCommand};
use crate::ui::alarms::AlarmFilter;
use crate::ui::asset_tree::TreeState;
use crate::ui::fleet_table::FleetTableState;
use crate::ui::plots::PlotState;
use crate::ui::time_panel::TimePanelState;
use crate::ui::{self, Command};

use super::TwinApp;

/// What the panels keep between frames (their own state, never twin data).
#[derive(Debug, Default)]
pub struct PanelState {
    pub tree_state: TreeState,
    pub plot_state: PlotState,
    pub alarm_filter: AlarmFilter,
    pub time_state: TimePanelState,
    pub show_diagnostics: bool,
    /// The fleet table's columns, sort and filter.
    pub fleet: FleetTableState,
}

impl PanelState {
    /// Panels as on start, with these tree nodes expanded.
    #[must_use]
    pub fn new(expanded: HashSet<Arc<str>>) -> Self {
        Self {
            tree_state: TreeState::with_expanded(expanded),
            ..Self::default()
        }
    }

    /// The expanded tree nodes, to persist.
    #[must_use]
    pub fn expanded(&self) -> Vec<String> {
        self.tree_state
            .expanded
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

impl TwinApp {
    /// Lays out the panels for the state [`Self::logic`] left, then resolves their commands.
    /// Draws only: eframe skips it while the window is hidden.
    pub fn layout(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        self.refresh_context();
        self.prune_restored();
        self.refresh_incident();
        let clock = self.clock;
        let mut cmds = keyboard(&ctx);
        // The panels' own state is lent out for the frame, so it can be mutated while the
        // context borrows the rest of the app.
        let mut panels = std::mem::take(&mut self.panels);
        let alarms_now = self
            .stores
            .pick(clock.use_reread)
            .0
            .alarms_at(clock.alarms_at());
        self.refresh_fleet_table(&alarms_now, &mut panels.fleet);
        let view = self.view(&alarms_now);
        egui::Panel::top("menu").show(ui, |ui| {
            cmds.extend(ui::menu::show(ui, !self.plotted.is_empty()));
        });
        egui::Panel::top("banners")
            .show_separator_line(false)
            .show(ui, |ui| {
                cmds.extend(ui::status_bar::banners(ui, &view, &self.status));
                if let Some(r) = &self.stores.reread
                    && !r.done
                    && self.in_evicted_range(clock.cursor)
                {
                    ui::status_bar::replay_banner(ui, r.progress.fraction, r.until);
                }
            });
        egui::Panel::bottom("status").show(ui, |ui| {
            cmds.extend(ui::status_bar::show(
                ui,
                &view,
                &self.status,
                self.write_requested(),
            ));
        });
        egui::Panel::bottom("time").resizable(false).show(ui, |ui| {
            ui.add_space(4.0);
            cmds.extend(ui::time_panel::show(
                ui,
                &view,
                self.timeline.state(),
                self.timeline.speed(),
                clock.earliest,
                (self.timeline.marker_a, self.timeline.marker_b),
                &mut panels.time_state,
            ));
            ui.add_space(4.0);
        });
        egui::Panel::left("tree")
            .resizable(true)
            .default_size(290.0)
            .show(ui, |ui| {
                ui.add_space(4.0);
                ui.heading("Assets");
                if let Some(tree) = self.tree.tree() {
                    cmds.extend(ui::asset_tree::show(
                        ui,
                        &view,
                        tree,
                        &mut panels.tree_state,
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
                cmds.extend(ui::alarms::show(ui, &view, &mut panels.alarm_filter));
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
                    // A group shows its assets as a table; an asset, its properties.
                    if let Some((group, table, order)) = self.fleet_table.shown() {
                        cmds.extend(ui::fleet_table::show(
                            ui,
                            &view,
                            group,
                            table,
                            order,
                            &mut panels.fleet,
                        ));
                    } else {
                        cmds.extend(ui::asset_detail::show(
                            ui,
                            &view,
                            &self.plotted,
                            &self.focus.selected,
                            &self.pred,
                        ));
                    }
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
                    &self.focus.plots,
                    &self.pred,
                    &mut panels.plot_state,
                    follow,
                ));
            });
        });
        if panels.show_diagnostics {
            cmds.extend(ui::diagnostics::show(
                &ctx,
                &view,
                &self.status.notices,
                true,
            ));
        }
        if let Some(d) = &self.diff {
            cmds.extend(ui::diff::show(&ctx, &view, &d.diff, d.schema.as_ref()));
        }
        if let Some(i) = &self.incident
            && let Some(a) = i.analysis()
        {
            cmds.extend(ui::incident::show(&ctx, &view, a, i.scope, i.lookback_min));
        }
        self.panels = panels;
        let operator = self.opts.config.operator();
        if let Some(outcome) = self
            .dialog
            .as_mut()
            .and_then(|d| ui::dialogs::show(&ctx, d, &operator))
        {
            // Last, as before any dialog could change what the other commands act on.
            cmds.push(Command::CloseDialog(outcome));
        }
        self.show_toast(&ctx);
        self.run_commands(cmds, &ctx);
        self.request_repaint(&ctx);
        if let Some(due) = self.tree_due {
            ctx.request_repaint_after(due);
        }
        // Drawn: the apply thread may write until the next frame reads.
        self.stores.end_frame();
    }

    /// The last message, for a few seconds, over the top of the window.
    fn show_toast(&mut self, ctx: &egui::Context) {
        let Some(toast) = &self.toast else {
            return;
        };
        if toast.expired() {
            self.toast = None;
            return;
        }
        egui::Area::new(egui::Id::unique("toast"))
            .anchor(egui::Align2::CENTER_TOP, [0.0, 60.0])
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style())
                    .show(ui, |ui| ui.label(RichText::new(&toast.text).strong()));
            });
    }
}

/// Keyboard shortcuts of the time panel, as commands. Seeking to an event is left to the
/// commands, which know the store in use.
fn keyboard(ctx: &egui::Context) -> Vec<Command> {
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
            cmds.push(Command::SeekEvent { forward: !left });
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
        if i.consume_key(Modifiers::NONE, Key::N) {
            cmds.push(Command::ToggleScaled);
        }
        // O: the onset of the open incident, else of the worst unacknowledged alarm.
        if i.consume_key(Modifiers::NONE, Key::O) {
            cmds.push(Command::OpenIncident(ui::incident::IncidentTarget::Current));
        }
    });
    cmds
}

//! The alarm list as of the cursor: priority, asset, code, message and since when, worst
//! first. Clicking a row selects its asset.

use egui::{RichText, Ui};

use super::style::{self, priority_color, state_glyph};
use super::{Command, View};
use crate::twin::alarms::AlarmState;
use crate::twin::store::AlarmView;

/// Alarm list filters owned by the UI.
#[derive(Debug, Clone, Default)]
pub struct AlarmFilter {
    pub show_shelved: bool,
    /// Only alarms in the selected subtree.
    pub selected_only: bool,
}

/// Shows the list; returns selection commands.
pub fn show(ui: &mut Ui, view: &View<'_>, filter: &mut AlarmFilter) -> Vec<Command> {
    let mut cmds = Vec::new();
    let store = view.store;
    let all = store.alarms_at(view.at);
    let in_scope = |v: &AlarmView| {
        let id = &store.assets()[v.asset as usize].id;
        (filter.show_shelved || v.status.state != AlarmState::Shelved)
            && (!filter.selected_only
                || view.selected.is_none_or(|s| {
                    id.as_ref() == s || id.starts_with(&format!("{s}{}", store.separator()))
                }))
    };
    let shown: Vec<&AlarmView> = all.iter().filter(|v| in_scope(v)).collect();
    ui.horizontal(|ui| {
        ui.heading("Alarms");
        ui.label(RichText::new(format!("{} shown", shown.len())).weak());
    });
    ui.horizontal(|ui| {
        ui.checkbox(&mut filter.selected_only, "Selected subtree");
        ui.checkbox(&mut filter.show_shelved, "Shelved");
    });
    ui.separator();
    if shown.is_empty() {
        ui.label(RichText::new("No active or unacknowledged alarms.").weak());
        return cmds;
    }
    let row_h = ui.spacing().interact_size.y * 2.0 + 6.0;
    egui::ScrollArea::vertical()
        .id_salt("alarm_list")
        .auto_shrink([false, false])
        .show_rows(ui, row_h, shown.len(), |ui, range| {
            for v in &shown[range] {
                let asset_id = store.assets()[v.asset as usize].id.clone();
                let color = priority_color(v.priority);
                let selected = view.selected == Some(asset_id.as_ref());
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(state_glyph(v.status.state))
                            .color(color)
                            .strong(),
                    )
                    .on_hover_text(v.status.state.label());
                    ui.label(
                        RichText::new(v.priority.as_str().to_uppercase())
                            .color(color)
                            .small()
                            .strong(),
                    );
                    let r = ui.selectable_label(selected, RichText::new(v.code.as_ref()).strong());
                    if r.clicked() {
                        cmds.push(Command::Select(Some(asset_id.to_string())));
                    }
                    ui.label(
                        RichText::new(format!("since {}", style::time(v.status.since)))
                            .small()
                            .weak(),
                    )
                    .on_hover_text(format!(
                        "{} for {}",
                        v.status.state.label(),
                        style::duration(view.at - v.status.since)
                    ));
                    if view.write_enabled && view.live {
                        write_buttons(ui, v, &asset_id, &mut cmds);
                    }
                });
                ui.horizontal(|ui| {
                    ui.add_space(20.0);
                    if ui.link(RichText::new(asset_id.as_ref()).small()).clicked() {
                        cmds.push(Command::Select(Some(asset_id.to_string())));
                    }
                    if let Some(m) = &v.status.message {
                        ui.label(RichText::new(m).small());
                    }
                    if let (Some(by), true) = (&v.status.acked_by, v.status.acked) {
                        let when = v.status.acked_at.map(style::time).unwrap_or_default();
                        let r = ui.label(RichText::new(format!("ack {by} {when}")).small().weak());
                        if let Some(c) = &v.status.ack_comment {
                            r.on_hover_text(format!("comment: {c}"));
                        }
                    }
                });
            }
        });
    cmds
}

/// Ack / shelve buttons of one row (write-back enabled and live only).
fn write_buttons(ui: &mut Ui, v: &AlarmView, asset_id: &str, cmds: &mut Vec<Command>) {
    use crate::kafka::writeback::AlarmAction;
    let alarm = |action| Command::Alarm {
        asset: asset_id.to_owned(),
        code: v.code.to_string(),
        severity: v.priority.as_str(),
        action,
    };
    let label = format!("Ack {} on {asset_id}", v.code);
    if !v.status.acked {
        let r = ui
            .small_button("Ack")
            .on_hover_text("Acknowledge (right-click for more)");
        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        if r.clicked() {
            cmds.push(alarm(AlarmAction::Ack { comment: None }));
        }
    }
    ui.menu_button("⋯", |ui| {
        if ui.button("Acknowledge with comment…").clicked() {
            cmds.push(Command::AckWithComment {
                asset: asset_id.to_owned(),
                code: v.code.to_string(),
                severity: v.priority.as_str(),
            });
            ui.close();
        }
        for (text, minutes) in [
            ("Shelve 15 min", 15),
            ("Shelve 1 h", 60),
            ("Shelve 8 h", 480),
        ] {
            if ui.button(text).clicked() {
                cmds.push(alarm(AlarmAction::Shelve { minutes }));
                ui.close();
            }
        }
        if v.status.state == AlarmState::Shelved && ui.button("Unshelve").clicked() {
            cmds.push(alarm(AlarmAction::Unshelve));
            ui.close();
        }
    });
}

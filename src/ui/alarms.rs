//! The alarm list as of the cursor: priority, asset, code, message and since when, worst
//! first. Clicking a row selects its asset and plots its numeric properties in place of what
//! was plotted; ⏮ or a double-click opens the incident view at the alarm's onset
//! (ui/incident.rs).

use egui::{RichText, Ui};

use super::incident::IncidentTarget;
use super::style::{self, priority_color, state_glyph};
use super::{Command, View};
use crate::twin::alarms::{AlarmState, Cause, Priority};
use crate::twin::diff::in_scope;
use crate::twin::store::AlarmView;

/// Alarm list filters owned by the UI.
#[derive(Debug, Clone)]
pub struct AlarmFilter {
    pub show_shelved: bool,
    /// Only alarms in the selected subtree.
    pub selected_only: bool,
    /// Only alarms that still need acknowledgement.
    pub unacked_only: bool,
    /// Priorities shown (critical, high, medium, low).
    pub priorities: [bool; 4],
    pub show_journal: bool,
}

impl Default for AlarmFilter {
    fn default() -> Self {
        Self {
            show_shelved: false,
            selected_only: false,
            unacked_only: false,
            priorities: [true; 4],
            show_journal: false,
        }
    }
}

const PRIORITIES: [Priority; 4] = [
    Priority::Critical,
    Priority::High,
    Priority::Medium,
    Priority::Low,
];

/// ISA-18.2: more than 10 new alarms in 10 minutes is a flood.
pub const FLOOD_COUNT: usize = 10;
const FLOOD_WINDOW_MS: i64 = 600_000;

/// New alarms in the 10 minutes before `at`, and whether that is a flood.
#[must_use]
pub fn flood(view: &View<'_>) -> (usize, bool) {
    let at = view.query_at.min(view.head);
    let n = view.store.alarm_activations(at - FLOOD_WINDOW_MS, at).len();
    (n, n > FLOOD_COUNT)
}

/// Shows the list; returns selection commands.
pub fn show(ui: &mut Ui, view: &View<'_>, filter: &mut AlarmFilter) -> Vec<Command> {
    let mut cmds = Vec::new();
    let store = view.store;
    let all = view.alarms;
    let scope = if filter.selected_only {
        view.selected
    } else {
        None
    };
    let keep = |v: &AlarmView| {
        let id = &store.assets()[v.asset as usize].id;
        let p = PRIORITIES
            .iter()
            .position(|x| *x == v.priority)
            .unwrap_or(0);
        (filter.show_shelved || v.status.state != AlarmState::Shelved)
            && (!filter.unacked_only || !v.status.acked)
            && filter.priorities[p]
            && in_scope(id, scope, store.separator())
    };
    let shown: Vec<&AlarmView> = all.iter().filter(|v| keep(v)).collect();
    ui.horizontal(|ui| {
        ui.heading("Alarms");
        ui.label(RichText::new(format!("{} shown", shown.len())).weak());
        let (n, is_flood) = flood(view);
        if is_flood {
            ui.label(
                RichText::new(format!("⚠ FLOOD: {n} new in 10 min"))
                    .color(style::priority_color(Priority::Critical))
                    .strong(),
            )
            .on_hover_text("ISA-18.2: more than 10 new alarms in 10 minutes");
        }
    });
    ui.horizontal_wrapped(|ui| {
        for (i, p) in PRIORITIES.iter().enumerate() {
            let text = RichText::new(p.as_str())
                .color(style::priority_color(*p))
                .small();
            ui.toggle_value(&mut filter.priorities[i], text)
                .on_hover_text(format!("Show {} alarms", p.as_str()));
        }
        ui.checkbox(&mut filter.unacked_only, "Unacked");
        ui.checkbox(&mut filter.selected_only, "Selected subtree");
        ui.checkbox(&mut filter.show_shelved, "Shelved");
    });
    ui.separator();
    let journal_label = if filter.show_journal {
        "⏷ Journal"
    } else {
        "⏵ Journal"
    };
    if ui
        .selectable_label(filter.show_journal, journal_label)
        .on_hover_text("Every alarm transition of the selected asset or subtree in the plot window")
        .clicked()
    {
        filter.show_journal = !filter.show_journal;
    }
    if filter.show_journal {
        journal(ui, view, &mut cmds);
        ui.separator();
    }
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
                    let r = ui
                        .selectable_label(selected, RichText::new(v.code.as_ref()).strong())
                        .on_hover_text(
                            "Click: select the asset and plot its numbers · double-click: go to the onset",
                        );
                    if r.double_clicked() {
                        cmds.push(open_incident(v, &asset_id, view.query_at));
                    } else if r.clicked() {
                        // The plot follows the alarm: an operator who clicks it wants to see
                        // that asset, not whatever was plotted before.
                        cmds.push(Command::Focus {
                            asset: asset_id.to_string(),
                            prop: None,
                        });
                    }
                    let label = format!("Go to onset of {} on {asset_id}", v.code);
                    let r = ui
                        .small_button("⏮")
                        .on_hover_text("Go to the onset: the incident view (O)");
                    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                    if r.clicked() {
                        cmds.push(open_incident(v, &asset_id, view.query_at));
                    }
                    ui.label(
                        RichText::new(format!("since {}", style::time(v.status.since)))
                            .small()
                            .weak(),
                    )
                    .on_hover_text(format!(
                        "{} for {}",
                        v.status.state.label(),
                        style::duration(
                            if view.live { view.now } else { view.query_at } - v.status.since
                        )
                    ));
                    if view.can_write && view.live {
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

/// Opens the incident view on the row's alarm, at its last onset by the query time.
fn open_incident(v: &AlarmView, asset_id: &str, at: i64) -> Command {
    Command::OpenIncident(IncidentTarget::Alarm {
        asset: asset_id.to_owned(),
        code: v.code.to_string(),
        at: Some(at),
    })
}

/// Ack / shelve buttons of one row (write-back enabled and live only).
fn write_buttons(ui: &mut Ui, v: &AlarmView, asset_id: &str, cmds: &mut Vec<Command>) {
    use crate::kafka::writeback::OperatorAction;
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
            cmds.push(alarm(OperatorAction::Ack { comment: None }));
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
                cmds.push(alarm(OperatorAction::Shelve { minutes }));
                ui.close();
            }
        }
        if v.status.state == AlarmState::Shelved && ui.button("Unshelve").clicked() {
            cmds.push(alarm(OperatorAction::Unshelve));
            ui.close();
        }
    });
}

/// The alarm journal: transitions with time, cause and operator, for the selected asset or
/// subtree (the whole fleet without a selection), over the plot window before the cursor.
fn journal(ui: &mut Ui, view: &View<'_>, cmds: &mut Vec<Command>) {
    let store = view.store;
    let to = if view.live { view.head } else { view.query_at };
    let from = to - view.ui.plot_window_s as i64 * 1000;
    let mut rows = Vec::new();
    for alarm in store.alarms() {
        let id = &store.assets()[alarm.asset as usize].id;
        if !in_scope(id, view.selected, store.separator()) {
            continue;
        }
        for t in alarm.history.journal_until(to) {
            if t.ts >= from {
                let known = store.known_at(alarm.asset, t.ts);
                rows.push((t, id.clone(), alarm.code.clone(), alarm.priority, known));
            }
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0.ts));
    if rows.is_empty() {
        ui.label(
            RichText::new("No alarm transitions in the plot window.")
                .weak()
                .small(),
        );
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt("journal")
        .max_height(180.0)
        .show(ui, |ui| {
            for (t, id, code, p, known) in rows.iter().take(500) {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(style::time(t.ts)).small().monospace());
                    // Happened at ≠ known at: the record that tells reached Kafka late.
                    if let Some(k) = known {
                        ui.label(
                            RichText::new(format!(
                                "known {} (+{})",
                                style::time(*k),
                                style::duration(k - t.ts)
                            ))
                            .small()
                            .color(style::LATE),
                        )
                        .on_hover_text("It happened at the first time; the record that says so reached Kafka only at the second (a device that was offline uploaded it late).");
                    }
                    ui.label(
                        RichText::new(code.as_ref())
                            .small()
                            .color(style::priority_color(*p)),
                    );
                    if ui.link(RichText::new(id.as_ref()).small()).clicked() {
                        cmds.push(Command::Select(Some(id.to_string())));
                    }
                    ui.label(
                        RichText::new(format!("{} → {}", t.from.label(), t.to.label())).small(),
                    );
                    if t.cause == Cause::Activated
                        && ui
                            .small_button("⏮")
                            .on_hover_text("Open the incident view at this onset")
                            .clicked()
                    {
                        cmds.push(Command::OpenIncident(IncidentTarget::Alarm {
                            asset: id.to_string(),
                            code: code.to_string(),
                            at: Some(t.ts),
                        }));
                    }
                    if let Some(by) = &t.by {
                        ui.label(RichText::new(format!("by {by}")).small().weak());
                    }
                    if let Some(c) = &t.comment {
                        ui.label(RichText::new(format!("“{c}”")).small().weak());
                    }
                });
            }
        });
}

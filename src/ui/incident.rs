//! The incident view: one alarm, the moment it was raised, and what changed before it, ranked
//! (state changes first, then numeric changes by how far outside their normal range they
//! went; see [`crate::twin::incident`]). Beside the ranking, the other alarms raised anywhere
//! in the fleet in the same window. Every row leads somewhere: a click selects its asset and
//! plots that property over the incident window.

use egui::{RichText, Ui};

use super::style;
use super::{Command, View};
use crate::twin::alarms::Priority;
use crate::twin::incident::{Analysis, ChangeKind, Scope};

/// Which alarm an incident view is opened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentTarget {
    /// An alarm by asset and code: its last onset at or before `at` (the newest without).
    Alarm {
        asset: String,
        code: String,
        at: Option<i64>,
    },
    /// The worst alarm raised exactly at this time (a timeline marker).
    RaisedAt(i64),
    /// The open incident, else the worst unacknowledged alarm at the cursor (key O).
    Current,
}

/// Longest lookback the operator can pick, in minutes (a day).
const MAX_LOOKBACK_MIN: u32 = 24 * 60;
/// Rows shown per list; the bundle has all of them.
const MAX_ROWS: usize = 200;

/// The accessible label of the ranked row `i` (0-based), so tests and screen readers find it.
#[must_use]
pub fn change_label(i: usize, asset: &str, prop: &str) -> String {
    format!("#{} {asset} · {prop}", i + 1)
}

/// Shows the incident window for `a`; `scope` and `lookback_min` are what the operator picked.
pub fn show(
    ctx: &egui::Context,
    view: &View<'_>,
    a: &Analysis,
    scope: Scope,
    lookback_min: u32,
) -> Vec<Command> {
    let o = &a.onset;
    let color = Priority::parse(o.severity).map_or(style::HISTORY, style::priority_color);
    super::window(
        ctx,
        "Incident",
        [640.0, 460.0],
        true,
        Command::CloseIncident,
        |ui, cmds| {
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new(o.severity.to_uppercase())
                        .color(color)
                        .strong(),
                );
                ui.label(RichText::new(&o.code).strong());
                if ui.link(&o.asset).clicked() {
                    cmds.push(Command::Focus {
                        asset: o.asset.clone(),
                        prop: None,
                    });
                }
                ui.label(format!("raised {}", style::datetime(o.at)));
            });
            ui.horizontal_wrapped(|ui| {
                let at_onset = !view.live && view.display_at == o.at;
                if ui
                    .add_enabled(!at_onset, egui::Button::new("⏮ Go to onset"))
                    .on_hover_text(
                        "Cursor to the moment it was raised; plot the asset 15 min before to 5 min after (O)",
                    )
                    .clicked()
                {
                    cmds.push(Command::IncidentGoToOnset);
                }
                export_button(
                    ui,
                    "A folder with the states, the diff, the journal, the series and the Kafka record of every value",
                    cmds,
                );
            });
            ui.horizontal_wrapped(|ui| {
                ui.label("What changed in");
                for s in Scope::ALL {
                    let r = ui.selectable_label(scope == s, s.as_str()).on_hover_text(
                        match s.path(&o.asset, view.store.separator()) {
                            Some(p) => format!("the subtree {p}"),
                            None => "the whole fleet".to_owned(),
                        },
                    );
                    if r.clicked() && scope != s {
                        cmds.push(Command::IncidentScope(s));
                    }
                }
                ui.label("in the last");
                let mut n = lookback_min;
                let r = ui.add(
                    egui::DragValue::new(&mut n)
                        .range(1..=MAX_LOOKBACK_MIN)
                        .suffix(" min"),
                );
                r.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::SpinButton, true, "Lookback minutes")
                });
                if n != lookback_min {
                    cmds.push(Command::IncidentLookback(n));
                }
                ui.label("before the onset");
            });
            ui.separator();
            ui.columns(2, |cols| {
                changes(&mut cols[0], a, cmds);
                raised(&mut cols[1], a, cmds);
            });
        },
    )
}

/// The "Export incident…" button, in the incident window and the File menu alike; `hover`
/// says what it exports from where it stands.
pub fn export_button(ui: &mut Ui, hover: &str, cmds: &mut Vec<Command>) {
    if ui.button("Export incident…").on_hover_text(hover).clicked() {
        cmds.push(Command::ExportIncident { dir: None });
    }
}

/// The ranked changes.
fn changes(ui: &mut Ui, a: &Analysis, cmds: &mut Vec<Command>) {
    let empty = "Nothing changed in this scope and window.";
    list(ui, "What changed before", empty, &a.ranked, |ui, i, c| {
        let show =
            |v: &Option<serde_json::Value>| v.as_ref().map_or("—".to_owned(), ToString::to_string);
        let label = change_label(i, &c.asset, &c.property);
        ui.horizontal_wrapped(|ui| {
            let r = ui.link(RichText::new(&label).small());
            r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Link, true, &label));
            let why = match (c.kind, c.score, c.normal_range) {
                (ChangeKind::Numeric, Some(s), Some((lo, hi))) => {
                    format!("{:.2}× its normal range ({lo:.3} … {hi:.3})", s)
                }
                (ChangeKind::State, ..) => "state change".to_owned(),
                (ChangeKind::Appeared, ..) => "appeared".to_owned(),
                _ => "vanished".to_owned(),
            };
            let when = c
                .changed_at()
                .map(|t| format!(" at {}", style::time(t)))
                .unwrap_or_default();
            let r = r.on_hover_text(format!(
                "{why}{when}\nClick to select {} and plot {}",
                c.asset, c.property
            ));
            if r.clicked() {
                cmds.push(Command::Focus {
                    asset: c.asset.clone(),
                    prop: Some(c.property.clone()),
                });
            }
            ui.label(
                RichText::new(format!("{} → {}", show(&c.old), show(&c.new)))
                    .monospace()
                    .small(),
            );
            if let Some(s) = c.score {
                ui.label(RichText::new(format!("{s:.2}×")).small().weak());
            }
        });
    });
}

/// The other alarms raised in the window.
fn raised(ui: &mut Ui, a: &Analysis, cmds: &mut Vec<Command>) {
    let empty = "None anywhere in the fleet in this window.";
    list(ui, "Other alarms raised", empty, &a.raised, |ui, _, r| {
        let color = Priority::parse(r.severity).map_or(style::HISTORY, style::priority_color);
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(style::time(r.at)).small().monospace());
            ui.label(RichText::new(&r.code).small().color(color));
            let link = ui
                .link(RichText::new(&r.asset).small())
                .on_hover_text(format!("Select {} and plot it", r.asset));
            if link.clicked() {
                cmds.push(Command::Focus {
                    asset: r.asset.clone(),
                    prop: None,
                });
            }
            if ui
                .small_button("⏮")
                .on_hover_text("Open this alarm's incident")
                .clicked()
            {
                cmds.push(Command::OpenIncident(IncidentTarget::Alarm {
                    asset: r.asset.clone(),
                    code: r.code.clone(),
                    at: Some(r.at),
                }));
            }
        });
    });
}

/// One column of the panel: `title` with the number of `items`, then `empty` if there are
/// none, or the first [`MAX_ROWS`] of them, a `row` each, in a scroll area of its own.
fn list<T>(
    ui: &mut Ui,
    title: &str,
    empty: &str,
    items: &[T],
    mut row: impl FnMut(&mut Ui, usize, &T),
) {
    ui.strong(format!("{title} ({})", items.len()));
    if items.is_empty() {
        ui.label(RichText::new(empty).weak());
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt(title)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (i, item) in items.iter().take(MAX_ROWS).enumerate() {
                row(ui, i, item);
            }
        });
}

//! The diff panel: what changed in the selected subtree between the A and B markers.

use egui::RichText;

use super::style;
use super::{Command, View};
use crate::schema::evolution::SchemaChange;
use crate::twin::diff::Diff;

/// Shows the diff window while open.
///
/// `schema` is the selected asset's schema change between A and B (computed with the diff),
/// shown above the property changes: a dropped field keeps its last value in the store, and
/// only this line says it is no longer written.
pub fn show(
    ctx: &egui::Context,
    view: &View<'_>,
    d: &Diff,
    schema: Option<&SchemaChange>,
) -> Vec<Command> {
    let _ = view;
    super::window(
        ctx,
        "Diff A → B",
        [560.0, 420.0],
        true,
        Command::ShowDiff(false),
        |ui, cmds| {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "A {}  →  B {}",
                    style::datetime(d.a),
                    style::datetime(d.b)
                ));
                ui.label(
                    RichText::new(format!(
                        "scope: {}",
                        d.scope.as_deref().unwrap_or("whole fleet")
                    ))
                    .weak(),
                );
            });
            ui.horizontal(|ui| {
                ui.label(format!(
                    "{} properties changed, {} assets added, {} removed, {} alarms raised, {} cleared",
                    d.changed.len(),
                    d.added.len(),
                    d.removed.len(),
                    d.raised.len(),
                    d.cleared.len()
                ));
                if ui.button("Export JSON…").clicked() {
                    cmds.push(Command::ExportDiff);
                }
            });
            if let Some(c) = schema {
                ui.label(RichText::new(c.summary()).strong());
            }
            ui.separator();
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    for (title, ids) in [("Added", &d.added), ("Removed", &d.removed)] {
                        if !ids.is_empty() {
                            ui.strong(title);
                            for id in ids {
                                if ui.link(id).clicked() {
                                    cmds.push(Command::Select(Some(id.clone())));
                                }
                            }
                        }
                    }
                    for (title, list) in
                        [("Alarms raised", &d.raised), ("Alarms cleared", &d.cleared)]
                    {
                        if !list.is_empty() {
                            ui.strong(title);
                            for c in list {
                                ui.label(format!(
                                    "{}  {}  {} ({})",
                                    style::time(c.at),
                                    c.asset,
                                    c.code,
                                    c.severity
                                ));
                            }
                        }
                    }
                    if !d.changed.is_empty() {
                        ui.strong("Properties");
                        egui::Grid::new("diff_grid").striped(true).show(ui, |ui| {
                            for c in d.changed.iter().take(5_000) {
                                ui.label(RichText::new(&c.asset).small());
                                ui.label(&c.property);
                                let fmt = |v: &Option<serde_json::Value>| {
                                    v.as_ref().map_or("—".to_owned(), ToString::to_string)
                                };
                                ui.label(
                                    RichText::new(format!("{} → {}", fmt(&c.old), fmt(&c.new)))
                                        .monospace(),
                                );
                                ui.end_row();
                            }
                        });
                    }
                });
        },
    )
}

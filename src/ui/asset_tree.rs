//! The asset tree: search, expand/collapse, alarm roll-up per subtree, and virtualised rows so
//! 10k assets stay smooth (only visible rows are laid out).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use egui::{RichText, Ui};

use super::style::{kind_glyph, priority_color};
use super::{Command, View};
use crate::twin::hierarchy::Tree;

/// Tree widget state owned by the UI (not the store).
#[derive(Debug, Default, Clone)]
pub struct TreeState {
    pub filter: String,
    pub expanded: HashSet<Arc<str>>,
}

/// Colour of the "anomalous" badge (the same as the plots' anomaly markers).
const ANOMALY: egui::Color32 = egui::Color32::from_rgb(255, 60, 160);

/// Shows the tree; returns selection commands. `anomalies` counts anomaly episodes per asset
/// id in the last minutes before the cursor; assets with any get a badge.
pub fn show(
    ui: &mut Ui,
    view: &View<'_>,
    tree: &Tree,
    state: &mut TreeState,
    anomalies: Option<&HashMap<Arc<str>, usize>>,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    ui.horizontal(|ui| {
        ui.label("🔍");
        ui.add(
            egui::TextEdit::singleline(&mut state.filter)
                .hint_text("Filter assets")
                .desired_width(f32::INFINITY),
        )
        .on_hover_text("Filter by name or id");
    });
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("{} nodes", tree.len())).weak());
        if ui.small_button("Expand all").clicked() {
            state.expanded.extend(
                tree.nodes
                    .iter()
                    .filter(|n| !n.children.is_empty())
                    .map(|n| n.path.clone()),
            );
        }
        if ui.small_button("Collapse").clicked() {
            state.expanded.clear();
        }
    });
    ui.separator();
    let rows = tree.visible_rows(&state.expanded, &state.filter);
    if rows.is_empty() {
        ui.label(
            RichText::new(if tree.is_empty() {
                "No assets yet."
            } else {
                "No match."
            })
            .weak(),
        );
        return cmds;
    }
    let row_h = ui.spacing().interact_size.y;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, row_h, rows.len(), |ui, range| {
            for &n in &rows[range] {
                let node = &tree.nodes[n as usize];
                ui.horizontal(|ui| {
                    ui.add_space(f32::from(node.depth) * 14.0);
                    if node.children.is_empty() {
                        ui.add_space(18.0);
                    } else {
                        let open = state.expanded.contains(&node.path) || !state.filter.is_empty();
                        let arrow = if open { "⏷" } else { "⏵" };
                        let what = if open { "Collapse" } else { "Expand" };
                        let r = ui
                            .add(egui::Button::new(arrow).frame(false).small())
                            .on_hover_text(what);
                        let name = format!("{what} {}", node.label);
                        r.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::Role::Button, true, &name)
                        });
                        if r.clicked() && !state.expanded.remove(&node.path) {
                            state.expanded.insert(node.path.clone());
                        }
                    }
                    ui.label(kind_glyph(node.kind.as_deref(), node.asset.is_none()));
                    if let Some(p) = tree.worst(n) {
                        let dot = if tree.unacked(n) { "●" } else { "◉" };
                        ui.label(RichText::new(dot).color(priority_color(p)))
                            .on_hover_text(format!("worst alarm in subtree: {}", p.as_str()));
                    }
                    let selected = view.selected == Some(&*node.path);
                    let r = ui
                        .selectable_label(selected, &node.label)
                        .on_hover_text(node.path.as_ref());
                    if r.clicked() {
                        cmds.push(Command::Select(Some(node.path.to_string())));
                    }
                    if node.asset.is_some()
                        && let Some(&n) = anomalies.and_then(|m| m.get(&node.path))
                    {
                        let r = ui
                            .label(RichText::new(format!("⚠ {n}")).small().color(ANOMALY))
                            .on_hover_text(format!(
                                "anomalous: {n} episodes (runs of samples outside the EWMA control limits) in the last {} min",
                                crate::predict::ANOMALY_WINDOW_MS / 60_000
                            ));
                        let name = format!("anomalous: {} ({n})", node.path);
                        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &name));
                    }
                    if r.double_clicked()
                        && !node.children.is_empty()
                        && !state.expanded.remove(&node.path)
                    {
                        state.expanded.insert(node.path.clone());
                    }
                });
            }
        });
    cmds
}

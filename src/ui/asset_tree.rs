//! The asset tree: search, expand/collapse, alarm roll-up per subtree, and virtualised rows so
//! 10k assets stay smooth (only visible rows are laid out).

use std::collections::HashSet;
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

/// Shows the tree; returns selection commands.
pub fn show(ui: &mut Ui, view: &View<'_>, tree: &Tree, state: &mut TreeState) -> Vec<Command> {
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
                    if let Some(p) = node.worst {
                        let dot = if node.unacked { "●" } else { "◉" };
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

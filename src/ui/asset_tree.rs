//! The asset tree: search, expand/collapse, alarm roll-up per subtree, and virtualised rows so
//! 10k assets stay smooth (only visible rows are laid out).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use egui::{RichText, Ui};

use super::style::{kind_glyph, priority_color};
use super::{Command, View};
use crate::twin::hierarchy::{Node, Tree};

/// Tree widget state owned by the UI (not the store).
#[derive(Debug, Default, Clone)]
pub struct TreeState {
    pub filter: String,
    pub expanded: HashSet<Arc<str>>,
    /// The rows last shown, kept while nothing they depend on changed.
    visible: VisibleRows,
}

impl TreeState {
    /// A tree state with these nodes expanded and no filter.
    #[must_use]
    pub fn with_expanded(expanded: HashSet<Arc<str>>) -> Self {
        Self {
            expanded,
            ..Self::default()
        }
    }
}

/// The visible rows of one tree under one filter and set of expanded groups. Worked out
/// every frame, they cost a walk of every shown node, and with a filter a lowercase copy of
/// every label and path in the fleet (100k cars), while a frame usually changes none of their
/// inputs: a live tree of the same shape keeps its nodes' allocation, and the expanded set
/// holds groups only, so comparing it is cheap.
#[derive(Debug, Default, Clone)]
struct VisibleRows {
    /// The tree's nodes and roots (held, so a new tree can never reuse their address).
    nodes: Option<TreeShape>,
    filter: String,
    expanded: HashSet<Arc<str>>,
    rows: Arc<[u32]>,
}

/// A tree's nodes and roots, as shared between trees of one shape.
type TreeShape = (Arc<Vec<Node>>, Arc<Vec<u32>>);

impl VisibleRows {
    /// The visible rows of `tree`, computed again only when the tree, the filter or the
    /// expanded set differ from last time.
    fn get(&mut self, tree: &Tree, expanded: &HashSet<Arc<str>>, filter: &str) -> Arc<[u32]> {
        let same = self
            .nodes
            .as_ref()
            .is_some_and(|(n, r)| Arc::ptr_eq(n, &tree.nodes) && Arc::ptr_eq(r, &tree.roots))
            && self.filter == filter
            && self.expanded == *expanded;
        if !same {
            self.rows = tree.visible_rows(expanded, filter).into();
            self.nodes = Some((Arc::clone(&tree.nodes), Arc::clone(&tree.roots)));
            filter.clone_into(&mut self.filter);
            self.expanded.clone_from(expanded);
        }
        Arc::clone(&self.rows)
    }
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
    let rows = state.visible.get(tree, &state.expanded, &state.filter);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::records::logged;
    use crate::twin::Store;
    use crate::twin::decode::{Decoded, Value};

    fn store(ids: &[&str]) -> Store {
        let mut s = Store::new("/", 0);
        for (i, id) in ids.iter().enumerate() {
            s.apply(logged(
                i as i64,
                Decoded::Telemetry {
                    asset: (*id).into(),
                    parent: None,
                    ts: 5,
                    props: vec![("t".into(), Value::Num(1.0))],
                },
            ));
        }
        s
    }

    fn paths(tree: &Tree, rows: &[u32]) -> Vec<String> {
        rows.iter()
            .map(|&n| tree.nodes[n as usize].path.to_string())
            .collect()
    }

    /// The kept rows must follow every input: a stale answer would show a collapsed group's
    /// cars, or hide the cars of a group just opened.
    #[test]
    fn kept_rows_follow_the_expanded_set_the_filter_and_the_tree() {
        let tree = Tree::build(&store(&["a/m1", "a/m2", "b/m3"]), 10);
        let mut v = VisibleRows::default();
        let mut expanded = HashSet::new();
        assert_eq!(paths(&tree, &v.get(&tree, &expanded, "")), ["a", "b"]);
        expanded.insert(Arc::from("a"));
        assert_eq!(
            paths(&tree, &v.get(&tree, &expanded, "")),
            ["a", "a/m1", "a/m2", "b"]
        );
        assert_eq!(paths(&tree, &v.get(&tree, &expanded, "m3")), ["b", "b/m3"]);
        assert_eq!(
            paths(&tree, &v.get(&tree, &expanded, "")),
            ["a", "a/m1", "a/m2", "b"]
        );
        let grown = Tree::build(&store(&["a/m1", "a/m2", "a/m4", "b/m3"]), 10);
        assert_eq!(
            paths(&grown, &v.get(&grown, &expanded, "")),
            ["a", "a/m1", "a/m2", "a/m4", "b"]
        );
        expanded.clear();
        assert_eq!(paths(&grown, &v.get(&grown, &expanded, "")), ["a", "b"]);
    }

    /// An asset that is also a group (a line with machines under it) opens like any group,
    /// while a leaf is never looked up in the expanded set.
    #[test]
    fn an_asset_with_children_still_expands() {
        let tree = Tree::build(&store(&["a", "a/m1"]), 10);
        let expanded: HashSet<Arc<str>> = [Arc::from("a"), Arc::from("a/m1")].into();
        assert_eq!(
            paths(&tree, &tree.visible_rows(&expanded, "")),
            ["a", "a/m1"]
        );
        assert_eq!(paths(&tree, &tree.visible_rows(&HashSet::new(), "")), ["a"]);
    }
}

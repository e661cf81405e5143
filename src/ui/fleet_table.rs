//! The fleet table: a selected group's assets as rows "as of T" (chosen properties with units,
//! worst alarm, age, time to a limit), sortable by any column, filtered with a small
//! expression language, exportable as CSV; clicking a row selects the asset.
//!
//! The rows, their order and the filter language are pure (`twin::fleet_table`,
//! `twin::filter`); the app caches the built rows and their order, so this panel only lays
//! out the rows in view (`ScrollArea::show_rows`) and 100k rows cost what 20 do. A large
//! table is read and ordered over several frames; until the new one is ready the panel draws
//! the previous one and says "updating… as of" its time ([`TableStatus`]).

use egui::{Align, Color32, Layout, RichText, Ui};

use super::style::{self, HISTORY, priority_color};
use super::{Command, View};
use crate::twin::alarms::AlarmState;
use crate::twin::filter::{Expr, FilterError};
use crate::twin::fleet_table::{Column, Row, SortBy, Table, limit_text, ttl_ms};
use crate::twin::forecast::Rul;

/// Width of the asset column, and of the others.
const ASSET_W: f32 = 160.0;
const CELL_W: f32 = 88.0;
const WIDE_W: f32 = 170.0;
/// The header of a table being updated: the orange of stale values, as it is stale too.
const UPDATING: Color32 = Color32::from_rgb(230, 150, 60);

/// The table's own state: the operator's columns, sort and filter (persisted per cluster:
/// the columns; the rest is per session).
#[derive(Debug, Default)]
pub struct FleetTableState {
    /// The property columns the operator chose; `None` shows the group's first properties.
    pub columns: Option<Vec<String>>,
    pub sort: Option<SortBy>,
    pub filter_text: String,
    /// How current the table drawn is: set by the app each frame before the panel draws.
    pub status: TableStatus,
    /// The text `parsed` was parsed from.
    parsed_for: String,
    parsed: Option<Result<Option<Expr>, FilterError>>,
}

/// How current the drawn table is, as the app found it this frame. Large tables are read and
/// ordered over several frames, and meanwhile the previous rows stay on screen: the header
/// then says so and for which time they are, so an old table is never taken for the new one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TableStatus {
    /// The rows or their order are for other inputs (time, group, columns, filter or sort)
    /// than the current ones, which are being worked on.
    pub updating: bool,
    /// Nothing has been read for this group yet: no rows to draw.
    pub loading: bool,
    /// How far the read in hand is (0 to 1), while one runs.
    pub progress: Option<f32>,
}

impl FleetTableState {
    /// The parsed filter (parsed again only when the text changed).
    pub fn filter(&mut self) -> Result<Option<&Expr>, &FilterError> {
        if self.parsed.is_none() || self.parsed_for != self.filter_text {
            self.parsed = Some(Expr::parse(&self.filter_text));
            self.parsed_for.clone_from(&self.filter_text);
        }
        match &self.parsed {
            Some(Ok(e)) => Ok(e.as_ref()),
            Some(Err(e)) => Err(e),
            None => Ok(None),
        }
    }

    /// The filter that applies: a filter that does not parse filters nothing (its error is
    /// shown under the box instead).
    pub fn applied_filter(&mut self) -> Option<Expr> {
        self.filter().ok().flatten().cloned()
    }

    /// Clicking a header: sort by it, or flip the direction when it is already the sort.
    fn toggle_sort(&mut self, column: Column) {
        self.sort = match self.sort.take() {
            Some(s) if s.column == column => Some(SortBy {
                column,
                descending: !s.descending,
            }),
            _ => Some(SortBy {
                column,
                descending: false,
            }),
        };
    }
}

/// Shows the table of `group`: `table` as built by the app and `order` (the rows passing the
/// filter, sorted). Returns selection and export commands.
pub fn show(
    ui: &mut Ui,
    view: &View<'_>,
    group: &str,
    table: &Table,
    order: &[u32],
    state: &mut FleetTableState,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    let status = state.status;
    // Rows for another time than the cursor's are out of date whatever the app reported.
    let updating = status.updating || status.loading || table.at != view.query_at;
    ui.horizontal(|ui| {
        ui.heading(group);
        let text = if status.loading {
            let pct = status.progress.map_or(0.0, |p| p * 100.0);
            format!("reading the group's assets… {pct:.0}%")
        } else {
            let as_of = if !updating && view.live {
                "live".to_owned()
            } else if updating && table.at == i64::MAX {
                "updating… showing the live rows".to_owned()
            } else if updating {
                format!("updating… as of {}", style::datetime(table.at))
            } else {
                format!("as of {}", style::datetime(view.display_at))
            };
            format!(
                "{} assets · {} shown · {as_of}",
                table.rows.len(),
                order.len()
            )
        };
        ui.label(RichText::new(text).color(if updating {
            UPDATING
        } else if view.live {
            ui.visuals().weak_text_color()
        } else {
            HISTORY
        }));
        if updating {
            ui.spinner();
        }
    });
    own_properties(ui, view);
    toolbar(ui, table, state, &mut cmds);
    ui.separator();
    if status.loading {
        return cmds;
    }
    if table.rows.is_empty() {
        ui.label(RichText::new("No assets in this group at this time.").weak());
        return cmds;
    }
    let row_h = ui.spacing().interact_size.y;
    egui::ScrollArea::horizontal()
        .id_salt("fleet_table_h")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            header(ui, view, table, state);
            egui::ScrollArea::vertical()
                .id_salt("fleet_table_rows")
                .auto_shrink([false, false])
                .show_rows(ui, row_h, order.len(), |ui, range| {
                    for &i in &order[range] {
                        if let Some(r) = table.rows.get(i as usize) {
                            row(ui, view, group, table, r, row_h, &mut cmds);
                        }
                    }
                });
        });
    cmds
}

/// A group that is an asset itself (a site in `twin.assets`) may have a few properties of
/// its own: one line of them above its table.
fn own_properties(ui: &mut Ui, view: &View<'_>) {
    let Some(a) = view.selected_asset else {
        return;
    };
    let props = view.store.props_at(a, view.query_at);
    if props.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for p in &props {
            let unit = view.units.get(p.name.as_ref()).map_or("", String::as_str);
            ui.label(RichText::new(format!("{} {} {unit}", p.name, p.sample.value)).small());
        }
    });
}

/// The filter box (with its parse error under it), the column chooser and the export.
fn toolbar(ui: &mut Ui, table: &Table, state: &mut FleetTableState, cmds: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.label("Filter");
        let r = ui.add(
            egui::TextEdit::singleline(&mut state.filter_text)
                .hint_text(r#"speed > 100 and state == "FAULT""#)
                .font(egui::TextStyle::Monospace)
                .desired_width(320.0),
        );
        // The hover is the box's accessible name, as for the time box.
        r.on_hover_text("Fleet filter");
        ui.label(RichText::new("?").weak()).on_hover_text(
            "Compare properties with numbers or \"strings\": == != < <= > >=, joined with \
             and / or / not and parentheses, e.g. battery.soc < 0.2 and region == \"eu\". \
             Also: asset, alarm (worst priority), alarm_state, kind, name and the asset's \
             attributes. A row without the property does not match.",
        );
        if !state.filter_text.is_empty() && ui.small_button("✖").on_hover_text("Clear").clicked()
        {
            state.filter_text.clear();
        }
        ui.menu_button("Columns…", |ui| {
            let shown: Vec<String> = table.shown.iter().map(|s| s.to_string()).collect();
            for p in &table.available {
                let mut on = shown.iter().any(|s| s == p.as_ref());
                if ui.checkbox(&mut on, p.as_ref()).changed() {
                    let mut cols = shown.clone();
                    if on {
                        cols.push(p.to_string());
                        // Keep the order the group's properties have.
                        cols.sort_by_key(|c| table.available.iter().position(|a| a.as_ref() == c));
                    } else {
                        cols.retain(|c| c != p.as_ref());
                    }
                    state.columns = Some(cols);
                }
            }
            ui.separator();
            if ui.button("Default columns").clicked() {
                state.columns = None;
                ui.close();
            }
        });
        if ui
            .button("Export CSV…")
            .on_hover_text("The rows shown, in this order, as CSV")
            .clicked()
        {
            cmds.push(Command::ExportFleetTable);
        }
    });
    if let Err(e) = state.filter() {
        // Point at the column under the text: the box is monospace, so a caret lines up.
        ui.horizontal(|ui| {
            ui.add_space(ui.spacing().item_spacing.x);
            ui.label(
                RichText::new(format!("⚠ {e}"))
                    .color(Color32::from_rgb(235, 90, 80))
                    .small(),
            );
        });
    }
}

/// Column headers; clicking one sorts by it (again: the other way).
fn header(ui: &mut Ui, view: &View<'_>, table: &Table, state: &mut FleetTableState) {
    let h = ui.spacing().interact_size.y;
    ui.horizontal(|ui| {
        let mut head = |ui: &mut Ui, column: Column, text: String, w: f32| {
            let arrow = match &state.sort {
                Some(s) if s.column == column => {
                    if s.descending {
                        " ⏷"
                    } else {
                        " ⏶"
                    }
                }
                _ => "",
            };
            let name = format!("Sort by {text}");
            let r = ui
                .add_sized(
                    [w, h],
                    egui::Button::new(RichText::new(format!("{text}{arrow}")).strong())
                        .frame(false)
                        .truncate(),
                )
                .on_hover_text("Sort by this column (again: reverse)");
            r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
            if r.clicked() {
                state.toggle_sort(column);
            }
        };
        // What needs attention first (alarm, age, time to limit), then the properties.
        head(ui, Column::Asset, "asset".into(), ASSET_W);
        head(ui, Column::Alarm, "alarm".into(), CELL_W);
        head(ui, Column::Age, "age".into(), CELL_W);
        head(ui, Column::TimeToLimit, "time to limit".into(), WIDE_W);
        for p in &table.shown {
            let text = match view.units.get(p.as_ref()) {
                Some(u) => format!("{p} ({u})"),
                None => p.to_string(),
            };
            head(ui, Column::Prop(p.clone()), text, CELL_W);
        }
    });
}

/// A cell of fixed width, its text left-aligned and clipped.
fn cell(ui: &mut Ui, w: f32, h: f32, add: impl FnOnce(&mut Ui)) {
    ui.allocate_ui_with_layout(
        egui::vec2(w, h),
        Layout::left_to_right(Align::Center),
        |ui| {
            ui.set_width(w);
            ui.set_clip_rect(ui.max_rect().intersect(ui.clip_rect()));
            add(ui);
        },
    );
}

fn row(
    ui: &mut Ui,
    view: &View<'_>,
    group: &str,
    table: &Table,
    r: &Row,
    h: f32,
    cmds: &mut Vec<Command>,
) {
    let sep = view.store.separator();
    ui.horizontal(|ui| {
        cell(ui, ASSET_W, h, |ui| {
            let selected = view.selected == Some(r.id.as_ref());
            // Relative to the group: the group is in the heading.
            let short =
                r.id.strip_prefix(group)
                    .map_or(r.id.as_ref(), |s| s.trim_start_matches(sep));
            let resp = ui
                .selectable_label(selected, RichText::new(short).monospace())
                .on_hover_text("Select this asset");
            let name = format!("Fleet row {}", r.id);
            resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
            if resp.clicked() {
                cmds.push(Command::Select(Some(r.id.to_string())));
            }
        });
        cell(ui, CELL_W, h, |ui| match &r.alarm {
            Some((p, s)) => {
                let dot = if matches!(s, AlarmState::UnackActive | AlarmState::UnackRtn) {
                    "●"
                } else {
                    "◉"
                };
                ui.label(RichText::new(format!("{dot} {}", p.as_str())).color(priority_color(*p)))
                    .on_hover_text(crate::twin::store::state_name(s));
            }
            None => {
                ui.label(RichText::new("—").weak());
            }
        });
        cell(ui, CELL_W, h, |ui| match r.newest {
            Some(ts) => {
                let reference = if view.live { view.now } else { view.query_at };
                let age = (reference - ts).max(0);
                let stale = age > view.ui.stale_after_s as i64 * 1000;
                let text = RichText::new(style::duration(age));
                ui.label(if stale {
                    text.color(Color32::from_rgb(230, 150, 60))
                } else {
                    text
                })
                .on_hover_text(if stale {
                    format!(
                        "stale: older than {} s; newest value at {}",
                        view.ui.stale_after_s,
                        style::datetime(ts)
                    )
                } else {
                    format!("newest value at {}", style::datetime(ts))
                });
            }
            None => {
                ui.label(RichText::new("—").weak());
            }
        });
        cell(ui, WIDE_W, h, |ui| match &r.ttl {
            Some(t) => {
                let when = match t.rul {
                    Rul::AlreadyBeyond => "beyond now".to_owned(),
                    Rul::Crossing { .. } => format!("in {}", style::duration(ttl_ms(t))),
                };
                let color = match t.rul {
                    Rul::AlreadyBeyond => priority_color(crate::twin::alarms::Priority::Critical),
                    Rul::Crossing { .. } => HISTORY,
                };
                ui.label(
                    RichText::new(format!("{} {when}", limit_text(&t.prop, &t.limit)))
                        .small()
                        .color(color),
                );
            }
            None => {
                ui.label(RichText::new("—").weak())
                    .on_hover_text("No prediction toward a limit for this asset");
            }
        });
        for (i, p) in table.shown.iter().enumerate() {
            cell(ui, CELL_W, h, |ui| {
                let text = r
                    .cells
                    .get(i)
                    .and_then(Option::as_ref)
                    .map_or_else(|| "—".to_owned(), ToString::to_string);
                let name = format!("{} {p} = {text}", r.id);
                ui.label(RichText::new(&text).monospace())
                    .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &name));
            });
        }
    });
}

//! "At risk": the assets of the whole fleet with the shortest projected time to a limit, soonest
//! first (beyond a limit already at the top). Clicking a row selects the asset. The list comes
//! from the prediction thread; this panel only reads it.

use egui::{RichText, Ui};

use super::style::{self, HISTORY};
use super::{Command, View};
use crate::predict::FleetRisk;
use crate::twin::forecast::{Direction, Rul, Threshold};

/// Most rows shown.
const MAX_ROWS: usize = 12;

/// `> 7` or `< 1.5`.
#[must_use]
pub fn limit_text(l: &Threshold) -> String {
    let op = match l.direction {
        Direction::Above => ">",
        Direction::Below => "<",
    };
    format!("{op} {}", l.value)
}

/// How long until the limit, seen from `at`: `in 22 min (15 min – 31 min)`, or `beyond now`.
#[must_use]
pub fn rul_text(rul: &Rul, at: i64) -> String {
    match *rul {
        Rul::AlreadyBeyond => "beyond the limit now".to_owned(),
        Rul::Crossing {
            expected,
            earliest,
            latest,
        } => {
            let d = |t: i64| style::duration((t - at).max(0));
            if earliest == latest {
                format!("in {}", d(expected))
            } else {
                format!("in {} ({} – {})", d(expected), d(earliest), d(latest))
            }
        }
    }
}

/// Shows the list; returns selection commands.
pub fn show(
    ui: &mut Ui,
    view: &View<'_>,
    fleet: Option<&FleetRisk>,
    enabled: bool,
    busy: bool,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    ui.horizontal(|ui| {
        ui.heading("At risk");
        // Only before the first result: refreshes are frequent and would keep it spinning.
        if busy && fleet.is_none() {
            ui.spinner().on_hover_text("Computing predictions");
        }
        if let Some(f) = fleet
            && !view.live
        {
            ui.label(
                RichText::new(format!("as of {}", style::time(f.at)))
                    .color(HISTORY)
                    .small(),
            );
        }
    });
    if !enabled {
        ui.label(RichText::new("Predictions are off (F turns them on).").weak());
        return cmds;
    }
    let Some(fleet) = fleet else {
        ui.label(RichText::new("Computing…").weak());
        return cmds;
    };
    if fleet.rows.is_empty() {
        ui.label(RichText::new("No property is trending toward a limit.").weak())
            .on_hover_text("Limits come from [[limits]] and threshold [[rules]] in the config");
        return cmds;
    }
    egui::ScrollArea::vertical()
        .id_salt("at_risk")
        .max_height(170.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            for row in fleet.rows.iter().take(MAX_ROWS) {
                ui.horizontal(|ui| {
                    let selected = view.selected == Some(row.asset.as_ref());
                    let color = match row.rul {
                        Rul::AlreadyBeyond => {
                            style::priority_color(crate::twin::alarms::Priority::Critical)
                        }
                        Rul::Crossing { .. } => style::HISTORY,
                    };
                    let r = ui
                        .selectable_label(selected, RichText::new(row.asset.as_ref()).small())
                        .on_hover_text("Select this asset");
                    let name = format!("At risk: {} · {}", row.asset, row.prop);
                    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
                    if r.clicked() {
                        cmds.push(Command::Select(Some(row.asset.to_string())));
                    }
                    let text = format!(
                        "{} {} {}",
                        row.prop,
                        limit_text(&row.limit),
                        rul_text(&row.rul, fleet.at)
                    );
                    let when = match row.rul {
                        Rul::Crossing { expected, .. } => {
                            format!("expected at {}", style::datetime(expected))
                        }
                        Rul::AlreadyBeyond => "the latest value is beyond the limit".into(),
                    };
                    ui.label(RichText::new(text).small().color(color))
                        .on_hover_text(when);
                });
            }
            if fleet.rows.len() > MAX_ROWS {
                ui.label(
                    RichText::new(format!("… {} more", fleet.rows.len() - MAX_ROWS))
                        .small()
                        .weak(),
                );
            }
        });
    cmds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(limit_text(&Threshold::above(7.0)), "> 7");
        assert_eq!(limit_text(&Threshold::below(1.5)), "< 1.5");
        let r = Rul::Crossing {
            expected: 1_320_000,
            earliest: 900_000,
            latest: 1_860_000,
        };
        assert_eq!(rul_text(&r, 0), "in 22 min (15 min – 31 min)");
        let r = Rul::Crossing {
            expected: 50_000,
            earliest: 50_000,
            latest: 50_000,
        };
        assert_eq!(rul_text(&r, 0), "in 50 s");
        assert_eq!(rul_text(&Rul::AlreadyBeyond, 0), "beyond the limit now");
    }
}

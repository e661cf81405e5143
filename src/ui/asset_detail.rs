//! The selected asset: its definition and a property table with value, unit, age (stale when
//! old) and provenance, each value traceable to the exact Kafka record that set it.

use egui::{Color32, RichText, Ui};

use super::at_risk::{limit_text, rul_text};
use super::style::{self, HISTORY, LATE};
use super::{Command, PlotKey, View};
use crate::predict::PredictionCache;
use crate::twin::decode::Role;
use crate::twin::forecast::{Backtest, Rul, Threshold};
use crate::twin::seq_parts;
use crate::twin::store::PropView;

/// Shows the selected asset's properties as of the cursor, and the time to each limit of its
/// properties (`limited`: property and its limits), with a backtest when in the past.
pub fn show(
    ui: &mut Ui,
    view: &View<'_>,
    plotted: &[PlotKey],
    limited: &[(String, Vec<Threshold>)],
    pred: &PredictionCache,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    let Some(sel) = view.selected else {
        ui.vertical_centered(|ui| {
            ui.add_space(20.0);
            ui.label(
                RichText::new("Select an asset in the tree or an alarm to see its properties.")
                    .weak(),
            );
        });
        return cmds;
    };
    // A group that is in the tree at the cursor gets the fleet table instead of this panel
    // (see `fleet_table.rs`); what reaches here is not in the tree at this time.
    let Some(a) = view.selected_asset else {
        ui.heading(sel);
        ui.label(
            RichText::new(
                "Not in the asset tree at this time: no asset of this group existed at the \
                 cursor.",
            )
            .weak(),
        );
        return cmds;
    };
    let store = view.store;
    let Some(asset) = store.asset(a) else {
        return cmds;
    };
    let def = asset.def_at(view.query_at).flatten();
    ui.horizontal(|ui| {
        let name = def
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| asset.id.to_string());
        ui.heading(name);
        if let Some(kind) = def.and_then(|d| d.kind.as_deref()) {
            ui.label(RichText::new(kind).weak());
        }
        ui.label(RichText::new(asset.id.as_ref()).monospace().weak());
    });
    if !store.exists_at(a, view.query_at) {
        ui.colored_label(HISTORY, "This asset did not exist at the cursor time.");
    }
    late_data(ui, view, a);
    if let Some(d) = def
        && !d.attributes.is_empty()
    {
        ui.horizontal_wrapped(|ui| {
            for (k, v) in &d.attributes {
                ui.label(RichText::new(format!("{k}: {v}")).small().weak());
            }
        });
    }
    commands(
        ui,
        view,
        &asset.id,
        def.and_then(|d| d.kind.as_deref()),
        &mut cmds,
    );
    if pred.enabled && !limited.is_empty() {
        prediction(ui, view, &asset.id, limited, pred);
    }
    let props = store.props_at(a, view.query_at);
    if props.is_empty() {
        ui.label(RichText::new("No properties at this time.").weak());
        return cmds;
    }
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("props")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::Grid::new("props_grid")
                .striped(true)
                .num_columns(5)
                .spacing([14.0, 4.0])
                .show(ui, |ui| {
                    ui.strong("Property");
                    ui.strong("Value");
                    ui.strong("Unit");
                    ui.strong("Age");
                    ui.strong("Source");
                    ui.end_row();
                    for p in &props {
                        row(ui, view, &asset.id, p, plotted, &mut cmds);
                        ui.end_row();
                    }
                });
        });
    cmds
}

fn row(
    ui: &mut Ui,
    view: &View<'_>,
    asset: &str,
    p: &PropView,
    plotted: &[PlotKey],
    cmds: &mut Vec<Command>,
) {
    let key = PlotKey {
        asset: asset.to_owned(),
        prop: p.name.to_string(),
    };
    if p.numeric {
        let on = plotted.contains(&key);
        let r = ui
            .selectable_label(on, p.name.as_ref())
            .on_hover_text(if on {
                "Plotted: click to remove from the plot"
            } else {
                "Click to plot"
            });
        if r.clicked() {
            cmds.push(if on {
                Command::RemovePlot(key)
            } else {
                Command::AddPlot(key)
            });
        }
    } else {
        ui.label(p.name.as_ref());
    }
    ui.label(
        RichText::new(p.sample.value.to_string())
            .monospace()
            .strong(),
    );
    ui.label(view.units.get(p.name.as_ref()).map_or("", String::as_str));
    let reference = if view.live { view.now } else { view.query_at };
    let age = reference - p.sample.ts;
    let stale = age > view.ui.stale_after_s as i64 * 1000;
    let age_text = RichText::new(style::duration(age.max(0)));
    ui.label(if stale {
        age_text.color(Color32::from_rgb(230, 150, 60))
    } else {
        age_text
    })
    .on_hover_text(if stale {
        format!(
            "stale: older than {} s; event time {}",
            view.ui.stale_after_s,
            style::datetime(p.sample.ts)
        )
    } else {
        format!("event time {}", style::datetime(p.sample.ts))
    });
    let (partition, offset) = seq_parts(p.sample.seq);
    let topic = &view.topics[Role::Telemetry.index()];
    let kcat = format!(
        "kcat -b {} -C -t {topic} -p {partition} -o {offset} -c 1 -e -f '%k %s\\n'",
        view.brokers
    );
    // Records in a registry format name the schema they were written with.
    let schema = crate::schema::provenance::lookup(view.brokers, topic, partition, offset);
    let (source, schema_line) = match &schema {
        Some(s) => {
            let short = match (&s.subject, s.version) {
                (Some(subject), Some(v)) => format!("{subject} v{v}"),
                _ => format!("schema {}", s.id),
            };
            (
                format!("p{partition} @{offset} · {short}"),
                format!("\nSchema {s}"),
            )
        }
        None => (format!("p{partition} @{offset}"), String::new()),
    };
    let r = ui
        .add(egui::Label::new(RichText::new(source).monospace().small()).sense(egui::Sense::click()))
        .on_hover_text(format!(
            "Set by {topic} partition {partition} offset {offset}{schema_line}\nKafka timestamp {}\nEvent time {}\nClick to copy the kcat command that fetches this record.",
            style::rfc3339(p.sample.kafka_ts),
            style::rfc3339(p.sample.ts)
        ));
    if r.clicked() {
        cmds.push(Command::Copy {
            text: kcat.clone(),
            what: "kcat command".into(),
        });
    }
    r.context_menu(|ui| {
        if ui.button("Copy kcat command").clicked() {
            cmds.push(Command::Copy {
                text: kcat,
                what: "kcat command".into(),
            });
            ui.close();
        }
    });
}

/// Command buttons for this asset (write-back only), and the commands sent to it with their
/// outcome: sent → accepted / rejected / timed out.
fn commands(
    ui: &mut Ui,
    view: &View<'_>,
    asset: &str,
    kind: Option<&str>,
    cmds: &mut Vec<Command>,
) {
    let defs: Vec<_> = view
        .commands
        .iter()
        .filter(|c| c.applies_to(kind))
        .collect();
    let sent: Vec<_> = view.sent.iter().filter(|s| s.asset == asset).collect();
    if defs.is_empty() && sent.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Commands").strong());
        if !view.can_write {
            ui.label(RichText::new("read-only (start with --allow-write)").weak());
            return;
        }
        for d in &defs {
            let r = ui
                .add_enabled(view.live, egui::Button::new(d.label()))
                .on_disabled_hover_text("Time travel is read-only: go live to send commands");
            if r.clicked() {
                cmds.push(Command::RequestCommand {
                    asset: asset.to_owned(),
                    name: d.name.clone(),
                });
            }
        }
    });
    for s in sent.iter().rev().take(5) {
        let (status, color) = match view.store.command_outcome(&s.correlation_id) {
            Some(o) if o.status == "accepted" => {
                (o.status.clone(), Color32::from_rgb(80, 200, 120))
            }
            Some(o) => (o.status.clone(), Color32::from_rgb(235, 90, 80)),
            None if view.now - s.at > super::COMMAND_TIMEOUT_MS => {
                ("timed out".to_owned(), Color32::from_rgb(235, 90, 80))
            }
            None => ("sent".to_owned(), Color32::GRAY),
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(style::time(s.at)).small().weak());
            ui.label(
                RichText::new(format!("{} {}", s.name, s.payload))
                    .small()
                    .monospace(),
            );
            ui.label(
                RichText::new(format!("→ {status}"))
                    .small()
                    .color(color)
                    .strong(),
            )
            .on_hover_text(format!("correlation id {}", s.correlation_id));
        });
    }
}

/// Time to threshold per limited property; in the past, how the forecast made at the cursor
/// compared with what happened.
fn prediction(
    ui: &mut Ui,
    view: &View<'_>,
    asset: &str,
    limited: &[(String, Vec<Threshold>)],
    pred: &PredictionCache,
) {
    ui.separator();
    for (prop, limits) in limited {
        let o = pred.outcome(asset, prop);
        let p = o.and_then(|o| o.prediction.as_ref());
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("⏳").strong())
                .on_hover_text("Time to threshold: Theil–Sen trend of the last hour, 95 % band");
            let lim = limits.iter().map(limit_text).collect::<Vec<_>>().join(", ");
            let text = match (o, p) {
                (None, _) => format!("{prop} {lim}: computing…"),
                (Some(_), None) => format!("{prop} {lim}: too few samples to forecast"),
                (Some(o), Some(p)) => match o.rul {
                    Some((l, r)) => format!("{prop} {} {}", limit_text(&l), rul_text(&r, p.at)),
                    None => format!(
                        "{prop} {lim}: no trend toward the limit ({:+.3}/h)",
                        p.slope_per_s() * 3600.0
                    ),
                },
            };
            let color = match o.and_then(|o| o.rul) {
                Some((_, Rul::AlreadyBeyond)) => {
                    style::priority_color(crate::twin::alarms::Priority::Critical)
                }
                Some(_) => HISTORY,
                None => ui.visuals().text_color(),
            };
            let r = ui.label(RichText::new(text).color(color));
            if let Some(Rul::Crossing {
                expected,
                earliest,
                latest,
            }) = o.and_then(|o| o.rul).map(|(_, r)| r)
            {
                r.on_hover_text(format!(
                    "expected {}\nearliest {}\nlatest {}\n(95 % band of the trend)",
                    style::datetime(expected),
                    style::datetime(earliest),
                    style::datetime(latest)
                ));
            }
        });
        if !view.live
            && let (Some(p), Some(b)) = (p, o.and_then(|o| o.backtest.as_ref()))
        {
            ui.label(
                RichText::new(backtest_text(b, p.at, view.units.get(prop.as_str())))
                    .small()
                    .color(HISTORY),
            );
        }
    }
}

/// One line on how a forecast made at `at` did: MAE over the next 30 min, and whether and when
/// the predicted crossing happened.
#[must_use]
pub fn backtest_text(b: &Backtest, at: i64, unit: Option<&String>) -> String {
    let unit = unit.map_or(String::new(), |u| format!(" {u}"));
    let mae = match b.mae {
        Some(m) => format!("MAE {m:.3}{unit} over {} samples", b.overlap),
        None => "no data after the cursor yet".to_owned(),
    };
    let crossing = match (b.predicted_crossing, b.actual_crossing) {
        (Some(p), Some(a)) => {
            let d = a - p;
            let how = if d >= 0 { "later" } else { "earlier" };
            format!(
                "crossing predicted {}, happened {} ({} {how})",
                style::time(p),
                style::time(a),
                style::duration(d.abs())
            )
        }
        (Some(p), None) => format!("crossing predicted {}, has not happened", style::time(p)),
        (None, Some(a)) => format!("no crossing predicted, happened {}", style::time(a)),
        (None, None) => "no crossing predicted, none happened".to_owned(),
    };
    format!("Backtest from {}: {mae}; {crossing}", style::time(at))
}

/// The stretches of this asset's history that reached Kafka late (a device that was offline
/// and uploaded its buffer), newest three: what was shown for those times before they arrived
/// was missing them.
fn late_data(ui: &mut Ui, view: &View<'_>, a: crate::twin::store::AssetIdx) {
    let spans: Vec<_> = view
        .store
        .late_spans()
        .iter()
        .filter(|s| s.asset == a && s.first_arrived <= view.query_at.max(view.head))
        .collect();
    for s in spans.iter().rev().take(3) {
        let text = format!(
            "⏳ late data: {} ({}–{}) arrived at {}",
            style::duration(s.to - s.from),
            style::time(s.from),
            style::time(s.to),
            style::time(s.arrived)
        );
        ui.colored_label(LATE, text).on_hover_text(format!(
            "{} records with event times {} – {} were written to Kafka when their partition was \
             already at {}: the device was offline and uploaded its buffer. Anything shown for \
             those times before then was missing them.",
            s.records,
            style::datetime(s.from),
            style::datetime(s.to),
            style::datetime(s.arrived)
        ));
    }
    if spans.len() > 3 {
        ui.label(RichText::new(format!("… and {} earlier late uploads", spans.len() - 3)).weak());
    }
}

//! The status bar and the banners: connection state, throughput, lag per topic, bad records,
//! catch-up progress, write mode, and the history indicator. It tells the truth about
//! twinscope's own state: connected or not, behind or not, and what was evicted.

use egui::{Color32, RichText, Ui};

use super::style::{self, HISTORY, LIVE};
use super::{Command, View};
use crate::kafka::ingest::{Conn, Progress};
use crate::twin::alarms::Priority;
use crate::twin::store::NotExact;

/// Ingest state as last reported.
#[derive(Debug, Clone, Default)]
pub struct IngestStatus {
    pub conn: Option<Conn>,
    pub progress: Progress,
    /// Where we read from, for display.
    pub source: String,
    /// Set when the ingest could not even start (bad client config).
    pub fatal: Option<String>,
    /// Notices from the ingest about the read itself, shown in the diagnostics window.
    pub notices: Vec<String>,
}

/// The bottom status bar.
pub fn show(
    ui: &mut Ui,
    view: &View<'_>,
    st: &IngestStatus,
    write_requested: bool,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    ui.horizontal(|ui| {
        let (dot, text, color) = match (&st.fatal, &st.conn) {
            (Some(_), _) => ("●", "Error", Color32::from_rgb(235, 64, 52)),
            (_, Some(Conn::Connected)) => ("●", "Connected", LIVE),
            (_, Some(Conn::WaitingForTopics(_))) => ("●", "Waiting for topics", HISTORY),
            (_, Some(Conn::Disconnected { .. })) => ("●", "Disconnected", Color32::from_rgb(235, 64, 52)),
            (_, Some(Conn::Rejected { .. })) => ("●", "Refused by the cluster", Color32::from_rgb(235, 64, 52)),
            _ => ("●", "Connecting", Color32::GRAY),
        };
        ui.label(RichText::new(dot).color(color));
        ui.label(text).on_hover_text(&st.source);
        ui.separator();
        if let Some(problem) = &st.progress.schema_registry {
            ui.label(RichText::new("⛔ Schema registry unreachable").color(Color32::from_rgb(235, 64, 52)).strong())
                .on_hover_text(problem);
            ui.separator();
        }
        let p = &st.progress;
        if !p.caught_up && st.conn.is_some() {
            ui.add(
                egui::ProgressBar::new(p.fraction)
                    .desired_width(160.0)
                    .show_percentage()
                    .text(format!("catching up {:.0}%", p.fraction * 100.0)),
            );
        }
        ui.label(format!("{} msg/s", style::count(p.msgs_per_s)));
        ui.label(format!("{} records", style::count(view.store.stats().records as f64)))
            .on_hover_text(format!(
                "{} records applied, {} samples, {} duplicates ignored",
                view.store.stats().records,
                view.store.stats().samples,
                view.store.stats().duplicates
            ));
        for t in &p.topics {
            let r = ui.label(RichText::new(format!("{}: lag {}", t.topic, style::count(t.lag as f64))).small());
            let mut hover = format!("{} partitions, {} records behind the head", t.partitions, t.lag);
            if t.skipped > 0 {
                hover.push_str(&format!("\n{} records were deleted by retention before they could be read", t.skipped));
            }
            if t.compacted > 0 {
                hover.push_str(&format!("\n{} offsets missing inside the log (compaction)", t.compacted));
            }
            r.on_hover_text(hover);
        }
        ui.separator();
        let bad = view.store.stats().bad;
        let bad_text = RichText::new(format!("⚠ {bad} bad records"));
        let bad_text = if bad > 0 { bad_text.color(HISTORY) } else { bad_text.weak() };
        if ui.button(bad_text).on_hover_text("Records that failed to decode").clicked() {
            cmds.push(Command::ShowDiagnostics(true));
        }
        ui.separator();
        let (n, is_flood) = super::alarms::flood(view);
        if is_flood {
            ui.label(RichText::new(format!("⚠ FLOOD {n}/10 min")).color(style::priority_color(Priority::Critical)).strong());
        }
        let counts = priority_counts(view);
        for (p, n) in counts {
            if n > 0 {
                ui.label(RichText::new(format!("{} {n}", p.as_str())).color(style::priority_color(p)).small());
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if write_requested {
                ui.label(RichText::new("write-back ON").color(HISTORY).strong());
            } else {
                ui.label(RichText::new("read-only").weak())
                    .on_hover_text("Write-back is off: twinscope produces nothing to Kafka. Enable with --allow-write.");
            }
            if let Some(from) = view.store.retained_from() {
                ui.label(RichText::new(format!("retained from {}", style::datetime(from))).small().color(HISTORY))
                    .on_hover_text("Kafka's retention has deleted older records: earlier times are not retained and cannot be shown exactly.");
            }
            if let Some(start) = view.store.history_start() {
                ui.label(RichText::new(format!("history before {} evicted", style::time(start))).small().color(HISTORY))
                    .on_hover_text("Older history exceeded the memory budget (history.budget_mb); it stays in Kafka.");
            }
        });
    });
    cmds
}

fn priority_counts(view: &View<'_>) -> [(Priority, usize); 4] {
    let mut c = [
        (Priority::Critical, 0),
        (Priority::High, 0),
        (Priority::Medium, 0),
        (Priority::Low, 0),
    ];
    for a in view.alarms {
        if let Some(slot) = c.iter_mut().find(|(p, _)| *p == a.priority) {
            slot.1 += 1;
        }
    }
    c
}

/// Banners above everything: broker trouble and "you are looking at history".
pub fn banners(ui: &mut Ui, view: &View<'_>, st: &IngestStatus) -> Vec<Command> {
    let mut cmds = Vec::new();
    let red = Color32::from_rgb(150, 30, 30);
    if let Some(f) = &st.fatal {
        banner(ui, red, &format!("⚠ Cannot start ingest: {f}"));
    } else if let Some(Conn::Disconnected { reason, retry_in_s }) = &st.conn {
        banner(
            ui,
            red,
            &format!(
                "⚠ Disconnected from {}: {reason}. Retrying every {retry_in_s} s; showing the last received state.",
                st.source
            ),
        );
    } else if let Some(Conn::Rejected { reason, retry_in_s }) = &st.conn {
        banner(
            ui,
            red,
            &format!(
                "⛔ {} refused the connection: {reason}. Retrying every {retry_in_s} s; showing the last received state.",
                st.source
            ),
        );
    } else if let Some(Conn::WaitingForTopics(t)) = &st.conn {
        banner(
            ui,
            Color32::from_rgb(120, 80, 10),
            &format!(
                "Waiting for topics: {} (picked up as soon as they exist)",
                t.join(", ")
            ),
        );
    }
    if let Err(why) = view.store.exact_at(view.display_at) {
        // Said outright instead of showing a fleet that may differ from what it was.
        let text = match why {
            NotExact::NotRetained { topic, through } => format!(
                "⚠ Not retained: Kafka has deleted {topic} records up to {}. The state shown at {} may be incomplete; the earliest exact time is {}.",
                style::datetime(through),
                style::datetime(view.display_at),
                style::datetime(through + 1)
            ),
            NotExact::Compacted { topic, through } => format!(
                "⚠ Asset history incomplete: compaction removed definitions from {topic} that were in force up to {}. The tree at {} may differ from what it was; it is exact from {} on.",
                style::datetime(through),
                style::datetime(view.display_at),
                style::datetime(through + 1)
            ),
        };
        banner(ui, red, &text);
    }
    if !view.live {
        late_notice(ui, view);
        egui::Frame::new()
            .fill(Color32::from_rgb(110, 60, 0))
            .inner_margin(6.0)
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    let big = |text: String| {
                        RichText::new(text)
                            .strong()
                            .color(Color32::WHITE)
                            .size(16.0)
                    };
                    ui.label(big("⏪ HISTORY".to_owned()));
                    ui.label(big(format!(
                        "showing the fleet as of {}",
                        style::datetime(view.display_at)
                    )));
                    ui.label(
                        RichText::new(format!(
                            "({} behind live)",
                            style::duration(view.head - view.display_at)
                        ))
                        .color(Color32::WHITE),
                    );
                    if ui.button("Go live (End)").clicked() {
                        cmds.push(Command::Timeline(crate::timeline::TimelineCommand::GoLive));
                    }
                });
            });
    }
    cmds
}

/// With the cursor in the past: whether data that arrived late changed what this time shows,
/// so an operator comparing with an earlier look knows why it differs.
fn late_notice(ui: &mut Ui, view: &View<'_>) {
    let (mut arrived, mut assets) = (i64::MIN, Vec::new());
    for s in view.store.late_changes_at(view.display_at) {
        arrived = arrived.max(s.arrived);
        if !assets.contains(&s.asset) {
            assets.push(s.asset);
        }
    }
    if assets.is_empty() {
        return;
    }
    let names: Vec<&str> = assets
        .iter()
        .take(3)
        .filter_map(|&a| view.store.asset(a).map(|x| x.id.as_ref()))
        .collect();
    let more = if assets.len() > 3 {
        format!(" and {} more", assets.len() - 3)
    } else {
        String::new()
    };
    banner(
        ui,
        Color32::from_rgb(90, 50, 130),
        &format!(
            "⏳ History at this time changed at {}: late data from {}{more} arrived after it.",
            style::time(arrived),
            names.join(", ")
        ),
    );
}

/// Shown while history evicted from memory is being re-read from Kafka.
pub fn replay_banner(ui: &mut Ui, fraction: f32, until: i64) {
    egui::Frame::new()
        .fill(Color32::from_rgb(30, 60, 110))
        .inner_margin(6.0)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!(
                        "Re-reading history up to {} from Kafka (it was evicted from memory)",
                        style::datetime(until)
                    ))
                    .color(Color32::WHITE)
                    .strong(),
                );
                ui.add(
                    egui::ProgressBar::new(fraction)
                        .desired_width(220.0)
                        .show_percentage(),
                );
            });
        });
}

fn banner(ui: &mut Ui, fill: Color32, text: &str) {
    egui::Frame::new()
        .fill(fill)
        .inner_margin(6.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(text).color(Color32::WHITE).strong());
        });
}

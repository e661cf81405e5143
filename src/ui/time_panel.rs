//! The time panel (bottom): a bar over the whole retained range with a data-density mini-map,
//! coloured alarm markers and a draggable cursor; play/pause, speed, Live, and a box to type a
//! time. Follows Rerun's time panel and Foxglove's playback bar.

use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, Ui, vec2};

use super::style::{self, HISTORY, LATE, LIVE, priority_color};
use super::{Command, View};
use crate::timeline::{PlayState, SPEED_RANGE, TimelineCommand, parse_time_input};

/// Time panel state owned by the UI.
#[derive(Debug, Clone, Default)]
pub struct TimePanelState {
    pub input: String,
    pub input_error: Option<String>,
}

/// Shows the panel. `earliest..=head` is the range the bar spans.
pub fn show(
    ui: &mut Ui,
    view: &View<'_>,
    state: PlayState,
    speed: f64,
    earliest: i64,
    markers: (Option<i64>, Option<i64>),
    st: &mut TimePanelState,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    let head = view.head;
    ui.horizontal(|ui| {
        if ui
            .button("⏮")
            .on_hover_text("Earliest retained time (Home)")
            .clicked()
        {
            cmds.push(Command::Timeline(TimelineCommand::Seek(earliest)));
        }
        let playing = matches!(state, PlayState::Playing { .. });
        let label = if playing { "⏸ Pause" } else { "▶ Play" };
        if ui
            .button(label)
            .on_hover_text("Play or pause (Space)")
            .clicked()
        {
            cmds.push(Command::Timeline(TimelineCommand::TogglePlay));
        }
        let live_text = RichText::new("● LIVE").strong();
        let live_btn = if view.live {
            egui::Button::new(live_text.color(Color32::BLACK)).fill(LIVE)
        } else {
            egui::Button::new(live_text.color(LIVE))
        };
        if ui
            .add(live_btn)
            .on_hover_text("Follow the head of the log (End)")
            .clicked()
        {
            cmds.push(Command::Timeline(TimelineCommand::GoLive));
        }
        let mut s = speed;
        let r = ui.add(
            egui::Slider::new(&mut s, SPEED_RANGE.0..=SPEED_RANGE.1)
                .logarithmic(true)
                .suffix("×")
                .text("speed"),
        );
        if r.changed() {
            cmds.push(Command::Timeline(TimelineCommand::SetSpeed(s)));
        }
        ui.separator();
        let cursor_text = RichText::new(style::datetime(view.display_at))
            .monospace()
            .size(15.0);
        ui.label(if view.live {
            cursor_text.color(LIVE)
        } else {
            cursor_text.color(HISTORY).strong()
        });
        ui.separator();
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut st.input)
                    .hint_text("go to: -15m, 03:12, RFC 3339")
                    .desired_width(190.0),
            )
            .on_hover_text("Go to time");
        let go = ui.button("Go").clicked()
            || (r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
        if go {
            match parse_time_input(&st.input, view.now) {
                Ok(t) => {
                    st.input_error = None;
                    cmds.push(Command::Timeline(TimelineCommand::Seek(t)));
                }
                Err(e) => st.input_error = Some(e.to_string()),
            }
        }
        if let Some(e) = &st.input_error {
            ui.colored_label(Color32::from_rgb(235, 90, 80), "⚠")
                .on_hover_text(e);
        }
        ui.separator();
        if ui
            .button("Set A")
            .on_hover_text("Mark A at the cursor")
            .clicked()
        {
            cmds.push(Command::Timeline(TimelineCommand::MarkA));
        }
        if ui
            .button("Set B")
            .on_hover_text("Mark B at the cursor")
            .clicked()
        {
            cmds.push(Command::Timeline(TimelineCommand::MarkB));
        }
        if ui
            .add_enabled(
                markers.0.is_some() && markers.1.is_some(),
                egui::Button::new("Diff A→B"),
            )
            .on_hover_text("What changed in the selected subtree between A and B")
            .clicked()
        {
            cmds.push(Command::ShowDiff(true));
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(
                RichText::new(format!(
                    "{} – {}",
                    style::datetime(earliest),
                    style::time(head)
                ))
                .small()
                .weak(),
            )
            .on_hover_text(format!(
                "retained range: {}",
                style::duration(head - earliest)
            ));
        });
    });
    bar(ui, view, (earliest, head), markers, &mut cmds);
    cmds
}

fn bar(
    ui: &mut Ui,
    view: &View<'_>,
    (earliest, head): (i64, i64),
    markers: (Option<i64>, Option<i64>),
    cmds: &mut Vec<Command>,
) {
    let (rect, resp) =
        ui.allocate_exact_size(vec2(ui.available_width(), 46.0), Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_gray(28));
    let span = (head - earliest).max(1) as f32;
    let x_of = |t: i64| rect.left() + (t - earliest) as f32 / span * rect.width();
    let t_of =
        |x: f32| earliest + (((x - rect.left()) / rect.width()).clamp(0.0, 1.0) * span) as i64;
    // Density mini-map: records per column, on a log scale so quiet stretches still show.
    let cols = (rect.width() / 3.0).max(1.0) as usize;
    let density = view.store.density(earliest, head, cols);
    let max = density.iter().copied().max().unwrap_or(0).max(1) as f32;
    let band = Rect::from_min_max(
        Pos2::new(rect.left(), rect.top() + 16.0),
        rect.right_bottom(),
    );
    for (i, &d) in density.iter().enumerate() {
        if d == 0 {
            continue;
        }
        let h = ((d as f32).ln_1p() / max.ln_1p()) * (band.height() - 4.0);
        let x = band.left() + i as f32 * band.width() / cols as f32;
        painter.rect_filled(
            Rect::from_min_max(
                Pos2::new(x, band.bottom() - h),
                Pos2::new(x + band.width() / cols as f32, band.bottom()),
            ),
            0.0,
            Color32::from_rgb(60, 90, 130),
        );
    }
    // Alarm markers: one tick per activation, coloured by priority; each is its own widget so
    // it can be clicked (and found by screen readers and UI tests).
    let mut marker_clicked = None;
    let mut marker_hovered = false;
    for (i, (t, p)) in view
        .store
        .alarm_activations(earliest, head)
        .into_iter()
        .enumerate()
    {
        let x = x_of(t);
        let r = Rect::from_center_size(Pos2::new(x, rect.top() + 7.0), vec2(4.0, 12.0));
        painter.rect_filled(r, 1.0, priority_color(p));
        let m = ui.interact(
            r.expand2(vec2(1.0, 2.0)),
            ui.scope_id().with(("alarm_marker", i)),
            Sense::click(),
        );
        let label = format!("{} alarm at {}", p.as_str(), style::datetime(t));
        m.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        if m.double_clicked() {
            // The alarm raised there, in the incident view.
            cmds.push(Command::OpenIncident(
                super::incident::IncidentTarget::RaisedAt(t),
            ));
        } else if m.clicked() {
            marker_clicked = Some(t);
        }
        if m.hovered() {
            marker_hovered = true;
            m.on_hover_text(format!(
                "{label} — click to go there, double-click for the incident view"
            ));
        }
    }
    // Stretches filled in late (buffered uploads), merged across assets: a band along the
    // bottom, each part hoverable and named for screen readers and UI tests.
    for (i, (from, to, arrived, assets)) in late_bands(view.store, earliest, head)
        .into_iter()
        .enumerate()
    {
        let r = Rect::from_min_max(
            Pos2::new(x_of(from), rect.bottom() - 5.0),
            Pos2::new(x_of(to).max(x_of(from) + 2.0), rect.bottom()),
        );
        painter.rect_filled(r, 1.0, LATE);
        let m = ui.interact(r, ui.scope_id().with(("late_band", i)), Sense::hover());
        let label = format!(
            "late data {}–{} arrived at {} ({assets} uploads)",
            style::time(from),
            style::time(to),
            style::time(arrived)
        );
        m.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &label));
        if m.hovered() {
            marker_hovered = true;
            m.on_hover_text(label);
        }
    }
    // A and B diff markers.
    for (name, t) in [("A", markers.0), ("B", markers.1)] {
        if let Some(t) = t {
            let x = x_of(t.clamp(earliest, head));
            let c = Color32::from_rgb(200, 160, 255);
            painter.line_segment(
                [Pos2::new(x, rect.top() + 14.0), Pos2::new(x, rect.bottom())],
                Stroke::new(1.5, c),
            );
            painter.text(
                Pos2::new(x + 3.0, rect.top() + 16.0),
                egui::Align2::LEFT_TOP,
                name,
                egui::FontId::monospace(11.0),
                c,
            );
        }
    }
    // Cursor.
    let cx = x_of(view.display_at.clamp(earliest, head));
    let color = if view.live { LIVE } else { HISTORY };
    painter.line_segment(
        [Pos2::new(cx, rect.top()), Pos2::new(cx, rect.bottom())],
        Stroke::new(2.5, color),
    );
    painter.circle_filled(Pos2::new(cx, rect.top() + 3.0), 4.0, color);
    if let Some(t) = marker_clicked {
        cmds.push(Command::Timeline(TimelineCommand::Seek(t)));
        return;
    }
    if !marker_hovered && let Some(p) = resp.hover_pos() {
        resp.clone().on_hover_text(style::datetime(t_of(p.x)));
    }
    if (resp.clicked() || resp.dragged())
        && let Some(p) = resp.interact_pointer_pos()
    {
        cmds.push(Command::Timeline(TimelineCommand::Seek(t_of(p.x))));
    }
}

/// The late stretches in `earliest..=head`, overlapping ones merged: `(from, to, latest arrival,
/// uploads)`, at most a few hundred so a fleet-wide reconnect stays cheap to draw.
fn late_bands(store: &crate::twin::Store, earliest: i64, head: i64) -> Vec<(i64, i64, i64, usize)> {
    let mut spans: Vec<_> = store
        .late_spans()
        .iter()
        .filter(|s| s.to >= earliest && s.from <= head)
        .map(|s| (s.from.max(earliest), s.to.min(head), s.arrived, 1usize))
        .collect();
    spans.sort_unstable();
    let mut out: Vec<(i64, i64, i64, usize)> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.0 <= last.1 => {
                last.1 = last.1.max(s.1);
                last.2 = last.2.max(s.2);
                last.3 += 1;
            }
            _ => out.push(s),
        }
    }
    out.truncate(300);
    out
}

//! Plots of numeric properties over time (egui_plot). Several series, from any assets, share
//! one time axis. Following the head (live) or the cursor (playing) moves the window; when
//! paused the operator can zoom and pan freely. "Go to onset" sets an incident window
//! ([`PlotFocus`]) with the alarm shaded. Points are decimated per pixel column, so cost
//! depends on the plot's width, not on how many samples are in view.

use std::collections::HashMap;

use egui::{Color32, RichText, Ui};
use egui_plot::{
    FilledArea, HLine, Legend, Line, LineStyle, MarkerShape, Plot, PlotPoints, Points, VLine,
};

use super::style::{self, HISTORY};
use super::{Command, PlotKey, View};
use crate::predict::PredictionCache;
use crate::twin::forecast::Threshold;
use crate::twin::series::PlotCache;

/// Colour of anomaly markers.
const ANOMALY: Color32 = Color32::from_rgb(255, 60, 160);
/// Points evaluated along a forecast line (it is straight; the band edges too).
const FORECAST_STEPS: usize = 32;

/// Plot state kept between frames.
#[derive(Debug, Default, Clone)]
pub struct PlotState {
    /// Visible x range (ms) after the last frame.
    bounds: Option<(f64, f64)>,
    /// Cursor at the last frame; a jump recentres the window.
    last_at: Option<i64>,
    /// An incident's window, while the cursor stays at its onset.
    focus: Option<PlotFocus>,
    /// Each series drawn over its own range (see [`Scale`]).
    pub scaled: bool,
    /// Each plotted series' bucket points from earlier frames: a frame that follows the head
    /// recomputes a few buckets, not the whole window.
    caches: HashMap<PlotKey, PlotCache>,
}

/// How a series is drawn when each has its own range: its visible minimum at 0 and maximum at
/// 1, so a counter near 340,000 does not flatten a temperature near 40 on the shared axis.
/// Hover labels and the legend give the real values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    lo: f64,
    span: f64,
}

impl Scale {
    /// The identity: the shared axis.
    const NONE: Scale = Scale { lo: 0.0, span: 1.0 };

    /// The range of `pts`' values (a flat series is drawn at 0).
    fn of(pts: &[[f64; 2]]) -> Scale {
        let (lo, hi) = pts
            .iter()
            .map(|p| p[1])
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
        if lo > hi {
            return Scale::NONE;
        }
        let span = hi - lo;
        Scale {
            lo,
            span: if span > 0.0 { span } else { 1.0 },
        }
    }

    fn y(self, v: f64) -> f64 {
        (v - self.lo) / self.span
    }

    fn value(self, y: f64) -> f64 {
        self.lo + y * self.span
    }

    fn points(self, mut pts: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
        if self != Scale::NONE {
            for p in &mut pts {
                p[1] = self.y(p[1]);
            }
        }
        pts
    }
}

/// Whether the visible ranges of the series differ so much (100×) that the smaller ones look
/// flat on a shared axis.
fn ranges_differ(scales: &[Scale]) -> bool {
    let spans = scales
        .iter()
        .map(|s| s.span.max(s.lo.abs() * 1e-3).max(1e-9));
    let (lo, hi) = spans.fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    scales.len() > 1 && hi > 100.0 * lo
}

/// A fixed window around an alarm's onset (set by "go to onset"): the plot shows it once, with
/// the alarm shaded and the data after the cursor drawn faintly, so the operator sees the
/// onset in context. It lasts while the cursor stays at `at`; zoom and pan stay free.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotFocus {
    pub from: i64,
    pub to: i64,
    /// The cursor the window belongs to (the onset).
    pub at: i64,
    /// The alarm's active span, `[start, end)`; `None` end = still active at `to`.
    pub span: (i64, Option<i64>),
    /// Legend name of the shading, e.g. `FAULT_COLLISION (incident)`.
    pub label: String,
    pub color: Color32,
    /// Whether the window was already applied to the plot's bounds.
    applied: bool,
}

impl PlotFocus {
    /// A window not yet applied.
    #[must_use]
    pub fn new(
        (from, to): (i64, i64),
        at: i64,
        span: (i64, Option<i64>),
        label: String,
        color: Color32,
    ) -> Self {
        Self {
            from,
            to,
            at,
            span,
            label,
            color,
            applied: false,
        }
    }
}

impl PlotState {
    /// Shows `focus` on the next frame.
    pub fn set_focus(&mut self, focus: PlotFocus) {
        self.focus = Some(focus);
    }

    /// The incident window in force, if any.
    #[must_use]
    pub fn focus(&self) -> Option<&PlotFocus> {
        self.focus.as_ref()
    }
}

const PALETTE: [Color32; 8] = [
    Color32::from_rgb(90, 170, 255),
    Color32::from_rgb(255, 120, 90),
    Color32::from_rgb(120, 220, 120),
    Color32::from_rgb(230, 200, 80),
    Color32::from_rgb(200, 130, 255),
    Color32::from_rgb(80, 220, 220),
    Color32::from_rgb(255, 150, 200),
    Color32::from_rgb(190, 190, 190),
];

/// Shows the plotted series. `follow` is true while live or playing. With predictions on, each
/// series gets its forecast and band past the cursor, its limits and its anomalous points; in
/// the past, the actual data after the cursor is drawn beside the forecast (backtest).
pub fn show(
    ui: &mut Ui,
    view: &View<'_>,
    plotted: &[PlotKey],
    limits: &[Vec<Threshold>],
    pred: &PredictionCache,
    state: &mut PlotState,
    follow: bool,
) -> Vec<Command> {
    let mut cmds = Vec::new();
    let forecasting = pred.enabled;
    ui.horizontal_wrapped(|ui| {
        ui.strong("Plot");
        let r = ui
            .selectable_label(forecasting, "📈 Forecast")
            .on_hover_text("Forecast with prediction band, limits and anomalies (F)");
        r.widget_info(|| {
            egui::WidgetInfo::selected(egui::Role::Button, true, forecasting, "Forecast (F)")
        });
        if r.clicked() {
            cmds.push(Command::ToggleForecast);
        }
        if plotted.len() > 1 {
            let r = ui
                .selectable_label(state.scaled, "⇕ Scale each")
                .on_hover_text("Draw each series over its own range; hover shows real values (N)");
            r.widget_info(|| {
                egui::WidgetInfo::selected(egui::Role::Button, true, state.scaled, "Scale each (N)")
            });
            if r.clicked() {
                cmds.push(Command::ToggleScaled);
            }
        }
        if plotted.is_empty() {
            ui.label(RichText::new("Click a numeric property to plot it.").weak());
        }
        for (i, k) in plotted.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            ui.label(RichText::new("━").color(color));
            ui.label(format!("{} · {}", short(&k.asset), k.prop));
            let r = ui.small_button("✖").on_hover_text("Remove from the plot");
            let name = format!("Remove {}", k.prop);
            r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
            if r.clicked() {
                cmds.push(Command::RemovePlot(k.clone()));
            }
        }
        if !plotted.is_empty() && ui.small_button("Clear").clicked() {
            cmds.push(Command::ClearPlots);
        }
    });
    if plotted.is_empty() {
        ui.centered_and_justified(|ui| {
            ui.label(
                RichText::new(
                    "📈 Nothing plotted yet: select an asset, then click a numeric property.",
                )
                .weak(),
            );
        });
        return cmds;
    }
    let window = view.ui.plot_window_s as f64 * 1000.0;
    let at = view.display_at as f64;
    if state
        .focus
        .as_ref()
        .is_some_and(|f| follow || view.live || f.at != view.display_at)
    {
        state.focus = None;
    }
    let pending = state.focus.as_mut().filter(|f| !f.applied).map(|f| {
        f.applied = true;
        (f.from as f64, f.to as f64)
    });
    let focus = state.focus.clone();
    let recentre = pending.is_some()
        || follow
        || state.last_at != Some(view.display_at)
        || state.bounds.is_none();
    let (x0, x1) = if let Some(w) = pending {
        w
    } else if recentre {
        if follow && forecasting {
            // Room for the forecast past the head.
            (at - window, at + window * 0.25)
        } else if follow {
            (at - window, at + window * 0.02)
        } else {
            // Keep the zoom the operator chose, centred on the new cursor.
            let w = state.bounds.map_or(window, |(a, b)| (b - a).max(1_000.0));
            (at - w * 0.7, at + w * 0.3)
        }
    } else {
        state.bounds.unwrap_or((at - window, at))
    };
    state.last_at = Some(view.display_at);
    let width_px = ui.available_width().max(100.0) as usize;
    // Never draw the future of the cursor when looking at the past.
    let to = if view.live {
        x1 as i64
    } else {
        (x1 as i64).min(view.display_at)
    };
    state.caches.retain(|k, _| plotted.contains(k));
    let caches = &mut state.caches;
    // Each plotted series that exists here, with its points in view and its range.
    let lines: Vec<Drawn<'_>> = plotted
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let a = view.store.asset_by_id(&k.asset)?;
            let p = view.store.prop_by_name(&k.prop)?;
            let series = view.store.series(a, p)?;
            let cache = caches.entry(k.clone()).or_default();
            let pts = series.plot_points_cached(x0 as i64, to, width_px, cache);
            let range = Scale::of(&pts);
            Some(Drawn {
                i,
                key: k,
                series,
                pts,
                range,
            })
        })
        .collect();
    let ranges: Vec<Scale> = lines.iter().map(|l| l.range).collect();
    let scaled = state.scaled && lines.len() > 1;
    if !scaled && ranges_differ(&ranges) {
        ui.label(
            RichText::new(
                "The series' ranges differ by over 100×: ⇕ Scale each (N) to compare them.",
            )
            .weak(),
        );
    }
    let name_of = |l: &Drawn<'_>| {
        let name = format!("{} · {}", short(&l.key.asset), l.key.prop);
        if scaled {
            format!(
                "{name} [{} – {}]",
                num(l.range.lo),
                num(l.range.lo + l.range.span)
            )
        } else {
            name
        }
    };
    let scales: Vec<(String, Scale)> = lines
        .iter()
        .map(|l| (name_of(l), if scaled { l.range } else { Scale::NONE }))
        .collect();
    let plot = Plot::new("main_plot")
        .legend(Legend::default())
        .allow_scroll(false)
        .x_axis_formatter(|mark, _| style::time(mark.value as i64))
        .label_formatter(|hover| match hover {
            egui_plot::HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => {
                // Scaled series show their real value.
                let scale = scales
                    .iter()
                    .find(|(n, _)| n == plot_name)
                    .map_or(Scale::NONE, |(_, s)| *s);
                Some(format!(
                    "{plot_name}\n{}\n{:.3}",
                    style::datetime(position.x as i64),
                    scale.value(position.y)
                ))
            }
            _ => None,
        });
    let plot = if scaled {
        plot.y_axis_formatter(|mark, _| format!("{:.0}%", mark.value * 100.0))
    } else {
        plot
    };
    let resp = plot.show(ui, |plot_ui| {
        if recentre {
            plot_ui.set_plot_bounds_x(x0..=x1);
            plot_ui.set_auto_bounds([false, true]);
        }
        for (l, (name, scale)) in lines.into_iter().zip(&scales) {
            let (i, k, series, scale, name) = (l.i, l.key, l.series, *scale, name.clone());
            let color = PALETTE[i % PALETTE.len()];
            plot_ui.line(
                Line::new(name.clone(), PlotPoints::from(scale.points(l.pts)))
                    .color(color)
                    .width(1.5),
            );
            if let Some(f) = &focus
                && !forecasting
            {
                // The incident window: what followed the onset, faintly, past the cursor.
                let after = series.plot_points(view.display_at, (x1 as i64).max(f.to), width_px);
                plot_ui.line(
                    Line::new(name.clone(), PlotPoints::from(scale.points(after)))
                        .color(color.gamma_multiply(0.45))
                        .width(1.0),
                );
            }
            if !forecasting {
                continue;
            }
            // Overlays share the series' name, so the legend keeps one entry per series and
            // hiding it there hides its forecast, limits and markers too.
            for l in limits.get(i).into_iter().flatten() {
                plot_ui.hline(
                    HLine::new(name.clone(), scale.y(l.value))
                        .color(style::priority_color(
                            crate::twin::alarms::Priority::Critical,
                        ))
                        .style(LineStyle::dashed_loose())
                        .width(1.0),
                );
            }
            let Some(o) = pred.outcome(&k.asset, &k.prop) else {
                continue;
            };
            if let Some(p) = &o.prediction {
                // The trend is a line, so it can be drawn to the plot's right edge whatever the
                // zoom, from the time it was made at.
                let end = (x1 as i64).max(p.at + 60_000);
                let (mut xs, mut lo, mut hi, mut mean) = (vec![], vec![], vec![], vec![]);
                for s in 0..=FORECAST_STEPS {
                    let t = p.at + (end - p.at) * s as i64 / FORECAST_STEPS as i64;
                    let (m, l, h) = p.trend.band_at(t);
                    xs.push(t as f64);
                    lo.push(scale.y(l));
                    hi.push(scale.y(h));
                    mean.push([t as f64, scale.y(m)]);
                }
                plot_ui.add(
                    FilledArea::new(name.clone(), &xs, &lo, &hi)
                        .fill_color(color.gamma_multiply(0.18)),
                );
                plot_ui.line(
                    Line::new(name.clone(), PlotPoints::from(mean))
                        .color(color)
                        .style(LineStyle::dashed_dense())
                        .width(1.5),
                );
                if !view.live {
                    // Backtest: what actually happened after the cursor, beside the forecast.
                    let actual = series.plot_points(view.display_at, x1 as i64, width_px);
                    plot_ui.line(
                        Line::new(name.clone(), PlotPoints::from(scale.points(actual)))
                            .color(color.gamma_multiply(0.45))
                            .width(1.0),
                    );
                }
            }
            if !o.anomalies.is_empty() {
                plot_ui.points(
                    Points::new(
                        name.clone(),
                        PlotPoints::from(scale.points(o.anomalies.clone())),
                    )
                    .shape(MarkerShape::Circle)
                    .radius(4.0)
                    .filled(false)
                    .color(ANOMALY),
                );
            }
        }
        // Alarm bands of the plotted assets: from active to cleared, in the priority colour.
        let mut banded = Vec::new();
        for k in plotted {
            if banded.contains(&k.asset) {
                continue;
            }
            banded.push(k.asset.clone());
            let Some(a) = view.store.asset_by_id(&k.asset) else {
                continue;
            };
            let Some(asset) = view.store.asset(a) else {
                continue;
            };
            for &al in asset.alarm_ids() {
                let alarm = &view.store.alarms()[al as usize];
                let to = if view.live {
                    x1 as i64
                } else {
                    (x1 as i64).min(view.display_at)
                };
                for (start, end) in alarm.history.active_intervals(x0 as i64, to) {
                    let end = end.unwrap_or(to);
                    let c = style::priority_color(alarm.priority);
                    plot_ui.span(
                        egui_plot::Span::new(
                            format!("{} {}", short(&k.asset), alarm.code),
                            start as f64..=end as f64,
                        )
                        .fill(c.gamma_multiply(0.12))
                        .border_color(c.gamma_multiply(0.6))
                        .border_width(1.0),
                    );
                }
            }
        }
        if let Some(f) = &focus {
            let end = f.span.1.unwrap_or(f.to.max(x1 as i64));
            plot_ui.span(
                egui_plot::Span::new(f.label.clone(), f.span.0 as f64..=end as f64)
                    .fill(f.color.gamma_multiply(0.22))
                    .border_color(f.color)
                    .border_width(1.5),
            );
        }
        if !view.live {
            plot_ui.vline(VLine::new("cursor", at).color(HISTORY).width(1.5));
        }
        plot_ui.plot_bounds()
    });
    let b = resp.inner;
    state.bounds = Some((b.min()[0], b.max()[0]));
    cmds
}

/// A plotted series that exists in the store read, with its points in view.
struct Drawn<'a> {
    /// Its place in the plotted list (its colour).
    i: usize,
    key: &'a PlotKey,
    series: &'a crate::twin::series::Series,
    pts: Vec<[f64; 2]>,
    /// Its values' range in view.
    range: Scale,
}

/// A range end in the legend: short, but exact for the integers counters hold.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// The last two path segments, enough to tell series apart in a legend.
fn short(id: &str) -> &str {
    match id.rmatch_indices('/').nth(1) {
        Some((i, _)) => &id[i + 1..],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_series_spans_zero_to_one_and_hover_gives_real_values() {
        let s = Scale::of(&[[0.0, 337_900.0], [1.0, 337_983.0], [2.0, f64::NAN]]);
        assert_eq!(
            s.points(vec![[0.0, 337_900.0], [1.0, 337_983.0]]),
            [[0.0, 0.0], [1.0, 1.0]]
        );
        assert_eq!(s.value(0.5), 337_941.5);
        // A flat series sits at 0 and reads back exactly; no points: the shared axis.
        let flat = Scale::of(&[[0.0, 40.0], [1.0, 40.0]]);
        assert_eq!((flat.y(40.0), flat.value(0.0)), (0.0, 40.0));
        assert_eq!(Scale::of(&[]), Scale::NONE);
    }

    #[test]
    fn ranges_differ_when_one_would_look_flat_beside_another() {
        let temp = Scale::of(&[[0.0, 38.0], [1.0, 42.0]]);
        let count = Scale::of(&[[0.0, 337_000.0], [1.0, 338_000.0]]);
        let rpm = Scale::of(&[[0.0, 1150.0], [1.0, 1250.0]]);
        assert!(ranges_differ(&[temp, count]));
        assert!(!ranges_differ(&[temp, rpm]));
        assert!(!ranges_differ(&[count]));
    }

    #[test]
    fn short_names_keep_two_segments() {
        assert_eq!(super::short("plant-a/line-2/press-07"), "line-2/press-07");
        assert_eq!(super::short("x"), "x");
    }
}

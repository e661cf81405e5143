//! Colours, glyphs and time formatting shared by the panels. Time is formatted here and only
//! here; everything else works in epoch milliseconds.

use chrono::{Local, TimeZone};
use egui::Color32;

use crate::twin::alarms::{AlarmState, Priority};

/// Colour of an alarm priority, following common HMI practice.
#[must_use]
pub fn priority_color(p: Priority) -> Color32 {
    match p {
        Priority::Critical => Color32::from_rgb(235, 64, 52),
        Priority::High => Color32::from_rgb(245, 140, 40),
        Priority::Medium => Color32::from_rgb(235, 200, 60),
        Priority::Low => Color32::from_rgb(90, 160, 235),
    }
}

/// Glyph of an alarm state: filled while unacknowledged, so it stands out.
#[must_use]
pub fn state_glyph(s: AlarmState) -> &'static str {
    match s {
        AlarmState::UnackActive => "●",
        AlarmState::AckedActive => "◉",
        AlarmState::UnackRtn => "○",
        AlarmState::Shelved => "⏸",
        AlarmState::Normal => "·",
    }
}

/// Glyph of an asset kind in the tree.
#[must_use]
pub fn kind_glyph(kind: Option<&str>, is_group: bool) -> &'static str {
    match kind.map(str::to_ascii_lowercase).as_deref() {
        Some("site" | "plant" | "factory") => "🏭",
        Some("building") => "🏢",
        Some("line" | "area" | "cell") => "⛓",
        Some("machine" | "press" | "robot") => "⚙",
        Some("sensor") => "📡",
        Some("vehicle" | "car" | "truck") => "🚗",
        Some("fleet") => "🚚",
        Some("region") => "🌍",
        _ if is_group => "📁",
        _ => "◆",
    }
}

/// Local `HH:MM:SS`.
#[must_use]
pub fn time(ms: i64) -> String {
    Local
        .timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |d| d.format("%H:%M:%S").to_string())
}

/// Local `YYYY-MM-DD HH:MM:SS`.
#[must_use]
pub fn datetime(ms: i64) -> String {
    Local.timestamp_millis_opt(ms).single().map_or_else(
        || ms.to_string(),
        |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// RFC 3339 in UTC with milliseconds, for provenance and exports.
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// A short duration such as `4 s`, `12 min`, `3 h 05 min`.
#[must_use]
pub fn duration(ms: i64) -> String {
    let s = ms.abs() / 1000;
    let sign = if ms < 0 { "-" } else { "" };
    if s < 120 {
        format!("{sign}{s} s")
    } else if s < 7200 {
        format!("{sign}{} min", s / 60)
    } else if s < 2 * 86_400 {
        format!("{sign}{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{sign}{} d", s / 86_400)
    }
}

/// A compact count such as `1.2M`.
#[must_use]
pub fn count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.0}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// Colour used for everything that says "this is history, not live".
pub const HISTORY: Color32 = Color32::from_rgb(255, 170, 40);
/// Colour of the live indicator.
pub const LIVE: Color32 = Color32::from_rgb(80, 200, 120);
/// History that arrived late (a device's buffered upload): on the timeline and the asset panel.
pub const LATE: Color32 = Color32::from_rgb(190, 120, 255);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(4_000), "4 s");
        assert_eq!(duration(-600_000), "-10 min");
        assert_eq!(duration(3 * 3_600_000 + 5 * 60_000), "3 h 05 min");
        assert_eq!(count(1_234_567.0), "1.2M");
        assert_eq!(rfc3339(1_000), "1970-01-01T00:00:01.000Z");
    }
}

//! The play state and the time cursor: Live (follows the head), Paused, or Playing at a speed.
//!
//! Panels never move the cursor themselves; they emit [`TimelineCommand`]s that the app
//! applies at the end of the frame.

use chrono::{Local, NaiveDateTime, TimeZone};

/// Slowest and fastest playback.
pub const SPEED_RANGE: (f64, f64) = (0.1, 100.0);

/// Whether the view follows the head of the log or shows the past.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlayState {
    Live,
    Paused,
    Playing { speed: f64 },
}

/// A request to change the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub enum TimelineCommand {
    /// Pause at this time.
    Seek(i64),
    /// Move the cursor by this many ms (pauses when live).
    Nudge(i64),
    GoLive,
    TogglePlay,
    SetSpeed(f64),
    /// Set the A or B diff marker at the cursor.
    MarkA,
    MarkB,
}

/// The cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    state: PlayState,
    /// Cursor time when not live.
    cursor: i64,
    speed: f64,
    pub marker_a: Option<i64>,
    pub marker_b: Option<i64>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            state: PlayState::Live,
            cursor: 0,
            speed: 1.0,
            marker_a: None,
            marker_b: None,
        }
    }
}

impl Timeline {
    /// The play state.
    #[must_use]
    pub fn state(&self) -> PlayState {
        self.state
    }

    /// True when following the head.
    #[must_use]
    pub fn is_live(&self) -> bool {
        self.state == PlayState::Live
    }

    /// The time every panel shows: the head when live, else the cursor.
    #[must_use]
    pub fn at(&self, head: i64) -> i64 {
        if self.is_live() { head } else { self.cursor }
    }

    /// The playback speed.
    #[must_use]
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Applies a command; `head` is the newest time in the log, `earliest` the oldest.
    pub fn apply(&mut self, cmd: TimelineCommand, head: i64, earliest: i64) {
        let clamp = |t: i64| t.clamp(earliest.min(head), head);
        match cmd {
            TimelineCommand::Seek(t) => {
                self.cursor = clamp(t);
                self.state = PlayState::Paused;
            }
            TimelineCommand::Nudge(d) => {
                self.cursor = clamp(self.at(head).saturating_add(d));
                if self.is_live() {
                    self.state = PlayState::Paused;
                }
            }
            TimelineCommand::GoLive => self.state = PlayState::Live,
            TimelineCommand::TogglePlay => {
                self.state = match self.state {
                    PlayState::Playing { .. } => PlayState::Paused,
                    PlayState::Live => {
                        self.cursor = head;
                        PlayState::Paused
                    }
                    PlayState::Paused => {
                        if self.cursor >= head {
                            self.cursor = clamp(head - 60_000);
                        }
                        PlayState::Playing { speed: self.speed }
                    }
                }
            }
            TimelineCommand::SetSpeed(s) => {
                self.speed = s.clamp(SPEED_RANGE.0, SPEED_RANGE.1);
                if let PlayState::Playing { .. } = self.state {
                    self.state = PlayState::Playing { speed: self.speed };
                }
            }
            TimelineCommand::MarkA => self.marker_a = Some(self.at(head)),
            TimelineCommand::MarkB => self.marker_b = Some(self.at(head)),
        }
    }

    /// Advances playback by `dt_s` seconds of wall time. Reaching the head goes live.
    pub fn tick(&mut self, dt_s: f64, head: i64) {
        if let PlayState::Playing { speed } = self.state {
            self.cursor = self.cursor.saturating_add((dt_s * speed * 1000.0) as i64);
            if self.cursor >= head {
                self.state = PlayState::Live;
            }
        }
    }
}

/// Errors parsing a time typed by the user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeParseError {
    #[error(
        "not a time: {0:?} (use RFC 3339, epoch ms, local \"YYYY-MM-DD HH:MM[:SS]\", or relative like -15m)"
    )]
    Invalid(String),
}

/// Parses a duration such as `15m`, `2h`, `30s`, `1d`, `500ms` into milliseconds.
#[must_use]
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "ms" => 1.0,
        "s" | "sec" => 1e3,
        "m" | "min" => 60e3,
        "h" => 3_600e3,
        "d" => 86_400e3,
        _ => return None,
    };
    Some((n * mult) as i64)
}

/// Parses an absolute (RFC 3339, epoch ms, local date-time) or relative (`-15m`) time.
///
/// # Errors
/// When the text is none of those.
pub fn parse_time_input(s: &str, now: i64) -> Result<i64, TimeParseError> {
    let t = s.trim();
    let invalid = || TimeParseError::Invalid(t.to_owned());
    if let Some(d) = t.strip_prefix('-').and_then(parse_duration) {
        return Ok(now - d);
    }
    if let Some(rel) = t.strip_prefix('+') {
        return parse_duration(rel).map(|d| now + d).ok_or_else(invalid);
    }
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(d.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt)
            && let Some(d) = Local.from_local_datetime(&n).earliest()
        {
            return Ok(d.timestamp_millis());
        }
    }
    if let Ok(time) = chrono::NaiveTime::parse_from_str(t, "%H:%M:%S")
        .or_else(|_| chrono::NaiveTime::parse_from_str(t, "%H:%M"))
    {
        // A bare time means today (local), or yesterday if that is still in the future.
        let today = Local
            .timestamp_millis_opt(now)
            .single()
            .ok_or_else(invalid)?
            .date_naive();
        let mut d = Local
            .from_local_datetime(&today.and_time(time))
            .earliest()
            .ok_or_else(invalid)?
            .timestamp_millis();
        if d > now {
            d -= 86_400_000;
        }
        return Ok(d);
    }
    Err(invalid())
}

/// Wall-clock now in epoch ms.
#[must_use]
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_time_forms() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time_input("-15m", now), Ok(now - 900_000));
        assert_eq!(parse_time_input("-2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_time_input("1234", now), Ok(1234));
        assert_eq!(parse_time_input("1970-01-01T00:00:01Z", now), Ok(1000));
        assert_eq!(parse_time_input("1970-01-01T01:00:01+01:00", now), Ok(1000));
        assert!(parse_time_input("2023-11-14 22:13", now).is_ok());
        assert!(parse_time_input("yesterday-ish", now).is_err());
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("1.5s"), Some(1500));
        assert_eq!(parse_duration("3x"), None);
    }

    #[test]
    fn play_pause_live_transitions() {
        let mut tl = Timeline::default();
        assert!(tl.is_live());
        assert_eq!(tl.at(500), 500);
        tl.apply(TimelineCommand::Seek(100), 1_000, 0);
        assert_eq!(tl.state(), PlayState::Paused);
        assert_eq!(tl.at(2_000), 100);
        tl.apply(TimelineCommand::Seek(-50), 1_000, 0);
        assert_eq!(tl.at(1_000), 0, "clamped to earliest");
        tl.apply(TimelineCommand::SetSpeed(1000.0), 1_000, 0);
        assert_eq!(tl.speed(), 100.0);
        tl.apply(TimelineCommand::TogglePlay, 1_000, 0);
        tl.tick(0.005, 1_000);
        assert_eq!(tl.at(1_000), 500);
        tl.tick(1.0, 1_000);
        assert!(tl.is_live(), "playing into the head goes live");
        tl.apply(TimelineCommand::Nudge(-10_000), 50_000, 0);
        assert_eq!((tl.state(), tl.at(50_000)), (PlayState::Paused, 40_000));
        tl.apply(TimelineCommand::GoLive, 50_000, 0);
        assert!(tl.is_live());
    }
}

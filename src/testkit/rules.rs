//! The `[[rules]]` fixtures of the config, rule and rule-alarm tests, written once so that the
//! parser's tests and the end-to-end ones read the same rule text, and the one look-up of a
//! rule alarm's state that both kinds of test check.

use crate::twin::Store;
use crate::twin::alarms::AlarmState;

/// A vibration threshold rule, `VIB_HI`: above 7.0 with a 0.5 deadband for 10 s, medium
/// priority. `extra` lines (`key = value`, each ending in a newline) are added to its table,
/// for the setting a test is about (`off_delay_s`, `kinds`, ...).
#[must_use]
pub fn vib_hi(extra: &str) -> String {
    format!(
        r#"
[[rules]]
code = "VIB_HI"
property = "vibration"
limit = "hi"
value = 7.0
deadband = 0.5
on_delay_s = 10
priority = "medium"
{extra}"#
    )
}

/// A state rule, `STATE_FAULT`: `state == "FAULT"` on the assets under `plant-a/`, high
/// priority.
pub const STATE_FAULT: &str = r#"
[[rules]]
code = "STATE_FAULT"
property = "state"
equals = "FAULT"
priority = "high"
pattern = "plant-a/*"
"#;

/// [`vib_hi`] for machines only, then [`STATE_FAULT`]: one rule of each kind, each limited to
/// some assets in one of the two ways a rule can be.
#[must_use]
pub fn two_rules() -> String {
    format!("{}{STATE_FAULT}", vib_hi("kinds = [\"machine\"]\n"))
}

/// The state at `t` of the alarm `code` on the asset `id`, `None` when the store has no such
/// asset or alarm: what the rule-alarm tests check, in the store's unit tests and end to end.
#[must_use]
pub fn alarm_state(store: &Store, id: &str, code: &str, t: i64) -> Option<AlarmState> {
    let a = store.asset_by_id(id)?;
    let alarm = *store
        .asset(a)?
        .alarm_ids()
        .iter()
        .find(|&&i| &*store.alarms()[i as usize].code == code)?;
    store.alarm_at(alarm, t).map(|v| v.status.state)
}

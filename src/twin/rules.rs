//! Alarms derived from telemetry, reconstructible at any past time.
//!
//! Rules are pure functions of a property's samples taken in event-time order,
//! and every emitted [`AlarmInput`] carries the time of the sample that caused
//! it. Re-running a rule over the samples up to T therefore yields exactly the
//! alarm inputs with `ts <= T`, which is what lets the viewer rebuild an alarm's
//! state at any past moment instead of trusting whatever was live at the time.
//!
//! Threshold semantics (ISA-18.2 style):
//! - `Hi`/`HiHi` raise when `value > limit` (a value exactly on the limit is not
//!   in alarm) and return to normal only when `value < limit - deadband`;
//!   `Lo`/`LoLo` mirror this (`value < limit` raises, `value > limit + deadband` clears).
//!   The deadband keeps a noisy signal hovering near the limit from chattering.
//! - `on_delay_ms`: the raise condition must hold on every sample for at least the
//!   delay; the Activate is emitted at the sample where `ts - first_ts_in_condition >= on_delay_ms`.
//!   `off_delay_ms` works the same way for the clear condition. A flapping signal
//!   that never holds long enough therefore produces nothing.
//! - NaN samples are skipped entirely (they neither satisfy nor break a delay),
//!   because a missing reading says nothing about the process.
//! - Samples older than the last accepted one are skipped; to incorporate late
//!   data, re-evaluate the series from the start.

use super::alarms::{AlarmInput, Priority};
use super::decode::Value;
use serde::{Deserialize, Serialize};

/// Which side of the threshold is abnormal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    /// High-high: value above the limit.
    HiHi,
    /// High: value above the limit.
    Hi,
    /// Low: value below the limit.
    Lo,
    /// Low-low: value below the limit.
    LoLo,
}

impl Limit {
    /// Lowercase name used in config and alarm messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::HiHi => "hihi",
            Limit::Hi => "hi",
            Limit::Lo => "lo",
            Limit::LoLo => "lolo",
        }
    }

    fn is_high(self) -> bool {
        matches!(self, Limit::HiHi | Limit::Hi)
    }
}

/// A threshold rule on one numeric property (config: [[rules]] with kind = "threshold").
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ThresholdRule {
    /// Property (telemetry field) the rule watches.
    pub property: String,
    /// Direction of the limit.
    pub limit: Limit,
    /// Threshold value.
    pub value: f64,
    /// Hysteresis for returning to normal; negative values are treated as 0.
    #[serde(default)]
    pub deadband: f64,
    /// How long the raise condition must hold before activating.
    #[serde(default)]
    pub on_delay_ms: i64,
    /// How long the clear condition must hold before clearing.
    #[serde(default)]
    pub off_delay_ms: i64,
    /// Priority of the resulting alarm.
    pub priority: Priority,
    /// Alarm code / identifier, e.g. "VIB_HI".
    pub code: String,
}

/// A state rule such as state == "FAULT".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct StateRule {
    /// Property (telemetry field) the rule watches.
    pub property: String,
    /// Value that means "in alarm"; compared exactly (case-sensitive).
    pub equals: String,
    /// Priority of the resulting alarm.
    pub priority: Priority,
    /// Alarm code / identifier.
    pub code: String,
}

/// Evaluates a threshold rule incrementally over samples pushed in event-time order.
#[derive(Debug, Clone)]
pub struct ThresholdEval {
    rule: ThresholdRule,
    active: bool,
    /// Start of the current unbroken run of samples that want the opposite of `active`.
    pending_since: Option<i64>,
    last_ts: Option<i64>,
}

impl ThresholdEval {
    /// A fresh evaluator; the alarm starts inactive.
    pub fn new(rule: &ThresholdRule) -> Self {
        let mut rule = rule.clone();
        // f64::max also maps a NaN deadband to 0.
        rule.deadband = rule.deadband.max(0.0);
        ThresholdEval {
            rule,
            active: false,
            pending_since: None,
            last_ts: None,
        }
    }

    fn raises(&self, v: f64) -> bool {
        if self.rule.limit.is_high() {
            v > self.rule.value
        } else {
            v < self.rule.value
        }
    }

    fn clears(&self, v: f64) -> bool {
        let r = &self.rule;
        if r.limit.is_high() {
            v < r.value - r.deadband
        } else {
            v > r.value + r.deadband
        }
    }

    /// Push the next sample (ts non-decreasing). Returns the alarm inputs (with their time) that this sample causes.
    pub fn push(&mut self, ts: i64, value: f64) -> Vec<(i64, AlarmInput)> {
        if value.is_nan() || self.last_ts.is_some_and(|last| ts < last) {
            return Vec::new();
        }
        self.last_ts = Some(ts);
        let (wants_change, delay) = if self.active {
            (self.clears(value), self.rule.off_delay_ms)
        } else {
            (self.raises(value), self.rule.on_delay_ms)
        };
        if !wants_change {
            self.pending_since = None;
            return Vec::new();
        }
        let since = *self.pending_since.get_or_insert(ts);
        if ts.saturating_sub(since) < delay {
            return Vec::new();
        }
        self.pending_since = None;
        self.active = !self.active;
        let input = if self.active {
            let r = &self.rule;
            let op = if r.limit.is_high() { ">" } else { "<" };
            let message = format!(
                "{} {:?} {} {} {:?}",
                r.property,
                value,
                op,
                r.limit.as_str(),
                r.value
            );
            AlarmInput::Activate {
                message: Some(message),
            }
        } else {
            AlarmInput::Clear
        };
        vec![(ts, input)]
    }
}

/// Evaluates a state rule incrementally: Activate on entering `equals`, Clear on leaving it.
#[derive(Debug, Clone)]
pub struct StateEval {
    rule: StateRule,
    active: bool,
}

impl StateEval {
    /// A fresh evaluator; the alarm starts inactive.
    pub fn new(rule: &StateRule) -> Self {
        StateEval {
            rule: rule.clone(),
            active: false,
        }
    }

    /// Push the next sample (ts non-decreasing). Returns the alarm inputs this sample causes.
    pub fn push(&mut self, ts: i64, value: &str) -> Vec<(i64, AlarmInput)> {
        let matches = value == self.rule.equals;
        if matches == self.active {
            return Vec::new();
        }
        self.active = matches;
        let input = if matches {
            AlarmInput::Activate {
                message: Some(format!("{} == {}", self.rule.property, self.rule.equals)),
            }
        } else {
            AlarmInput::Clear
        };
        vec![(ts, input)]
    }
}

/// Convenience: evaluate a whole sorted series.
pub fn eval_threshold(rule: &ThresholdRule, samples: &[(i64, f64)]) -> Vec<(i64, AlarmInput)> {
    let mut eval = ThresholdEval::new(rule);
    samples
        .iter()
        .flat_map(|&(ts, v)| eval.push(ts, v))
        .collect()
}

/// The condition of a threshold rule: a numeric limit with hysteresis and delays (in ms).
/// One type, so that a configured rule hands it to its evaluator and back to its config
/// whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdCondition {
    pub limit: Limit,
    pub value: f64,
    pub deadband: f64,
    pub on_delay_ms: i64,
    pub off_delay_ms: i64,
}

/// Which condition a configured rule checks.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// A numeric threshold with hysteresis and delays.
    Threshold(ThresholdCondition),
    /// A state value, e.g. `state == "FAULT"`.
    State { equals: String },
}

/// A configured alarm rule (`[[rules]]` in the config): derives the `(asset, code)` alarm from
/// one property's samples, for every asset it applies to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct RuleDef {
    /// Alarm code, e.g. "VIB_HI".
    pub code: String,
    /// Property (telemetry field) the rule watches.
    pub property: String,
    /// Priority of the resulting alarm.
    pub priority: Priority,
    /// Asset kinds (from `twin.assets`) it applies to; empty means every asset.
    pub kinds: Vec<String>,
    /// Asset id glob (`*` matches any run of characters); `None` means every asset.
    pub pattern: Option<String>,
    /// The condition.
    pub kind: RuleKind,
}

/// The flat TOML shape of a rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    code: String,
    property: String,
    priority: Priority,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<Limit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deadband: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_delay_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    off_delay_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<String>,
}

fn delay_ms(code: &str, name: &str, s: Option<f64>) -> Result<i64, String> {
    match s {
        None => Ok(0),
        Some(s) if s.is_finite() && s >= 0.0 => Ok((s * 1000.0).round() as i64),
        Some(s) => Err(format!("rule {code}: {name} must be >= 0, got {s}")),
    }
}

impl TryFrom<RawRule> for RuleDef {
    type Error = String;

    fn try_from(r: RawRule) -> Result<Self, String> {
        let code = &r.code;
        let kind = match (r.limit, r.equals) {
            (Some(limit), None) => {
                let value = r
                    .value
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("rule {code}: a threshold needs a finite `value`"))?;
                RuleKind::Threshold(ThresholdCondition {
                    limit,
                    value,
                    deadband: r.deadband.unwrap_or(0.0).max(0.0),
                    on_delay_ms: delay_ms(code, "on_delay_s", r.on_delay_s)?,
                    off_delay_ms: delay_ms(code, "off_delay_s", r.off_delay_s)?,
                })
            }
            (None, Some(equals)) => {
                if r.value.is_some()
                    || r.deadband.is_some()
                    || r.on_delay_s.is_some()
                    || r.off_delay_s.is_some()
                {
                    return Err(format!(
                        "rule {code}: a state rule (`equals`) takes no value/deadband/delays"
                    ));
                }
                RuleKind::State { equals }
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "rule {code}: give either `limit` (threshold) or `equals` (state), not both"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "rule {code}: needs `limit` (threshold) or `equals` (state)"
                ));
            }
        };
        Ok(RuleDef {
            code: r.code,
            property: r.property,
            priority: r.priority,
            kinds: r.kinds,
            pattern: r.pattern,
            kind,
        })
    }
}

impl From<RuleDef> for RawRule {
    fn from(d: RuleDef) -> Self {
        let mut r = RawRule {
            code: d.code,
            property: d.property,
            priority: d.priority,
            kinds: d.kinds,
            pattern: d.pattern,
            limit: None,
            value: None,
            deadband: None,
            on_delay_s: None,
            off_delay_s: None,
            equals: None,
        };
        match d.kind {
            RuleKind::Threshold(c) => {
                r.limit = Some(c.limit);
                r.value = Some(c.value);
                r.deadband = Some(c.deadband);
                r.on_delay_s = Some(c.on_delay_ms as f64 / 1000.0);
                r.off_delay_s = Some(c.off_delay_ms as f64 / 1000.0);
            }
            RuleKind::State { equals } => r.equals = Some(equals),
        }
        r
    }
}

/// Whether the asset `id` of `kind` is in the scope a rule or a limit names: one of `kinds`
/// (any case; none = every kind, and an asset of no known kind only then) and, with a
/// `pattern`, an id that [`glob_match`]es it. Rules and limits share it so that one config
/// scope picks the same assets for both.
#[must_use]
pub fn scope_matches(
    kinds: &[String],
    pattern: Option<&str>,
    id: &str,
    kind: Option<&str>,
) -> bool {
    let kind_ok =
        kinds.is_empty() || kind.is_some_and(|k| kinds.iter().any(|x| x.eq_ignore_ascii_case(k)));
    kind_ok && pattern.is_none_or(|p| glob_match(p, id))
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (including `/`)
/// and everything else matches itself.
#[must_use]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl RuleDef {
    /// Whether the rule applies to the asset `id` whose (latest) kind is `kind`.
    #[must_use]
    pub fn applies_to(&self, id: &str, kind: Option<&str>) -> bool {
        scope_matches(&self.kinds, self.pattern.as_deref(), id, kind)
    }

    /// A fresh evaluator for this rule.
    #[must_use]
    pub fn evaluator(&self) -> RuleEval {
        match &self.kind {
            RuleKind::Threshold(c) => RuleEval::Threshold(ThresholdEval::new(&ThresholdRule {
                property: self.property.clone(),
                limit: c.limit,
                value: c.value,
                deadband: c.deadband,
                on_delay_ms: c.on_delay_ms,
                off_delay_ms: c.off_delay_ms,
                priority: self.priority,
                code: self.code.clone(),
            })),
            RuleKind::State { equals } => RuleEval::State(StateEval::new(&StateRule {
                property: self.property.clone(),
                equals: equals.clone(),
                priority: self.priority,
                code: self.code.clone(),
            })),
        }
    }
}

/// An evaluator for either kind of rule, fed with stored values in `(ts, seq)` order.
#[derive(Debug, Clone)]
pub enum RuleEval {
    Threshold(ThresholdEval),
    State(StateEval),
}

impl RuleEval {
    /// Push the next sample. Non-numeric values are skipped by threshold rules; state rules
    /// compare strings and booleans (`"true"`/`"false"`) and skip numbers.
    pub fn push(&mut self, ts: i64, value: &Value) -> Vec<(i64, AlarmInput)> {
        match (self, value) {
            (RuleEval::Threshold(e), Value::Num(f)) => e.push(ts, *f),
            (RuleEval::State(e), Value::Str(s)) => e.push(ts, s),
            (RuleEval::State(e), Value::Bool(b)) => e.push(ts, if *b { "true" } else { "false" }),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(limit: Limit, value: f64, deadband: f64, on: i64, off: i64) -> ThresholdRule {
        ThresholdRule {
            property: "vibration".into(),
            limit,
            value,
            deadband,
            on_delay_ms: on,
            off_delay_ms: off,
            priority: Priority::High,
            code: "VIB".into(),
        }
    }

    /// Compact view of the output: (ts, true for Activate / false for Clear).
    fn edges(out: &[(i64, AlarmInput)]) -> Vec<(i64, bool)> {
        out.iter()
            .map(|(ts, i)| (*ts, matches!(i, AlarmInput::Activate { .. })))
            .collect()
    }

    /// Samples `step_ms` apart from time 0, one per value.
    fn every(step_ms: i64, values: &[f64]) -> Vec<(i64, f64)> {
        (0..)
            .step_by(step_ms as usize)
            .zip(values.iter().copied())
            .collect()
    }

    /// What `r` emits over `s`, in the compact view of [`edges`].
    fn fired(r: &ThresholdRule, s: &[(i64, f64)]) -> Vec<(i64, bool)> {
        edges(&eval_threshold(r, s))
    }

    #[test]
    fn exactly_on_threshold_is_not_alarm() {
        let r = rule(Limit::Hi, 7.0, 0.0, 0, 0);
        assert!(eval_threshold(&r, &[(0, 7.0), (1, 7.0)]).is_empty());
        assert_eq!(fired(&r, &[(0, 7.0), (1, 7.01)]), vec![(1, true)]);
        // Leaving requires strictly below limit - deadband; on the limit stays active.
        assert_eq!(
            fired(&r, &[(0, 8.0), (1, 7.0), (2, 6.9)]),
            vec![(0, true), (2, false)]
        );
    }

    #[test]
    fn activate_message() {
        for (limit, value, sample, message) in [
            (Limit::Hi, 7.0, 7.31, "vibration 7.31 > hi 7.0"),
            (Limit::LoLo, 1.0, 0.5, "vibration 0.5 < lolo 1.0"),
        ] {
            let out = eval_threshold(&rule(limit, value, 0.0, 0, 0), &[(5, sample)]);
            assert_eq!(
                out,
                vec![(
                    5,
                    AlarmInput::Activate {
                        message: Some(message.into())
                    }
                )]
            );
        }
    }

    #[test]
    fn deadband_keeps_active() {
        let r = rule(Limit::HiHi, 10.0, 1.0, 0, 0);
        let s = every(1, &[11.0, 9.5, 9.0, 10.5, 8.99, 9.5]);
        // 9.5 and 9.0 (== limit - deadband) hold; 8.99 clears; 9.5 is not above the limit, so no re-raise.
        assert_eq!(fired(&r, &s), vec![(0, true), (4, false)]);
    }

    #[test]
    fn negative_deadband_treated_as_zero() {
        let r = rule(Limit::Hi, 10.0, -5.0, 0, 0);
        assert_eq!(
            fired(&r, &[(0, 11.0), (1, 9.9)]),
            vec![(0, true), (1, false)]
        );
    }

    #[test]
    fn on_delay_satisfied() {
        let r = rule(Limit::Hi, 7.0, 0.0, 1000, 0);
        let s = [(0, 8.0), (400, 8.0), (999, 8.0), (1000, 8.0), (1500, 8.0)];
        assert_eq!(fired(&r, &s), vec![(1000, true)]);
        // Without a sample at exactly +1000, the first sample past the delay fires.
        let s = [(0, 8.0), (600, 8.0), (1200, 8.0)];
        assert_eq!(fired(&r, &s), vec![(1200, true)]);
    }

    #[test]
    fn on_delay_not_satisfied() {
        let r = rule(Limit::Hi, 7.0, 0.0, 1000, 0);
        let s = [(0, 8.0), (500, 8.0), (900, 6.0), (1000, 8.0), (1900, 8.0)];
        assert!(eval_threshold(&r, &s).is_empty());
        // The run restarted at 1000, so it fires at 2000.
        let mut e = ThresholdEval::new(&r);
        for (ts, v) in s {
            e.push(ts, v);
        }
        assert_eq!(edges(&e.push(2000, 8.0)), vec![(2000, true)]);
    }

    #[test]
    fn off_delay() {
        let r = rule(Limit::Hi, 7.0, 0.0, 0, 500);
        let s = [
            (0, 8.0),
            (100, 6.0),
            (300, 6.0),
            (400, 7.5),
            (500, 6.0),
            (999, 6.0),
            (1000, 6.0),
        ];
        assert_eq!(fired(&r, &s), vec![(0, true), (1000, false)]);
    }

    #[test]
    fn flapping_with_delays_gives_nothing() {
        let r = rule(Limit::Hi, 7.0, 0.0, 300, 300);
        let s: Vec<(i64, f64)> = (0..100)
            .map(|i| (i * 100, if (i / 2) % 2 == 0 { 8.0 } else { 6.0 }))
            .collect();
        assert!(eval_threshold(&r, &s).is_empty());
        // Same signal with no delays chatters, proving the delays are what suppress it.
        assert_eq!(
            eval_threshold(&rule(Limit::Hi, 7.0, 0.0, 0, 0), &s).len(),
            50
        );
    }

    #[test]
    fn lo_and_lolo() {
        let lo = rule(Limit::Lo, 2.0, 0.5, 0, 0);
        let s = every(1, &[2.0, 1.9, 2.4, 2.5, 2.51]);
        assert_eq!(fired(&lo, &s), vec![(1, true), (4, false)]);
        let lolo = rule(Limit::LoLo, 1.0, 0.0, 100, 0);
        let s = every(50, &[0.5, 0.5, 0.5, 1.5]);
        assert_eq!(fired(&lolo, &s), vec![(100, true), (150, false)]);
    }

    #[test]
    fn nan_ignored() {
        let r = rule(Limit::Hi, 7.0, 0.0, 100, 0);
        // NaN neither breaks the on-delay run nor triggers anything itself.
        let s = every(50, &[8.0, f64::NAN, 8.0, f64::NAN, 1.0]);
        assert_eq!(fired(&r, &s), vec![(100, true), (200, false)]);
        assert!(eval_threshold(&r, &[(0, f64::NAN), (500, f64::NAN)]).is_empty());
    }

    #[test]
    fn out_of_order_sample_skipped() {
        let r = rule(Limit::Hi, 7.0, 0.0, 0, 0);
        assert_eq!(
            fired(&r, &[(100, 1.0), (50, 9.0), (150, 9.0)]),
            vec![(150, true)]
        );
    }

    #[test]
    fn prefix_evaluation_is_consistent() {
        // Rebuilding at T from samples <= T gives exactly the full run's inputs with ts <= T.
        let r = rule(Limit::Hi, 5.0, 0.5, 200, 100);
        let s: Vec<(i64, f64)> = (0..200)
            .map(|i| (i * 37, 5.0 + 2.0 * ((i as f64) * 0.21).sin()))
            .collect();
        let full = eval_threshold(&r, &s);
        assert!(!full.is_empty());
        for cut in 0..s.len() {
            let t = s[cut].0;
            let prefix = eval_threshold(&r, &s[..=cut]);
            let expected: Vec<_> = full.iter().filter(|(ts, _)| *ts <= t).cloned().collect();
            assert_eq!(prefix, expected);
        }
    }

    #[test]
    fn state_rule() {
        let r = StateRule {
            property: "state".into(),
            equals: "FAULT".into(),
            priority: Priority::Critical,
            code: "F".into(),
        };
        let mut e = StateEval::new(&r);
        let mut out = Vec::new();
        for (ts, v) in (0..).zip(["RUN", "FAULT", "FAULT", "fault", "STOP", "FAULT"]) {
            out.extend(e.push(ts, v));
        }
        assert_eq!(edges(&out), vec![(1, true), (3, false), (5, true)]);
        assert_eq!(
            out[0].1,
            AlarmInput::Activate {
                message: Some("state == FAULT".into())
            }
        );
    }

    #[test]
    fn limit_serde_names() {
        assert_eq!(Limit::HiHi.as_str(), "hihi");
        assert_eq!(Limit::LoLo.as_str(), "lolo");
    }

    #[test]
    fn glob() {
        assert!(glob_match("plant-a/*", "plant-a/l1/press-1"));
        assert!(glob_match("plant-a/*/press-*", "plant-a/l1/press-12"));
        assert!(!glob_match("plant-a/*/press-*", "plant-a/l1/lathe-1"));
        assert!(!glob_match("plant-a/*", "plant-b/x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("exact", "exact") && !glob_match("exact", "exactly"));
    }

    #[test]
    fn rule_def_toml_shapes() {
        #[derive(Deserialize)]
        struct W {
            rules: Vec<RuleDef>,
        }
        let w: W = toml::from_str(&crate::testkit::rules::two_rules()).unwrap();
        assert_eq!(
            w.rules[0].kind,
            RuleKind::Threshold(ThresholdCondition {
                limit: Limit::Hi,
                value: 7.0,
                deadband: 0.5,
                on_delay_ms: 10_000,
                off_delay_ms: 0
            })
        );
        assert_eq!(w.rules[0].priority, Priority::Medium);
        assert!(w.rules[0].applies_to("x/y", Some("Machine")));
        assert!(!w.rules[0].applies_to("x/y", None));
        assert_eq!(
            w.rules[1].kind,
            RuleKind::State {
                equals: "FAULT".into()
            }
        );
        assert!(w.rules[1].applies_to("plant-a/m1", None));
        assert!(!w.rules[1].applies_to("plant-b/m1", Some("machine")));
        for bad in [
            "code='X'\nproperty='p'\npriority='low'",
            "code='X'\nproperty='p'\npriority='low'\nlimit='hi'",
            "code='X'\nproperty='p'\npriority='low'\nlimit='hi'\nvalue=1\nequals='F'",
            "code='X'\nproperty='p'\npriority='low'\nlimit='hi'\nvalue=1\non_delay_s=-1",
            "code='X'\nproperty='p'\npriority='low'\nequals='F'\nvalue=1",
        ] {
            assert!(toml::from_str::<RuleDef>(bad).is_err(), "{bad}");
        }
        // Serialising and parsing again gives the same rule.
        for r in &w.rules {
            let text = toml::to_string(r).unwrap();
            assert_eq!(&toml::from_str::<RuleDef>(&text).unwrap(), r);
        }
    }
}

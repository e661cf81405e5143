//! An incident: one alarm's onset and what changed before it, ranked so the likely cause is
//! on top. Pure data, so the incident view, the incident bundle and the headless
//! `twinscope incident` give the same answer and it is unit-testable without a window.
//!
//! **Ranking.** The changes are the [`diff`] of a [`Scope`] between `onset − N` and the onset.
//! State changes come first (a property whose old or new value is not a number: `state`,
//! `mode`, a flag), newest first, because a machine that changed state just before an alarm is
//! the most common story. Then numeric changes, by `|new − old|` divided by the property's
//! **normal range**: the min–max of its samples over the [`NORMAL_WINDOW_MS`] before the
//! lookback window (the value in force at its start included). A property that was flat there
//! (or has no history there) is measured against its min–max over the whole span up to the
//! onset instead, which includes the change itself, so its score is at most 1. Min–max rather
//! than a robust spread: it is exact, cheap on a series window, and an operator can check it by
//! eye on the plot. Values that appeared (no value at `onset − N`) and vanished come last.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::Value as Json;

use super::diff::{Diff, diff};
use super::series::{Sample, Series};
use super::store::{AssetIdx, Store};

/// The plot shows this much before the onset...
pub const BEFORE_MS: i64 = 15 * 60_000;
/// ...and this much after it.
pub const AFTER_MS: i64 = 5 * 60_000;
/// The default lookback N of "what changed before", in minutes.
pub const DEFAULT_LOOKBACK_MIN: u32 = 15;
/// How far before the lookback window the normal range of a property is taken.
pub const NORMAL_WINDOW_MS: i64 = 60 * 60_000;

/// Errors finding an alarm's onset.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IncidentError {
    #[error("no asset {0:?} in the log")]
    NoAsset(String),
    #[error("asset {asset:?} has no alarm {code:?}")]
    NoAlarm { asset: String, code: String },
    #[error("alarm {code} on {asset} was not raised at or before {at}")]
    NotRaised {
        asset: String,
        code: String,
        at: i64,
    },
}

/// The moment one alarm was raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Onset {
    /// Index of the alarm in [`Store::alarms`].
    #[serde(skip)]
    pub alarm: u32,
    pub asset: String,
    pub code: String,
    pub severity: &'static str,
    /// When the condition became active (event time, ms).
    pub at: i64,
}

/// What part of the fleet "what changed before" looks at, picked by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The alarm's asset only.
    #[default]
    Asset,
    /// The asset's parent group (its id without the last path segment).
    Parent,
    /// The top of the asset's path (its first segment): the site or plant.
    Site,
    /// Every asset.
    Fleet,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Asset, Scope::Parent, Scope::Site, Scope::Fleet];

    /// The name used on the command line and in bundles.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Asset => "asset",
            Scope::Parent => "parent",
            Scope::Site => "site",
            Scope::Fleet => "fleet",
        }
    }

    /// Parses [`Self::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The subtree this scope covers for `asset` (an id or group path; `None` = the fleet).
    /// Paths come from the id and the separator, as [`super::diff::in_scope`] matches them;
    /// an asset at the top of the tree has the whole fleet as its parent.
    #[must_use]
    pub fn path(self, asset: &str, sep: &str) -> Option<String> {
        match self {
            Scope::Asset => Some(asset.to_owned()),
            Scope::Parent => asset.rsplit_once(sep).map(|(p, _)| p.to_owned()),
            Scope::Site => Some(asset.split_once(sep).map_or(asset, |(s, _)| s).to_owned()),
            Scope::Fleet => None,
        }
    }
}

/// Where a value came from in Kafka (the topic is the telemetry topic: only telemetry sets
/// properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Source {
    /// Event time of the record.
    pub ts: i64,
    pub partition: i32,
    pub offset: i64,
    pub kafka_ts: i64,
}

impl Source {
    /// The coordinates of a stored sample.
    #[must_use]
    pub fn of(s: &Sample) -> Self {
        let (partition, offset) = super::seq_parts(s.seq);
        Self {
            ts: s.ts,
            partition,
            offset,
            kafka_ts: s.kafka_ts,
        }
    }
}

/// How a property changed, in ranking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A non-numeric value changed (state, mode, flag).
    State,
    /// A number changed; ranked by its score.
    Numeric,
    /// No value at `onset − N`, one at the onset.
    Appeared,
    /// A value at `onset − N`, none at the onset.
    Vanished,
}

/// One property that changed between `onset − N` and the onset, with why it ranks where it
/// does and where both values came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedChange {
    pub asset: String,
    pub property: String,
    pub kind: ChangeKind,
    pub old: Option<Json>,
    pub new: Option<Json>,
    /// `|new − old|` / normal range, for numeric changes.
    pub score: Option<f64>,
    /// The normal range `(min, max)` the score was measured against.
    pub normal_range: Option<(f64, f64)>,
    /// The record that set the old value, and the new one.
    pub old_source: Option<Source>,
    pub new_source: Option<Source>,
}

impl RankedChange {
    /// When the new value was set (for ordering state changes and for display).
    #[must_use]
    pub fn changed_at(&self) -> Option<i64> {
        self.new_source.map(|s| s.ts)
    }
}

/// Another alarm raised anywhere in the fleet in the lookback window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaisedAlarm {
    pub asset: String,
    pub code: String,
    pub severity: &'static str,
    pub at: i64,
}

/// Everything the incident view and the bundle show about one onset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub onset: Onset,
    pub scope: Scope,
    /// The subtree the scope resolved to (`None` = the fleet).
    pub scope_path: Option<String>,
    pub lookback_ms: i64,
    /// `onset − lookback`.
    pub from: i64,
    pub diff: Diff,
    /// The diff's property changes, most telling first.
    pub ranked: Vec<RankedChange>,
    /// Other alarms raised in `[from, onset]`, oldest first.
    pub raised: Vec<RaisedAlarm>,
}

/// The onset of alarm `code` on `asset`: its last activation at or before `at` (the newest
/// one without `at`).
///
/// # Errors
/// When the asset or the alarm is unknown, or it was not raised by then.
pub fn find_onset(
    store: &Store,
    asset: &str,
    code: &str,
    at: Option<i64>,
) -> Result<Onset, IncidentError> {
    let a = store
        .asset_by_id(asset)
        .ok_or_else(|| IncidentError::NoAsset(asset.to_owned()))?;
    let no_alarm = || IncidentError::NoAlarm {
        asset: asset.to_owned(),
        code: code.to_owned(),
    };
    let ids = store.asset(a).map(|x| x.alarm_ids()).ok_or_else(no_alarm)?;
    let &i = ids
        .iter()
        .find(|&&i| store.alarms()[i as usize].code.as_ref() == code)
        .ok_or_else(no_alarm)?;
    let alarm = &store.alarms()[i as usize];
    let until = at.unwrap_or(i64::MAX);
    let t = alarm
        .history
        .activations_in(i64::MIN, until)
        .last()
        .copied()
        .ok_or_else(|| IncidentError::NotRaised {
            asset: asset.to_owned(),
            code: code.to_owned(),
            at: until,
        })?;
    Ok(onset_of(store, i, t))
}

/// The worst alarm raised exactly at `t` (a timeline marker is one activation time).
#[must_use]
pub fn raised_at(store: &Store, t: i64) -> Option<Onset> {
    (0..store.alarms().len() as u32)
        .filter(|&i| {
            store.alarms()[i as usize]
                .history
                .activations_in(t, t)
                .contains(&t)
        })
        .max_by_key(|&i| store.alarms()[i as usize].priority)
        .map(|i| onset_of(store, i, t))
}

fn onset_of(store: &Store, i: u32, at: i64) -> Onset {
    let alarm = &store.alarms()[i as usize];
    Onset {
        alarm: i,
        asset: asset_id(store, alarm.asset),
        code: alarm.code.to_string(),
        severity: alarm.priority.as_str(),
        at,
    }
}

fn asset_id(store: &Store, a: AssetIdx) -> String {
    store.asset(a).map(|x| x.id.to_string()).unwrap_or_default()
}

/// The plot window around an onset: [`BEFORE_MS`] before to [`AFTER_MS`] after.
#[must_use]
pub fn plot_window(onset: i64) -> (i64, i64) {
    (onset - BEFORE_MS, onset + AFTER_MS)
}

/// The asset's numeric properties, by name: what "go to onset" plots.
#[must_use]
pub fn numeric_props(store: &Store, asset: &str) -> Vec<String> {
    let Some(x) = store.asset_by_id(asset).and_then(|a| store.asset(a)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = x
        .series()
        .filter(|(_, s)| s.is_numeric())
        .filter_map(|(p, _)| store.prop_name(p).map(ToString::to_string))
        .collect();
    out.sort();
    out
}

/// What changed in `scope` between `onset − lookback_ms` and the onset, ranked, with the other
/// alarms raised meanwhile.
#[must_use]
pub fn analyse(store: &Store, onset: &Onset, scope: Scope, lookback_ms: i64) -> Analysis {
    let from = onset.at - lookback_ms.max(0);
    let scope_path = scope.path(&onset.asset, store.separator());
    let d = diff(store, from, onset.at, scope_path.as_deref());
    let ranked = rank(store, &d, from, onset.at);
    let raised = raised_in(store, from, onset.at, Some((onset.alarm, onset.at)));
    Analysis {
        onset: onset.clone(),
        scope,
        scope_path,
        lookback_ms,
        from,
        diff: d,
        ranked,
        raised,
    }
}

/// Ranks a diff's property changes from `from` to `to` (see the module doc).
#[must_use]
pub fn rank(store: &Store, d: &Diff, from: i64, to: i64) -> Vec<RankedChange> {
    let mut out: Vec<RankedChange> = d
        .changed
        .iter()
        .map(|c| {
            let series = store
                .asset_by_id(&c.asset)
                .zip(store.prop_by_name(&c.property))
                .and_then(|(a, p)| store.series(a, p));
            let old_s = series.and_then(|s| s.at(from));
            let new_s = series.and_then(|s| s.at(to));
            let (kind, score, normal_range) = match (&c.old, &c.new) {
                (None, _) => (ChangeKind::Appeared, None, None),
                (_, None) => (ChangeKind::Vanished, None, None),
                (Some(Json::Number(o)), Some(Json::Number(n))) => {
                    let (o, n) = (o.as_f64().unwrap_or(0.0), n.as_f64().unwrap_or(0.0));
                    let range = series.map_or((o.min(n), o.max(n)), |s| normal_range(s, from, to));
                    let width =
                        (range.1 - range.0).max(f64::EPSILON * o.abs().max(n.abs()).max(1.0));
                    (
                        ChangeKind::Numeric,
                        Some((n - o).abs() / width),
                        Some(range),
                    )
                }
                _ => (ChangeKind::State, None, None),
            };
            RankedChange {
                asset: c.asset.clone(),
                property: c.property.clone(),
                kind,
                old: c.old.clone(),
                new: c.new.clone(),
                score,
                normal_range,
                old_source: old_s.as_ref().map(Source::of),
                new_source: new_s.as_ref().map(Source::of),
            }
        })
        .collect();
    out.sort_by(|x, y| {
        x.kind
            .cmp(&y.kind)
            .then_with(|| {
                y.score
                    .unwrap_or(0.0)
                    .partial_cmp(&x.score.unwrap_or(0.0))
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| y.changed_at().cmp(&x.changed_at()))
            .then_with(|| (&x.asset, &x.property).cmp(&(&y.asset, &y.property)))
    });
    out
}

/// The normal range of a numeric series for a change from `from` to `to`: its min–max over
/// [`NORMAL_WINDOW_MS`] before `from` (the value in force at the start included); when that is
/// flat or empty, over everything up to `to` in the same window and the change.
#[must_use]
pub fn normal_range(s: &Series, from: i64, to: i64) -> (f64, f64) {
    let before = min_max(s, from - NORMAL_WINDOW_MS, from);
    match before {
        Some((lo, hi)) if hi > lo => (lo, hi),
        _ => min_max(s, from - NORMAL_WINDOW_MS, to).unwrap_or((0.0, 0.0)),
    }
}

/// Min and max of the numeric samples in force over `[from, to]`.
fn min_max(s: &Series, from: i64, to: i64) -> Option<(f64, f64)> {
    let first = s.index_at(from);
    let r = s.range(from, to);
    let idx = first.into_iter().chain(r.filter(|&i| Some(i) != first));
    let mut out: Option<(f64, f64)> = None;
    for v in idx.filter_map(|i| s.num(i)).filter(|v| v.is_finite()) {
        out = Some(out.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    }
    out
}

/// Every alarm raised anywhere in the fleet in `[from, to]`, oldest first, without `except`
/// (an alarm index and its activation time: the incident's own onset).
#[must_use]
pub fn raised_in(
    store: &Store,
    from: i64,
    to: i64,
    except: Option<(u32, i64)>,
) -> Vec<RaisedAlarm> {
    let mut out = Vec::new();
    for (i, alarm) in store.alarms().iter().enumerate() {
        for t in alarm.history.activations_in(from, to) {
            if except == Some((i as u32, t)) {
                continue;
            }
            out.push(RaisedAlarm {
                asset: asset_id(store, alarm.asset),
                code: alarm.code.to_string(),
                severity: alarm.priority.as_str(),
                at: t,
            });
        }
    }
    out.sort_by(|x, y| (x.at, &x.asset, &x.code).cmp(&(y.at, &y.asset, &y.code)));
    out
}

/// The worst alarm that still needs acknowledgement among `alarms` (worst first, as
/// [`Store::alarms_at`] returns them), else the worst one.
#[must_use]
pub fn worst_unacked(alarms: &[super::store::AlarmView]) -> Option<&super::store::AlarmView> {
    alarms
        .iter()
        .find(|v| !v.status.acked)
        .or_else(|| alarms.first())
}

#[cfg(test)]
mod tests {
    use super::super::alarms::Priority;
    use super::super::decode::{
        AlarmAction, Decoded, Event, EventKind, Origin, Rec, Role, Severity, Value,
    };
    use super::*;

    const M: i64 = 60_000;

    fn tele(o: i64, asset: &str, ts: i64, props: Vec<(&str, Value)>) -> Rec {
        Rec {
            origin: Origin {
                role: Role::Telemetry,
                partition: 1,
                offset: o,
                kafka_ts: ts + 5,
            },
            body: Decoded::Telemetry {
                asset: asset.into(),
                parent: None,
                ts,
                props: props.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            },
        }
    }

    fn raise(o: i64, asset: &str, code: &str, ts: i64, p: Priority) -> Rec {
        Rec {
            origin: Origin {
                role: Role::Events,
                partition: 0,
                offset: o,
                kafka_ts: ts,
            },
            body: Decoded::Event(Event {
                asset: asset.into(),
                parent: None,
                ts,
                kind: EventKind::Alarm {
                    action: AlarmAction::Active,
                    until: None,
                },
                code: code.into(),
                severity: Severity::Alarm(p),
                message: None,
                by: None,
                comment: None,
            }),
        }
    }

    /// A plant where, before FAULT_COLLISION on site/line/robot at 100 min: the robot's mode
    /// changed, its torque jumped far outside its normal range, its temp drifted inside its
    /// own, and a neighbour's speed moved a little; another alarm was raised meanwhile.
    fn plant() -> Store {
        let mut s = Store::new("/", 0);
        let num = Value::Num;
        let mut o = 0;
        let mut t = |asset: &str, ts: i64, props: Vec<(&str, Value)>, s: &mut Store| {
            o += 1;
            s.apply(tele(o, asset, ts, props));
        };
        // Normal hour: torque 10..12, temp 40..50.
        for i in 0..60 {
            let ts = 20 * M + i * M;
            t(
                "site/line/robot",
                ts,
                vec![
                    ("torque", num(10.0 + (i % 3) as f64)),
                    ("temp", num(40.0 + (i % 11) as f64)),
                ],
                &mut s,
            );
        }
        t(
            "site/line/robot",
            0,
            vec![("mode", Value::Str("AUTO".into()))],
            &mut s,
        );
        t("site/line/conv", 0, vec![("speed", num(1.0))], &mut s);
        t("site/line/conv", 10 * M, vec![("speed", num(3.0))], &mut s);
        t("other/x", 0, vec![("v", num(0.0))], &mut s);
        // Lookback window (85..100 min).
        t(
            "site/line/robot",
            90 * M,
            vec![("torque", num(40.0)), ("temp", num(49.0))],
            &mut s,
        );
        t(
            "site/line/robot",
            95 * M,
            vec![("mode", Value::Str("MANUAL".into()))],
            &mut s,
        );
        t("site/line/conv", 92 * M, vec![("speed", num(2.5))], &mut s);
        t("other/x", 93 * M, vec![("v", num(5.0))], &mut s);
        s.apply(raise(
            500,
            "site/line/robot",
            "FAULT_COLLISION",
            100 * M,
            Priority::Critical,
        ));
        s.apply(raise(501, "other/x", "HOT", 97 * M, Priority::Medium));
        s.apply(raise(502, "other/x", "OLD", 50 * M, Priority::Low));
        s
    }

    #[test]
    fn state_changes_first_then_numeric_by_normal_range() {
        let s = plant();
        let onset = find_onset(&s, "site/line/robot", "FAULT_COLLISION", None).unwrap();
        assert_eq!(onset.at, 100 * M);
        let a = analyse(&s, &onset, Scope::Parent, 15 * M);
        let order: Vec<(&str, &str)> = a
            .ranked
            .iter()
            .map(|r| (r.asset.as_str(), r.property.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("site/line/robot", "mode"),
                ("site/line/robot", "torque"),
                ("site/line/conv", "speed"),
                ("site/line/robot", "temp"),
            ]
        );
        let torque = &a.ranked[1];
        assert_eq!(torque.normal_range, Some((10.0, 12.0)));
        // Old = the value in force at 85 min (the last normal sample, at 79 min).
        let old = torque.old.as_ref().and_then(Json::as_f64).unwrap();
        assert!((torque.score.unwrap() - (40.0 - old).abs() / 2.0).abs() < 1e-9);
        // Provenance: the record at 90 min, partition 1, Kafka time ts + 5.
        let src = torque.new_source.unwrap();
        assert_eq!(
            (src.ts, src.partition, src.kafka_ts),
            (90 * M, 1, 90 * M + 5)
        );
        // The conveyor was flat before the window: measured against 1..3 over its history.
        assert_eq!(a.ranked[2].normal_range, Some((2.5, 3.0)));
        // The other site is outside the parent scope, but its alarm is listed.
        assert!(a.ranked.iter().all(|r| r.asset.starts_with("site/")));
        let raised: Vec<(&str, i64)> = a.raised.iter().map(|r| (r.code.as_str(), r.at)).collect();
        assert_eq!(raised, vec![("HOT", 97 * M)]);
        // The asset scope keeps only the robot; the fleet scope adds other/x.
        let asset = analyse(&s, &onset, Scope::Asset, 15 * M);
        assert_eq!(asset.ranked.len(), 3);
        let fleet = analyse(&s, &onset, Scope::Fleet, 15 * M);
        assert!(fleet.ranked.iter().any(|r| r.asset == "other/x"));
    }

    #[test]
    fn onsets_scopes_and_markers() {
        let s = plant();
        assert_eq!(
            find_onset(&s, "site/line/robot", "FAULT_COLLISION", Some(99 * M)),
            Err(IncidentError::NotRaised {
                asset: "site/line/robot".into(),
                code: "FAULT_COLLISION".into(),
                at: 99 * M
            })
        );
        assert!(matches!(
            find_onset(&s, "nope", "X", None),
            Err(IncidentError::NoAsset(_))
        ));
        assert!(matches!(
            find_onset(&s, "other/x", "X", None),
            Err(IncidentError::NoAlarm { .. })
        ));
        let m = raised_at(&s, 97 * M).unwrap();
        assert_eq!((m.asset.as_str(), m.code.as_str()), ("other/x", "HOT"));
        assert!(raised_at(&s, 96 * M).is_none());
        assert_eq!(Scope::Parent.path("a/b/c", "/").as_deref(), Some("a/b"));
        assert_eq!(Scope::Site.path("a/b/c", "/").as_deref(), Some("a"));
        assert_eq!(Scope::Parent.path("top", "/"), None);
        assert_eq!(Scope::parse("site"), Some(Scope::Site));
        assert_eq!(
            numeric_props(&s, "site/line/robot"),
            vec!["temp".to_owned(), "torque".to_owned()]
        );
        assert_eq!(plot_window(100 * M), (85 * M, 105 * M));
    }
}

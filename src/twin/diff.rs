//! What changed between two times A and B, for a subtree: properties (old → new), assets
//! added or removed, alarms raised or cleared. Exported as JSON from the diff panel.

use serde::Serialize;
use serde_json::Value as Json;

use super::alarms::Cause;
use super::store::{AssetIdx, Store};

/// One property that differs between A and B (`None` = no value at that time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropChange {
    pub asset: String,
    pub property: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

/// An alarm transition between A and B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmChange {
    pub asset: String,
    pub code: String,
    pub severity: &'static str,
    pub at: i64,
}

/// The differences between A and B.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Diff {
    pub a: i64,
    pub b: i64,
    pub scope: Option<String>,
    pub changed: Vec<PropChange>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub raised: Vec<AlarmChange>,
    pub cleared: Vec<AlarmChange>,
}

/// Whether asset id `id` is in the subtree `scope` (an asset id or group path).
#[must_use]
pub fn in_scope(id: &str, scope: Option<&str>, sep: &str) -> bool {
    scope.is_none_or(|s| id == s || id.strip_prefix(s).is_some_and(|rest| rest.starts_with(sep)))
}

/// Computes the diff from `a` to `b` (either order) for the subtree `scope`.
#[must_use]
pub fn diff(store: &Store, a: i64, b: i64, scope: Option<&str>) -> Diff {
    let sep = store.separator();
    let mut d = Diff {
        a,
        b,
        scope: scope.map(str::to_owned),
        ..Diff::default()
    };
    let (lo, hi) = (a.min(b), a.max(b));
    for (i, asset) in store.assets().iter().enumerate() {
        let idx = i as AssetIdx;
        if !in_scope(&asset.id, scope, sep) {
            continue;
        }
        let (ea, eb) = (store.exists_at(idx, a), store.exists_at(idx, b));
        match (ea, eb) {
            (false, true) => d.added.push(asset.id.to_string()),
            (true, false) => d.removed.push(asset.id.to_string()),
            _ => {}
        }
        for (p, s) in asset.series() {
            let old = s.at(a).map(|x| x.value);
            let new = s.at(b).map(|x| x.value);
            if old != new {
                d.changed.push(PropChange {
                    asset: asset.id.to_string(),
                    property: store
                        .prop_name(p)
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    old: old.map(|v| v.to_json()),
                    new: new.map(|v| v.to_json()),
                });
            }
        }
        for &al in asset.alarm_ids() {
            let alarm = &store.alarms()[al as usize];
            for t in alarm.history.journal_until(hi) {
                if t.ts <= lo {
                    continue;
                }
                let change = AlarmChange {
                    asset: asset.id.to_string(),
                    code: alarm.code.to_string(),
                    severity: alarm.priority.as_str(),
                    at: t.ts,
                };
                match t.cause {
                    Cause::Activated => d.raised.push(change),
                    Cause::Cleared => d.cleared.push(change),
                    _ => {}
                }
            }
        }
    }
    d.changed
        .sort_by(|x, y| (&x.asset, &x.property).cmp(&(&y.asset, &y.property)));
    d.added.sort();
    d.removed.sort();
    d.raised.sort_by_key(|c| c.at);
    d.cleared.sort_by_key(|c| c.at);
    d
}

#[cfg(test)]
mod tests {
    use super::super::alarms::Priority;
    use super::super::decode::{AlarmAction, Rec, Role};
    use super::*;
    use crate::testkit::records::{alarm, num, origin, telemetry};

    /// Record `o` of the log: property `x` of `asset` is `v` at `ts`.
    fn tele(o: i64, asset: &str, ts: i64, v: f64) -> Rec {
        telemetry(
            origin(Role::Telemetry, 0, o, 0),
            asset,
            ts,
            vec![num("x", v)],
        )
    }

    /// Record `o` of the log: `p/m1`'s high-priority `HOT` alarm does `action` at `ts`.
    fn hot(o: i64, ts: i64, action: AlarmAction) -> Rec {
        let at = origin(Role::Events, 0, o, 0);
        alarm(at, "p/m1", ts, "HOT", Priority::High, action, None)
    }

    #[test]
    fn lists_changes_added_assets_and_alarms_in_scope() {
        let mut s = Store::new("/", 0);
        s.apply(tele(0, "p/m1", 10, 1.0));
        s.apply(tele(1, "p/m1", 20, 2.0));
        s.apply(tele(2, "p/m2", 15, 5.0));
        s.apply(tele(3, "q/m3", 5, 7.0));
        s.apply(tele(4, "q/m3", 25, 8.0));
        s.apply(hot(5, 12, AlarmAction::Active));
        s.apply(hot(6, 18, AlarmAction::Cleared));
        s.apply(hot(7, 30, AlarmAction::Active));
        let d = diff(&s, 11, 21, Some("p"));
        assert_eq!(d.added, vec!["p/m2".to_owned()]);
        assert!(d.removed.is_empty());
        let changed: Vec<_> = d
            .changed
            .iter()
            .map(|c| (c.asset.as_str(), c.old.clone(), c.new.clone()))
            .collect();
        assert_eq!(
            changed,
            vec![
                ("p/m1", Some(Json::from(1.0)), Some(Json::from(2.0))),
                ("p/m2", None, Some(Json::from(5.0)))
            ]
        );
        assert_eq!(d.raised.iter().map(|c| c.at).collect::<Vec<_>>(), vec![12]);
        assert_eq!(d.cleared.iter().map(|c| c.at).collect::<Vec<_>>(), vec![18]);
        // q/m3 changed too, but is outside the scope; the whole fleet sees it.
        assert!(
            diff(&s, 11, 26, None)
                .changed
                .iter()
                .any(|c| c.asset == "q/m3")
        );
        assert!(!in_scope("pp/x", Some("p"), "/"));
    }
}

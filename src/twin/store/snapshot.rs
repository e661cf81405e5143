//! The state of the fleet at a time T as JSON, in the documented shape the headless
//! `snapshot` command prints and the tests compare.

use serde_json::{Map, Value as Json, json};

use super::{AssetIdx, Store};
use crate::twin::alarms::AlarmState;

impl Store {
    /// The state of the fleet at `t`, in the documented snapshot JSON shape.
    #[must_use]
    pub fn snapshot(&self, t: i64) -> Json {
        let mut assets = Map::new();
        // The map orders the ids itself.
        for a in (0..self.assets.len() as AssetIdx).filter(|&a| self.exists_at(a, t)) {
            // Straight from the series: the map orders the names, so no list of views to
            // build and sort per asset (most of this function's allocations at 100k series).
            let props: Map<String, Json> = self.assets[a as usize]
                .props
                .iter()
                .filter_map(|(p, s)| {
                    let v = s.at(t)?.value.to_json();
                    Some((self.prop_names[*p as usize].to_string(), v))
                })
                .collect();
            assets.insert(self.assets[a as usize].id.to_string(), Json::Object(props));
        }
        let alarms: Vec<Json> = self
            .alarms_at(t)
            .into_iter()
            .map(|v| {
                json!({
                    "asset": self.assets[v.asset as usize].id.as_ref(),
                    "code": v.code.as_ref(),
                    "severity": v.priority.as_str(),
                    "state": state_name(&v.status.state),
                    "since": v.status.since,
                })
            })
            .collect();
        // Moved in, not through `json!`, which serializes its arguments: a deep copy of every
        // asset's map, a third of this function's time at 10k assets.
        let mut out = Map::new();
        out.insert("at".into(), Json::from(t));
        out.insert("assets".into(), Json::Object(assets));
        out.insert("alarms".into(), Json::Array(alarms));
        Json::Object(out)
    }
}

/// Machine-readable name of an alarm state, used in snapshots and exports.
#[must_use]
pub fn state_name(s: &AlarmState) -> &'static str {
    match s {
        AlarmState::Normal => "normal",
        AlarmState::UnackActive => "unack_active",
        AlarmState::AckedActive => "acked_active",
        AlarmState::UnackRtn => "unack_rtn",
        AlarmState::Shelved => "shelved",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{store_of, tele};

    #[test]
    fn snapshot_lists_assets_existing_at_t() {
        let s = store_of([tele(0, 0, "a/b/c", 10, 21.5), tele(0, 1, "a/b/d", 20, 1.0)]);
        let snap = s.snapshot(15);
        assert_eq!(snap["at"], 15);
        assert_eq!(snap["assets"]["a/b/c"]["x"], 21.5);
        assert!(snap["assets"].get("a/b/d").is_none());
    }
}

//! Alarms derived from the configured rules: which series each rule watches, evaluating the
//! rules as samples arrive (incrementally, or from scratch when a sample arrives out of
//! order), and merging the derived inputs with those from the events topic. The rule
//! definitions and their evaluators are in [`crate::twin::rules`]; this is how the store
//! drives them.

use super::{AssetIdx, PropId, Store};
use crate::twin::alarms::{AlarmHistory, Keyed};
use crate::twin::rules::{RuleDef, RuleEval};

/// Set on the sequence number of rule-derived alarm inputs, so they never collide with inputs
/// from the events topic at the same time (ordering among equal times stays deterministic).
const RULE_SEQ: u64 = 1 << 63;

/// The evaluation of one rule on one asset.
#[derive(Debug, Clone)]
pub(super) struct RuleState {
    eval: RuleEval,
    /// `(ts, seq)` of the last sample pushed into `eval`.
    last: Option<(i64, u64)>,
    /// The inputs the rule derived, in `(ts, seq)` order.
    inputs: Vec<Keyed>,
    /// The `(asset, code)` alarm, once the rule has produced an input.
    alarm: Option<u32>,
}

impl Store {
    /// Replaces the alarm rules and re-derives every rule alarm from the held history. Alarms
    /// from the events topic are kept; operator inputs (acks, shelves) on rule alarms too.
    ///
    /// Rules are evaluated over each property's samples in `(ts, seq)` order, so the alarm
    /// states at any T do not depend on the order records arrived in. A sample arriving out
    /// of order re-evaluates that asset's rule from its first held sample; after history has
    /// been evicted for the budget, late samples older than the last evaluated one are ignored
    /// by the rules (the alarm inputs already derived are kept).
    pub fn set_rules(&mut self, rules: Vec<RuleDef>) {
        let old: Vec<u32> = self.rule_states.values().filter_map(|s| s.alarm).collect();
        self.rule_states.clear();
        self.rules = rules;
        self.watched.clear();
        for (r, rule) in self.rules.iter().enumerate() {
            if let Some(&p) = self.prop_ids.get(rule.property.as_str()) {
                self.watched.entry(p).or_default().push(r);
            }
        }
        for id in old {
            self.rebuild_alarm(id);
        }
        self.dirty.clear();
        self.dirty_assets = (0..self.assets.len() as AssetIdx).collect();
        self.update_rules();
    }

    /// The configured alarm rules.
    #[must_use]
    pub fn rules(&self) -> &[RuleDef] {
        &self.rules
    }

    /// Re-evaluates the rules on the series that received samples since the last call.
    /// [`Self::apply_batch`] calls this; callers of [`Self::apply`] must call it themselves
    /// before querying rule alarms.
    pub fn update_rules(&mut self) {
        if self.rules.is_empty() {
            self.dirty.clear();
            self.dirty_assets.clear();
            return;
        }
        let mut assets: Vec<AssetIdx> =
            std::mem::take(&mut self.dirty_assets).into_iter().collect();
        assets.sort_unstable();
        let mut dirty: Vec<((AssetIdx, PropId), (i64, u64))> =
            std::mem::take(&mut self.dirty).into_iter().collect();
        dirty.sort_unstable();
        for &a in &assets {
            for r in 0..self.rules.len() {
                self.eval_rule(a, r, None);
            }
        }
        for ((a, p), from) in dirty {
            if assets.binary_search(&a).is_ok() {
                continue;
            }
            let rules = self.watched.get(&p).cloned().unwrap_or_default();
            for r in rules {
                self.eval_rule(a, r, Some(from));
            }
        }
    }

    /// Brings rule `r` on asset `a` up to date: incrementally when only samples after the last
    /// evaluated one arrived (`from`), otherwise from the start of the series.
    fn eval_rule(&mut self, a: AssetIdx, r: usize, from: Option<(i64, u64)>) {
        let key = (a, r);
        let Some(rule) = self.rules.get(r) else {
            return;
        };
        let Some(asset) = self.assets.get(a as usize) else {
            return;
        };
        let kind = asset
            .def_at(i64::MAX)
            .flatten()
            .and_then(|d| d.kind.as_deref());
        let series = if rule.applies_to(&asset.id, kind) {
            self.prop_ids
                .get(rule.property.as_str())
                .and_then(|p| asset.props.iter().find(|(q, _)| q == p))
                .map(|(_, s)| s)
        } else {
            None
        };
        let Some(series) = series else {
            if let Some(id) = self.rule_states.remove(&key).and_then(|st| st.alarm) {
                self.rebuild_alarm(id);
            }
            return;
        };
        let last = self.rule_states.get(&key).and_then(|s| s.last);
        let incremental = match (from, last) {
            (Some(f), Some(l)) => f > l || self.history_start.is_some(),
            _ => false,
        };
        let (mut st, full) = match self.rule_states.remove(&key) {
            Some(st) if incremental => (st, false),
            old => (
                RuleState {
                    eval: rule.evaluator(),
                    last: None,
                    inputs: Vec::new(),
                    alarm: old.and_then(|o| o.alarm),
                },
                true,
            ),
        };
        let start = match st.last {
            Some((t, _)) => series.count_before(t),
            None => 0,
        };
        let mut new = Vec::new();
        for i in start..series.len() {
            let Some(smp) = series.sample(i) else {
                continue;
            };
            if st.last.is_some_and(|l| (smp.ts, smp.seq) <= l) {
                continue;
            }
            for (ts, input) in st.eval.push(smp.ts, &smp.value) {
                new.push(Keyed {
                    ts,
                    seq: smp.seq | RULE_SEQ,
                    input,
                });
            }
            st.last = Some((smp.ts, smp.seq));
        }
        let (code, priority) = (rule.code.clone(), rule.priority);
        if st.alarm.is_none() && !new.is_empty() {
            st.alarm = Some(self.alarm_for(a, &code, priority));
        }
        let alarm = st.alarm;
        if full {
            st.inputs = new;
            self.rule_states.insert(key, st);
            if let Some(id) = alarm {
                self.rebuild_alarm(id);
            }
        } else {
            if let Some(id) = alarm
                && !new.is_empty()
            {
                let al = &mut self.alarms[id as usize];
                al.priority = priority;
                for k in &new {
                    al.history.insert(k.clone());
                }
                self.structure_gen += 1;
            }
            st.inputs.extend(new);
            self.rule_states.insert(key, st);
        }
    }

    /// Rebuilds an alarm's history from its event inputs and the current rule inputs.
    fn rebuild_alarm(&mut self, id: u32) {
        let Some(al) = self.alarms.get(id as usize) else {
            return;
        };
        let a = al.asset;
        let mut all: Vec<Keyed> = al.events.clone();
        let mut priority = None;
        for (r, rule) in self.rules.iter().enumerate() {
            if let Some(st) = self.rule_states.get(&(a, r))
                && st.alarm == Some(id)
            {
                all.extend(st.inputs.iter().cloned());
                priority = Some(rule.priority);
            }
        }
        all.sort_by_key(|k| (k.ts, k.seq));
        let mut history = AlarmHistory::new();
        for k in all {
            history.insert(k);
        }
        let al = &mut self.alarms[id as usize];
        al.history = history;
        if let Some(p) = priority {
            al.priority = p;
        }
        self.structure_gen += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{rec, tele};
    use super::*;
    use crate::testkit::rules::alarm_state;
    use crate::twin::alarms::{AlarmState, Priority};
    use crate::twin::decode::{
        AlarmAction, AssetDef, Decoded, Event, EventKind, Rec, Role, Severity,
    };
    use crate::twin::rules::{Limit, RuleKind, ThresholdCondition};

    fn hi_rule(on_s: i64, off_s: i64) -> RuleDef {
        RuleDef {
            code: "VIB_HI".into(),
            property: "x".into(),
            priority: Priority::Medium,
            kinds: vec![],
            pattern: None,
            kind: RuleKind::Threshold(ThresholdCondition {
                limit: Limit::Hi,
                value: 7.0,
                deadband: 0.5,
                on_delay_ms: on_s * 1000,
                off_delay_ms: off_s * 1000,
            }),
        }
    }

    /// Samples every second: 5.0 until 10 s, 8.0 from 10 s to 30 s, 6.8 (inside the deadband)
    /// until 40 s, then 6.0.
    fn vib_recs(asset: &str) -> Vec<Rec> {
        (0..60)
            .map(|i| {
                let v = match i {
                    0..10 => 5.0,
                    10..30 => 8.0,
                    30..40 => 6.8,
                    _ => 6.0,
                };
                tele(i as i32 % 3, i, asset, i * 1000, v)
            })
            .collect()
    }

    #[test]
    fn hi_rule_with_deadband_and_delays() {
        let mut s = Store::new("/", 0);
        s.set_rules(vec![hi_rule(5, 3)]);
        s.apply_batch(vib_recs("p/m"), vec![]);
        let st = |t| alarm_state(&s, "p/m", "VIB_HI", t);
        assert_eq!(st(0), None);
        assert_eq!(st(14_999), None);
        assert_eq!(st(15_000), Some(AlarmState::UnackActive));
        assert_eq!(st(35_000), Some(AlarmState::UnackActive));
        // 6.0 < 7.0 - 0.5 from 40 s, held 3 s.
        assert_eq!(st(42_999), Some(AlarmState::UnackActive));
        assert_eq!(st(43_000), Some(AlarmState::UnackRtn));
        let v = s.alarms_at(20_000);
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].priority, v[0].status.since),
            (Priority::Medium, 15_000)
        );
        assert_eq!(v[0].status.message.as_deref(), Some("x 8.0 > hi 7.0"));
        assert_eq!(s.snapshot(20_000)["alarms"][0]["code"], "VIB_HI");
    }

    #[test]
    fn rule_alarms_do_not_depend_on_arrival_order() {
        let mut ordered = Store::new("/", 0);
        ordered.set_rules(vec![hi_rule(5, 3)]);
        ordered.apply_batch(vib_recs("p/m"), vec![]);
        let mut rng = fastrand::Rng::with_seed(11);
        for round in 0..5 {
            let mut recs = vib_recs("p/m");
            rng.shuffle(&mut recs);
            let mut s = Store::new("/", 0);
            s.set_rules(vec![hi_rule(5, 3)]);
            // Small batches, so late samples force re-evaluation.
            while !recs.is_empty() {
                let n = rng.usize(1..8).min(recs.len());
                s.apply_batch(recs.drain(..n).collect(), vec![]);
            }
            for t in (0..70_000).step_by(500) {
                assert_eq!(
                    alarm_state(&s, "p/m", "VIB_HI", t),
                    alarm_state(&ordered, "p/m", "VIB_HI", t),
                    "round {round} t={t}"
                );
            }
        }
        // Rules installed after the data give the same result.
        let mut late = Store::new("/", 0);
        late.apply_batch(vib_recs("p/m"), vec![]);
        late.set_rules(vec![hi_rule(5, 3)]);
        assert_eq!(
            alarm_state(&late, "p/m", "VIB_HI", 20_000),
            Some(AlarmState::UnackActive)
        );
        assert_eq!(
            alarm_state(&late, "p/m", "VIB_HI", 43_000),
            Some(AlarmState::UnackRtn)
        );
    }

    #[test]
    fn operator_ack_survives_recompute() {
        let mut s = Store::new("/", 0);
        s.set_rules(vec![hi_rule(5, 3)]);
        let mut recs = vib_recs("p/m");
        let late = recs.split_off(20);
        s.apply_batch(recs, vec![]);
        assert_eq!(
            alarm_state(&s, "p/m", "VIB_HI", 19_000),
            Some(AlarmState::UnackActive)
        );
        let ack = rec(
            Role::Events,
            0,
            0,
            Decoded::Event(Event {
                asset: "p/m".into(),
                parent: None,
                ts: 20_000,
                kind: EventKind::Alarm {
                    action: AlarmAction::Acked,
                    until: None,
                },
                code: "VIB_HI".into(),
                severity: Severity::Alarm(Priority::Medium),
                message: None,
                by: Some("ann".into()),
                comment: None,
            }),
        );
        s.apply_batch(vec![ack], vec![]);
        assert_eq!(
            alarm_state(&s, "p/m", "VIB_HI", 20_000),
            Some(AlarmState::AckedActive)
        );
        // The rest, plus a late early sample that forces a full recompute.
        let mut rest = late;
        rest.push(tele(5, 999, "p/m", 500, 5.0));
        s.apply_batch(rest, vec![]);
        let a = s.asset_by_id("p/m").unwrap();
        let id = s.asset(a).unwrap().alarm_ids()[0];
        let v = s.alarm_at(id, 25_000).unwrap();
        assert_eq!(v.status.state, AlarmState::AckedActive);
        assert_eq!(v.status.acked_by.as_deref(), Some("ann"));
        // Acked, then returned: back to Normal at 43 s.
        assert_eq!(
            alarm_state(&s, "p/m", "VIB_HI", 43_000),
            Some(AlarmState::Normal)
        );
        // Replacing the rules drops rule inputs but keeps the operator's.
        s.set_rules(vec![]);
        assert!(s.alarms_at(25_000).is_empty());
    }

    #[test]
    fn kinds_and_pattern_select_assets() {
        let mut by_kind = hi_rule(0, 0);
        by_kind.kinds = vec!["machine".into()];
        by_kind.code = "K".into();
        let mut by_pattern = hi_rule(0, 0);
        by_pattern.pattern = Some("plant-a/*/press-*".into());
        by_pattern.code = "P".into();
        let mut s = Store::new("/", 0);
        s.set_rules(vec![by_kind, by_pattern]);
        let def = |o: i64, asset: &str, kind: &str| {
            rec(
                Role::Assets,
                0,
                o,
                Decoded::Asset {
                    asset: asset.into(),
                    ts: 0,
                    def: Some(AssetDef {
                        name: None,
                        kind: Some(kind.into()),
                        parent: None,
                        attributes: vec![],
                    }),
                },
            )
        };
        let mut recs = vec![
            def(0, "plant-a/l1/press-1", "sensor"),
            def(1, "plant-a/l1/lathe-1", "machine"),
        ];
        recs.extend(vib_recs("plant-a/l1/press-1"));
        recs.extend(vib_recs("plant-a/l1/lathe-1"));
        recs.extend(vib_recs("plant-b/l1/press-1"));
        s.apply_batch(recs, vec![]);
        let on = |a: &str, c: &str| alarm_state(&s, a, c, 20_000) == Some(AlarmState::UnackActive);
        assert!(on("plant-a/l1/press-1", "P") && !on("plant-a/l1/press-1", "K"));
        assert!(on("plant-a/l1/lathe-1", "K") && !on("plant-a/l1/lathe-1", "P"));
        assert!(!on("plant-b/l1/press-1", "K") && !on("plant-b/l1/press-1", "P"));
        // A later definition changes the kind: the rule now applies.
        s.apply_batch(vec![def(2, "plant-b/l1/press-1", "machine")], vec![]);
        assert_eq!(
            alarm_state(&s, "plant-b/l1/press-1", "K", 20_000),
            Some(AlarmState::UnackActive)
        );
    }
}

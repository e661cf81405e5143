//! Applying decoded records to the store: the registry that interns asset ids, property
//! names and `(asset, code)` alarms, the insertion of samples and definitions, and the
//! detection of records a producer wrote twice.

use std::sync::Arc;

use super::{Alarm, Asset, AssetIdx, PropId, Store};
use crate::twin::alarms::{AlarmHistory, Priority};
use crate::twin::decode::{BadRecord, Decoded, Origin, Rec, Value};
use crate::twin::series::Series;
use crate::twin::{seq_of, seq_parts};

/// Most bad records kept for the diagnostics list; the count keeps going beyond it.
pub(super) const MAX_BAD_KEPT: usize = 10_000;

impl Store {
    /// Applies decoded records and bad-record reports from one ingest batch.
    pub fn apply_batch(&mut self, recs: Vec<Rec>, bad: Vec<BadRecord>) {
        for r in recs {
            self.apply(r);
        }
        self.stats.bad += bad.len() as u64;
        let room = MAX_BAD_KEPT.saturating_sub(self.bad.len());
        self.bad.extend(bad.into_iter().take(room));
        self.data_gen += 1;
        // Before eviction, so the rules see every sample of the batch.
        self.update_rules();
        self.enforce_budget();
    }

    /// Applies one decoded record.
    pub fn apply(&mut self, rec: Rec) {
        self.stats.records += 1;
        let o = rec.origin;
        let seq = seq_of(o.partition, o.offset);
        match rec.body {
            Decoded::Telemetry {
                asset,
                parent,
                ts,
                props,
            } => {
                self.see_time(ts);
                let a = self.asset_idx(&asset, parent.as_deref());
                self.see_arrival(a, o.role, o.partition, ts);
                // Each name is hashed once per record, here; the duplicate check and the
                // inserts below work on the ids.
                let mut pids = std::mem::take(&mut self.scratch_pids);
                pids.clear();
                for (name, _) in &props {
                    pids.push(self.prop_id(name));
                }
                if let Some(of) = self.same_record(a, ts, seq, &pids, &props) {
                    self.stats.records -= 1;
                    self.report_duplicate(o, of);
                    self.scratch_pids = pids;
                    return;
                }
                self.touch(a, ts);
                for ((_, value), &pid) in props.into_iter().zip(&pids) {
                    let asset = &mut self.assets[a as usize];
                    let series = match asset.props.iter().position(|(p, _)| *p == pid) {
                        Some(i) => &mut asset.props[i].1,
                        None => {
                            asset.props.push((pid, Series::default()));
                            self.structure_gen += 1;
                            let last = asset.props.len() - 1;
                            &mut asset.props[last].1
                        }
                    };
                    let before = series.bytes();
                    let inserted = series.insert(ts, seq, o.kafka_ts, value);
                    self.series_bytes = (self.series_bytes + series.bytes()).saturating_sub(before);
                    if inserted {
                        self.stats.samples += 1;
                        if self.watched.contains_key(&pid) {
                            let from = self.dirty.entry((a, pid)).or_insert((ts, seq));
                            *from = (*from).min((ts, seq));
                        }
                    } else {
                        self.stats.duplicates += 1;
                    }
                }
                self.scratch_pids = pids;
            }
            Decoded::Asset { asset, ts, def } => {
                self.see_time(ts);
                let a = self.asset_idx(&asset, None);
                let defs = &mut self.assets[a as usize].defs;
                let pos = defs.partition_point(|(t, s, _)| (*t, *s) < (ts, seq));
                if defs.get(pos).is_some_and(|(t, s, _)| (*t, *s) == (ts, seq)) {
                    self.stats.duplicates += 1;
                } else {
                    defs.insert(pos, (ts, seq, def));
                    self.structure_gen += 1;
                    if !self.rules.is_empty() {
                        self.dirty_assets.insert(a);
                    }
                }
            }
            Decoded::Event(e) => {
                self.see_time(e.ts);
                self.apply_event(e, seq);
            }
        }
    }

    /// The key of an earlier record of this asset with the same event time and exactly the
    /// same properties. Such a record is a producer's retry written twice (for example without
    /// idempotence), not new data: applying it would double-count the sample.
    fn same_record(
        &self,
        a: AssetIdx,
        ts: i64,
        seq: u64,
        pids: &[PropId],
        props: &[(String, Value)],
    ) -> Option<u64> {
        let asset = &self.assets[a as usize];
        let series_of = |pid: PropId| asset.props.iter().find(|(p, _)| *p == pid).map(|(_, s)| s);
        let (&first, (_, value)) = (pids.first()?, props.first()?);
        let candidates = series_of(first)?.same_at(ts, seq, value);
        candidates.into_iter().find(|&c| {
            // The earlier record must have had exactly these properties and values: a record
            // that only repeats some of another's values is new data.
            pids.iter().zip(props).all(|(&pid, (_, value))| {
                series_of(pid)
                    .and_then(|s| Some(s.value_is(s.find(ts, c)?, value)))
                    .unwrap_or(false)
            }) && asset
                .props
                .iter()
                .filter(|(_, s)| s.find(ts, c).is_some())
                .count()
                == props.len()
        })
    }

    fn report_duplicate(&mut self, o: Origin, of: u64) {
        self.stats.bad += 1;
        if self.bad.len() < MAX_BAD_KEPT {
            let (partition, offset) = seq_parts(of);
            self.bad.push(BadRecord {
                topic: self.topic_names[o.role.index()].clone(),
                partition: o.partition,
                offset: o.offset,
                reason: format!(
                    "duplicate of partition {partition} offset {offset}: same asset, event time \
                     and values"
                ),
            });
        }
    }

    pub(super) fn touch(&mut self, a: AssetIdx, ts: i64) {
        let first = &mut self.assets[a as usize].first_seen;
        if first.is_none_or(|f| ts < f) {
            *first = Some(ts);
            self.structure_gen += 1;
        }
    }

    pub(super) fn asset_idx(&mut self, id: &str, parent: Option<&str>) -> AssetIdx {
        if let Some(&i) = self.by_id.get(id) {
            // A payload hierarchy may name the parent on any record; keep the first one seen.
            if let Some(p) = parent
                && self.assets[i as usize].implied_parent.is_none()
            {
                self.assets[i as usize].implied_parent = Some(Arc::from(p));
                self.structure_gen += 1;
            }
            return i;
        }
        let implied_parent = match parent {
            Some(p) => Some(Arc::from(p)),
            None => id
                .rfind(self.separator.as_str())
                .filter(|&i| i > 0)
                .map(|i| Arc::from(&id[..i])),
        };
        let idx = self.assets.len() as AssetIdx;
        let id: Arc<str> = Arc::from(id);
        self.assets.push(Asset {
            id: id.clone(),
            implied_parent,
            defs: Vec::new(),
            first_seen: None,
            props: Vec::new(),
            alarms: Vec::new(),
        });
        self.by_id.insert(id, idx);
        self.structure_gen += 1;
        idx
    }

    fn prop_id(&mut self, name: &str) -> PropId {
        if let Some(&p) = self.prop_ids.get(name) {
            return p;
        }
        let p = self.prop_names.len() as PropId;
        for (r, rule) in self.rules.iter().enumerate() {
            if rule.property == name {
                self.watched.entry(p).or_default().push(r);
            }
        }
        let name: Arc<str> = Arc::from(name);
        self.prop_names.push(name.clone());
        self.prop_ids.insert(name, p);
        p
    }

    /// The `(asset, code)` alarm, created if needed.
    pub(super) fn alarm_for(&mut self, a: AssetIdx, code: &str, priority: Priority) -> u32 {
        if let Some(&id) = self.alarm_ids.get(&(a, Arc::from(code))) {
            return id;
        }
        let code: Arc<str> = Arc::from(code);
        let id = self.alarms.len() as u32;
        self.alarms.push(Alarm {
            asset: a,
            code: code.clone(),
            priority,
            history: AlarmHistory::new(),
            events: Vec::new(),
        });
        self.alarm_ids.insert((a, code), id);
        self.assets[a as usize].alarms.push(id);
        self.structure_gen += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{rec, tele};
    use super::*;
    use crate::twin::decode::{AssetDef, Role};

    #[test]
    fn a_record_written_twice_is_listed_once_but_a_partial_repeat_is_data() {
        let multi = |o: i64, props: &[(&str, f64)]| {
            rec(
                Role::Telemetry,
                0,
                o,
                Decoded::Telemetry {
                    asset: "m".into(),
                    parent: None,
                    ts: 10,
                    props: props
                        .iter()
                        .map(|(n, v)| ((*n).to_owned(), Value::Num(*v)))
                        .collect(),
                },
            )
        };
        let mut s = Store::new("/", 0);
        s.apply_batch(vec![multi(0, &[("x", 1.0), ("y", 2.0)])], Vec::new());
        // Only some of the same values: new data, applied.
        s.apply_batch(vec![multi(1, &[("x", 1.0)])], Vec::new());
        assert!(s.bad_records().is_empty());
        // The whole record again: a duplicate of offset 0, listed and not applied.
        s.apply_batch(vec![multi(2, &[("y", 2.0), ("x", 1.0)])], Vec::new());
        let bad = s.bad_records();
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].partition, bad[0].offset), (0, 2));
        assert!(
            bad[0]
                .reason
                .starts_with("duplicate of partition 0 offset 0")
        );
        assert_eq!(
            (s.stats().records, s.stats().samples, s.stats().bad),
            (2, 3, 1)
        );
    }

    #[test]
    fn assets_come_and_go_with_twin_assets_records() {
        let mut s = Store::new("/", 0);
        let def = |parent: Option<&str>| {
            Some(AssetDef {
                name: None,
                kind: Some("machine".into()),
                parent: parent.map(Into::into),
                attributes: vec![],
            })
        };
        s.apply(rec(
            Role::Assets,
            0,
            0,
            Decoded::Asset {
                asset: "p/m".into(),
                ts: 100,
                def: def(None),
            },
        ));
        s.apply(rec(
            Role::Assets,
            0,
            1,
            Decoded::Asset {
                asset: "p/m".into(),
                ts: 200,
                def: def(Some("q")),
            },
        ));
        s.apply(rec(
            Role::Assets,
            0,
            2,
            Decoded::Asset {
                asset: "p/m".into(),
                ts: 300,
                def: None,
            },
        ));
        let a = s.asset_by_id("p/m").unwrap();
        assert!(!s.exists_at(a, 99));
        assert!(s.exists_at(a, 100));
        assert_eq!(s.assets()[a as usize].parent_at(150), Some("p"));
        assert_eq!(s.assets()[a as usize].parent_at(250), Some("q"));
        assert!(!s.exists_at(a, 300));
        // Telemetry alone makes an asset exist from its first record.
        s.apply(tele(0, 0, "p/n", 50, 1.0));
        let n = s.asset_by_id("p/n").unwrap();
        assert!(!s.exists_at(n, 49) && s.exists_at(n, 50));
    }
}

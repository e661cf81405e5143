//! Applying decoded records to the store: the registry that interns asset ids, property
//! names and `(asset, code)` alarms, the insertion of samples and definitions, and the
//! detection of records a producer wrote twice.

use std::sync::Arc;

use foldhash::HashMap;

use super::{Alarm, Asset, AssetIdx, PropId, Store};
use crate::twin::alarms::{AlarmHistory, Priority};
use crate::twin::decode::{BadRecord, Decoded, Origin, Rec, Value};
use crate::twin::series::Series;
use crate::twin::{seq_of, seq_parts};

/// Records whose assets are read ahead at once ([`Store::warm`]).
const WARM_AHEAD: usize = 32;

/// Most bad records kept for the diagnostics list; the count keeps going beyond it.
pub(super) const MAX_BAD_KEPT: usize = 10_000;

/// Entries the pointer tables may hold beyond two per asset or property before they start
/// afresh (each ingest session's decoder has its own copies, see below).
const SHARED_SLACK: usize = 1024;

/// Asset ids and property names by the address of the decoder's shared copy
/// ([`crate::twin::decode::Interner`]): every telemetry record names its asset and properties,
/// and hashing a pointer is cheaper than hashing (and comparing) the string.
///
/// Each entry keeps its `Arc`, so no other string can be allocated at that address while the
/// entry exists: a hit is always the same string, whoever decoded it. Strings no interner
/// shares (a record's own copy) are not entered; they are looked up by content as before.
///
/// Text values the decoder shares (states) map to the store's own copy the same way: the
/// store clones a value into its series for each sample, and cloning the decoder's copy
/// wrote a reference count that the decoder's thread writes for every record it decodes
/// with that text, so the count's cache line crossed cores with each sample.
#[derive(Debug, Default)]
pub(super) struct SharedNames {
    assets: HashMap<usize, (Arc<str>, AssetIdx)>,
    props: HashMap<usize, (Arc<str>, PropId)>,
    texts: HashMap<usize, (Arc<str>, Arc<str>)>,
}

/// Text values mapped to the store's copies before the table starts afresh: at least the
/// decoder's own bound on shared texts, so a steady set of states is never dropped.
const MAX_SHARED_TEXTS: usize = 2 * crate::twin::decode::MAX_INTERNED_TEXTS;

/// The address a shared string is known by.
fn addr(s: &Arc<str>) -> usize {
    Arc::as_ptr(s).cast::<u8>().addr()
}

/// Whether `s` is a copy someone else (an interner) holds too, so that the same address comes
/// again with later records.
fn is_shared(s: &Arc<str>) -> bool {
    Arc::strong_count(s) > 1
}

/// Enters `s` at its address, starting the table afresh once it holds more than `bound`
/// (aliases from earlier ingest sessions).
fn remember<T>(table: &mut HashMap<usize, (Arc<str>, T)>, s: &Arc<str>, v: T, bound: usize) {
    if table.len() >= bound {
        table.clear();
    }
    table.insert(addr(s), (s.clone(), v));
}

impl SharedNames {
    /// The store's copy of a text value: by address when the decoder shares it (the first
    /// time, a copy of its own is made), else the record's copy, which nobody else writes.
    fn own_text(&mut self, text: &Arc<str>) -> Arc<str> {
        if let Some((_, own)) = self.texts.get(&addr(text)) {
            return own.clone();
        }
        if !is_shared(text) {
            return text.clone();
        }
        let own: Arc<str> = Arc::from(&**text);
        remember(&mut self.texts, text, own.clone(), MAX_SHARED_TEXTS);
        own
    }
}

impl Store {
    /// Applies decoded records and bad-record reports from one ingest batch.
    pub fn apply_batch(&mut self, mut recs: Vec<Rec>, bad: Vec<BadRecord>) {
        self.apply_lent(&mut recs, bad);
    }

    /// [`Self::apply_batch`] on records that stay with their owner: the store copies the
    /// values it keeps and takes only the bodies of events and asset definitions. The ingest
    /// thread gets telemetry records back and drops them itself
    /// ([`crate::twin::decode::Interner::reclaim`]), so their shared names are never released
    /// on this thread.
    pub fn apply_lent(&mut self, recs: &mut [Rec], bad: Vec<BadRecord>) {
        for group in recs.chunks_mut(WARM_AHEAD) {
            std::hint::black_box(self.warm(group));
            for r in group {
                self.apply_from(r);
            }
        }
        self.stats.bad += bad.len() as u64;
        let room = MAX_BAD_KEPT.saturating_sub(self.bad.len());
        self.bad.extend(bad.into_iter().take(room));
        self.data_gen += 1;
        // Before eviction, so the rules see every sample of the batch.
        self.update_rules();
        self.enforce_budget();
    }

    /// Reads what applying `recs` will touch of the assets they name (each series' last
    /// sample), before applying them: these reads do not depend on one another, so the
    /// processor has many cache misses in flight at once, where applying takes them one
    /// after the other (asset, its series, their tails). Returns a value so the reads are
    /// not optimised out.
    fn warm(&self, recs: &[Rec]) -> i64 {
        let mut acc = 0i64;
        for r in recs {
            if let Decoded::Telemetry { asset, .. } = &r.body
                && let Some(&(_, a)) = self.shared.assets.get(&addr(asset))
                && let Some(asset) = self.assets.get(a as usize)
            {
                for (_, s) in &asset.props {
                    acc ^= s.last_ts_hint();
                }
            }
        }
        acc
    }

    /// Applies one decoded record.
    pub fn apply(&mut self, mut rec: Rec) {
        self.apply_from(&mut rec);
    }

    /// Applies one record, leaving a telemetry record as it was and taking the body of any
    /// other (an empty asset definition is left in its place).
    fn apply_from(&mut self, rec: &mut Rec) {
        self.stats.records += 1;
        let o = rec.origin;
        let seq = seq_of(o.partition, o.offset);
        if let Decoded::Telemetry {
            asset,
            parent,
            ts,
            props,
        } = &rec.body
        {
            self.apply_telemetry(o, asset, parent.as_deref(), *ts, props);
            return;
        }
        let taken = Decoded::Asset {
            asset: String::new(),
            ts: 0,
            def: None,
        };
        match std::mem::replace(&mut rec.body, taken) {
            Decoded::Telemetry {
                asset,
                parent,
                ts,
                props,
            } => self.apply_telemetry(o, &asset, parent.as_deref(), ts, &props),
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

    fn apply_telemetry(
        &mut self,
        o: Origin,
        asset: &Arc<str>,
        parent: Option<&str>,
        ts: i64,
        props: &[(Arc<str>, Value)],
    ) {
        let seq = seq_of(o.partition, o.offset);
        self.see_time(ts);
        let a = self.shared_asset_idx(asset, parent);
        self.see_arrival(a, o.role, o.partition, ts);
        // Each name is looked up once per record, here (by pointer when the decoder
        // shares it); the duplicate check and the inserts below work on the ids.
        let mut pids = std::mem::take(&mut self.scratch_pids);
        pids.clear();
        for (name, _) in props {
            pids.push(self.shared_prop_id(name));
        }
        if let Some(of) = self.same_record(a, ts, seq, &pids, props) {
            self.stats.records -= 1;
            self.report_duplicate(o, of);
            self.scratch_pids = pids;
            return;
        }
        self.touch(a, ts);
        for ((_, value), &pid) in props.iter().zip(&pids) {
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
            let value = match value {
                Value::Str(text) => Value::Str(self.shared.own_text(text)),
                v => v.clone(),
            };
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

    /// The key of an earlier record of this asset with the same event time and exactly the
    /// same properties. Such a record is a producer's retry written twice (for example without
    /// idempotence), not new data: applying it would double-count the sample.
    fn same_record(
        &self,
        a: AssetIdx,
        ts: i64,
        seq: u64,
        pids: &[PropId],
        props: &[(Arc<str>, Value)],
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
        match self.by_id.get(id) {
            Some(&i) => {
                self.note_parent(i, parent);
                i
            }
            None => self.add_asset(Arc::from(id), parent),
        }
    }

    /// [`Self::asset_idx`] for a telemetry record's id, found by address when the decoder
    /// shares it. A new asset keeps the record's copy of its id.
    fn shared_asset_idx(&mut self, id: &Arc<str>, parent: Option<&str>) -> AssetIdx {
        if let Some(&(_, i)) = self.shared.assets.get(&addr(id)) {
            self.note_parent(i, parent);
            return i;
        }
        let shared = is_shared(id);
        let i = match self.by_id.get(&**id) {
            Some(&i) => {
                self.note_parent(i, parent);
                i
            }
            None => self.add_asset(id.clone(), parent),
        };
        if shared {
            let bound = self.assets.len() * 2 + SHARED_SLACK;
            remember(&mut self.shared.assets, id, i, bound);
        }
        i
    }

    /// A payload hierarchy may name the parent on any record; keeps the first one seen.
    fn note_parent(&mut self, i: AssetIdx, parent: Option<&str>) {
        if let Some(p) = parent
            && self.assets[i as usize].implied_parent.is_none()
        {
            self.assets[i as usize].implied_parent = Some(Arc::from(p));
            self.structure_gen += 1;
        }
    }

    fn add_asset(&mut self, id: Arc<str>, parent: Option<&str>) -> AssetIdx {
        let implied_parent = match parent {
            Some(p) => Some(Arc::from(p)),
            None => id
                .rfind(self.separator.as_str())
                .filter(|&i| i > 0)
                .map(|i| Arc::from(&id[..i])),
        };
        let idx = self.assets.len() as AssetIdx;
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

    /// The id of a record's property name, found by address when the decoder shares it. A new
    /// property keeps the record's copy of its name.
    fn shared_prop_id(&mut self, name: &Arc<str>) -> PropId {
        if let Some(&(_, p)) = self.shared.props.get(&addr(name)) {
            return p;
        }
        let shared = is_shared(name);
        let p = match self.prop_ids.get(&**name) {
            Some(&p) => p,
            None => self.add_prop(name.clone()),
        };
        if shared {
            let bound = self.prop_names.len() * 2 + SHARED_SLACK;
            remember(&mut self.shared.props, name, p, bound);
        }
        p
    }

    fn add_prop(&mut self, name: Arc<str>) -> PropId {
        let p = self.prop_names.len() as PropId;
        for (r, rule) in self.rules.iter().enumerate() {
            if *rule.property == *name {
                self.watched.entry(p).or_default().push(r);
            }
        }
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
    use super::super::test_support::{rec, tele, x_at};
    use super::*;
    use crate::twin::decode::{AssetDef, Interner, Role};

    /// Property `x` of `asset` as a decoder sharing `names` hands it over.
    fn shared_rec(names: &mut Interner, o: i64, asset: &str, v: f64) -> Rec {
        rec(
            Role::Telemetry,
            0,
            o,
            Decoded::Telemetry {
                asset: names.name(asset),
                parent: None,
                ts: o,
                props: vec![(names.name("x"), Value::Num(v))],
            },
        )
    }

    #[test]
    fn a_shared_text_is_stored_as_one_copy_of_the_stores_own() {
        let mut names = Interner::new();
        let mut s = Store::new("/", 0);
        for o in 0..20 {
            let state = if o % 7 == 3 { "IDLE" } else { "RUN" };
            s.apply(rec(
                Role::Telemetry,
                0,
                o,
                Decoded::Telemetry {
                    asset: names.name("p/a"),
                    parent: None,
                    ts: o,
                    props: vec![(names.name("state"), Value::Str(names.text(state)))],
                },
            ));
        }
        let a = s.asset_by_id("p/a").unwrap();
        let series = s.series(a, s.prop_by_name("state").unwrap()).unwrap();
        let texts: Vec<Arc<str>> = (0..series.len())
            .map(|i| match series.value(i) {
                Some(Value::Str(t)) => t,
                other => panic!("sample {i}: {other:?}"),
            })
            .collect();
        assert_eq!(texts.len(), 20);
        for (i, t) in texts.iter().enumerate() {
            let theirs = names.text(if i % 7 == 3 { "IDLE" } else { "RUN" });
            assert_eq!(*t, theirs, "sample {i}");
            // Not the decoder's copy, whose count the decoder's thread writes per record...
            assert!(!Arc::ptr_eq(t, &theirs), "sample {i}");
        }
        // ...and one copy per text, however many samples hold it.
        assert!(Arc::ptr_eq(&texts[0], &texts[19]));
        assert!(Arc::ptr_eq(&texts[3], &texts[10]));
    }

    #[test]
    fn shared_names_are_found_by_address_and_others_by_content() {
        let mut names = Interner::new();
        let mut s = Store::new("/", 0);
        s.apply(shared_rec(&mut names, 0, "p/a", 1.0));
        s.apply(shared_rec(&mut names, 1, "p/b", 2.0));
        s.apply(shared_rec(&mut names, 2, "p/a", 3.0));
        assert_eq!((s.shared.assets.len(), s.shared.props.len()), (2, 1));
        // The store keeps the decoder's copy of a new id and name instead of its own.
        let a = s.asset_by_id("p/a").unwrap();
        assert!(Arc::ptr_eq(&s.assets()[a as usize].id, &names.name("p/a")));
        assert!(Arc::ptr_eq(
            s.prop_name(s.prop_by_name("x").unwrap()).unwrap(),
            &names.name("x")
        ));
        // Another session's copies and a record's own strings find the same asset and property.
        let mut other = Interner::new();
        s.apply(shared_rec(&mut other, 3, "p/a", 4.0));
        s.apply(tele(0, 4, "p/a", 5, 5.0));
        assert_eq!((s.assets().len(), s.stats().samples), (2, 5));
        assert_eq!(
            (x_at(&s, "p/a", 4), x_at(&s, "p/a", 9)),
            (Some(4.0), Some(5.0))
        );
        assert_eq!(x_at(&s, "p/b", 9), Some(2.0));
        // The other session's copies are remembered too; a record's own strings are not.
        assert_eq!((s.shared.assets.len(), s.shared.props.len()), (3, 2));
    }

    #[test]
    fn a_lent_batch_keeps_its_telemetry_and_gives_the_same_store_as_an_owned_one() {
        let mut names = Interner::new();
        let asset = rec(
            Role::Assets,
            0,
            9,
            Decoded::Asset {
                asset: "p/a".into(),
                ts: 5,
                def: Some(AssetDef {
                    kind: Some("machine".into()),
                    ..AssetDef::default()
                }),
            },
        );
        let recs = vec![
            shared_rec(&mut names, 0, "p/a", 1.0),
            asset,
            shared_rec(&mut names, 1, "p/b", 2.0),
        ];
        let mut owned = Store::new("/", 0);
        owned.apply_batch(recs.clone(), Vec::new());
        let mut lent = Store::new("/", 0);
        let mut batch = recs.clone();
        lent.apply_lent(&mut batch, Vec::new());
        assert_eq!(lent.snapshot(10), owned.snapshot(10));
        assert_eq!(lent.stats().samples, 2);
        // Telemetry stays with the batch for its owner to drop; the definition was taken.
        assert_eq!((&batch[0], &batch[2]), (&recs[0], &recs[2]));
        assert!(matches!(&batch[1].body, Decoded::Asset { def: None, .. }));
    }

    #[test]
    fn the_address_tables_stay_bounded_across_sessions() {
        let mut s = Store::new("/", 0);
        for o in 0..3_000 {
            // A new decoder each time, as if ingest restarted after every record.
            let mut names = Interner::new();
            s.apply(shared_rec(&mut names, o, "p/a", o as f64));
            assert!(s.shared.assets.len() <= 2 + SHARED_SLACK, "{o}");
            assert!(s.shared.props.len() <= 2 + SHARED_SLACK, "{o}");
        }
        assert_eq!(s.assets().len(), 1);
        assert_eq!(x_at(&s, "p/a", 2_999), Some(2_999.0));
    }

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
                        .map(|(n, v)| (Arc::from(*n), Value::Num(*v)))
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

//! The twin store: every asset's properties with their full history and provenance, the
//! alarms, and the asset definitions, all answerable "as of T".
//!
//! Owned by one thread (the UI thread, or the headless snapshot). Records may arrive in any
//! event-time order; every query folds by `(event time, partition, offset)`, so the answer for
//! a time T never depends on arrival order.

// Apply looks up the asset id and every property name of every record; SipHash was a large
// share of it. foldhash is much cheaper and still seeded per process, so a hostile producer
// cannot precompute ids that collide.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use serde_json::{Map, Value as Json, json};

use super::alarms::{AlarmHistory, AlarmInput, AlarmState, AlarmStatus, Keyed, Priority};
use super::decode::{
    AlarmAction, AssetDef, BadRecord, Decoded, Event, EventKind, Origin, Rec, Role, Severity, Value,
};
use super::rules::{RuleDef, RuleEval};
use super::series::{Sample, Series};
use super::{seq_of, seq_parts};

/// Index of an asset in the store.
pub type AssetIdx = u32;
/// Interned property name.
pub type PropId = u32;

/// Most checkpoints kept; a re-read before the oldest starts at the beginning of the log.
const MAX_CHECKPOINTS: usize = 32;
/// The share of `history.budget_mb` the columns and checkpoints may use. The rest is for what
/// the process needs around them: allocator fragmentation from many growing columns (measured
/// at about 1.5x the live bytes with glibc), records in flight and the tree; `tests/flood.rs`
/// checks that peak RSS stays within the budget plus 20%. At 50% that check passed by 8% on
/// one machine and failed by 0.3% on a CI machine (growth 154.1 MB at 128 MB), so 40%.
const HISTORY_SHARE_PERCENT: usize = 40;

/// The value in force of every property at an eviction cut.
#[derive(Debug, Clone)]
struct Checkpoint {
    at: i64,
    samples: Vec<(AssetIdx, PropId, Sample)>,
}

/// Set on the sequence number of rule-derived alarm inputs, so they never collide with inputs
/// from the events topic at the same time (ordering among equal times stays deterministic).
const RULE_SEQ: u64 = 1 << 63;

/// The evaluation of one rule on one asset.
#[derive(Debug, Clone)]
struct RuleState {
    eval: RuleEval,
    /// `(ts, seq)` of the last sample pushed into `eval`.
    last: Option<(i64, u64)>,
    /// The inputs the rule derived, in `(ts, seq)` order.
    inputs: Vec<Keyed>,
    /// The `(asset, code)` alarm, once the rule has produced an input.
    alarm: Option<u32>,
}

/// Width of a density bucket.
const DENSITY_BUCKET_MS: i64 = 10_000;

/// Most bad records kept for the diagnostics list; the count keeps going beyond it.
const MAX_BAD_KEPT: usize = 10_000;

/// One asset and its history.
#[derive(Debug)]
pub struct Asset {
    pub id: Arc<str>,
    /// Parent implied by the id (separator) or by payload fields (pointer hierarchy).
    pub implied_parent: Option<Arc<str>>,
    /// `twin.assets` records, sorted by `(ts, seq)`; `None` is a tombstone.
    defs: Vec<(i64, u64, Option<AssetDef>)>,
    /// Earliest event time of any telemetry or event record.
    first_seen: Option<i64>,
    props: Vec<(PropId, Series)>,
    alarms: Vec<u32>,
}

/// An alarm: one `(asset, code)` pair and its transitions.
#[derive(Debug, Clone)]
pub struct Alarm {
    pub asset: AssetIdx,
    pub code: Arc<str>,
    pub priority: Priority,
    pub history: AlarmHistory,
    /// Inputs that came from the events topic, sorted by `(ts, seq)`, kept so the history can be
    /// rebuilt when rule-derived inputs change.
    events: Vec<Keyed>,
}

/// A plain event (maintenance, command results, ...), for journals and markers.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub ts: i64,
    pub asset: AssetIdx,
    pub code: String,
    pub message: Option<String>,
}

/// The outcome of an operator command, reported on the events topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    pub ts: i64,
    /// `accepted`, `rejected`, or what the device reported.
    pub status: String,
    pub message: Option<String>,
}

/// A property as of some time, with the record that set it.
#[derive(Debug, Clone, PartialEq)]
pub struct PropView {
    pub name: Arc<str>,
    pub prop: PropId,
    pub sample: Sample,
    pub numeric: bool,
}

/// An alarm as of some time.
#[derive(Debug, Clone)]
pub struct AlarmView {
    pub alarm: u32,
    pub asset: AssetIdx,
    pub code: Arc<str>,
    pub priority: Priority,
    pub status: AlarmStatus,
}

/// Counters for the status bar and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub records: u64,
    pub samples: u64,
    pub duplicates: u64,
    pub bad: u64,
}

/// The twin store.
#[derive(Debug)]
pub struct Store {
    separator: String,
    assets: Vec<Asset>,
    by_id: HashMap<Arc<str>, AssetIdx>,
    prop_names: Vec<Arc<str>>,
    prop_ids: HashMap<Arc<str>, PropId>,
    alarms: Vec<Alarm>,
    alarm_ids: HashMap<(AssetIdx, Arc<str>), u32>,
    notes: Vec<Note>,
    command_results: HashMap<String, CommandOutcome>,
    bad: Vec<BadRecord>,
    stats: StoreStats,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    history_start: Option<i64>,
    checkpoints: Vec<Checkpoint>,
    /// A store forked for a re-read does not count replayed records into the density map.
    replay: bool,
    /// Records per 10 s bucket of event time, for the timeline's density mini-map.
    density: std::collections::BTreeMap<i64, u32>,
    budget_bytes: usize,
    /// Sum of [`Series::bytes`] over every series, kept up to date on each change: summing it
    /// afresh walked every series of the fleet once per batch (a cache miss each), which was
    /// a quarter of a flood's ingest time with 40k series.
    series_bytes: usize,
    /// Bumped whenever assets, parents or alarms change, so cached trees can be rebuilt.
    structure_gen: u64,
    /// Bumped on every applied batch.
    data_gen: u64,
    /// Configured alarm rules.
    rules: Vec<RuleDef>,
    /// Rules per watched property.
    watched: HashMap<PropId, Vec<usize>>,
    /// Per `(asset, rule index)` evaluation.
    rule_states: HashMap<(AssetIdx, usize), RuleState>,
    /// Watched series that received samples since the last rule update, with the smallest
    /// `(ts, seq)` received.
    dirty: HashMap<(AssetIdx, PropId), (i64, u64)>,
    /// Assets whose definition (kind) changed: all their rules are re-evaluated from scratch.
    dirty_assets: HashSet<AssetIdx>,
    /// The current record's property ids, reused so that apply allocates nothing for them.
    scratch_pids: Vec<PropId>,
    /// Topic name per [`Role`], for records the store rejects itself.
    topic_names: [Arc<str>; 3],
    /// Eviction never cuts history at or after this time (see [`Store::keep_from`]).
    keep_from: i64,
    /// Per [`Role`]: the latest event time at or before which Kafka no longer holds all of
    /// the topic's records (retention deleted some, or compaction removed superseded ones),
    /// as the ingest thread found while reading. See [`Store::exact_at`].
    incomplete_through: [Option<i64>; 3],
    /// Newest event time seen per `(role, partition)`: where the log was when a record was
    /// written, so a record far behind it is known to have arrived late, and roughly when.
    partition_newest: HashMap<(usize, i32), i64>,
    /// Stretches of history that arrived late, oldest arrival first.
    late: Vec<LateSpan>,
    /// Per asset, its newest entry in `late`, which the next late record may extend.
    late_open: HashMap<AssetIdx, usize>,
    /// How far behind its partition a record must be to count as late.
    late_after_ms: i64,
}

/// A stretch of an asset's history that reached Kafka late: records with event times in
/// `from..=to`, written when their partition's newest event time was already `arrived` (from
/// `first_arrived` on, for uploads that trickle in). An operator sees it as "30 min of data
/// (10:10–10:40) arrived at 10:41", and anything shown for those times before then was
/// missing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateSpan {
    pub asset: AssetIdx,
    pub from: i64,
    pub to: i64,
    pub first_arrived: i64,
    pub arrived: i64,
    pub records: u32,
}

/// Records at least this far behind their partition's newest count as late, by default.
pub const LATE_AFTER_MS: i64 = 60_000;

/// Why an answer "as of T" cannot be proven exact from the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotExact {
    /// Retention deleted telemetry or events at or before this time.
    #[error(
        "not retained: Kafka has deleted {topic} records up to {through} (epoch ms); the earliest \
         exact time is {}",
        through + 1
    )]
    NotRetained { topic: Arc<str>, through: i64 },
    /// Compaction removed asset definitions that were in force at or before this time.
    #[error(
        "asset history incomplete: compaction removed definitions from {topic} that were in force \
         up to {through} (epoch ms); the tree is exact from {} on",
        through + 1
    )]
    Compacted { topic: Arc<str>, through: i64 },
}

impl Store {
    /// An empty store. `separator` splits asset ids into the tree; `budget_mb` bounds history.
    #[must_use]
    pub fn new(separator: &str, budget_mb: usize) -> Self {
        Self {
            separator: if separator.is_empty() {
                "/".into()
            } else {
                separator.into()
            },
            assets: Vec::new(),
            by_id: HashMap::new(),
            prop_names: Vec::new(),
            prop_ids: HashMap::new(),
            alarms: Vec::new(),
            alarm_ids: HashMap::new(),
            notes: Vec::new(),
            command_results: HashMap::new(),
            bad: Vec::new(),
            stats: StoreStats::default(),
            min_ts: None,
            max_ts: None,
            history_start: None,
            checkpoints: Vec::new(),
            replay: false,
            density: std::collections::BTreeMap::new(),
            budget_bytes: budget_mb.saturating_mul(1 << 20) / 100 * HISTORY_SHARE_PERCENT,
            series_bytes: 0,
            structure_gen: 0,
            data_gen: 0,
            rules: Vec::new(),
            watched: HashMap::new(),
            rule_states: HashMap::new(),
            dirty: HashMap::new(),
            dirty_assets: HashSet::new(),
            scratch_pids: Vec::new(),
            topic_names: Role::ALL.map(|r| Arc::from(r.name())),
            incomplete_through: [None; 3],
            partition_newest: HashMap::new(),
            late: Vec::new(),
            late_open: HashMap::new(),
            late_after_ms: LATE_AFTER_MS,
            keep_from: i64::MAX,
        }
    }

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
            Some((t, _)) => series.times().partition_point(|&x| x < t),
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

    /// The `(asset, code)` alarm, created if needed.
    fn alarm_for(&mut self, a: AssetIdx, code: &str, priority: Priority) -> u32 {
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

    /// The separator used for tree paths.
    #[must_use]
    pub fn separator(&self) -> &str {
        &self.separator
    }

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

    /// Keeps every answer for times `>= t` exact whatever the budget: eviction only removes
    /// history before `t`. A headless snapshot at T sets this to T, so it can read a log far
    /// larger than memory and still answer exactly.
    pub fn keep_from(&mut self, t: i64) {
        self.keep_from = t;
    }

    /// Names the topics of each role, so that records the store itself rejects (duplicates)
    /// are listed under their real topic.
    pub fn set_topic_names(&mut self, names: [Arc<str>; 3]) {
        self.topic_names = names;
    }

    /// Records what the ingest thread found missing from `role`'s topic in Kafka: history at
    /// or before `through` may be incomplete there. Only ever moves forward.
    pub fn note_incomplete(&mut self, role: Role, through: Option<i64>) {
        let slot = &mut self.incomplete_through[role.index()];
        *slot = (*slot).max(through);
    }

    /// The latest time at or before which Kafka no longer holds all of `role`'s records.
    #[must_use]
    pub fn incomplete_through(&self, role: Role) -> Option<i64> {
        self.incomplete_through[role.index()]
    }

    /// The earliest time whose state the log still proves: after everything retention
    /// deleted from telemetry and events. `None` when nothing was deleted.
    #[must_use]
    pub fn retained_from(&self) -> Option<i64> {
        [Role::Telemetry, Role::Events]
            .into_iter()
            .filter_map(|r| self.incomplete_through(r))
            .max()
            .map(|t| t.saturating_add(1))
    }

    /// Whether the state at `t` rests on records Kafka still holds. An answer for a time at or
    /// before what retention deleted, or before asset definitions compaction removed, may
    /// differ from what the fleet was; callers say so instead of showing it as fact.
    ///
    /// # Errors
    /// [`NotExact`] names the topic and the first exact time.
    pub fn exact_at(&self, t: i64) -> Result<(), NotExact> {
        for role in [Role::Telemetry, Role::Events] {
            if let Some(through) = self.incomplete_through(role)
                && t <= through
            {
                return Err(NotExact::NotRetained {
                    topic: self.topic_names[role.index()].clone(),
                    through,
                });
            }
        }
        if let Some(through) = self.incomplete_through(Role::Assets)
            && t <= through
        {
            return Err(NotExact::Compacted {
                topic: self.topic_names[Role::Assets.index()].clone(),
                through,
            });
        }
        Ok(())
    }

    fn apply_event(&mut self, e: Event, seq: u64) {
        let a = self.asset_idx(&e.asset, e.parent.as_deref());
        let (partition, _) = super::seq_parts(seq);
        self.see_arrival(a, Role::Events, partition, e.ts);
        self.touch(a, e.ts);
        match (e.kind, e.severity) {
            (EventKind::Alarm { action, until }, Severity::Alarm(priority)) => {
                let input = match action {
                    AlarmAction::Active => AlarmInput::Activate { message: e.message },
                    AlarmAction::Cleared => AlarmInput::Clear,
                    AlarmAction::Acked => AlarmInput::Ack {
                        by: e.by,
                        comment: e.comment,
                    },
                    AlarmAction::Shelved => AlarmInput::Shelve {
                        until: until.unwrap_or(e.ts),
                        by: e.by,
                        comment: e.comment,
                    },
                    AlarmAction::Unshelved => AlarmInput::Unshelve { by: e.by },
                };
                let id = self.alarm_for(a, &e.code, priority);
                let alarm = &mut self.alarms[id as usize];
                if matches!(input, AlarmInput::Activate { .. }) {
                    alarm.priority = priority;
                }
                match alarm
                    .events
                    .binary_search_by(|k| (k.ts, k.seq).cmp(&(e.ts, seq)))
                {
                    Ok(_) => self.stats.duplicates += 1,
                    Err(pos) => {
                        let k = Keyed {
                            ts: e.ts,
                            seq,
                            input,
                        };
                        alarm.events.insert(pos, k.clone());
                        alarm.history.insert(k);
                        self.structure_gen += 1;
                    }
                }
            }
            (kind, _) => {
                let message = match kind {
                    EventKind::CommandResult {
                        correlation_id,
                        status,
                    } => {
                        self.command_results.insert(
                            correlation_id.clone(),
                            CommandOutcome {
                                ts: e.ts,
                                status: status.clone(),
                                message: e.message.clone(),
                            },
                        );
                        Some(format!(
                            "{status} ({correlation_id}){}",
                            e.message.map(|m| format!(": {m}")).unwrap_or_default()
                        ))
                    }
                    _ => e.message,
                };
                let note = Note {
                    ts: e.ts,
                    asset: a,
                    code: e.code,
                    message,
                };
                let pos = self.notes.partition_point(|n| n.ts <= note.ts);
                self.notes.insert(pos, note);
            }
        }
    }

    /// Notes where `ts` stands against its partition's newest event time, and records the
    /// asset's history as late when it is far behind.
    fn see_arrival(&mut self, a: AssetIdx, role: Role, partition: i32, ts: i64) {
        let newest = self
            .partition_newest
            .entry((role.index(), partition))
            .or_insert(ts);
        let arrived = *newest;
        *newest = arrived.max(ts);
        if arrived - ts <= self.late_after_ms {
            return;
        }
        // The same upload: close to where the asset's last late stretch arrived.
        if let Some(&i) = self.late_open.get(&a)
            && let Some(span) = self.late.get_mut(i)
            && arrived - span.arrived <= self.late_after_ms
        {
            span.from = span.from.min(ts);
            span.to = span.to.max(ts);
            span.arrived = span.arrived.max(arrived);
            span.records += 1;
            return;
        }
        self.late_open.insert(a, self.late.len());
        self.late.push(LateSpan {
            asset: a,
            from: ts,
            to: ts,
            first_arrived: arrived,
            arrived,
            records: 1,
        });
    }

    /// Sets how far behind its partition a record must be to count as late (`ui.late_after_s`).
    pub fn set_late_after(&mut self, ms: i64) {
        self.late_after_ms = ms.max(0);
    }

    /// Every stretch of history that arrived late, oldest arrival first.
    #[must_use]
    pub fn late_spans(&self) -> &[LateSpan] {
        &self.late
    }

    /// When what happened to asset `a` at `t` became known, if that was late: the arrival of
    /// the late stretch of its history that holds `t`. For the alarm journal, which shows
    /// "happened at" and "known at" apart.
    #[must_use]
    pub fn known_at(&self, a: AssetIdx, t: i64) -> Option<i64> {
        self.late
            .iter()
            .filter(|s| s.asset == a && s.from <= t && t <= s.to)
            .map(|s| s.arrived)
            .max()
    }

    /// The late stretches that changed the answer for `t`, as seen from before they arrived:
    /// those that begin at or before `t` and arrived after it.
    pub fn late_changes_at(&self, t: i64) -> impl Iterator<Item = &LateSpan> {
        self.late
            .iter()
            .filter(move |s| s.from <= t && t < s.arrived)
    }

    fn see_time(&mut self, ts: i64) {
        if self.replay {
            return;
        }
        *self
            .density
            .entry(ts.div_euclid(DENSITY_BUCKET_MS))
            .or_insert(0) += 1;
        self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
        self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
    }

    fn touch(&mut self, a: AssetIdx, ts: i64) {
        let first = &mut self.assets[a as usize].first_seen;
        if first.is_none_or(|f| ts < f) {
            *first = Some(ts);
            self.structure_gen += 1;
        }
    }

    fn asset_idx(&mut self, id: &str, parent: Option<&str>) -> AssetIdx {
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

    /// Drops the oldest history while the store is over its budget. Everything at or after
    /// [`Self::history_start`] stays exact; earlier times must be re-read from Kafka.
    fn enforce_budget(&mut self) {
        if self.budget_bytes == 0 || self.history_bytes() <= self.budget_bytes {
            return;
        }
        let (Some(min), Some(max)) = (self.min_ts, self.max_ts) else {
            return;
        };
        let max = max.min(self.keep_from);
        let start = self.history_start.unwrap_or(min).max(min);
        // Evict in steps of a tenth of the held range down to 80% of the budget, so eviction
        // is rare and amortised rather than run on every batch once the budget is reached.
        let low_water = self.budget_bytes / 10 * 8;
        let mut cut = start + ((max - start) / 10).max(1);
        while self.history_bytes() > low_water && cut <= max {
            // Keep the state at the cut, so a later re-read from Kafka can start here instead
            // of at the beginning of the log.
            // Sized up front: growing by doubling would briefly hold up to three times a
            // fleet-wide copy at the moment the store is already over its budget.
            let mut samples = Vec::with_capacity(self.assets.iter().map(|a| a.props.len()).sum());
            for (ai, a) in self.assets.iter_mut().enumerate() {
                for (p, s) in &mut a.props {
                    if let Some(sample) = s.at(cut) {
                        samples.push((ai as AssetIdx, *p, sample));
                    }
                    let before = s.bytes();
                    s.evict_before(cut);
                    s.shrink();
                    self.series_bytes = (self.series_bytes + s.bytes()).saturating_sub(before);
                }
            }
            self.checkpoints.push(Checkpoint { at: cut, samples });
            // Checkpoints are state copies of the whole fleet: a large fleet gets fewer, so
            // they never take more than a quarter of the budget. They are thinned where they
            // are densest, so they keep covering the whole evicted range: dropping the oldest
            // instead left old times to be re-read from the beginning of the log.
            while self.checkpoints.len() > 1
                && (self.checkpoints.len() > MAX_CHECKPOINTS
                    || self.checkpoint_bytes() > self.budget_bytes / 4)
            {
                let densest = (1..self.checkpoints.len().saturating_sub(1))
                    .min_by_key(|&i| self.checkpoints[i + 1].at - self.checkpoints[i - 1].at)
                    .unwrap_or(0);
                self.checkpoints.remove(densest);
            }
            self.history_start = Some(cut);
            cut += ((max - start) / 10).max(1);
        }
        self.structure_gen += 1;
    }

    /// A store for re-reading evicted history around `at`: everything that is never evicted
    /// (assets, definitions, alarms, events) plus the property values in force at the latest
    /// checkpoint at or before `at`. Returns it with the checkpoint time; replaying telemetry
    /// from that time on makes it exact for `at`. `None` when no checkpoint is old enough.
    #[must_use]
    pub fn fork_at(&self, at: i64) -> Option<(Store, i64)> {
        let cp = self.checkpoints.iter().rev().find(|c| c.at <= at)?;
        let assets = self
            .assets
            .iter()
            .map(|a| Asset {
                id: a.id.clone(),
                implied_parent: a.implied_parent.clone(),
                defs: a.defs.clone(),
                first_seen: a.first_seen,
                props: Vec::new(),
                alarms: a.alarms.clone(),
            })
            .collect();
        // Everything not listed starts empty, as in a new store: no bad records, counters,
        // checkpoints or rules (the fork's alarms are complete already, and replayed telemetry
        // must not re-derive them).
        let mut fork = Store {
            assets,
            by_id: self.by_id.clone(),
            prop_names: self.prop_names.clone(),
            prop_ids: self.prop_ids.clone(),
            alarms: self.alarms.clone(),
            alarm_ids: self.alarm_ids.clone(),
            notes: self.notes.clone(),
            command_results: self.command_results.clone(),
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            replay: true,
            density: self.density.clone(),
            budget_bytes: self.budget_bytes,
            structure_gen: self.structure_gen,
            topic_names: self.topic_names.clone(),
            incomplete_through: self.incomplete_through,
            partition_newest: self.partition_newest.clone(),
            late: self.late.clone(),
            late_open: self.late_open.clone(),
            late_after_ms: self.late_after_ms,
            ..Store::new(&self.separator, 0)
        };
        for (a, p, s) in &cp.samples {
            let asset = &mut fork.assets[*a as usize];
            let mut series = Series::default();
            series.insert(s.ts, s.seq, s.kafka_ts, s.value.clone());
            fork.series_bytes += series.bytes();
            asset.props.push((*p, series));
        }
        Some((fork, cp.at))
    }

    /// Approximate bytes of property history held.
    #[must_use]
    pub fn history_bytes(&self) -> usize {
        self.series_bytes + self.checkpoint_bytes()
    }

    /// Heap bytes of the checkpoints kept for re-reading evicted history.
    fn checkpoint_bytes(&self) -> usize {
        self.checkpoints
            .iter()
            .map(|c| c.samples.capacity() * std::mem::size_of::<(AssetIdx, PropId, Sample)>())
            .sum()
    }

    /// The earliest time answered exactly from memory, once older history has been evicted.
    #[must_use]
    pub fn history_start(&self) -> Option<i64> {
        self.history_start
    }

    /// Earliest and latest event time seen.
    #[must_use]
    pub fn time_range(&self) -> Option<(i64, i64)> {
        Some((self.min_ts?, self.max_ts?))
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// The kept bad records (the first [`MAX_BAD_KEPT`]).
    #[must_use]
    pub fn bad_records(&self) -> &[BadRecord] {
        &self.bad
    }

    /// Changes when the tree or the alarm set may have changed.
    #[must_use]
    pub fn structure_gen(&self) -> u64 {
        self.structure_gen
    }

    /// Changes on every applied batch.
    #[must_use]
    pub fn data_gen(&self) -> u64 {
        self.data_gen
    }

    /// All assets ever seen.
    #[must_use]
    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }

    /// Looks an asset up by id.
    #[must_use]
    pub fn asset_by_id(&self, id: &str) -> Option<AssetIdx> {
        self.by_id.get(id).copied()
    }

    /// The asset at an index.
    #[must_use]
    pub fn asset(&self, a: AssetIdx) -> Option<&Asset> {
        self.assets.get(a as usize)
    }

    /// A property name.
    #[must_use]
    pub fn prop_name(&self, p: PropId) -> Option<&Arc<str>> {
        self.prop_names.get(p as usize)
    }

    /// Looks a property up by name.
    #[must_use]
    pub fn prop_by_name(&self, name: &str) -> Option<PropId> {
        self.prop_ids.get(name).copied()
    }

    /// The series of one property of one asset.
    #[must_use]
    pub fn series(&self, a: AssetIdx, p: PropId) -> Option<&Series> {
        self.assets
            .get(a as usize)?
            .props
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, s)| s)
    }

    /// Whether the asset existed at `t`: its latest `twin.assets` record at or before `t` is not
    /// a tombstone, or, without such a record, it had sent telemetry or events by `t`.
    #[must_use]
    pub fn exists_at(&self, a: AssetIdx, t: i64) -> bool {
        self.assets
            .get(a as usize)
            .is_some_and(|x| x.shape_at(t) != 0)
    }

    /// The shape of the asset tree at `t`, exactly, into `out`: per asset, 0 when it does not
    /// exist at `t`, else 1 + the number of its definitions in force by `t`. Within one
    /// [`Self::structure_gen`], two times with equal shapes have the same tree apart from
    /// alarms, so scrubbing can reuse the tree instead of rebuilding it (O(assets) here
    /// against hashing, allocating and sorting every node).
    pub fn shape_at(&self, t: i64, out: &mut Vec<u32>) {
        out.clear();
        out.extend(self.assets.iter().map(|a| a.shape_at(t)));
    }

    /// Every property of an asset as of `t`, sorted by name.
    #[must_use]
    pub fn props_at(&self, a: AssetIdx, t: i64) -> Vec<PropView> {
        let Some(asset) = self.assets.get(a as usize) else {
            return Vec::new();
        };
        let mut out: Vec<PropView> = asset
            .props
            .iter()
            .filter_map(|(p, s)| {
                Some(PropView {
                    name: self.prop_names[*p as usize].clone(),
                    prop: *p,
                    sample: s.at(t)?,
                    numeric: s.is_numeric(),
                })
            })
            .collect();
        out.sort_by(|x, y| x.name.cmp(&y.name));
        out
    }

    /// Alarms of the whole fleet that are not Normal at `t`, worst priority first, then newest.
    #[must_use]
    pub fn alarms_at(&self, t: i64) -> Vec<AlarmView> {
        let mut out: Vec<AlarmView> = (0..self.alarms.len() as u32)
            .filter_map(|i| self.alarm_at(i, t))
            .filter(|v| v.status.state != AlarmState::Normal)
            .collect();
        out.sort_by(|x, y| {
            y.priority
                .cmp(&x.priority)
                .then(y.status.since.cmp(&x.status.since))
        });
        out
    }

    /// One alarm as of `t`.
    #[must_use]
    pub fn alarm_at(&self, i: u32, t: i64) -> Option<AlarmView> {
        let a = self.alarms.get(i as usize)?;
        Some(AlarmView {
            alarm: i,
            asset: a.asset,
            code: a.code.clone(),
            priority: a.priority,
            status: a.history.status_at(t)?,
        })
    }

    /// Records per column over `[from, to]`, for the timeline mini-map.
    #[must_use]
    pub fn density(&self, from: i64, to: i64, cols: usize) -> Vec<u32> {
        let mut out = vec![0u32; cols.max(1)];
        let span = (to - from).max(1) as f64;
        let range = from.div_euclid(DENSITY_BUCKET_MS)..=to.div_euclid(DENSITY_BUCKET_MS);
        for (&b, &n) in self.density.range(range) {
            let t = b * DENSITY_BUCKET_MS;
            let i = (((t - from).max(0) as f64 / span) * out.len() as f64) as usize;
            let last = out.len() - 1;
            out[i.min(last)] += n;
        }
        out
    }

    /// Every alarm activation in `[from, to]` with its priority, for timeline markers.
    #[must_use]
    pub fn alarm_activations(&self, from: i64, to: i64) -> Vec<(i64, Priority)> {
        let mut out: Vec<(i64, Priority)> = self
            .alarms
            .iter()
            .flat_map(|a| {
                a.history
                    .activations_in(from, to)
                    .into_iter()
                    .map(move |t| (t, a.priority))
            })
            .collect();
        out.sort_unstable_by_key(|x| x.0);
        out
    }

    /// Times of alarm transitions and notes, of one asset or of all alarms, for stepping.
    #[must_use]
    pub fn event_times(&self, asset: Option<AssetIdx>) -> Vec<i64> {
        let mut out: Vec<i64> = Vec::new();
        let alarms: Vec<&Alarm> = match asset {
            Some(a) => self.assets.get(a as usize).map_or_else(Vec::new, |x| {
                x.alarms.iter().map(|&i| &self.alarms[i as usize]).collect()
            }),
            None => self.alarms.iter().collect(),
        };
        for al in alarms {
            out.extend(al.history.journal_until(i64::MAX).iter().map(|t| t.ts));
        }
        if let Some(a) = asset {
            out.extend(self.notes.iter().filter(|n| n.asset == a).map(|n| n.ts));
            if out.is_empty() {
                // No events: step through the asset's telemetry instead.
                if let Some((_, s)) = self.assets.get(a as usize).and_then(|x| x.props.first()) {
                    out.extend_from_slice(s.times());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// All alarms.
    #[must_use]
    pub fn alarms(&self) -> &[Alarm] {
        &self.alarms
    }

    /// The outcome of the command with this correlation id, once reported.
    #[must_use]
    pub fn command_outcome(&self, correlation_id: &str) -> Option<&CommandOutcome> {
        self.command_results.get(correlation_id)
    }

    /// Plain events, sorted by time.
    #[must_use]
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The state of the fleet at `t`, in the documented snapshot JSON shape.
    #[must_use]
    pub fn snapshot(&self, t: i64) -> Json {
        let mut assets = Map::new();
        let mut ids: Vec<AssetIdx> = (0..self.assets.len() as AssetIdx)
            .filter(|&a| self.exists_at(a, t))
            .collect();
        ids.sort_by(|x, y| {
            self.assets[*x as usize]
                .id
                .cmp(&self.assets[*y as usize].id)
        });
        for a in ids {
            let props: Map<String, Json> = self
                .props_at(a, t)
                .into_iter()
                .map(|p| (p.name.to_string(), p.sample.value.to_json()))
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
        json!({ "at": t, "assets": assets, "alarms": alarms })
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

impl Asset {
    /// The latest `twin.assets` record at or before `t`: `Some(None)` is a tombstone, `None`
    /// means no record yet.
    #[must_use]
    pub fn def_at(&self, t: i64) -> Option<Option<&AssetDef>> {
        let i = self
            .defs
            .partition_point(|(ts, _, _)| *ts <= t)
            .checked_sub(1)?;
        Some(self.defs[i].2.as_ref())
    }

    /// This asset's entry in [`Store::shape_at`]: 0 when it does not exist at `t` (its latest
    /// definition is a tombstone, or it has none and was not seen yet), else 1 + the number
    /// of its definitions in force.
    fn shape_at(&self, t: i64) -> u32 {
        let defs = self.defs.partition_point(|(ts, _, _)| *ts <= t);
        let exists = match defs.checked_sub(1) {
            Some(i) => self.defs[i].2.is_some(),
            None => self.first_seen.is_some_and(|f| f <= t),
        };
        if exists { defs as u32 + 1 } else { 0 }
    }

    /// The parent as of `t`: a `parent` field in `twin.assets` overrides the implied one.
    #[must_use]
    pub fn parent_at(&self, t: i64) -> Option<&str> {
        match self.def_at(t) {
            Some(Some(AssetDef {
                parent: Some(p), ..
            })) => Some(p),
            _ => self.implied_parent.as_deref(),
        }
    }

    /// Property ids and series of this asset.
    pub fn series(&self) -> impl Iterator<Item = (PropId, &Series)> {
        self.props.iter().map(|(p, s)| (*p, s))
    }

    /// Alarm indices of this asset.
    #[must_use]
    pub fn alarm_ids(&self) -> &[u32] {
        &self.alarms
    }

    /// Time of the first telemetry or event record.
    #[must_use]
    pub fn first_seen(&self) -> Option<i64> {
        self.first_seen
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::{Origin, Role, Value};
    use super::*;

    fn rec(role: Role, partition: i32, offset: i64, body: Decoded) -> Rec {
        Rec {
            origin: Origin {
                role,
                partition,
                offset,
                kafka_ts: 0,
            },
            body,
        }
    }

    fn tele(p: i32, o: i64, asset: &str, ts: i64, v: f64) -> Rec {
        rec(
            Role::Telemetry,
            p,
            o,
            Decoded::Telemetry {
                asset: asset.into(),
                parent: None,
                ts,
                props: vec![("x".into(), Value::Num(v))],
            },
        )
    }

    #[test]
    fn a_buffered_upload_is_one_late_span_with_its_arrival() {
        let mut s = Store::new("/", 0);
        let mut o = 0;
        let mut next = || {
            o += 1;
            o
        };
        // Car a reports every 10 s for 5 minutes; car b goes quiet at 60 s and uploads
        // 60..=240 s at 300 s, on the same partition (its last record, exactly 60 s behind,
        // is not late); car c is slightly out of order only.
        let mut batch = Vec::new();
        for t in (0..=300_000).step_by(10_000) {
            batch.push(tele(0, next(), "a", t, 1.0));
            if t < 60_000 {
                batch.push(tele(0, next(), "b", t, 1.0));
            }
            batch.push(tele(1, next(), "c", t - 5_000 * (t / 10_000 % 2), 1.0));
        }
        for t in (60_000..=240_000).step_by(10_000) {
            batch.push(tele(0, next(), "b", t, 2.0));
        }
        s.apply_batch(batch, Vec::new());
        let b = s.asset_by_id("b").unwrap();
        assert_eq!(
            s.late_spans(),
            &[LateSpan {
                asset: b,
                from: 60_000,
                to: 230_000,
                first_arrived: 300_000,
                arrived: 300_000,
                records: 18,
            }]
        );
        assert_eq!(s.late_changes_at(100_000).count(), 1);
        assert_eq!(s.late_changes_at(299_999).count(), 1);
        assert_eq!(
            s.late_changes_at(300_000).count(),
            0,
            "shown after it arrived"
        );
        assert_eq!(s.late_changes_at(59_999).count(), 0, "before the gap");
        // Within the threshold nothing is late.
        let mut s = Store::new("/", 0);
        s.set_late_after(200_000);
        s.apply_batch(
            vec![tele(0, 1, "a", 300_000, 1.0), tele(0, 2, "b", 120_000, 1.0)],
            Vec::new(),
        );
        assert!(s.late_spans().is_empty());
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

    fn x_at(s: &Store, asset: &str, t: i64) -> Option<f64> {
        let a = s.asset_by_id(asset)?;
        s.props_at(a, t)
            .into_iter()
            .find(|p| &*p.name == "x")
            .map(|p| match p.sample.value {
                Value::Num(f) => f,
                _ => f64::NAN,
            })
    }

    #[test]
    fn ties_break_by_partition_then_offset() {
        let mut s = Store::new("/", 0);
        s.apply(tele(1, 0, "a", 10, 1.0));
        s.apply(tele(0, 5, "a", 10, 2.0));
        assert_eq!(x_at(&s, "a", 10), Some(1.0));
        s.apply(tele(1, 3, "a", 10, 3.0));
        assert_eq!(x_at(&s, "a", 10), Some(3.0));
        assert_eq!(x_at(&s, "a", 9), None);
    }

    #[test]
    fn matches_a_naive_fold_for_random_arrival_orders() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut recs = Vec::new();
        for i in 0..2_000 {
            let asset = format!("s/l/m{}", rng.u8(0..5));
            recs.push((rng.i32(0..3), i as i64, asset, rng.i64(0..1_000), rng.f64()));
        }
        let mut shuffled = recs.clone();
        rng.shuffle(&mut shuffled);
        let mut s = Store::new("/", 0);
        for (p, o, a, ts, v) in &shuffled {
            s.apply(tele(*p, *o, a, *ts, *v));
        }
        for _ in 0..300 {
            let t = rng.i64(-10..1_010);
            for m in 0..5 {
                let asset = format!("s/l/m{m}");
                let expect = recs
                    .iter()
                    .filter(|r| r.2 == asset && r.3 <= t)
                    .max_by_key(|r| (r.3, r.0, r.1))
                    .map(|r| r.4);
                assert_eq!(x_at(&s, &asset, t), expect, "asset {asset} at {t}");
            }
        }
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

    #[test]
    fn alarms_fold_by_event_time() {
        let mut s = Store::new("/", 0);
        let ev = |o: i64, ts: i64, action: AlarmAction| {
            rec(
                Role::Events,
                0,
                o,
                Decoded::Event(Event {
                    asset: "p/m".into(),
                    parent: None,
                    ts,
                    kind: EventKind::Alarm {
                        action,
                        until: None,
                    },
                    code: "HOT".into(),
                    severity: Severity::Alarm(Priority::High),
                    message: Some("hot".into()),
                    by: Some("ann".into()),
                    comment: None,
                }),
            )
        };
        s.apply(ev(1, 300, AlarmAction::Cleared));
        s.apply(ev(0, 100, AlarmAction::Active));
        assert!(s.alarms_at(99).is_empty());
        let at = s.alarms_at(150);
        assert_eq!(at.len(), 1);
        assert_eq!(at[0].status.state, AlarmState::UnackActive);
        assert_eq!(s.alarms_at(300)[0].status.state, AlarmState::UnackRtn);
        s.apply(ev(2, 400, AlarmAction::Acked));
        assert!(s.alarms_at(400).is_empty());
        let snap = s.snapshot(200);
        assert_eq!(snap["alarms"][0]["state"], "unack_active");
        assert_eq!(snap["alarms"][0]["since"], 100);
    }

    #[test]
    fn budget_evicts_oldest_history_but_keeps_recent_answers_exact() {
        let mut s = Store::new("/", 1);
        let mut recs = Vec::new();
        for i in 0..100_000i64 {
            recs.push(tele(0, i, "a", i, i as f64));
        }
        s.apply_batch(recs, vec![]);
        let start = s.history_start().expect("evicted");
        assert!(s.history_bytes() <= 1 << 20);
        assert_eq!(x_at(&s, "a", start), Some(start as f64));
        assert_eq!(x_at(&s, "a", 99_999), Some(99_999.0));
    }

    fn recount(s: &Store) -> usize {
        s.assets
            .iter()
            .flat_map(|a| a.props.iter())
            .map(|(_, x)| x.bytes())
            .sum()
    }

    #[test]
    fn the_running_history_count_matches_a_recount_through_growth_late_data_and_eviction() {
        let mut s = Store::new("/", 1);
        let mut recs = Vec::new();
        for i in 0..60_000i64 {
            // Several assets, some records late (out of order), so columns grow, shift and
            // are evicted and shrunk.
            let ts = if i % 7 == 0 { i - 500 } else { i };
            recs.push(tele(0, i, ["a", "b", "c"][i as usize % 3], ts, i as f64));
            if recs.len() == 1000 {
                s.apply_batch(std::mem::take(&mut recs), vec![]);
                assert_eq!(s.series_bytes, recount(&s), "after {i} records");
            }
        }
        assert!(s.history_start().is_some(), "the test must reach eviction");
        let (fork, _) = s.fork_at(i64::MAX).expect("a checkpoint");
        assert!(fork.series_bytes > 0);
        assert_eq!(fork.series_bytes, recount(&fork));
    }

    #[test]
    fn checkpoints_keep_covering_the_whole_evicted_range() {
        let mut s = Store::new("/", 1);
        // 500 assets make each checkpoint large, so only a few fit a quarter of the budget;
        // many evictions then force thinning.
        let mut recs = Vec::new();
        for i in 0..400_000i64 {
            recs.push(tele(0, i, &format!("a{}", i % 500), i, i as f64));
            if recs.len() == 4000 {
                s.apply_batch(std::mem::take(&mut recs), vec![]);
            }
        }
        let start = s.history_start().expect("evicted");
        let at: Vec<i64> = s.checkpoints.iter().map(|c| c.at).collect();
        assert!(at.len() >= 2, "{at:?}");
        assert!(at.len() < 40, "the budget must force thinning: {at:?}");
        // The first checkpoint is still near the beginning, so an early time is re-read from
        // there rather than from the beginning of the log, and the last one is at the start
        // of the retained history.
        assert!(at[0] < 100_000, "{at:?}");
        assert!(s.fork_at(150_000).is_some());
        assert_eq!(at.last(), Some(&start));
    }

    #[test]
    fn snapshot_lists_assets_existing_at_t() {
        let mut s = Store::new("/", 0);
        s.apply(tele(0, 0, "a/b/c", 10, 21.5));
        s.apply(tele(0, 1, "a/b/d", 20, 1.0));
        let snap = s.snapshot(15);
        assert_eq!(snap["at"], 15);
        assert_eq!(snap["assets"]["a/b/c"]["x"], 21.5);
        assert!(snap["assets"].get("a/b/d").is_none());
    }

    use super::super::rules::{Limit, RuleKind};

    fn hi_rule(on_s: i64, off_s: i64) -> RuleDef {
        RuleDef {
            code: "VIB_HI".into(),
            property: "x".into(),
            priority: Priority::Medium,
            kinds: vec![],
            pattern: None,
            kind: RuleKind::Threshold {
                limit: Limit::Hi,
                value: 7.0,
                deadband: 0.5,
                on_delay_ms: on_s * 1000,
                off_delay_ms: off_s * 1000,
            },
        }
    }

    fn rule_state(s: &Store, asset: &str, code: &str, t: i64) -> Option<AlarmState> {
        let a = s.asset_by_id(asset)?;
        let id = *s
            .asset(a)?
            .alarm_ids()
            .iter()
            .find(|&&i| &*s.alarms()[i as usize].code == code)?;
        s.alarm_at(id, t).map(|v| v.status.state)
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
        let st = |t| rule_state(&s, "p/m", "VIB_HI", t);
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
                    rule_state(&s, "p/m", "VIB_HI", t),
                    rule_state(&ordered, "p/m", "VIB_HI", t),
                    "round {round} t={t}"
                );
            }
        }
        // Rules installed after the data give the same result.
        let mut late = Store::new("/", 0);
        late.apply_batch(vib_recs("p/m"), vec![]);
        late.set_rules(vec![hi_rule(5, 3)]);
        assert_eq!(
            rule_state(&late, "p/m", "VIB_HI", 20_000),
            Some(AlarmState::UnackActive)
        );
        assert_eq!(
            rule_state(&late, "p/m", "VIB_HI", 43_000),
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
            rule_state(&s, "p/m", "VIB_HI", 19_000),
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
            rule_state(&s, "p/m", "VIB_HI", 20_000),
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
            rule_state(&s, "p/m", "VIB_HI", 43_000),
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
        let on = |a: &str, c: &str| rule_state(&s, a, c, 20_000) == Some(AlarmState::UnackActive);
        assert!(on("plant-a/l1/press-1", "P") && !on("plant-a/l1/press-1", "K"));
        assert!(on("plant-a/l1/lathe-1", "K") && !on("plant-a/l1/lathe-1", "P"));
        assert!(!on("plant-b/l1/press-1", "K") && !on("plant-b/l1/press-1", "P"));
        // A later definition changes the kind: the rule now applies.
        s.apply_batch(vec![def(2, "plant-b/l1/press-1", "machine")], vec![]);
        assert_eq!(
            rule_state(&s, "plant-b/l1/press-1", "K", 20_000),
            Some(AlarmState::UnackActive)
        );
    }
}

//! The twin store: every asset's properties with their full history and provenance, the
//! alarms, and the asset definitions, all answerable "as of T".
//!
//! Owned by one thread (the UI thread, or the headless snapshot). Records may arrive in any
//! event-time order; every query folds by `(event time, partition, offset)`, so the answer for
//! a time T never depends on arrival order.
//!
//! This file holds the [`Store`] type, what it keeps per asset and per alarm, and the queries
//! panels, the hierarchy and the diff ask. The rest is one job per file, each adding to
//! `impl Store`:
//!
//! - `apply.rs`: the asset and property registry, applying records, duplicate detection;
//! - `rule_alarms.rs`: deriving alarms from the configured rules as samples arrive (the rule
//!   definitions and their evaluators are in [`super::rules`]);
//! - `events.rs`: alarm transitions, notes and command outcomes from the events topic;
//! - `late.rs`: history that reached Kafka late;
//! - `exactness.rs`: what retention and compaction removed, and whether an answer is exact;
//! - `density.rs`: the time range and the record density for the timeline;
//! - `eviction.rs`: the history budget, eviction and checkpoints;
//! - `fork.rs`: a store forked from a checkpoint to re-read evicted history;
//! - `snapshot.rs`: the JSON snapshot.

mod apply;
mod density;
mod events;
mod eviction;
mod exactness;
mod fork;
mod late;
mod rule_alarms;
mod snapshot;
#[cfg(test)]
mod test_support;

// Apply looks up the asset id and every property name of every record; SipHash was a large
// share of it. foldhash is much cheaper and still seeded per process, so a hostile producer
// cannot precompute ids that collide.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use super::alarms::{AlarmHistory, AlarmState, AlarmStatus, Keyed, Priority};
use super::decode::{AssetDef, BadRecord, Role};
use super::rules::RuleDef;
use super::series::{Sample, Series};

pub use events::{CommandOutcome, Note};
pub use exactness::NotExact;
pub use fork::{Fork, StoreRole};
pub use late::{LATE_AFTER_MS, LateSpan};
pub use snapshot::state_name;

use eviction::Checkpoint;
use rule_alarms::RuleState;

/// Index of an asset in the store.
pub type AssetIdx = u32;
/// Interned property name.
pub type PropId = u32;

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
    /// Asset ids and property names by the address of the decoder's shared copy (see
    /// [`apply::SharedNames`]): the hot path hashes a pointer, not the string.
    shared: apply::SharedNames,
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
    /// The eviction under way, spread over batches (see `eviction.rs`).
    evicting: Option<eviction::Evicting>,
    /// Whether this store reads the log for itself or re-reads evicted history from a
    /// checkpoint of another store (which decides what it counts, see [`StoreRole`]).
    role: StoreRole,
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
            shared: apply::SharedNames::default(),
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
            evicting: None,
            role: StoreRole::Primary,
            density: std::collections::BTreeMap::new(),
            budget_bytes: eviction::budget_bytes(budget_mb),
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

    /// Names the topics of each role, so that records the store itself rejects (duplicates)
    /// are listed under their real topic.
    pub fn set_topic_names(&mut self, names: [Arc<str>; 3]) {
        self.topic_names = names;
    }

    /// The separator used for tree paths.
    #[must_use]
    pub fn separator(&self) -> &str {
        &self.separator
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
        let mut out = Vec::with_capacity(asset.props.len());
        out.extend(asset.props.iter().filter_map(|(p, s)| {
            Some(PropView {
                name: self.prop_names[*p as usize].clone(),
                prop: *p,
                sample: s.at(t)?,
                numeric: s.is_numeric(),
            })
        }));
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
                    out.extend(s.times_in(0..s.len()));
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
    use super::test_support::{store_of, tele, x_at};

    #[test]
    fn ties_break_by_partition_then_offset() {
        let mut s = store_of([tele(1, 0, "a", 10, 1.0), tele(0, 5, "a", 10, 2.0)]);
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
        let s = store_of(
            shuffled
                .iter()
                .map(|(p, o, a, ts, v)| tele(*p, *o, a, *ts, *v)),
        );
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
}

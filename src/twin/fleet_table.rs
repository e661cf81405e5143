//! The fleet table: a group's assets as rows "as of T", with chosen properties, the worst
//! alarm, the age of the newest value and the time to a limit; sorted, filtered and written as
//! CSV.
//!
//! A fleet operator lives in this view, and a fleet has 100k assets, so the work is split by
//! how often it must be redone: a [`Builder`] reads the store (once per data generation, query
//! time, group and set of fields), [`order`] filters and sorts the built rows (when the sort
//! or the filter changes), and drawing touches only the visible rows. Age is kept as the
//! newest event time, so a live table ages without being rebuilt. Pure: no egui, no Kafka.
//!
//! Reading 100k assets out of the store is a cache miss per series and takes longer than a
//! frame, so the builder works in steps the caller spreads over frames. Everything after it
//! reads only the built [`Table`] (no store): the filter's attribute fields are copied into
//! the rows, and a sort is a sort of packed integer keys ([`sort_keys`]) rather than a
//! comparator chasing values, so ordering can run on another thread.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::Store;
use super::Value;
use super::alarms::{AlarmState, Priority};
use super::filter::{Expr, FieldValue, Fields};
use super::forecast::{Direction, Rul, Threshold};
use super::store::{AlarmView, AssetIdx, PropId, state_name};

/// Properties shown when the operator has not chosen any.
pub const DEFAULT_COLUMNS: usize = 8;

/// A column of the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    /// The asset id.
    Asset,
    /// A property's value at T.
    Prop(Arc<str>),
    /// The worst alarm not in normal state at T.
    Alarm,
    /// Time since the newest value of any property of the asset.
    Age,
    /// The soonest predicted time to a limit.
    TimeToLimit,
}

/// How the rows are sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortBy {
    pub column: Column,
    pub descending: bool,
}

/// A predicted time to a limit, as the predictor reported it for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeToLimit {
    pub asset: Arc<str>,
    pub prop: Arc<str>,
    pub limit: Threshold,
    pub rul: Rul,
    /// When the prediction was made (the cursor it was computed for).
    pub from: i64,
}

/// One asset at T.
#[derive(Debug, Clone)]
pub struct Row {
    pub asset: AssetIdx,
    pub id: Arc<str>,
    /// Values of [`Table::fields`], in that order; `None` where the asset has no value at T.
    /// Shared, because a row that still holds at a new time is copied into the next table: a
    /// `Vec` made that copy an allocation, a copy and a free per row, half of a 100k-row scrub
    /// frame.
    pub cells: Arc<[Option<Value>]>,
    /// Values of [`Table::lookups`] from the asset's definition at T (kind, name or an
    /// attribute), copied so the filter needs no store; `None` where it has none, and left
    /// `None` where a property of that name already answers. Shared, as `cells` is.
    pub attrs: Arc<[Option<Value>]>,
    /// Event time of the newest value of any of its properties at T.
    pub newest: Option<i64>,
    /// Its worst alarm not in normal state at T.
    pub alarm: Option<(Priority, AlarmState)>,
    /// Its soonest time to a limit, where the predictor has one.
    pub ttl: Option<TimeToLimit>,
    /// The times at which, with the same store data, the row reads the same (every series'
    /// sample in force and the asset's existence), so a cursor moved within them need not
    /// read it again; see [`Builder::since`].
    pub valid: Range<i64>,
    /// The asset has definitions in `twin.assets`: whether the one in force changed is
    /// asked of the store when the cursor moves.
    pub defs: bool,
}

#[cfg(test)]
impl Row {
    /// A row made by hand, with no newest time, alarm or time to a limit: for the tests of what
    /// reads a table (filter, order, CSV) without a store to build it from.
    pub(crate) fn by_hand(
        asset: AssetIdx,
        id: &str,
        cells: Vec<Option<Value>>,
        attrs: Vec<Option<Value>>,
    ) -> Row {
        Row {
            asset,
            id: Arc::from(id),
            cells: cells.into(),
            attrs: attrs.into(),
            newest: None,
            alarm: None,
            ttl: None,
            valid: 0..1,
            defs: false,
        }
    }
}

/// The rows of a group at one time.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub at: i64,
    /// The property columns shown, in order.
    pub shown: Vec<Arc<str>>,
    /// The properties read for every row: the shown columns, then any the filter needs.
    pub fields: Vec<Arc<str>>,
    /// The filter's fields that may come from the asset's definition, read into
    /// [`Row::attrs`].
    pub lookups: Vec<Arc<str>>,
    /// Properties any asset of the group has, sorted: what the column chooser offers.
    pub available: Vec<Arc<str>>,
    pub rows: Vec<Row>,
}

/// Every property any of `assets` has ever had, sorted by name.
#[must_use]
pub fn available_props(store: &Store, assets: &[AssetIdx]) -> Vec<Arc<str>> {
    let mut seen: Vec<bool> = Vec::new();
    for &a in assets {
        mark_props(store, a, &mut seen);
    }
    prop_names(store, &seen)
}

/// Marks in `seen` (by property id) every property asset `a` has.
fn mark_props(store: &Store, a: AssetIdx, seen: &mut Vec<bool>) {
    let Some(asset) = store.asset(a) else {
        return;
    };
    for (p, _) in asset.series() {
        mark(seen, p);
    }
}

fn mark(seen: &mut Vec<bool>, p: PropId) {
    let p = p as usize;
    if seen.len() <= p {
        seen.resize(p + 1, false);
    }
    seen[p] = true;
}

/// The names of the properties marked in `seen`, sorted.
fn prop_names(store: &Store, seen: &[bool]) -> Vec<Arc<str>> {
    let mut out: Vec<Arc<str>> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| **s)
        .filter_map(|(p, _)| store.prop_name(p as u32).cloned())
        .collect();
    out.sort();
    out
}

/// Filter fields every row answers itself, never read from a definition.
const ROW_FIELDS: [&str; 4] = ["asset", "id", "alarm", "alarm_state"];

/// A table being read out of the store a slice of assets at a time, so that reading a 100k
/// fleet can be spread over frames (the caller bounds each [`Builder::step`]).
///
/// The inputs that do not live in the store (the alarms and predictions at T) are taken when
/// it starts. The store may take new batches between steps: rows read before and after one
/// are each right for T as of their own read, as a live table always is.
#[derive(Debug)]
pub struct Builder {
    assets: Arc<[AssetIdx]>,
    next: usize,
    columns: Option<Vec<String>>,
    extra: Vec<String>,
    /// Still walking the group for its properties: the default columns are its first ones,
    /// so the fields are known only after a first (cheap) pass.
    finding_columns: bool,
    seen: Vec<bool>,
    field_ids: Vec<Option<PropId>>,
    worst: HashMap<AssetIdx, (Priority, AlarmState)>,
    soonest: HashMap<AssetIdx, TimeToLimit>,
    /// Rows read at another time from the same data, and the next of them to look at.
    prev: Option<(Arc<Table>, usize)>,
    /// Rows copied from `prev` so far.
    reused: usize,
    table: Table,
}

impl Builder {
    /// Starts reading the rows of `assets` (those that exist at `at`) with the values of the
    /// `columns` chosen (`None`: the first [`DEFAULT_COLUMNS`] properties the group has) and
    /// of the `extra` fields a filter reads, their worst alarm from `alarms` (the store's
    /// alarms at `at`) and their soonest time to a limit from `ttl`.
    #[must_use]
    pub fn new(
        store: &Store,
        assets: Arc<[AssetIdx]>,
        at: i64,
        columns: Option<&[String]>,
        extra: &[&str],
        alarms: &[AlarmView],
        ttl: &[TimeToLimit],
    ) -> Self {
        // Per asset index: its worst alarm, and its soonest time to a limit.
        let mut worst: HashMap<AssetIdx, (Priority, AlarmState)> = HashMap::new();
        for v in alarms {
            if v.status.state == AlarmState::Normal {
                continue;
            }
            worst
                .entry(v.asset)
                .and_modify(|w| {
                    if v.priority > w.0 {
                        *w = (v.priority, v.status.state);
                    }
                })
                .or_insert((v.priority, v.status.state));
        }
        let mut soonest: HashMap<AssetIdx, TimeToLimit> = HashMap::new();
        for t in ttl {
            if let Some(a) = store.asset_by_id(&t.asset) {
                soonest
                    .entry(a)
                    .and_modify(|s| {
                        if rul_key(&t.rul) < rul_key(&s.rul) {
                            *s = t.clone();
                        }
                    })
                    .or_insert_with(|| t.clone());
            }
        }
        let mut b = Self {
            assets,
            next: 0,
            columns: columns.map(<[String]>::to_vec),
            extra: extra.iter().map(|e| (*e).to_owned()).collect(),
            finding_columns: columns.is_none(),
            seen: Vec::new(),
            field_ids: Vec::new(),
            worst,
            soonest,
            prev: None,
            reused: 0,
            table: Table {
                at,
                ..Table::default()
            },
        };
        if !b.finding_columns {
            b.resolve_fields(store);
        }
        b
    }

    /// Reads only what changed since `prev`: rows of the same assets (in the same order) with
    /// the same columns and fields, read at another time from the same store data. Rows whose
    /// [`Row::valid`] holds the new time (and whose definition in force is the same) are
    /// copied with the alarms and predictions at the new time; only the others are read
    /// from the store. A scrub step changes a fraction of a fleet, and copying a row costs
    /// far less than the cache misses of reading its series. `prev` with other fields is
    /// ignored.
    #[must_use]
    pub fn since(mut self, store: &Store, prev: Arc<Table>) -> Self {
        if self.next != 0 {
            return self;
        }
        if self.finding_columns {
            // Same assets and data: the same properties, so no first pass.
            self.table.available.clone_from(&prev.available);
            self.finding_columns = false;
            self.resolve_fields(store);
        }
        if prev.fields == self.table.fields && prev.lookups == self.table.lookups {
            self.prev = Some((prev, 0));
        }
        self
    }

    /// How many rows were copied from the previous table rather than read.
    #[must_use]
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// The time the rows are read for.
    #[must_use]
    pub fn at(&self) -> i64 {
        self.table.at
    }

    /// How far along it is, as (assets done, assets in all), counting the first pass for the
    /// default columns as a pass of its own.
    #[must_use]
    pub fn progress(&self) -> (usize, usize) {
        let n = self.assets.len();
        if self.finding_columns {
            (self.next, 2 * n)
        } else if self.columns.is_none() {
            (n + self.next, 2 * n)
        } else {
            (self.next, n)
        }
    }

    /// Shown columns, fields and lookups, once the group's properties are known (for the
    /// default columns) or straight away (for chosen ones).
    fn resolve_fields(&mut self, store: &Store) {
        let t = &mut self.table;
        t.shown = match &self.columns {
            Some(c) => c.iter().map(|c| Arc::from(c.as_str())).collect(),
            None => t.available.iter().take(DEFAULT_COLUMNS).cloned().collect(),
        };
        t.fields = t.shown.clone();
        for e in &self.extra {
            // Only names that are properties somewhere; the rest are the filter's own fields.
            if store.prop_by_name(e).is_some() && !t.fields.iter().any(|f| f.as_ref() == e) {
                t.fields.push(Arc::from(e.as_str()));
            }
        }
        t.lookups = self
            .extra
            .iter()
            .filter(|e| !ROW_FIELDS.contains(&e.as_str()))
            .map(|e| Arc::from(e.as_str()))
            .collect();
        self.field_ids = t.fields.iter().map(|f| store.prop_by_name(f)).collect();
        t.rows.reserve(self.assets.len());
    }

    /// Reads up to `max` more assets (at least one); true when every row has been read.
    pub fn step(&mut self, store: &Store, max: usize) -> bool {
        let n = self.assets.len();
        let end = self.next.saturating_add(max.max(1)).min(n);
        let assets = Arc::clone(&self.assets);
        if self.finding_columns {
            for &a in &assets[self.next..end] {
                mark_props(store, a, &mut self.seen);
            }
            self.next = end;
            if end == n {
                self.table.available = prop_names(store, &self.seen);
                self.finding_columns = false;
                self.next = 0;
                self.resolve_fields(store);
            }
            return false;
        }
        for &a in &assets[self.next..end] {
            if let Some(row) = self.unchanged(store, a) {
                self.table.rows.push(row);
                self.reused += 1;
            } else {
                self.read_row(store, a);
            }
        }
        self.next = end;
        if end == n && self.columns.is_some() {
            // With chosen columns the row pass saw every property: the chooser's list.
            self.table.available = prop_names(store, &self.seen);
        }
        end == n
    }

    /// True when every row has been read.
    #[must_use]
    pub fn done(&self) -> bool {
        !self.finding_columns && self.next == self.assets.len()
    }

    /// Reads every remaining row and returns the table: the whole read in one go, where
    /// nothing needs it spread over frames.
    #[must_use]
    pub fn run(mut self, store: &Store) -> Table {
        while !self.step(store, usize::MAX) {}
        self.finish()
    }

    /// The table read (complete once [`Self::step`] returned true).
    #[must_use]
    pub fn finish(self) -> Table {
        self.table
    }

    /// The row of `a` from the previous table, when it still holds at the new time.
    fn unchanged(&mut self, store: &Store, a: AssetIdx) -> Option<Row> {
        let (prev, next) = self.prev.as_mut()?;
        // The previous rows are the assets that existed then, in the same order.
        let row = prev.rows.get(*next).filter(|r| r.asset == a)?;
        *next += 1;
        let at = self.table.at;
        if !row.valid.contains(&at) {
            return None;
        }
        if row.defs {
            // Compared by address: the same entry of the asset's definitions.
            let asset = store.asset(a)?;
            match (asset.def_at(prev.at), asset.def_at(at)) {
                (Some(Some(x)), Some(Some(y))) if std::ptr::eq(x, y) => {}
                _ => return None,
            }
        }
        Some(Row {
            alarm: self.worst.get(&a).copied(),
            ttl: self.soonest.get(&a).cloned(),
            ..row.clone()
        })
    }

    fn read_row(&mut self, store: &Store, a: AssetIdx) {
        let Some(asset) = store.asset(a) else {
            return;
        };
        let at = self.table.at;
        if !store.exists_at(a, at) {
            if self.columns.is_some() {
                mark_props(store, a, &mut self.seen);
            }
            return;
        }
        let mut cells = vec![None; self.field_ids.len()];
        let mut newest: Option<i64> = None;
        // It exists from its first record on (without definitions; with, see `defs`).
        let mut valid = asset.first_seen().unwrap_or(i64::MIN)..i64::MAX;
        for (p, s) in asset.series() {
            if self.columns.is_some() {
                mark(&mut self.seen, p);
            }
            let Some(i) = s.index_at(at) else {
                // Nothing yet: the same until the first sample.
                if let Some(first) = s.ts(0) {
                    valid.end = valid.end.min(first);
                }
                continue;
            };
            if let Some(next) = s.ts(i + 1) {
                valid.end = valid.end.min(next);
            }
            if let Some(ts) = s.ts(i) {
                valid.start = valid.start.max(ts);
                newest = Some(newest.map_or(ts, |n| n.max(ts)));
            }
            for (cell, id) in cells.iter_mut().zip(&self.field_ids) {
                if *id == Some(p) {
                    *cell = s.value(i);
                }
            }
        }
        let attrs: Arc<[Option<Value>]> = if self.table.lookups.is_empty() {
            Arc::new([])
        } else {
            let def = asset.def_at(at).flatten();
            self.table
                .lookups
                .iter()
                .map(|name| {
                    // A property with a value answers first (see `RowFields`).
                    let answered = self
                        .table
                        .fields
                        .iter()
                        .position(|f| f == name)
                        .is_some_and(|i| cells[i].is_some());
                    if answered {
                        return None;
                    }
                    let def = def?;
                    match name.as_ref() {
                        "kind" => def.kind.as_deref().map(|s| Value::Str(Arc::from(s))),
                        "name" => def.name.as_deref().map(|s| Value::Str(Arc::from(s))),
                        _ => def
                            .attributes
                            .iter()
                            .find(|(k, _)| k.as_str() == name.as_ref())
                            .map(|(_, v)| {
                                v.parse::<f64>()
                                    .map_or_else(|_| Value::Str(Arc::from(v.as_str())), Value::Num)
                            }),
                    }
                })
                .collect()
        };
        self.table.rows.push(Row {
            asset: a,
            id: asset.id.clone(),
            cells: cells.into(),
            attrs,
            newest,
            alarm: self.worst.get(&a).copied(),
            ttl: self.soonest.get(&a).cloned(),
            valid,
            defs: asset.def_at(i64::MAX).is_some(),
        });
    }
}

/// Sort key of a time to a limit: beyond the limit first, then the expected crossing. The
/// "At risk" list sorts by it too.
#[must_use]
pub fn rul_key(r: &Rul) -> i64 {
    match r {
        Rul::AlreadyBeyond => i64::MIN,
        Rul::Crossing { expected, .. } => *expected,
    }
}

/// A row as the filter sees it: its properties by name, then `asset`, `alarm` (the worst
/// priority), `alarm_state`, then the asset's definition at T (kind, name, attributes from
/// `twin.assets`, so `region == "eu"` works whether region is telemetry or an attribute).
struct RowFields<'a> {
    table: &'a Table,
    row: &'a Row,
}

fn field_value(v: &Value) -> FieldValue<'_> {
    match v {
        Value::Num(n) => FieldValue::Num(*n),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Str(s) => FieldValue::Str(s),
    }
}

impl Fields for RowFields<'_> {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        // A property first; without one, the row's own fields and the asset's definition.
        if let Some(i) = self.table.fields.iter().position(|f| f.as_ref() == name)
            && let Some(v) = &self.row.cells[i]
        {
            return Some(field_value(v));
        }
        match name {
            "asset" | "id" => Some(FieldValue::Str(&self.row.id)),
            "alarm" => self
                .row
                .alarm
                .as_ref()
                .map(|a| FieldValue::Str(a.0.as_str())),
            "alarm_state" => self
                .row
                .alarm
                .as_ref()
                .map(|a| FieldValue::Str(state_name(&a.1))),
            _ => {
                let i = self.table.lookups.iter().position(|f| f.as_ref() == name)?;
                self.row.attrs.get(i)?.as_ref().map(field_value)
            }
        }
    }
}

/// Whether one row passes `filter` (the table must have been built with the filter's fields
/// as `extra`).
#[must_use]
pub fn row_matches(table: &Table, row: &Row, filter: &Expr) -> bool {
    filter.matches(&RowFields { table, row })
}

/// Per row of a table, a key that orders it by one column ascending: a sort is then a sort
/// of integers, whichever the column. Kept by whoever sorts the same rows again (the other
/// direction, another filter) so that only the first sort by a column pays for string ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKeys {
    /// Below 2^66 ([`KEY_MAX`]); [`MISSING`] where the row has no value in the column.
    keys: Vec<u128>,
}

/// Largest key of a value: a type rank (2 bits) above a 64-bit order-preserving encoding.
const KEY_MAX: u128 = (1 << 66) - 1;
/// The key of a row without a value in the column (such rows go last either way).
const MISSING: u128 = u128::MAX;

/// `f64` bits that order as [`f64::total_cmp`] does.
fn f64_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// `i64` bits that order as the numbers do.
fn i64_key(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

/// Ranks of `strings` in byte order (equal strings share one), as keys; a sort of the
/// distinct ones, so a column of a few states costs a hash per row.
fn string_ranks<'a>(strings: impl Iterator<Item = Option<&'a str>>) -> Vec<Option<u64>> {
    let strings: Vec<Option<&str>> = strings.collect();
    let mut distinct: foldhash::HashMap<&str, u64> = foldhash::HashMap::default();
    for s in strings.iter().flatten() {
        distinct.entry(*s).or_insert(0);
    }
    let mut sorted: Vec<&str> = distinct.keys().copied().collect();
    sorted.sort_unstable();
    for (rank, s) in sorted.iter().enumerate() {
        distinct.insert(*s, rank as u64);
    }
    strings
        .iter()
        .map(|s| s.and_then(|s| distinct.get(s).copied()))
        .collect()
}

/// Within a priority: needing acknowledgement sorts above acknowledged.
fn state_rank(s: &AlarmState) -> u8 {
    match s {
        AlarmState::UnackActive => 4,
        AlarmState::UnackRtn => 3,
        AlarmState::AckedActive => 2,
        AlarmState::Shelved => 1,
        AlarmState::Normal => 0,
    }
}

/// Priorities in the order `Ord` gives them (worst highest).
fn priority_rank(p: Priority) -> u8 {
    match p {
        Priority::Low => 0,
        Priority::Medium => 1,
        Priority::High => 2,
        Priority::Critical => 3,
    }
}

/// The keys of `table`'s rows for `column`: numbers before booleans before strings within a
/// property, by value; alarms by priority then state; age youngest first; time to a limit
/// beyond it first, then the expected crossing.
#[must_use]
pub fn sort_keys(table: &Table, column: &Column) -> SortKeys {
    let rows = &table.rows;
    let keys = match column {
        Column::Asset => string_ranks(rows.iter().map(|r| Some(r.id.as_ref())))
            .into_iter()
            .map(|k| k.map_or(MISSING, u128::from))
            .collect(),
        Column::Prop(name) => match table.fields.iter().position(|f| f == name) {
            None => vec![MISSING; rows.len()],
            Some(i) => {
                let ranks = string_ranks(rows.iter().map(|r| match &r.cells[i] {
                    Some(Value::Str(s)) => Some(s.as_ref()),
                    _ => None,
                }));
                rows.iter()
                    .zip(ranks)
                    .map(|(r, rank)| match &r.cells[i] {
                        None => MISSING,
                        Some(Value::Num(x)) => u128::from(f64_key(*x)),
                        Some(Value::Bool(b)) => (1u128 << 64) | u128::from(*b),
                        Some(Value::Str(_)) => (2u128 << 64) | u128::from(rank.unwrap_or(0)),
                    })
                    .collect()
            }
        },
        Column::Alarm => rows
            .iter()
            .map(|r| {
                r.alarm.as_ref().map_or(MISSING, |(p, s)| {
                    (u128::from(priority_rank(*p)) << 8) | u128::from(state_rank(s))
                })
            })
            .collect(),
        // Ascending age is descending newest time.
        Column::Age => rows
            .iter()
            .map(|r| r.newest.map_or(MISSING, |n| u128::from(!i64_key(n))))
            .collect(),
        Column::TimeToLimit => rows
            .iter()
            .map(|r| {
                r.ttl
                    .as_ref()
                    .map_or(MISSING, |t| u128::from(i64_key(rul_key(&t.rul))))
            })
            .collect(),
    };
    SortKeys { keys }
}

impl SortKeys {
    /// Number of rows the keys are for.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True for a table without rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The rows to show, as indices into `table.rows`: those passing `filter`, sorted by `sort`
/// (stable, so ties keep the tree's order; rows without a value sort last either way).
#[must_use]
pub fn order(table: &Table, filter: Option<&Expr>, sort: Option<&SortBy>) -> Vec<u32> {
    let keys = sort.map(|s| sort_keys(table, &s.column));
    order_with(table, filter, sort.zip(keys.as_ref()))
}

/// [`order`] with the sort's keys made already (they must be [`sort_keys`] of this table and
/// the sort's column).
#[must_use]
pub fn order_with(
    table: &Table,
    filter: Option<&Expr>,
    sort: Option<(&SortBy, &SortKeys)>,
) -> Vec<u32> {
    let idx = (0..table.rows.len() as u32)
        .filter(|&i| filter.is_none_or(|f| row_matches(table, &table.rows[i as usize], f)));
    let Some((sort, keys)) = sort else {
        return idx.collect();
    };
    // Key, then row index, in one integer: an unstable sort of these is the stable sort of
    // the rows (ties go by index), and comparing integers is all it does.
    let mut packed: Vec<u128> = Vec::with_capacity(table.rows.len());
    let mut without: Vec<u32> = Vec::new();
    for i in idx {
        match keys.keys.get(i as usize) {
            Some(&k) if k != MISSING => {
                let k = if sort.descending { KEY_MAX - k } else { k };
                packed.push((k << 32) | u128::from(i));
            }
            _ => without.push(i),
        }
    }
    packed.sort_unstable();
    packed
        .into_iter()
        .map(|p| p as u32)
        .chain(without)
        .collect()
}

/// `vibration > 7`.
#[must_use]
pub fn limit_text(prop: &str, l: &Threshold) -> String {
    let op = match l.direction {
        Direction::Above => ">",
        Direction::Below => "<",
    };
    format!("{prop} {op} {}", l.value)
}

/// Milliseconds from the prediction to the expected crossing (0 when beyond the limit
/// already).
#[must_use]
pub fn ttl_ms(t: &TimeToLimit) -> i64 {
    match t.rul {
        Rul::AlreadyBeyond => 0,
        Rul::Crossing { expected, .. } => (expected - t.from).max(0),
    }
}

/// The shown rows as CSV: `asset`, one column per property (`name [unit]` where a unit is
/// configured), `alarm`, `alarm_state`, `age_s` (seen from `reference`: now while live, else
/// T), `time_to_limit_s` (0 = beyond the limit now) and `limit`. Empty cells where unknown.
#[must_use]
pub fn csv(
    table: &Table,
    order: &[u32],
    units: &HashMap<String, String>,
    reference: i64,
) -> String {
    let shown = &table.shown;
    let mut out = String::from("asset");
    let cols: Vec<Option<usize>> = shown
        .iter()
        .map(|p| table.fields.iter().position(|f| f == p))
        .collect();
    for p in shown.iter() {
        out.push(',');
        match units.get(p.as_ref()) {
            Some(u) => out.push_str(&csv_field(&format!("{p} [{u}]"))),
            None => out.push_str(&csv_field(p)),
        }
    }
    out.push_str(",alarm,alarm_state,age_s,time_to_limit_s,limit\n");
    for &i in order {
        let Some(r) = table.rows.get(i as usize) else {
            continue;
        };
        out.push_str(&csv_field(&r.id));
        for c in &cols {
            out.push(',');
            if let Some(v) = c.and_then(|c| r.cells[c].as_ref()) {
                out.push_str(&csv_field(&v.to_string()));
            }
        }
        out.push(',');
        if let Some((p, s)) = &r.alarm {
            out.push_str(p.as_str());
            out.push(',');
            out.push_str(state_name(s));
        } else {
            out.push(',');
        }
        out.push(',');
        if let Some(n) = r.newest {
            out.push_str(&format!("{:.3}", (reference - n).max(0) as f64 / 1000.0));
        }
        out.push(',');
        if let Some(t) = &r.ttl {
            out.push_str(&format!("{:.0}", ttl_ms(t) as f64 / 1000.0));
            out.push(',');
            out.push_str(&csv_field(&limit_text(&t.prop, &t.limit)));
        } else {
            out.push(',');
        }
        out.push('\n');
    }
    out
}

/// A CSV field, quoted when it holds a separator, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::{Decoded, Origin, Rec, Role};
    use super::*;

    fn tele(store: &mut Store, offset: i64, asset: &str, ts: i64, props: &[(&str, Value)]) {
        store.apply(Rec {
            origin: Origin {
                role: Role::Telemetry,
                partition: 0,
                offset,
                kafka_ts: ts,
            },
            body: Decoded::Telemetry {
                asset: asset.into(),
                parent: None,
                ts,
                props: props
                    .iter()
                    .map(|(k, v)| ((*k).into(), v.clone()))
                    .collect(),
            },
        });
    }

    fn s(x: &str) -> Value {
        Value::Str(Arc::from(x))
    }

    /// Three cars: speeds change at t=2000; car-3 appears only at t=2000 and has no state.
    fn store() -> Store {
        let mut st = Store::new("/", 64);
        tele(
            &mut st,
            0,
            "f/car-1",
            1000,
            &[("speed", Value::Num(50.0)), ("state", s("RUN"))],
        );
        tele(
            &mut st,
            1,
            "f/car-2",
            1000,
            &[("speed", Value::Num(150.0)), ("state", s("FAULT"))],
        );
        tele(&mut st, 2, "f/car-1", 2000, &[("speed", Value::Num(120.0))]);
        tele(&mut st, 3, "f/car-3", 2000, &[("speed", Value::Num(90.0))]);
        st
    }

    fn assets(st: &Store) -> Vec<AssetIdx> {
        ["f/car-1", "f/car-2", "f/car-3"]
            .iter()
            .map(|id| st.asset_by_id(id).unwrap())
            .collect()
    }

    fn ids(t: &Table, order: &[u32]) -> Vec<String> {
        order
            .iter()
            .map(|&i| t.rows[i as usize].id.to_string())
            .collect()
    }

    fn fields(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn rows_are_the_group_as_of_t() {
        let st = store();
        let t = table_at(&st, 1500);
        // car-3 did not exist yet.
        assert_eq!(ids(&t, &order(&t, None, None)), ["f/car-1", "f/car-2"]);
        assert_eq!(*t.rows[0].cells, [Some(Value::Num(50.0)), Some(s("RUN"))]);
        assert_eq!(t.rows[0].newest, Some(1000));
        let t = table_at(&st, 2500);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(*t.rows[0].cells, [Some(Value::Num(120.0)), Some(s("RUN"))]);
        assert_eq!(t.rows[0].newest, Some(2000));
        assert_eq!(*t.rows[2].cells, [Some(Value::Num(90.0)), None]);
        assert_eq!(&*t.available, &fields(&["speed", "state"])[..]);
    }

    #[test]
    fn sort_by_any_column_with_missing_values_last() {
        let st = store();
        let t = table_at(&st, 2500);
        let by = |column: Column, descending| {
            ids(&t, &order(&t, None, Some(&SortBy { column, descending })))
        };
        let speed = || Column::Prop("speed".into());
        let state = || Column::Prop("state".into());
        for (column, descending, expected) in [
            (speed(), false, ["f/car-3", "f/car-1", "f/car-2"]),
            (speed(), true, ["f/car-2", "f/car-1", "f/car-3"]),
            (state(), false, ["f/car-2", "f/car-1", "f/car-3"]),
            (state(), true, ["f/car-1", "f/car-2", "f/car-3"]),
            (Column::Asset, true, ["f/car-3", "f/car-2", "f/car-1"]),
            // Youngest first: car-1 and car-3 at 2000 (tree order kept), then car-2.
            (Column::Age, false, ["f/car-1", "f/car-3", "f/car-2"]),
        ] {
            let why = format!("{column:?}, descending {descending}");
            assert_eq!(by(column, descending), expected, "{why}");
        }
    }

    /// The table of [`store`]'s cars at `at` with the default columns.
    fn table_at(st: &Store, at: i64) -> Table {
        Builder::new(st, assets(st).into(), at, None, &[], &[], &[]).run(st)
    }

    /// The table of [`store`]'s cars at `at` with only `state` shown, reading `extra` as well.
    fn state_shown(st: &Store, at: i64, extra: &[&str]) -> Table {
        Builder::new(
            st,
            assets(st).into(),
            at,
            Some(&cols(&["state"])),
            extra,
            &[],
            &[],
        )
        .run(st)
    }

    #[test]
    fn filter_reads_fields_not_shown_and_pseudo_fields() {
        let st = store();
        let f = Expr::parse(r#"speed > 100 and asset != "f/car-9""#).unwrap();
        // Only `state` is shown; the filter's `speed` is fetched as well.
        let t = state_shown(&st, 2500, &f.as_ref().unwrap().fields());
        assert_eq!(t.shown, fields(&["state"]));
        assert_eq!(t.fields, fields(&["state", "speed"]));
        assert_eq!(
            ids(&t, &order(&t, f.as_ref(), None)),
            ["f/car-1", "f/car-2"]
        );
        let t = state_shown(&st, 1500, &f.as_ref().unwrap().fields());
        assert_eq!(ids(&t, &order(&t, f.as_ref(), None)), ["f/car-2"]);
        let f = Expr::parse(r#"state == "FAULT" or not state == "RUN""#).unwrap();
        let t = state_shown(&st, 2500, &[]);
        assert_eq!(
            ids(&t, &order(&t, f.as_ref(), None)),
            ["f/car-2", "f/car-3"]
        );
    }

    #[test]
    fn time_to_limit_keeps_the_soonest_and_sorts_beyond_first() {
        let st = store();
        let lim = Threshold::above(200.0);
        let ttl = vec![
            TimeToLimit {
                asset: "f/car-1".into(),
                prop: "speed".into(),
                limit: lim,
                rul: Rul::Crossing {
                    expected: 9000,
                    earliest: 8000,
                    latest: 10_000,
                },
                from: 2500,
            },
            TimeToLimit {
                asset: "f/car-1".into(),
                prop: "temp".into(),
                limit: lim,
                rul: Rul::Crossing {
                    expected: 5500,
                    earliest: 5500,
                    latest: 5500,
                },
                from: 2500,
            },
            TimeToLimit {
                asset: "f/car-2".into(),
                prop: "speed".into(),
                limit: lim,
                rul: Rul::AlreadyBeyond,
                from: 2500,
            },
        ];
        let speed = cols(&["speed"]);
        let t = Builder::new(&st, assets(&st).into(), 2500, Some(&speed), &[], &[], &ttl).run(&st);
        assert_eq!(
            t.rows[0].ttl.as_ref().map(|t| t.prop.as_ref()),
            Some("temp")
        );
        assert_eq!(ttl_ms(t.rows[0].ttl.as_ref().unwrap()), 3000);
        let sort = SortBy {
            column: Column::TimeToLimit,
            descending: false,
        };
        assert_eq!(
            ids(&t, &order(&t, None, Some(&sort))),
            ["f/car-2", "f/car-1", "f/car-3"]
        );
        let csv = csv(
            &t,
            &order(&t, None, Some(&sort)),
            &HashMap::from([("speed".to_owned(), "km/h".to_owned())]),
            3000,
        );
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "asset,speed [km/h],alarm,alarm_state,age_s,time_to_limit_s,limit"
        );
        assert_eq!(lines[1], "f/car-2,150,,,2.000,0,speed > 200");
        assert_eq!(lines[2], "f/car-1,120,,,1.000,3,temp > 200");
        assert_eq!(lines[3], "f/car-3,90,,,1.000,,");
    }

    #[test]
    fn a_build_in_steps_is_the_build_in_one_go() {
        let st = store();
        let f = Expr::parse(r#"speed > 100 and kind == "car""#).unwrap();
        let extra = f.as_ref().unwrap().fields();
        for columns in [None, Some(cols(&["state"]))] {
            let builder = || {
                Builder::new(
                    &st,
                    assets(&st).into(),
                    2500,
                    columns.as_deref(),
                    &extra,
                    &[],
                    &[],
                )
            };
            let whole = builder().run(&st);
            for step in 1..=3 {
                let mut b = builder();
                let mut steps = 0;
                while !b.step(&st, step) {
                    steps += 1;
                    assert!(!b.done());
                    assert!(steps < 10, "a step makes progress");
                }
                assert!(b.done());
                let parts = b.finish();
                assert_eq!(
                    ids(&parts, &order(&parts, None, None)),
                    ids(&whole, &order(&whole, None, None))
                );
                assert_eq!(parts.shown, whole.shown);
                assert_eq!(parts.fields, whole.fields);
                assert_eq!(parts.lookups, fields(&["speed", "kind"]));
                assert_eq!(parts.available, fields(&["speed", "state"]));
                for (a, b) in parts.rows.iter().zip(&whole.rows) {
                    assert_eq!(
                        (&a.cells, &a.attrs, a.newest),
                        (&b.cells, &b.attrs, b.newest)
                    );
                }
            }
        }
    }

    /// Everything a row holds that the table shows or filters on.
    fn row_content(t: &Table) -> Vec<String> {
        t.rows
            .iter()
            .map(|r| {
                format!(
                    "{} {:?} {:?} {:?} {:?}",
                    r.id, r.cells, r.attrs, r.newest, r.alarm
                )
            })
            .collect()
    }

    #[test]
    fn a_moved_cursor_reads_only_rows_that_changed() {
        let st = store();
        let prev = Arc::new(table_at(&st, 1500));
        let mut b = Builder::new(&st, assets(&st).into(), 2500, None, &[], &[], &[])
            .since(&st, Arc::clone(&prev));
        while !b.step(&st, 1) {}
        // car-2 did not change after 1000; car-1 did at 2000, car-3 appeared then.
        assert_eq!(b.reused(), 1);
        let t = b.finish();
        let fresh = table_at(&st, 2500);
        assert_eq!(row_content(&t), row_content(&fresh));
        assert_eq!(t.available, fresh.available);
        // Back to 1500 from 2500: car-2 again, car-3 gone.
        let mut b = Builder::new(&st, assets(&st).into(), 1500, None, &[], &[], &[])
            .since(&st, Arc::new(t));
        while !b.step(&st, 2) {}
        assert_eq!(b.reused(), 1);
        assert_eq!(row_content(&b.finish()), row_content(&prev));
    }

    #[test]
    fn reading_since_any_time_is_reading_afresh() {
        // Random histories, random cursor moves: the copied rows are never stale.
        let mut rng = fastrand::Rng::with_seed(1515);
        for _ in 0..30 {
            let mut st = Store::new("/", 64);
            let n = rng.usize(1..8);
            for off in 0..rng.i64(1..40) {
                let a = format!("f/a-{}", rng.usize(0..n));
                let mut props = vec![("x", Value::Num(rng.f64()))];
                if rng.bool() {
                    props.push(("y", s(["RUN", "FAULT"][rng.usize(0..2)])));
                }
                tele(&mut st, off, &a, rng.i64(0..100) * 10, &props);
            }
            let ids: Vec<AssetIdx> = st
                .assets()
                .iter()
                .filter_map(|a| st.asset_by_id(&a.id))
                .collect();
            let f = Expr::parse("y == \"RUN\"").unwrap();
            let extra = f.as_ref().unwrap().fields();
            let mut at = rng.i64(-10..1100);
            let mut prev = Arc::new(
                Builder::new(&st, ids.clone().into(), at, None, &extra, &[], &[]).run(&st),
            );
            for _ in 0..10 {
                at = rng.i64(-10..1100);
                let mut b = Builder::new(&st, ids.clone().into(), at, None, &extra, &[], &[])
                    .since(&st, Arc::clone(&prev));
                while !b.step(&st, rng.usize(1..4)) {}
                let t = b.finish();
                let fresh =
                    Builder::new(&st, ids.clone().into(), at, None, &extra, &[], &[]).run(&st);
                assert_eq!(row_content(&t), row_content(&fresh), "at {at}");
                prev = Arc::new(t);
            }
        }
    }

    /// A table by hand: `rows` of (id, value of `v`, attribute `region`), no store.
    fn hand_table(rows: &[(&str, Option<Value>, Option<&str>)]) -> Table {
        Table {
            at: 0,
            shown: fields(&["v"]),
            fields: fields(&["v"]),
            lookups: fields(&["region"]),
            available: fields(&["v"]),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, (id, v, region))| {
                    let region = region.map(|r| Value::Str(Arc::from(r)));
                    Row::by_hand(i as AssetIdx, id, vec![v.clone()], vec![region])
                })
                .collect(),
        }
    }

    #[test]
    fn the_filter_reads_copied_attributes_without_the_store() {
        let t = hand_table(&[
            ("a", Some(Value::Num(1.0)), Some("eu")),
            ("b", Some(Value::Num(2.0)), Some("us")),
            ("c", None, None),
        ]);
        let f = Expr::parse(r#"region == "eu" or v > 1.5"#).unwrap();
        assert_eq!(ids(&t, &order(&t, f.as_ref(), None)), ["a", "b"]);
        let f = Expr::parse(r#"not region == "eu""#).unwrap();
        assert_eq!(ids(&t, &order(&t, f.as_ref(), None)), ["b", "c"]);
    }

    /// The order a comparator gives: the stable sort the table had before keys, as the
    /// reference the keys must reproduce.
    fn reference_order(t: &Table, sort: &SortBy) -> Vec<u32> {
        fn rank(v: &Value) -> u8 {
            match v {
                Value::Num(_) => 0,
                Value::Bool(_) => 1,
                Value::Str(_) => 2,
            }
        }
        let cmp_values = |a: &Value, b: &Value| match (a, b) {
            (Value::Num(x), Value::Num(y)) => x.total_cmp(y),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Str(x), Value::Str(y)) => x.cmp(y),
            _ => rank(a).cmp(&rank(b)),
        };
        let (mut with, without): (Vec<u32>, Vec<u32>) =
            (0..t.rows.len() as u32).partition(|&i| match &sort.column {
                Column::Prop(_) => t.rows[i as usize].cells[0].is_some(),
                _ => true,
            });
        with.sort_by(|&x, &y| {
            let (a, b) = (&t.rows[x as usize], &t.rows[y as usize]);
            let o = match &sort.column {
                Column::Asset => a.id.cmp(&b.id),
                _ => cmp_values(a.cells[0].as_ref().unwrap(), b.cells[0].as_ref().unwrap()),
            };
            if sort.descending { o.reverse() } else { o }
        });
        with.extend(without);
        with
    }

    #[test]
    fn keyed_sorts_match_the_comparator_sort() {
        // Mixed types, duplicates (ties keep tree order), negative zero, infinities, NaN,
        // missing values, and ids sharing prefixes.
        let pool = [
            Some(Value::Num(3.5)),
            Some(Value::Num(-2.0)),
            Some(Value::Num(0.0)),
            Some(Value::Num(-0.0)),
            Some(Value::Num(f64::INFINITY)),
            Some(Value::Num(f64::NEG_INFINITY)),
            Some(Value::Num(f64::NAN)),
            Some(Value::Num(1e300)),
            Some(Value::Num(-1e-300)),
            Some(Value::Bool(true)),
            Some(Value::Bool(false)),
            Some(s("RUN")),
            Some(s("FAULT")),
            Some(s("run")),
            Some(s("")),
            None,
        ];
        let mut rng = fastrand::Rng::with_seed(15);
        for round in 0..50 {
            let n = 1 + round * 3;
            let owned: Vec<(String, Option<Value>)> = (0..n)
                .map(|_| {
                    let id = format!("f/car-{}", rng.usize(0..n * 2));
                    (id, pool[rng.usize(0..pool.len())].clone())
                })
                .collect();
            let rows: Vec<(&str, Option<Value>, Option<&str>)> = owned
                .iter()
                .map(|(id, v)| (id.as_str(), v.clone(), None))
                .collect();
            let t = hand_table(&rows);
            for column in [Column::Prop("v".into()), Column::Asset] {
                for descending in [false, true] {
                    let sort = SortBy {
                        column: column.clone(),
                        descending,
                    };
                    assert_eq!(
                        order(&t, None, Some(&sort)),
                        reference_order(&t, &sort),
                        "round {round}, {sort:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn priority_ranks_follow_the_priority_order() {
        let all = [
            Priority::Low,
            Priority::Medium,
            Priority::High,
            Priority::Critical,
        ];
        for a in all {
            for b in all {
                assert_eq!(
                    priority_rank(a).cmp(&priority_rank(b)),
                    a.cmp(&b),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}

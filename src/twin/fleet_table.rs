//! The fleet table: a group's assets as rows "as of T", with chosen properties, the worst
//! alarm, the age of the newest value and the time to a limit; sorted, filtered and written as
//! CSV.
//!
//! A fleet operator lives in this view, and a fleet has 100k assets, so the work is split by
//! how often it must be redone: [`build`] reads the store (once per data generation, query
//! time, group and set of fields), [`order`] filters and sorts the built rows (when the sort
//! or the filter changes), and drawing touches only the visible rows. Age is kept as the
//! newest event time, so a live table ages without being rebuilt. Pure: no egui, no Kafka.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::Store;
use super::Value;
use super::alarms::{AlarmState, Priority};
use super::filter::{Expr, FieldValue, Fields};
use super::forecast::{Direction, Rul, Threshold};
use super::store::{AlarmView, AssetIdx, state_name};

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
    pub cells: Vec<Option<Value>>,
    /// Event time of the newest value of any of its properties at T.
    pub newest: Option<i64>,
    /// Its worst alarm not in normal state at T.
    pub alarm: Option<(Priority, AlarmState)>,
    /// Its soonest time to a limit, where the predictor has one.
    pub ttl: Option<TimeToLimit>,
}

/// The rows of a group at one time.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub at: i64,
    /// The property columns shown, in order.
    pub shown: Vec<Arc<str>>,
    /// The properties read for every row: the shown columns, then any the filter needs.
    pub fields: Vec<Arc<str>>,
    /// Properties any asset of the group has, sorted: what the column chooser offers.
    pub available: Vec<Arc<str>>,
    pub rows: Vec<Row>,
}

/// Every property any of `assets` has ever had, sorted by name.
#[must_use]
pub fn available_props(store: &Store, assets: &[AssetIdx]) -> Vec<Arc<str>> {
    let mut seen: Vec<bool> = Vec::new();
    for &a in assets {
        let Some(asset) = store.asset(a) else {
            continue;
        };
        for (p, _) in asset.series() {
            let p = p as usize;
            if seen.len() <= p {
                seen.resize(p + 1, false);
            }
            seen[p] = true;
        }
    }
    let mut out: Vec<Arc<str>> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| **s)
        .filter_map(|(p, _)| store.prop_name(p as u32).cloned())
        .collect();
    out.sort();
    out
}

/// The rows of `assets` (those that exist at `at`) with the values of the `columns` chosen
/// (`None`: the first [`DEFAULT_COLUMNS`] properties the group has) and of the `extra` fields
/// a filter reads, their worst alarm from `alarms` (the store's alarms at `at`) and their
/// soonest time to a limit from `ttl`.
#[must_use]
pub fn build(
    store: &Store,
    assets: &[AssetIdx],
    at: i64,
    columns: Option<&[String]>,
    extra: &[&str],
    alarms: &[AlarmView],
    ttl: &[TimeToLimit],
) -> Table {
    let available = available_props(store, assets);
    let shown: Vec<Arc<str>> = match columns {
        Some(c) => c.iter().map(|c| Arc::from(c.as_str())).collect(),
        None => available.iter().take(DEFAULT_COLUMNS).cloned().collect(),
    };
    let mut fields = shown.clone();
    // Only names that are properties somewhere; the rest are the filter's own fields.
    for e in extra {
        if store.prop_by_name(e).is_some() && !fields.iter().any(|f| f.as_ref() == *e) {
            fields.push(Arc::from(*e));
        }
    }
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
    let mut soonest: HashMap<AssetIdx, &TimeToLimit> = HashMap::new();
    for t in ttl {
        if let Some(a) = store.asset_by_id(&t.asset) {
            soonest
                .entry(a)
                .and_modify(|s| {
                    if rul_key(&t.rul) < rul_key(&s.rul) {
                        *s = t;
                    }
                })
                .or_insert(t);
        }
    }
    let field_ids: Vec<Option<u32>> = fields.iter().map(|f| store.prop_by_name(f)).collect();
    let mut rows = Vec::with_capacity(assets.len());
    for &a in assets {
        let Some(asset) = store.asset(a) else {
            continue;
        };
        if !store.exists_at(a, at) {
            continue;
        }
        let mut cells = vec![None; fields.len()];
        let mut newest: Option<i64> = None;
        for (p, s) in asset.series() {
            let Some(sample) = s.at(at) else {
                continue;
            };
            newest = Some(newest.map_or(sample.ts, |n| n.max(sample.ts)));
            for (cell, id) in cells.iter_mut().zip(&field_ids) {
                if *id == Some(p) {
                    *cell = Some(sample.value.clone());
                }
            }
        }
        rows.push(Row {
            asset: a,
            id: asset.id.clone(),
            cells,
            newest,
            alarm: worst.get(&a).cloned(),
            ttl: soonest.get(&a).map(|t| (*t).clone()),
        });
    }
    Table {
        at,
        shown,
        fields,
        available,
        rows,
    }
}

/// Sort key of a time to a limit: beyond the limit first, then the expected crossing.
fn rul_key(r: &Rul) -> i64 {
    match r {
        Rul::AlreadyBeyond => i64::MIN,
        Rul::Crossing { expected, .. } => *expected,
    }
}

/// A row as the filter sees it: its properties by name, then `asset`, `alarm` (the worst
/// priority), `alarm_state`, then the asset's attributes from `twin.assets` (so `region ==
/// "eu"` works whether region is telemetry or an attribute).
struct RowFields<'a> {
    table: &'a Table,
    row: &'a Row,
    store: &'a Store,
}

impl Fields for RowFields<'_> {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        // A property first; without one, the row's own fields and the asset's attributes.
        if let Some(i) = self.table.fields.iter().position(|f| f.as_ref() == name)
            && let Some(v) = &self.row.cells[i]
        {
            return Some(match v {
                Value::Num(n) => FieldValue::Num(*n),
                Value::Bool(b) => FieldValue::Bool(*b),
                Value::Str(s) => FieldValue::Str(s),
            });
        }
        match name {
            "asset" | "id" => return Some(FieldValue::Str(&self.row.id)),
            "alarm" => {
                return self
                    .row
                    .alarm
                    .as_ref()
                    .map(|a| FieldValue::Str(a.0.as_str()));
            }
            "alarm_state" => {
                return self
                    .row
                    .alarm
                    .as_ref()
                    .map(|a| FieldValue::Str(state_name(&a.1)));
            }
            _ => {}
        }
        let def = self.store.asset(self.row.asset)?.def_at(self.table.at)??;
        match name {
            "kind" => def.kind.as_deref().map(FieldValue::Str),
            "name" => def.name.as_deref().map(FieldValue::Str),
            _ => def
                .attributes
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.parse::<f64>().map_or(FieldValue::Str(v), FieldValue::Num)),
        }
    }
}

/// Whether one row passes `filter`.
#[must_use]
pub fn row_matches(store: &Store, table: &Table, row: &Row, filter: &Expr) -> bool {
    filter.matches(&RowFields { table, row, store })
}

/// The rows to show, as indices into `table.rows`: those passing `filter`, sorted by `sort`
/// (stable, so ties keep the tree's order; rows without a value sort last either way).
#[must_use]
pub fn order(
    store: &Store,
    table: &Table,
    filter: Option<&Expr>,
    sort: Option<&SortBy>,
) -> Vec<u32> {
    let idx: Vec<u32> = (0..table.rows.len() as u32)
        .filter(|&i| filter.is_none_or(|f| row_matches(store, table, &table.rows[i as usize], f)))
        .collect();
    let Some(sort) = sort else {
        return idx;
    };
    let rows = &table.rows;
    let cmp: RowCmp<'_> = match &sort.column {
        Column::Asset => Box::new(|a: &Row, b: &Row| Some(a.id.cmp(&b.id))),
        Column::Prop(name) => {
            let Some(i) = table.fields.iter().position(|f| f == name) else {
                return idx;
            };
            Box::new(move |a: &Row, b: &Row| match (&a.cells[i], &b.cells[i]) {
                (Some(x), Some(y)) => Some(cmp_values(x, y)),
                _ => None,
            })
        }
        Column::Alarm => Box::new(|a: &Row, b: &Row| match (&a.alarm, &b.alarm) {
            (Some(x), Some(y)) => Some(x.0.cmp(&y.0).then(state_rank(&x.1).cmp(&state_rank(&y.1)))),
            _ => None,
        }),
        // Ascending age is descending newest time.
        Column::Age => Box::new(|a: &Row, b: &Row| Some(b.newest?.cmp(&a.newest?))),
        Column::TimeToLimit => Box::new(|a: &Row, b: &Row| {
            Some(rul_key(&a.ttl.as_ref()?.rul).cmp(&rul_key(&b.ttl.as_ref()?.rul)))
        }),
    };
    // Rows without a value go last whatever the direction: split them off first.
    let has = |r: &Row| match &sort.column {
        Column::Asset => true,
        Column::Prop(name) => table
            .fields
            .iter()
            .position(|f| f == name)
            .is_some_and(|i| r.cells[i].is_some()),
        Column::Alarm => r.alarm.is_some(),
        Column::Age => r.newest.is_some(),
        Column::TimeToLimit => r.ttl.is_some(),
    };
    let (mut with, without): (Vec<u32>, Vec<u32>) =
        idx.into_iter().partition(|&i| has(&rows[i as usize]));
    with.sort_by(|&x, &y| {
        let o = cmp(&rows[x as usize], &rows[y as usize]).unwrap_or(Ordering::Equal);
        if sort.descending { o.reverse() } else { o }
    });
    with.extend(without);
    with
}

/// How two rows compare on the sorted column; `None` when either has no value there.
type RowCmp<'a> = Box<dyn Fn(&Row, &Row) -> Option<Ordering> + 'a>;

/// Numbers before booleans before strings; within a type, by value.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Num(_) => 0,
        Value::Bool(_) => 1,
        Value::Str(_) => 2,
    };
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.total_cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
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
        let t = build(&st, &assets(&st), 1500, None, &[], &[], &[]);
        // car-3 did not exist yet.
        assert_eq!(ids(&t, &order(&st, &t, None, None)), ["f/car-1", "f/car-2"]);
        assert_eq!(
            t.rows[0].cells,
            vec![Some(Value::Num(50.0)), Some(s("RUN"))]
        );
        assert_eq!(t.rows[0].newest, Some(1000));
        let t = build(&st, &assets(&st), 2500, None, &[], &[], &[]);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(
            t.rows[0].cells,
            vec![Some(Value::Num(120.0)), Some(s("RUN"))]
        );
        assert_eq!(t.rows[0].newest, Some(2000));
        assert_eq!(t.rows[2].cells, vec![Some(Value::Num(90.0)), None]);
        assert_eq!(&*t.available, &fields(&["speed", "state"])[..]);
    }

    #[test]
    fn sort_by_any_column_with_missing_values_last() {
        let st = store();
        let t = build(&st, &assets(&st), 2500, None, &[], &[], &[]);
        let by = |column: Column, descending| {
            ids(
                &t,
                &order(&st, &t, None, Some(&SortBy { column, descending })),
            )
        };
        assert_eq!(
            by(Column::Prop("speed".into()), false),
            ["f/car-3", "f/car-1", "f/car-2"]
        );
        assert_eq!(
            by(Column::Prop("speed".into()), true),
            ["f/car-2", "f/car-1", "f/car-3"]
        );
        assert_eq!(
            by(Column::Prop("state".into()), false),
            ["f/car-2", "f/car-1", "f/car-3"]
        );
        assert_eq!(
            by(Column::Prop("state".into()), true),
            ["f/car-1", "f/car-2", "f/car-3"]
        );
        assert_eq!(by(Column::Asset, true), ["f/car-3", "f/car-2", "f/car-1"]);
        // Youngest first: car-1 and car-3 at 2000 (tree order kept), then car-2.
        assert_eq!(by(Column::Age, false), ["f/car-1", "f/car-3", "f/car-2"]);
    }

    #[test]
    fn filter_reads_fields_not_shown_and_pseudo_fields() {
        let st = store();
        let f = Expr::parse(r#"speed > 100 and asset != "f/car-9""#).unwrap();
        // Only `state` is shown; the filter's `speed` is fetched as well.
        let t = build(
            &st,
            &assets(&st),
            2500,
            Some(&cols(&["state"])),
            &f.as_ref().unwrap().fields(),
            &[],
            &[],
        );
        assert_eq!(t.shown, fields(&["state"]));
        assert_eq!(t.fields, fields(&["state", "speed"]));
        assert_eq!(
            ids(&t, &order(&st, &t, f.as_ref(), None)),
            ["f/car-1", "f/car-2"]
        );
        let t = build(
            &st,
            &assets(&st),
            1500,
            Some(&cols(&["state"])),
            &f.as_ref().unwrap().fields(),
            &[],
            &[],
        );
        assert_eq!(ids(&t, &order(&st, &t, f.as_ref(), None)), ["f/car-2"]);
        let f = Expr::parse(r#"state == "FAULT" or not state == "RUN""#).unwrap();
        let t = build(
            &st,
            &assets(&st),
            2500,
            Some(&cols(&["state"])),
            &[],
            &[],
            &[],
        );
        assert_eq!(
            ids(&t, &order(&st, &t, f.as_ref(), None)),
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
        let t = build(
            &st,
            &assets(&st),
            2500,
            Some(&cols(&["speed"])),
            &[],
            &[],
            &ttl,
        );
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
            ids(&t, &order(&st, &t, None, Some(&sort))),
            ["f/car-2", "f/car-1", "f/car-3"]
        );
        let csv = csv(
            &t,
            &order(&st, &t, None, Some(&sort)),
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
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}

//! The fleet table's caches: the rows of the selected group at the query time, and their
//! filtered, sorted order. Building 100k rows reads the store ~100k × properties times and
//! sorting them takes milliseconds, so neither may happen every frame: rows are rebuilt when
//! the store, its data, the query time, the group, the columns, the filter's fields or the
//! predictions change; the order when the rows, the sort or the filter change.
//!
//! While live, a large fleet's data changes on every batch; its rows are then rebuilt at most
//! once per [`LIVE_REFRESH`], so a live 100k-row table still scrolls at frame rate.

use std::time::{Duration, Instant};

use crate::twin::Store;
use crate::twin::fleet_table::{self, SortBy, Table, TimeToLimit};
use crate::twin::hierarchy::Tree;
use crate::twin::store::{AlarmView, AssetIdx};
use crate::ui::fleet_table::FleetTableState;

use super::TwinApp;
use super::stores::StoreId;

/// Tables with more rows than this are rebuilt at most once per [`LIVE_REFRESH`] while only
/// live data changes.
const LIVE_THROTTLE_ROWS: usize = 2_000;
/// How often a large live table follows the data.
const LIVE_REFRESH: Duration = Duration::from_secs(1);

/// What the rows were built from.
#[derive(Debug, Clone, PartialEq)]
struct RowsKey {
    store: StoreId,
    data_gen: u64,
    at: i64,
    group: String,
    columns: Option<Vec<String>>,
    filter_fields: Vec<String>,
    /// The prediction result the times to limit came from: its time and row count.
    ttl: Option<(i64, usize)>,
}

impl RowsKey {
    /// The same rows apart from newer data.
    fn same_but_data(&self, other: &RowsKey) -> bool {
        self.store == other.store
            && self.at == other.at
            && self.group == other.group
            && self.columns == other.columns
            && self.filter_fields == other.filter_fields
    }
}

/// What the order was computed from.
#[derive(Debug, Clone, PartialEq)]
struct OrderKey {
    rows: u64,
    sort: Option<SortBy>,
    filter: Option<crate::twin::filter::Expr>,
}

/// The table shown for the selected group, and how it was made.
#[derive(Debug, Default)]
pub struct FleetTableView {
    rows_key: Option<RowsKey>,
    built: Option<Instant>,
    /// Counts row builds, so the order knows when its rows changed.
    version: u64,
    table: Table,
    order_key: Option<OrderKey>,
    order: Vec<u32>,
    /// The group shown, while one is selected.
    group: Option<String>,
}

impl FleetTableView {
    /// The group shown, its rows and their order; `None` when no group is selected.
    #[must_use]
    pub fn shown(&self) -> Option<(&str, &Table, &[u32])> {
        Some((self.group.as_deref()?, &self.table, &self.order))
    }
}

/// The assets under a group node at the tree's time, in tree order: not the node itself, and
/// not the groups in between unless they have properties of their own (a line defined in
/// `twin.assets` is a heading in the tree, not a row).
fn group_assets(store: &Store, tree: &Tree, node: u32) -> Vec<AssetIdx> {
    let mut out = Vec::new();
    let mut stack: Vec<u32> = tree
        .nodes
        .get(node as usize)
        .map(|n| n.children.iter().rev().copied().collect())
        .unwrap_or_default();
    while let Some(n) = stack.pop() {
        let Some(node) = tree.nodes.get(n as usize) else {
            continue;
        };
        if let Some(a) = node.asset
            && (node.children.is_empty()
                || store.asset(a).is_some_and(|x| x.series().next().is_some()))
        {
            out.push(a);
        }
        stack.extend(node.children.iter().rev());
    }
    out
}

/// Inputs to a refresh that come from the rest of the app.
pub(super) struct Inputs<'a> {
    pub store: &'a Store,
    pub id: StoreId,
    pub tree: Option<&'a Tree>,
    pub selected: Option<&'a str>,
    pub at: i64,
    pub live: bool,
    pub alarms: &'a [AlarmView],
    /// Identifies the prediction result the times to limit come from (its time and size).
    pub ttl_key: Option<(i64, usize)>,
    /// The times to limit, copied out only when the rows are rebuilt.
    pub ttl: &'a dyn Fn() -> Vec<TimeToLimit>,
}

impl FleetTableView {
    /// Brings the table up to date for the selected group (clears it when an asset or nothing
    /// is selected).
    pub(super) fn refresh(&mut self, inp: &Inputs<'_>, state: &mut FleetTableState) {
        // Any node with children is a group, also one that is an asset itself (a site or a
        // line defined in `twin.assets`, as in the demo).
        let group = inp.selected.and_then(|s| {
            let tree = inp.tree?;
            let n = tree.find(s)?;
            let node = tree.nodes.get(n as usize)?;
            (node.asset.is_none() || !node.children.is_empty()).then_some((s, n, tree))
        });

        let Some((group, node, tree)) = group else {
            if self.group.is_some() {
                *self = Self::default();
            }
            return;
        };
        let filter = state.applied_filter();
        let key = RowsKey {
            store: inp.id,
            data_gen: inp.store.data_gen(),
            at: inp.at,
            group: group.to_owned(),
            columns: state.columns.clone(),
            filter_fields: filter
                .as_ref()
                .map(|f| f.fields().into_iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            ttl: inp.ttl_key,
        };
        let stale = match &self.rows_key {
            None => true,
            Some(k) if *k == key => false,
            Some(k) => {
                // Only newer live data for a large table: follow it once a second.
                !(inp.live
                    && k.same_but_data(&key)
                    && self.table.rows.len() > LIVE_THROTTLE_ROWS
                    && self.built.is_some_and(|b| b.elapsed() < LIVE_REFRESH))
            }
        };
        if stale {
            let assets = group_assets(inp.store, tree, node);
            let extra: Vec<&str> = key.filter_fields.iter().map(String::as_str).collect();
            self.table = fleet_table::build(
                inp.store,
                &assets,
                inp.at,
                key.columns.as_deref(),
                &extra,
                inp.alarms,
                &(inp.ttl)(),
            );
            self.rows_key = Some(key);
            self.built = Some(Instant::now());
            self.version += 1;
            self.group = Some(group.to_owned());
        }
        let order_key = OrderKey {
            rows: self.version,
            sort: state.sort.clone(),
            filter,
        };
        if self.order_key.as_ref() != Some(&order_key) {
            self.order = fleet_table::order(
                inp.store,
                &self.table,
                order_key.filter.as_ref(),
                order_key.sort.as_ref(),
            );
            self.order_key = Some(order_key);
        }
    }

    /// The rows shown as CSV (see [`fleet_table::csv`]); `None` when no group is shown.
    #[must_use]
    pub fn csv(
        &self,
        units: &std::collections::HashMap<String, String>,
        reference: i64,
    ) -> Option<String> {
        self.group.as_ref()?;
        Some(fleet_table::csv(&self.table, &self.order, units, reference))
    }
}

impl TwinApp {
    /// The predictor's times to a limit, as the table reads them.
    fn times_to_limit(&self) -> Vec<TimeToLimit> {
        let Some(fleet) = self.pred.fleet() else {
            return Vec::new();
        };
        fleet
            .rows
            .iter()
            .map(|r| TimeToLimit {
                asset: r.asset.clone(),
                prop: r.prop.clone(),
                limit: r.limit,
                rul: r.rul,
                from: fleet.at,
            })
            .collect()
    }

    /// Brings the fleet table of the selected group up to date, as of this frame's clock.
    /// `alarms` are the store's alarms at the query time.
    pub(super) fn refresh_fleet_table(
        &mut self,
        alarms: &[AlarmView],
        state: &mut FleetTableState,
    ) {
        let mut view = std::mem::take(&mut self.fleet_table);
        let (store, id) = self.stores.pick(self.clock.use_reread);
        let inputs = Inputs {
            store,
            id,
            tree: self.tree.tree(),
            selected: self.selected.as_deref(),
            at: self.clock.query_at(),
            live: self.clock.live,
            alarms,
            ttl_key: self.pred.fleet().map(|f| (f.at, f.rows.len())),
            ttl: &|| self.times_to_limit(),
        };
        view.refresh(&inputs, state);
        self.fleet_table = view;
    }

    /// The fleet table shown (for tests): the group, its rows and their order.
    #[must_use]
    pub fn fleet_table(&self) -> Option<(&str, &Table, &[u32])> {
        self.fleet_table.shown()
    }

    /// **For benchmarks only** (`benches/fleet_table.rs` changes the sort, filter and columns
    /// between frames without pointer events); the product changes them through the panel.
    #[cfg(feature = "testkit")]
    pub fn fleet_table_state(&mut self) -> &mut FleetTableState {
        &mut self.panels.fleet
    }
}

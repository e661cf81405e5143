//! The fleet table's caches: the rows of the selected group at the query time, and their
//! filtered, sorted order, kept so that 100k rows scroll, sort, filter and follow the cursor
//! at frame rate.
//!
//! Reading 100k assets out of the store is a cache miss per series (about a tenth of a
//! second), and the store belongs to the UI thread, so rows are read there but a slice at a
//! time, within [`BUILD_BUDGET`] per frame, by a [`Builder`]. Filtering and sorting read only
//! the built rows, so for large tables they run on the "fleet-order" thread (`worker.rs`).
//! Until new rows and their order are both ready the previous ones stay on screen, whole
//! (never new rows with an old order), and the panel says they are being updated and for
//! which time they are (see [`TableStatus`]).
//!
//! A read runs to the end once started when only the time moved (a scrub): restarting it on
//! every frame of a scrub would never finish, while finishing and then reading again at the
//! newest cursor follows the scrub a read behind. Such a read copies the rows whose values
//! cannot have changed since the previous one ([`Builder::since`]), so it costs what changed. A change of group, store, columns or filter
//! fields makes the read in hand useless and starts a new one.
//!
//! While live, a large fleet's data changes on every batch; its rows are then read again at
//! most once per [`LIVE_REFRESH`].

mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::twin::Store;
use crate::twin::filter::Expr;
use crate::twin::fleet_table::{self, Builder, Table, TimeToLimit};
use crate::twin::hierarchy::{Node, Tree};
use crate::twin::store::{AlarmView, AssetIdx};
use crate::ui::fleet_table::{FleetTableState, TableStatus};

use super::TwinApp;
use super::stores::StoreId;
use worker::{OrderDone, OrderJob, OrderKey, OrderWorker};

/// Tables with more rows than this are read again at most once per [`LIVE_REFRESH`] while
/// only live data changes.
const LIVE_THROTTLE_ROWS: usize = 2_000;
/// How often a large live table follows the data.
const LIVE_REFRESH: Duration = Duration::from_secs(1);
/// UI-thread time per frame for reading rows: with a steady 100k-row frame at 5–12 ms, this
/// keeps a frame that reads within 16 ms.
const BUILD_BUDGET: Duration = Duration::from_millis(4);
/// Assets read between looks at the clock.
const BUILD_SLICE: usize = 256;
/// Tables up to this many rows are ordered on the UI thread, in well under a millisecond, so
/// a small group's table is never a frame behind its sort or filter.
const SYNC_ORDER_ROWS: usize = 5_000;

/// How the work is spread; the defaults are the product's, tests shrink them to make a small
/// table behave as a 100k one does.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// Larger tables are ordered on the worker thread.
    sync_order_rows: usize,
    /// At most this many assets are read per frame (besides the time budget).
    rows_per_frame: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            sync_order_rows: SYNC_ORDER_ROWS,
            rows_per_frame: usize::MAX,
        }
    }
}

/// What the rows were read from.
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
    /// The same rows apart from newer data (or predictions).
    fn same_but_data(&self, other: &RowsKey) -> bool {
        self.at == other.at && self.same_but_time(other)
    }

    /// The same rows apart from the time and newer data: a read in hand for this key is
    /// still worth finishing.
    fn same_but_time(&self, other: &RowsKey) -> bool {
        self.store == other.store
            && self.group == other.group
            && self.columns == other.columns
            && self.filter_fields == other.filter_fields
    }
}

/// Rows read completely, numbered so an order can name the rows it is for.
#[derive(Debug)]
struct Built {
    key: RowsKey,
    version: u64,
    table: Arc<Table>,
    /// The group's assets they were read for.
    assets: Arc<[AssetIdx]>,
    /// When their read started (the live throttle counts from there).
    started: Instant,
}

/// The rows drawn and their order, made for each other.
#[derive(Debug)]
struct Shown {
    rows: RowsKey,
    table: Arc<Table>,
    order: Vec<u32>,
    order_key: OrderKey,
}

/// A read in progress.
#[derive(Debug)]
struct Reading {
    key: RowsKey,
    builder: Builder,
    assets: Arc<[AssetIdx]>,
    started: Instant,
}

/// The assets of a group node, kept while the tree's nodes, the store and its data are the
/// same (walking a 100k-node group costs milliseconds, and a scrub keeps the tree's nodes).
#[derive(Debug)]
struct GroupAssets {
    nodes: Arc<Vec<Node>>,
    node: u32,
    store: StoreId,
    data_gen: u64,
    assets: Arc<[AssetIdx]>,
}

/// The table shown for the selected group, and how it was made.
#[derive(Debug, Default)]
pub struct FleetTableView {
    /// The group shown, while one is selected.
    group: Option<String>,
    shown: Option<Shown>,
    /// The newest rows read (also `shown`'s once their order is in).
    latest: Option<Built>,
    reading: Option<Reading>,
    /// Counts completed reads, so an order knows which rows it is for.
    version: u64,
    /// The order last handed to the worker (queued or sent).
    asked: Option<OrderKey>,
    /// A job the worker's slot had no room for yet.
    queued: Option<OrderJob>,
    worker: Option<OrderWorker>,
    /// The worker could not be started: order on the UI thread instead.
    no_worker: bool,
    assets: Option<GroupAssets>,
    tuning: Tuning,
    /// Drawn while nothing has been read for the group yet.
    empty: Table,
}

impl FleetTableView {
    /// The group shown, its rows and their order; `None` when no group is selected. The rows
    /// may be older than the inputs (see [`TableStatus`]); they are empty until the group's
    /// first read completes.
    #[must_use]
    pub fn shown(&self) -> Option<(&str, &Table, &[u32])> {
        let group = self.group.as_deref()?;
        Some(match &self.shown {
            Some(s) => (group, &*s.table, &s.order),
            None => (group, &self.empty, &[]),
        })
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
    /// The times to limit, copied out only when a read starts.
    pub ttl: &'a dyn Fn() -> Vec<TimeToLimit>,
    /// Woken when the worker has an order ready.
    pub repaint: &'a egui::Context,
}

impl FleetTableView {
    /// Brings the table up to date for the selected group (clears it when an asset or nothing
    /// is selected), within this frame's budget, and tells `state` how current it is.
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
                // Also stops the worker: nothing is left for it to do.
                self.reset();
            }
            state.status = TableStatus::default();
            return;
        };
        if self.group.as_deref() != Some(group) {
            // Another group's rows must not be drawn under this group's name.
            // The version keeps counting, so an order the worker still has for the old
            // group's rows can never pass for one of the new group's.
            *self = Self {
                tuning: self.tuning,
                worker: self.worker.take(),
                no_worker: self.no_worker,
                version: self.version,
                group: Some(group.to_owned()),
                ..Self::default()
            };
        }
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
        self.read(inp, tree, node, &key);
        // Rows read for other columns or filter fields keep their old order until the read
        // for these is in: the new filter cannot be evaluated on them.
        let order_key = self
            .latest
            .as_ref()
            .filter(|b| b.key.same_but_time(&key))
            .map(|b| OrderKey {
                rows: b.version,
                sort: state.sort.clone(),
                filter: filter.clone(),
            });
        if let Some(k) = order_key {
            self.order(k, &key, inp.repaint);
        }
        state.status = self.status(&key, state, filter.as_ref());
        if self.reading.is_some() || self.queued.is_some() {
            // The read goes on a slice per frame, and a full slot is retried next frame:
            // both need frames even while the operator does nothing.
            inp.repaint.request_repaint();
        }
    }

    /// Forgets every table read and stops the worker, keeping only how work is spread: for
    /// no group selected, and for a new connection, whose groups may share a path with the
    /// old cluster's but never its rows.
    pub(super) fn reset(&mut self) {
        *self = Self {
            tuning: self.tuning,
            ..Self::default()
        };
    }

    /// Starts a read when the rows are out of date and continues the one in hand, within the
    /// frame's budget.
    fn read(&mut self, inp: &Inputs<'_>, tree: &Tree, node: u32, key: &RowsKey) {
        if self
            .reading
            .as_ref()
            .is_some_and(|r| !r.key.same_but_time(key))
        {
            self.reading = None;
        }
        if self.reading.is_none() && self.latest.as_ref().is_none_or(|b| b.key != *key) {
            // Only newer live data for a large table: follow it once a second.
            let throttled = self.latest.as_ref().is_some_and(|b| {
                inp.live
                    && b.key.same_but_data(key)
                    && b.table.rows.len() > LIVE_THROTTLE_ROWS
                    && b.started.elapsed() < LIVE_REFRESH
            });
            if !throttled {
                let assets = self.group_assets(inp, tree, node);
                let extra: Vec<&str> = key.filter_fields.iter().map(String::as_str).collect();
                let mut builder = Builder::new(
                    inp.store,
                    Arc::clone(&assets),
                    inp.at,
                    key.columns.as_deref(),
                    &extra,
                    inp.alarms,
                    &(inp.ttl)(),
                );
                // Only the time moved (a scrub): read only the rows that changed.
                if let Some(b) = &self.latest
                    && b.key.same_but_time(key)
                    && b.key.data_gen == key.data_gen
                    && Arc::ptr_eq(&b.assets, &assets)
                {
                    builder = builder.since(inp.store, Arc::clone(&b.table));
                }
                self.reading = Some(Reading {
                    key: key.clone(),
                    builder,
                    assets,
                    started: Instant::now(),
                });
            }
        }
        let Some(r) = &mut self.reading else {
            return;
        };
        let start = Instant::now();
        let max = self.tuning.rows_per_frame.max(1);
        let mut read = 0usize;
        let done = loop {
            let n = BUILD_SLICE.min(max - read);
            if r.builder.step(inp.store, n) {
                break true;
            }
            read += n;
            if read >= max || start.elapsed() >= BUILD_BUDGET {
                break false;
            }
        };
        if done && let Some(r) = self.reading.take() {
            self.version += 1;
            let old = self.latest.replace(Built {
                key: r.key,
                version: self.version,
                table: Arc::new(r.builder.finish()),
                assets: r.assets,
                started: r.started,
            });
            if let Some(old) = old {
                self.retire(old.table);
            }
        }
    }

    /// Lets go of a table on the worker where there is one: the last reference to 100k rows
    /// frees them all, and that took 2-5 ms of a frame on each new read while scrubbing or live
    /// (perf, `benches/fleet_table.rs`). Small tables, and any while no worker runs, go here.
    fn retire(&self, table: Arc<Table>) {
        if let Some(w) = &self.worker
            && table.rows.len() > self.tuning.sync_order_rows
        {
            w.retire(table);
        }
    }

    /// The group's assets, walked again only when the tree, the store or its data changed.
    fn group_assets(&mut self, inp: &Inputs<'_>, tree: &Tree, node: u32) -> Arc<[AssetIdx]> {
        if let Some(g) = &self.assets
            && Arc::ptr_eq(&g.nodes, &tree.nodes)
            && g.node == node
            && g.store == inp.id
            && g.data_gen == inp.store.data_gen()
        {
            return Arc::clone(&g.assets);
        }
        let assets: Arc<[AssetIdx]> = group_assets(inp.store, tree, node).into();
        self.assets = Some(GroupAssets {
            nodes: Arc::clone(&tree.nodes),
            node,
            store: inp.id,
            data_gen: inp.store.data_gen(),
            assets: Arc::clone(&assets),
        });
        assets
    }

    /// Makes `shown` the newest rows in order `want`: at once for a small table, else through
    /// the worker. Until the answer for exactly `want` is in, the previous rows and order stay,
    /// or an answer for rows read since then in the order wanted (see [`OrderDone`]).
    fn order(&mut self, want: OrderKey, current: &RowsKey, repaint: &egui::Context) {
        while let Some(done) = self.worker.as_ref().and_then(OrderWorker::try_recv) {
            // Answered: asking for the same order again (the operator went back to it) must
            // send a new job, as this answer may be dropped below.
            if self.asked.as_ref() == Some(&done.key) {
                self.asked = None;
            }
            self.take_order(done, &want, current);
        }
        if self.shown.as_ref().is_some_and(|s| s.order_key == want) {
            return;
        }
        let Some(latest) = &self.latest else {
            return;
        };
        if latest.table.rows.len() <= self.tuning.sync_order_rows || self.no_worker {
            let order = fleet_table::order(&latest.table, want.filter.as_ref(), want.sort.as_ref());
            let done = OrderDone {
                key: want.clone(),
                order,
                table: Arc::clone(&latest.table),
                rows: latest.key.clone(),
            };
            self.take_order(done, &want, current);
            return;
        }
        if self.worker.is_none() {
            let ctx = repaint.clone();
            match OrderWorker::spawn(Arc::new(move || ctx.request_repaint())) {
                Ok(w) => self.worker = Some(w),
                Err(e) => {
                    tracing::warn!("fleet table: no order thread ({e}); ordering on the UI thread");
                    self.no_worker = true;
                    return self.order(want, current, repaint);
                }
            }
        }
        if self.asked.as_ref() != Some(&want) {
            // A job still waiting for the slot is for older inputs: replaced.
            self.queued = Some(OrderJob {
                key: want.clone(),
                table: Arc::clone(&latest.table),
                rows: latest.key.clone(),
            });
            self.asked = Some(want);
        }
        if let (Some(job), Some(w)) = (self.queued.take(), &self.worker)
            && let Err(job) = w.try_submit(job)
        {
            self.queued = Some(*job);
        }
    }

    /// Shows an answer when it is in the sort and filter wanted now, for rows of the group,
    /// columns and filter fields asked now, unless what is shown is already in that order
    /// and as new. Its rows may be older than the newest read (a live table moves on while
    /// the thread works); the status then says what they are.
    fn take_order(&mut self, done: OrderDone, want: &OrderKey, current: &RowsKey) {
        let in_order = |k: &OrderKey| k.sort == want.sort && k.filter == want.filter;
        if !in_order(&done.key)
            || !done.rows.same_but_time(current)
            || self
                .shown
                .as_ref()
                .is_some_and(|s| in_order(&s.order_key) && s.order_key.rows >= done.key.rows)
        {
            return;
        }
        let old = self.shown.replace(Shown {
            rows: done.rows,
            table: done.table,
            order: done.order,
            order_key: done.key,
        });
        if let Some(old) = old {
            self.retire(old.table);
        }
    }

    /// How the drawn table relates to what is asked: out of date while its time, group,
    /// columns, filter or sort differ from the inputs (newer data alone is not "updating": a
    /// live table follows it once a second, as it always has).
    fn status(&self, key: &RowsKey, state: &FleetTableState, filter: Option<&Expr>) -> TableStatus {
        let progress = self.reading.as_ref().map(|r| {
            let (done, all) = r.builder.progress();
            if all == 0 {
                1.0
            } else {
                done as f32 / all as f32
            }
        });
        let Some(s) = &self.shown else {
            return TableStatus {
                updating: true,
                loading: true,
                progress,
            };
        };
        let current = s.rows.same_but_data(key)
            && s.order_key.sort == state.sort
            && s.order_key.filter.as_ref() == filter;
        TableStatus {
            updating: !current,
            loading: false,
            progress,
        }
    }

    /// The rows shown as CSV (see [`fleet_table::csv`]); `None` when no group is shown.
    #[must_use]
    pub fn csv(
        &self,
        units: &std::collections::HashMap<String, String>,
        reference: i64,
    ) -> Option<String> {
        let (_, table, order) = self.shown()?;
        Some(fleet_table::csv(table, order, units, reference))
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

    /// Brings the fleet table of the selected group up to date, as of this frame's clock, as
    /// far as this frame's budget goes. `alarms` are the store's alarms at the query time.
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
            repaint: &self.waker_ctx,
        };
        view.refresh(&inputs, state);
        self.fleet_table = view;
    }

    /// The fleet table shown (for tests): the group, its rows and their order.
    #[must_use]
    pub fn fleet_table(&self) -> Option<(&str, &Table, &[u32])> {
        self.fleet_table.shown()
    }

    /// How current the fleet table shown is (for tests and benchmarks).
    #[must_use]
    pub fn fleet_table_status(&self) -> TableStatus {
        self.panels.fleet.status
    }

    /// **For benchmarks only** (`benches/fleet_table.rs` changes the sort, filter and columns
    /// between frames without pointer events); the product changes them through the panel.
    #[cfg(feature = "testkit")]
    pub fn fleet_table_state(&mut self) -> &mut FleetTableState {
        &mut self.panels.fleet
    }

    /// **For tests only**: makes a small table behave as a 100k-row one does, read at most
    /// `rows_per_frame` assets a frame and ordered on the worker thread, so the UI tests see
    /// the asynchronous table.
    #[cfg(feature = "testkit")]
    pub fn fleet_table_async(&mut self, rows_per_frame: usize) {
        self.fleet_table.tuning = Tuning {
            sync_order_rows: 0,
            rows_per_frame,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::stores::StoreKind;
    use crate::twin::fleet_table::{Column, SortBy};
    use std::time::Duration;

    fn rows(data_gen: u64) -> RowsKey {
        RowsKey {
            store: StoreId {
                kind: StoreKind::Live,
                n: 1,
            },
            data_gen,
            at: i64::MAX,
            group: "fleet".into(),
            columns: None,
            filter_fields: Vec::new(),
            ttl: None,
        }
    }

    fn sort(descending: bool) -> Option<SortBy> {
        Some(SortBy {
            column: Column::Prop("speed".into()),
            descending,
        })
    }

    fn answer(version: u64, descending: bool) -> OrderDone {
        OrderDone {
            key: OrderKey {
                rows: version,
                sort: sort(descending),
                filter: None,
            },
            order: vec![version as u32],
            table: Arc::new(Table::default()),
            rows: rows(version),
        }
    }

    fn want(version: u64, descending: bool) -> OrderKey {
        answer(version, descending).key
    }

    /// Calls `order(want)` until the shown order is `want` (panics after 10 s).
    fn order_until_shown(view: &mut FleetTableView, want: &OrderKey, ctx: &egui::Context) {
        let start = Instant::now();
        while view.shown.as_ref().is_none_or(|s| s.order_key != *want) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the order {want:?} was never shown"
            );
            view.order(want.clone(), &rows(1), ctx);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The operator flips the sort and back before the thread answers: the answer for the
    /// flip arrives while the old order is wanted again and is dropped. Flipping once more
    /// must ask again, not wait for that dropped answer for ever.
    #[test]
    fn an_order_asked_again_after_its_answer_was_dropped_is_computed_again() {
        let ctx = egui::Context::default();
        let mut view = FleetTableView {
            tuning: Tuning {
                sync_order_rows: 0,
                rows_per_frame: usize::MAX,
            },
            latest: Some(Built {
                key: rows(1),
                version: 1,
                // Rows, so the order is the thread's (an empty table is ordered at once).
                table: Arc::new(Table {
                    fields: vec![Arc::from("speed")],
                    shown: vec![Arc::from("speed")],
                    rows: (0..3)
                        .map(|i| {
                            let v = Some(crate::twin::Value::Num(f64::from(i)));
                            crate::twin::fleet_table::Row::by_hand(
                                i,
                                &format!("car-{i}"),
                                vec![v],
                                Vec::new(),
                            )
                        })
                        .collect(),
                    ..Table::default()
                }),
                assets: Arc::from(Vec::new()),
                started: Instant::now(),
            }),
            ..FleetTableView::default()
        };
        let (up, down) = (want(1, false), want(1, true));
        order_until_shown(&mut view, &up, &ctx);
        // Down is asked for once; then up is wanted again (already shown) while the thread
        // answers down, which is received and dropped.
        view.order(down.clone(), &rows(1), &ctx);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            view.order(up.clone(), &rows(1), &ctx);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(view.shown.as_ref().map(|s| &s.order_key), Some(&up));
        order_until_shown(&mut view, &down, &ctx);
    }

    fn shown_version(view: &FleetTableView) -> Option<u64> {
        view.shown.as_ref().map(|s| s.order_key.rows)
    }

    /// A live table is read again every second; when the order thread answers slower than
    /// that, each answer is for rows newer ones have replaced. Dropping those kept the table
    /// "updating…" for ever, so they are shown, in order, as long as they move forward.
    #[test]
    fn an_answer_for_replaced_rows_in_the_order_wanted_is_shown() {
        let mut view = FleetTableView::default();
        let now = rows(3);
        view.take_order(answer(1, true), &want(3, true), &now);
        assert_eq!(shown_version(&view), Some(1));
        view.take_order(answer(2, true), &want(3, true), &now);
        assert_eq!(shown_version(&view), Some(2));
        // Older than what is shown, in the same order: not shown.
        view.take_order(answer(1, true), &want(3, true), &now);
        assert_eq!(shown_version(&view), Some(2));
        // Another sort than the one wanted: not shown.
        view.take_order(answer(3, false), &want(3, true), &now);
        assert_eq!(shown_version(&view), Some(2));
        // The sort flipped: an answer in the new sort replaces the old one, even for the
        // same rows.
        view.take_order(answer(2, false), &want(3, false), &now);
        assert_eq!(shown_version(&view), Some(2));
        assert_eq!(
            view.shown.as_ref().and_then(|s| s.order_key.sort.clone()),
            sort(false)
        );
        // Rows of another group are never shown under this one.
        let mut other = answer(4, false);
        other.rows.group = "depot".into();
        view.take_order(other, &want(4, false), &now);
        assert_eq!(shown_version(&view), Some(2));
    }
}

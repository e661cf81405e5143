//! The "fleet-order" thread: filters and sorts a built fleet table off the UI thread, so a
//! new sort or filter on 100k rows never costs a frame. The UI sends the rows (shared, not
//! copied) with the sort and filter over a one-slot channel and keeps drawing the previous
//! order until the result for exactly these inputs comes back; it never waits on the thread.
//!
//! The thread keeps the sort keys of the table it last saw, so flipping the direction or
//! changing the filter does not pay again for ranking strings.

use std::sync::Arc;

use crate::job_thread::JobThread;

use crate::twin::filter::Expr;
use crate::twin::fleet_table::{self, Column, SortBy, SortKeys, Table};

use super::RowsKey;

/// What an order is computed from: the rows (by build version), the sort and the filter.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OrderKey {
    pub rows: u64,
    pub sort: Option<SortBy>,
    pub filter: Option<Expr>,
}

/// Rows to order, and how.
#[derive(Debug)]
pub(super) struct OrderJob {
    pub key: OrderKey,
    pub table: Arc<Table>,
    /// What the rows were read from, handed back with the answer.
    pub rows: RowsKey,
}

/// An order, with the rows and inputs it was computed for. The rows come back with it, so
/// an answer for rows that newer ones have since replaced can still be shown whole: on a
/// live fleet the rows are read again every second, and an answer only for the newest rows
/// would never arrive while the thread is slower than that.
#[derive(Debug)]
pub(super) struct OrderDone {
    pub key: OrderKey,
    pub order: Vec<u32>,
    pub table: Arc<Table>,
    pub rows: RowsKey,
}

/// Sort keys of one table, per column sorted by so far.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    table: Option<Arc<Table>>,
    keys: Vec<(Column, SortKeys)>,
}

/// Orders a job's rows, reusing `cache`'s keys when the job is for the same table (what the
/// thread does; public to the module so tests can run it without the thread).
pub(super) fn run(cache: &mut KeyCache, job: &OrderJob) -> Vec<u32> {
    if !cache
        .table
        .as_ref()
        .is_some_and(|t| Arc::ptr_eq(t, &job.table))
    {
        cache.table = Some(Arc::clone(&job.table));
        cache.keys.clear();
    }
    let sort = job.key.sort.as_ref().map(|s| {
        let i = match cache.keys.iter().position(|(c, _)| *c == s.column) {
            Some(i) => i,
            None => {
                let keys = fleet_table::sort_keys(&job.table, &s.column);
                cache.keys.push((s.column.clone(), keys));
                cache.keys.len() - 1
            }
        };
        (s, i)
    });
    fleet_table::order_with(
        &job.table,
        job.key.filter.as_ref(),
        sort.map(|(s, i)| (s, &cache.keys[i].1)),
    )
}

/// Handle to the "fleet-order" thread. Dropping it stops the thread without waiting for it:
/// it finishes the job in hand (it owns everything it reads) and ends.
#[derive(Debug)]
pub(super) struct OrderWorker(JobThread<OrderJob, OrderDone>);

impl OrderWorker {
    /// Starts the thread; `waker` is called after each result (the UI requests a repaint).
    ///
    /// # Errors
    /// When the OS cannot start a thread.
    pub(super) fn spawn(waker: Arc<dyn Fn() + Send + Sync>) -> std::io::Result<Self> {
        // One slot each way: only the newest inputs matter, and a full slot means the UI
        // holds its job and offers it again next frame (replaced if the inputs moved on).
        let mut cache = KeyCache::default();
        let thread = JobThread::spawn("fleet-order", (1, 1), waker, move |job: OrderJob| {
            OrderDone {
                order: run(&mut cache, &job),
                key: job.key,
                table: job.table,
                rows: job.rows,
            }
        })?;
        Ok(Self(thread))
    }

    /// Queues a job; gives it back when the slot is taken (try again next frame).
    ///
    /// # Errors
    /// The job itself, when it could not be queued.
    pub(super) fn try_submit(&self, job: OrderJob) -> Result<(), Box<OrderJob>> {
        self.0.try_submit(job)
    }

    /// Frees a table the UI let go of on this thread: freeing 100k rows took milliseconds of
    /// a frame.
    pub(super) fn retire(&self, table: Arc<Table>) {
        self.0.retire(table);
    }

    /// A finished order, if one is waiting.
    #[must_use]
    pub(super) fn try_recv(&self) -> Option<OrderDone> {
        self.0.try_recv()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::twin::Value;
    use crate::twin::fleet_table::Row;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    fn table(speeds: &[f64]) -> Arc<Table> {
        Arc::new(Table {
            fields: vec![Arc::from("speed")],
            shown: vec![Arc::from("speed")],
            rows: speeds
                .iter()
                .enumerate()
                .map(|(i, v)| Row {
                    asset: i as u32,
                    id: Arc::from(format!("car-{i}")),
                    cells: Arc::new([Some(Value::Num(*v))]),
                    attrs: Arc::new([]),
                    newest: None,
                    alarm: None,
                    ttl: None,
                    valid: 0..1,
                    defs: false,
                })
                .collect(),
            ..Table::default()
        })
    }

    fn rows_key() -> RowsKey {
        RowsKey {
            store: crate::app::stores::StoreId {
                kind: crate::app::stores::StoreKind::Live,
                n: 1,
            },
            data_gen: 1,
            at: 0,
            group: "fleet".into(),
            columns: None,
            filter_fields: Vec::new(),
            ttl: None,
        }
    }

    fn key(rows: u64, descending: bool, filter: &str) -> OrderKey {
        OrderKey {
            rows,
            sort: Some(SortBy {
                column: Column::Prop("speed".into()),
                descending,
            }),
            filter: Expr::parse(filter).unwrap(),
        }
    }

    #[test]
    fn orders_with_kept_keys_as_without() {
        let t = table(&[3.0, 1.0, 2.0, 5.0]);
        let mut cache = KeyCache::default();
        let up = OrderJob {
            key: key(1, false, ""),
            table: Arc::clone(&t),
            rows: rows_key(),
        };
        assert_eq!(run(&mut cache, &up), [1, 2, 0, 3]);
        assert_eq!(cache.keys.len(), 1);
        let down = OrderJob {
            key: key(1, true, "speed > 1"),
            table: Arc::clone(&t),
            rows: rows_key(),
        };
        assert_eq!(run(&mut cache, &down), [3, 0, 2]);
        assert_eq!(cache.keys.len(), 1, "the same column's keys are reused");
        // Another table (even with equal contents) gets keys of its own.
        let other = OrderJob {
            key: key(2, false, ""),
            table: table(&[9.0, 8.0]),
            rows: rows_key(),
        };
        assert_eq!(run(&mut cache, &other), [1, 0]);
        assert!(Arc::ptr_eq(cache.table.as_ref().unwrap(), &other.table));
    }

    #[test]
    fn the_thread_answers_with_its_inputs_wakes_the_ui_and_drops_retired_tables() {
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = Arc::clone(&woken);
        let worker = OrderWorker::spawn(Arc::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }))
        .unwrap();
        let k = key(7, true, "");
        let old = table(&[4.0, 5.0]);
        let gone = Arc::downgrade(&old);
        worker.retire(old);
        worker
            .try_submit(OrderJob {
                key: k.clone(),
                table: table(&[1.0, 3.0, 2.0]),
                rows: rows_key(),
            })
            .unwrap();
        let start = Instant::now();
        let done = loop {
            if let Some(d) = worker.try_recv() {
                break d;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no answer");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(done.key, k);
        assert_eq!(done.order, [1, 2, 0]);
        assert_eq!(woken.load(Ordering::Relaxed), 1);
        // The thread held the last reference to the retired table, and let go of it.
        while gone.upgrade().is_some() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the retired table is still held"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Dropping returns at once and the thread ends.
        drop(worker);
    }
}

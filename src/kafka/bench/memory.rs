//! The memory benchmark: bytes of process RSS per stored numeric sample, with the records
//! decoded in-process (no Kafka), so that only the store grows.

use std::time::Instant;

use super::{BenchOptions, rss};
use crate::testkit::{BATCH, T0, Workload};
use crate::twin::Store;

/// Bytes of history per numeric sample: `samples` numbers decoded and applied in ingest-sized
/// batches (generated per batch, so only the store grows), against the process's RSS.
pub(super) fn memory(opts: &BenchOptions) {
    let w = Workload {
        records: opts.samples / 4,
        assets: opts.assets,
        start: T0,
        span_ms: 3_600_000,
        state: false,
    };
    let before = rss();
    let mut store = Store::new("/", 0);
    let mut offsets = vec![0i64; opts.partitions.max(1) as usize];
    let started = Instant::now();
    for s in (0..w.records).step_by(BATCH) {
        let recs = w.decode_range(s..(s + BATCH).min(w.records), &mut offsets);
        store.apply_batch(recs, Vec::new());
    }
    let elapsed = started.elapsed();
    let after = rss();
    let samples = store.stats().samples.max(1);
    println!(
        "\n== memory: {samples} numeric samples ({} records x 4, {} assets), decoded and applied in {:.1} s",
        w.records,
        w.assets,
        elapsed.as_secs_f64()
    );
    match (before, after) {
        (Some((rss0, _)), Some((rss1, hwm1))) => {
            println!(
                "  peak RSS growth / sample    = {:.1} B  (goal <= 8 B)",
                hwm1.saturating_sub(rss0) as f64 / samples as f64
            );
            println!(
                "  RSS growth / sample         = {:.1} B",
                rss1.saturating_sub(rss0) as f64 / samples as f64
            );
        }
        _ => println!("  /proc/self/status not readable: RSS not measured"),
    }
    println!(
        "  store.history_bytes / sample = {:.1} B (the budget's estimate)",
        store.history_bytes() as f64 / samples as f64
    );
    std::hint::black_box(&store);
}

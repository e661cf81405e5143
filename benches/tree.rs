//! Tree benchmark (issue #14): the asset tree rebuilt while scrubbing a 100k-car fleet whose
//! cars appear over time, so that the tree's shape differs at every time scrubbed and the
//! app's tree cache cannot reuse it.
//!
//! 100k cars `fleet/region-NN/car-NNNNNN` over 100 regions, each first seen at a different
//! time across 10 minutes (in an order unrelated to their ids), 2 properties each. The scrub
//! goes forwards then backwards through 60 times, timing the app's own per-frame tree cache
//! ([`TreeView::refresh`]); percentiles are printed, and criterion times one refresh at a
//! changed shape. Under `cargo test` (no `--bench`) sizes are tiny and nothing depends on
//! timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use twinscope::app::{StoreId, StoreKind, TreeView};
use twinscope::config::Config;
use twinscope::testkit::records::{num, telemetry};
use twinscope::testkit::{LogOffsets, Pcts, T0, frame};
use twinscope::twin::hierarchy::Tree;
use twinscope::twin::{Role, Store};

/// The store the scrub reads, named as the app names its live store.
const STORE: StoreId = StoreId {
    kind: StoreKind::Live,
    n: 0,
};

const SPAN_MS: i64 = 600_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `cars` cars over `regions` regions; car `k` is first seen at its own time, spread over
/// [`SPAN_MS`] by a permutation of `k` (7919 is prime, so coprime with any fleet size made of
/// 2s and 5s), so that the assets' order in the store says nothing about when they appear.
fn build_store(cars: usize, regions: usize) -> Store {
    let mut store = Store::new("/", Config::default().history.budget_mb);
    let mut log = LogOffsets::new(8);
    let step = SPAN_MS / cars as i64;
    for k in 0..cars {
        let id = format!("fleet/region-{:02}/car-{k:06}", k % regions);
        let ts = T0 + ((k * 7919) % cars) as i64 * step;
        let o = log.next(Role::Telemetry, k, ts);
        store.apply(telemetry(
            o,
            &id,
            ts,
            vec![num("speed", k as f64), num("soc", 0.5)],
        ));
    }
    store
}

fn scrub(c: &mut Criterion) {
    let (cars, regions, times): (usize, usize, usize) = if frame::full() {
        (100_000, 100, 60)
    } else {
        (1_000, 10, 6)
    };
    let t = Instant::now();
    let store = build_store(cars, regions);
    println!(
        "\ntree scrub: {cars} cars over {regions} regions, first seen across {} s: \
         built in {:.1} s",
        SPAN_MS / 1000,
        t.elapsed().as_secs_f64()
    );
    // Distinct times, each with more cars than the last: every one is a new shape.
    let forwards: Vec<i64> = (0..times as i64)
        .map(|j| T0 + SPAN_MS * (2 * j + 1) / (2 * times as i64))
        .collect();
    let scrub: Vec<i64> = forwards
        .iter()
        .copied()
        .chain(forwards.iter().rev().skip(1).copied())
        .collect();

    let mut view = TreeView::default();
    let s = Instant::now();
    // The store does not change here, so no refresh is ever left waiting.
    assert!(view.refresh(STORE, &store, T0 + SPAN_MS).is_none());
    let first = ms(s.elapsed());
    let all = view.tree().map_or(0, Tree::len);
    assert_eq!(all, cars + regions + 1, "every car, region and the fleet");
    let mut took = Vec::new();
    for &t in &scrub {
        let s = Instant::now();
        assert!(view.refresh(STORE, &store, t).is_none());
        took.push(ms(s.elapsed()));
        black_box(view.tree().map_or(0, Tree::len));
    }
    let mut cold = Vec::new();
    for &t in forwards.iter().step_by(6) {
        let s = Instant::now();
        black_box(Tree::build(&store, t).len());
        cold.push(ms(s.elapsed()));
    }
    println!("  first refresh (all {all} nodes):  {first:.3} ms");
    println!(
        "  TreeView::refresh, new shape each time: {}  (goal p99 <= 50 ms)",
        Pcts::of(took)
    );
    println!(
        "  Tree::build from scratch:               {}",
        Pcts::of(cold)
    );

    let mut g = c.benchmark_group("tree");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let (a, b) = (forwards[times / 3], forwards[2 * times / 3]);
    let mut flip = false;
    g.bench_function(format!("refresh_new_shape_{cars}"), |bench| {
        bench.iter(|| {
            flip = !flip;
            assert!(
                view.refresh(STORE, &store, if flip { a } else { b })
                    .is_none()
            );
            black_box(view.tree().map_or(0, Tree::len))
        });
    });
    g.finish();
}

criterion_group!(benches, scrub);
criterion_main!(benches);

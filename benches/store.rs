//! Store benchmarks: decoded batches applied to the store on one core, and the
//! state at a random T as the UI reads it when scrubbing (10k and 100k assets × 10
//! properties, 1 hour of history), and one series' history replayed behind its live value.
//!
//! Criterion times the operations; percentiles, which criterion does not give, are computed
//! over many random T and printed. `cargo bench --bench store` gives the figures; under
//! `cargo test` (no `--bench` argument) every size is tiny, so CI only checks that it runs and
//! never fails on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use twinscope::app::TreeView;
use twinscope::config::Config;
use twinscope::testkit::{Pcts, SyntheticFleet, T0, Workload, ui_scrub};
use twinscope::twin::series::Series;
use twinscope::twin::{Rec, Store, Value};

/// True under `cargo bench`; false in CI's smoke run under `cargo test`.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// False when a name filter was given (`cargo bench -- backfill`) and matches no benchmark
/// of the case `id`: criterion filters only its own timings, so without this a filtered run
/// would still spend minutes on the other cases' setup and printed figures. A substring test,
/// where criterion takes a regex: enough for the names used here.
fn wanted(id: &str) -> bool {
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    names.is_empty() || names.iter().any(|n| id.contains(n.as_str()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A store configured as the app configures it (default history budget).
fn app_store() -> Store {
    Store::new("/", Config::default().history.budget_mb)
}

fn apply_all(batches: Vec<Vec<Rec>>) -> Store {
    let mut s = app_store();
    for b in batches {
        s.apply_batch(b, Vec::new());
    }
    s
}

fn store_apply(c: &mut Criterion) {
    if !wanted("store/apply_batch") {
        return;
    }
    let full = full();
    let w = Workload {
        records: if full { 2_000_000 } else { 4_000 },
        assets: if full { 10_000 } else { 100 },
        start: T0,
        span_ms: 3_600_000,
        state: true,
    };
    let t = Instant::now();
    let batches = w.decoded_batches(64);
    let decode_s = t.elapsed().as_secs_f64();
    let samples: usize = batches
        .iter()
        .flatten()
        .map(|r| match &r.body {
            twinscope::twin::Decoded::Telemetry { props, .. } => props.len(),
            _ => 0,
        })
        .sum();
    let mut runs = Vec::new();
    for _ in 0..if full { 5 } else { 1 } {
        let input = batches.clone();
        let t = Instant::now();
        black_box(apply_all(input));
        runs.push(t.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    let med = runs[runs.len() / 2];
    println!(
        "store apply: {} records ({samples} samples, {} assets) in batches of 8192: \
         {:.0} records/s ({:.0} samples/s), median of {} runs  (goal >= 2M records/s)",
        w.records,
        w.assets,
        w.records as f64 / med,
        samples as f64 / med,
        runs.len()
    );
    println!(
        "decode (real decoder, same records, for reference): {:.0} records/s",
        w.records as f64 / decode_s
    );
    // Criterion on a quarter of the records, so its repeated runs stay short.
    let part: Vec<Vec<Rec>> = batches[..batches.len().div_ceil(4)].to_vec();
    let n: usize = part.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("store");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("apply_batch", |b| {
        b.iter_batched(|| part.clone(), apply_all, BatchSize::PerIteration);
    });
    g.finish();
}

/// Scrub percentiles over random T for a fleet, then a criterion timing of the UI path.
/// `times` random T for the UI path; the full-fleet snapshot (much slower) on the first `snaps`.
fn scrub_case(
    c: &mut Criterion,
    name: &str,
    fleet: SyntheticFleet,
    (times, snaps): (usize, usize),
    goal_ms: f64,
) {
    let t = Instant::now();
    let mut store = app_store();
    fleet.load(&mut store);
    println!(
        "\nscrub {name}: {} assets x 10 properties, one record per {} s over 1 h, {} alarms: \
         {} samples, built in {:.1} s",
        fleet.assets,
        fleet.period_ms / 1000,
        fleet.alarms,
        store.stats().samples,
        t.elapsed().as_secs_f64()
    );
    let selected = store
        .asset_by_id(&Workload::asset_id(fleet.assets / 2))
        .unwrap();
    let mut rng = fastrand::Rng::with_seed(1);
    let ts: Vec<i64> = (0..times)
        .map(|_| rng.i64(fleet.start..=fleet.end()))
        .collect();
    let (mut ui, mut cold, mut snap) = (Vec::new(), Vec::new(), Vec::new());
    // As the app does across frames: one tree cache for the whole scrub, in a loop of its own.
    let mut shapes = TreeView::default();
    for &t in &ts {
        let s = Instant::now();
        black_box(ui_scrub(&store, t, selected, Some(&mut shapes)));
        ui.push(ms(s.elapsed()));
    }
    for (i, &t) in ts.iter().enumerate() {
        let s = Instant::now();
        black_box(ui_scrub(&store, t, selected, None));
        cold.push(ms(s.elapsed()));
        if i < snaps {
            let s = Instant::now();
            black_box(store.snapshot(t));
            snap.push(ms(s.elapsed()));
        }
    }
    println!(
        "  UI path (the app's TreeView + alarms_at + props_at): {}  (goal p99 <= {goal_ms} ms)",
        Pcts::of(ui)
    );
    println!(
        "  same, tree rebuilt every time (Tree::build):        {}",
        Pcts::of(cold)
    );
    println!(
        "  full fleet (Store::snapshot):                 {}",
        Pcts::of(snap)
    );
    let mut g = c.benchmark_group("scrub");
    g.sample_size(10);
    g.bench_function(name, |b| {
        b.iter(|| {
            black_box(ui_scrub(
                &store,
                rng.i64(fleet.start..=fleet.end()),
                selected,
                Some(&mut shapes),
            ))
        });
    });
    g.finish();
}

fn scrub(c: &mut Criterion) {
    if !wanted("scrub/10k_assets") && !wanted("scrub/100k_assets") {
        return;
    }
    let full = full();
    let fleet = |assets: usize, period_s: i64| SyntheticFleet {
        assets,
        period_ms: period_s * 1000,
        start: T0,
        span_ms: 3_600_000,
        alarms: assets / 10,
    };
    if full {
        scrub_case(c, "10k_assets", fleet(10_000, 30), (1000, 100), 16.0);
        scrub_case(c, "100k_assets", fleet(100_000, 60), (100, 10), 50.0);
    } else {
        scrub_case(c, "10k_assets", fleet(200, 600), (10, 10), 16.0);
        scrub_case(c, "100k_assets", fleet(500, 1200), (10, 10), 50.0);
    }
}

/// `n` samples of regular decimal telemetry over the hour from [`T0`], without the last
/// 2 seconds, which hold the 2 live samples ([`live`]).
fn history(n: usize) -> Vec<(i64, u64, Value)> {
    (0..n)
        .map(|i| {
            let t = T0 + (i as i64) * 3_598_000 / n as i64;
            let v = f64::from(6_000 + (i as u32).wrapping_mul(7919) % 2_000) / 100.0;
            (t, 10 + i as u64, Value::Num(v))
        })
        .collect()
}

/// The asset's live samples at the end of the hour, received before its history.
fn live() -> [(i64, u64, Value); 2] {
    [
        (T0 + 3_599_000, 1, Value::Num(1.0)),
        (T0 + 3_600_000, 2, Value::Num(2.0)),
    ]
}

/// The history appended in order (the usual case), or loaded behind the live samples.
fn load(samples: &[(i64, u64, Value)], behind_live: bool) -> Series {
    let mut s = Series::default();
    if behind_live {
        for (t, seq, v) in live() {
            s.insert(t, seq, t, v);
        }
    }
    for (t, seq, v) in samples {
        s.insert(*t, *seq, *t, v.clone());
    }
    if !behind_live {
        for (t, seq, v) in live() {
            s.insert(t, seq, t, v);
        }
    }
    s
}

/// One series' hour of history (1M samples) replayed in order behind 2 live samples received
/// first: every sample lands before sealed data. Next to the same samples appended in order,
/// which it should about match in speed and bytes per sample.
fn backfill(c: &mut Criterion) {
    if !wanted("store/backfill_behind_live") && !wanted("store/append_in_order") {
        return;
    }
    let full = full();
    let n = if full { 1_000_000 } else { 3_000 };
    let samples = history(n);
    for (name, behind) in [("backfill behind live", true), ("append in order", false)] {
        let mut runs = Vec::new();
        let mut bytes = 0;
        for _ in 0..if full { 3 } else { 1 } {
            let t = Instant::now();
            let s = black_box(load(&samples, behind));
            runs.push(t.elapsed().as_secs_f64());
            bytes = s.bytes();
        }
        runs.sort_by(f64::total_cmp);
        let med = runs[runs.len() / 2];
        println!(
            "{name}: {n} samples of one series: {:.0} samples/s, {:.2} B/sample, \
             median of {} runs",
            n as f64 / med,
            bytes as f64 / (n + 2) as f64,
            runs.len()
        );
    }
    // Criterion on a tenth of the samples, so its repeated runs stay short.
    let part = &samples[..samples.len() / 10];
    let mut g = c.benchmark_group("store");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.throughput(Throughput::Elements(part.len() as u64));
    g.bench_function("backfill_behind_live", |b| b.iter(|| load(part, true)));
    g.bench_function("append_in_order", |b| b.iter(|| load(part, false)));
    g.finish();
}

/// A fleet that started together: `series` series, each appended one sample a round (each at
/// its own millisecond, from its own record), for `rounds` rounds. Returns the time of each
/// round, ms.
fn fleet_rounds(series: usize, rounds: usize) -> Vec<f64> {
    let mut fleet: Vec<Series> = (0..series).map(|_| Series::default()).collect();
    (0..rounds)
        .map(|r| {
            let t = Instant::now();
            for (i, s) in fleet.iter_mut().enumerate() {
                let ts = T0 + r as i64 * 1_000 + (i % 1_000) as i64;
                let v = f64::from(2_000 + ((r * 7 + i) % 100) as u32) / 100.0;
                s.insert(ts, (r * series + i) as u64, ts, Value::Num(v));
            }
            ms(t.elapsed())
        })
        .collect()
}

/// The work of a live fleet that started together, round by round: the worst round against
/// the mean. A round is one second of a fleet at 1 Hz; at 100k cars × 8 properties the work
/// is 80 times this bench's (10k series). Chunk merges and pyramid nodes that land on the same
/// round in every series show as worst rounds many times the mean.
fn synchronized_fleet(c: &mut Criterion) {
    if !wanted("store/synchronized_fleet") {
        return;
    }
    let full = full();
    let (series, rounds) = if full { (10_000, 2_000) } else { (100, 300) };
    let times = fleet_rounds(series, rounds);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let mut worst: Vec<(f64, usize)> = times.iter().copied().zip(1..).collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: Vec<String> = worst
        .iter()
        .take(3)
        .map(|(t, r)| format!("{t:.2} ms at sample {r}"))
        .collect();
    println!(
        "synchronized fleet: {series} series x {rounds} samples, appended a round at a time: \
         mean round {mean:.2} ms, worst {:.1}x the mean ({})",
        worst.first().map_or(0.0, |w| w.0) / mean,
        top.join(", ")
    );
    let mut g = c.benchmark_group("store");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.throughput(Throughput::Elements((series * 200) as u64));
    g.bench_function("synchronized_fleet", |b| {
        b.iter(|| fleet_rounds(series, 200));
    });
    g.finish();
}

criterion_group!(benches, store_apply, scrub, backfill, synchronized_fleet);
criterion_main!(benches);

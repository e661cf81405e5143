//! Frame benchmark: one full frame of the real [`TwinApp`] on the CPU, headless
//! (`egui::Context::run_ui` with the app's own `frame`, then tessellation), with a 10k-asset
//! tree, 8 plotted series of 1M samples an hour each, 1k alarms, at zoom levels from 1 h to
//! 10 s.
//!
//! The app is connected to an empty demo broker (a MockCluster with the twin topics and no
//! simulator, so its ingest thread runs as usual) and its store is loaded directly, because 8M
//! samples through Kafka would dominate the run. The plot follows live, so the zoom is the
//! configured plot window (`ui.plot_window_s`), and the data runs a few minutes past now so
//! that window is full at every zoom. Each zoom also reports the plot points computed without
//! the per-plot cache, which is what a zoom, a pan or a jump of the cursor costs.
//! Percentiles per zoom are printed; criterion times the 10 min zoom. Under `cargo test` (no
//! `--bench`) sizes are tiny and nothing depends on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use twinscope::app::{AppOptions, Persisted, TwinApp};
use twinscope::config::Config;
use twinscope::testkit::workload::load_dense_series;
use twinscope::testkit::{Pcts, SyntheticFleet, Workload, frame};
use twinscope::timeline::now_ms;
use twinscope::twin::Store;
use twinscope::ui::PlotKey;

struct Sizes {
    assets: usize,
    series: usize,
    samples: usize,
    alarms: usize,
    warmup: usize,
    frames: usize,
    zooms: &'static [u64],
}

const SPAN_MS: i64 = 3_600_000;
/// Pixel columns of the plot in the benchmark's 1600-point-wide window (about).
const COLUMNS: usize = 1_200;

/// How far past the start of the run the data goes: the live view's window (up to the hour
/// before now) must be full of samples at every zoom, however long the store takes to build.
const AHEAD_MS: i64 = 5 * 60_000;

/// The store: the fleet's tree and alarms, plus the plotted dense series (`samples` an hour)
/// from an hour before now to [`AHEAD_MS`] after it.
fn build_store(s: &Sizes) -> (Store, Vec<PlotKey>) {
    let end = now_ms() + AHEAD_MS;
    let mut store = Store::new("/", Config::default().history.budget_mb);
    SyntheticFleet {
        assets: s.assets,
        period_ms: SPAN_MS / 2,
        start: end - SPAN_MS - AHEAD_MS,
        span_ms: SPAN_MS + AHEAD_MS,
        alarms: s.alarms,
    }
    .load(&mut store);
    let mut keys = Vec::new();
    for k in 0..s.series {
        let asset = Workload::asset_id(k * s.assets / s.series.max(1) + 1);
        // Partitions beyond the fleet's, so offsets never collide with its records.
        load_dense_series(
            &mut store,
            &asset,
            "vibration",
            (
                s.samples * (SPAN_MS + AHEAD_MS) as usize / SPAN_MS as usize,
                SPAN_MS + AHEAD_MS,
                end,
            ),
            100 + k as i32,
        );
        keys.push(PlotKey {
            asset,
            prop: "vibration".into(),
        });
    }
    (store, keys)
}

/// An app reading the empty cluster, showing `store` with `keys` plotted over `zoom_s`.
fn app_for(
    ctx: &egui::Context,
    bootstrap: &str,
    zoom_s: u64,
    keys: &[PlotKey],
    store: &mut Store,
) -> TwinApp {
    let mut config = Config::default();
    config.ui.plot_window_s = zoom_s;
    let opts = AppOptions {
        config,
        brokers: Some(bootstrap.to_owned()),
        ..AppOptions::default()
    };
    let selected = keys.first().map(|k| k.asset.clone());
    let mut expanded = Vec::new();
    if let Some(id) = &selected {
        let parts: Vec<&str> = id.split('/').collect();
        for i in 1..parts.len() {
            expanded.push(parts[..i].join("/"));
        }
    }
    let persisted = Persisted {
        config_path: None,
        selected,
        plotted: keys.to_vec(),
        expanded,
        ..Persisted::default()
    };
    let mut app = TwinApp::new(ctx, opts, persisted);
    std::mem::swap(&mut *app.store_mut(), store);
    app
}

fn frames(c: &mut Criterion) {
    let s = if frame::full() {
        Sizes {
            assets: 10_000,
            series: 8,
            samples: 1_000_000,
            alarms: 1_000,
            warmup: 10,
            frames: 100,
            zooms: &[3600, 600, 60, 10],
        }
    } else {
        Sizes {
            assets: 100,
            series: 2,
            samples: 2_000,
            alarms: 10,
            warmup: 2,
            frames: 3,
            zooms: &[3600, 10],
        }
    };
    let cluster = frame::empty_cluster().unwrap();
    let bootstrap = cluster.bootstrap().to_owned();
    let t = Instant::now();
    let (mut store, keys) = build_store(&s);
    println!(
        "frame: {} assets, {} series x {} samples an hour, {} alarms, 1600x1000 points; store \
         built in {:.1} s",
        s.assets,
        s.series,
        s.samples,
        s.alarms,
        t.elapsed().as_secs_f64()
    );
    for &zoom in s.zooms {
        let ctx = egui::Context::default();
        let mut app = app_for(&ctx, &bootstrap, zoom, &keys, &mut store);
        let mut n = 0;
        frame::warm_up(&ctx, &mut app, &mut n, s.warmup);
        let (mut total, mut pass, mut tess) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..s.frames {
            let (p, t) = frame::run(&ctx, &mut app, n, Vec::new());
            n += 1;
            total.push((p + t).as_secs_f64() * 1000.0);
            pass.push(p.as_secs_f64() * 1000.0);
            tess.push(t.as_secs_f64() * 1000.0);
        }
        let (pass, tess) = (Pcts::of(pass), Pcts::of(tess));
        println!(
            "  zoom {zoom:>5} s: frame {}  (goal p95 <= 8 ms); UI pass p95 {:.3} ms, \
             tessellation p95 {:.3} ms",
            Pcts::of(total),
            pass.p95,
            tess.p95
        );
        // What the per-plot cache spares a frame that follows the head: a zoom, a jump or the
        // first frame recomputes every bucket of every plotted series.
        let shown = app.store();
        let cold: Vec<f64> = (0..s.frames.min(30))
            .map(|_| {
                let (to, t) = (now_ms(), Instant::now());
                for k in &keys {
                    let series = shown
                        .asset_by_id(&k.asset)
                        .zip(shown.prop_by_name(&k.prop))
                        .and_then(|(a, p)| shown.series(a, p));
                    if let Some(series) = series {
                        std::hint::black_box(series.plot_points(
                            to - zoom as i64 * 1000,
                            to,
                            COLUMNS,
                        ));
                    }
                }
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!(
            "  zoom {zoom:>5} s: uncached points of the {} plotted series (a zoom or a jump) {}",
            keys.len(),
            Pcts::of(cold)
        );
        drop(shown);
        if zoom == 600 || !frame::full() {
            c.bench_function(&format!("frame_zoom_{zoom}s"), |b| {
                b.iter(|| {
                    n += 1;
                    frame::run(&ctx, &mut app, n, Vec::new())
                });
            });
        }
        std::mem::swap(&mut *app.store_mut(), &mut store);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = frames
}
criterion_main!(benches);

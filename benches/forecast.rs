//! Cost of the predictive twin: forecasting a fleet of numeric properties at a cursor.
//!
//! 1,000 series of 3,600 irregular samples (one hour at ~1 Hz) each, forecast 10 minutes ahead
//! with a limit, using the default trailing window, as a fleet overview would on a cursor move.
//! Also the EWMA anomaly pass over one full series.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use twinscope::testkit::T0;
use twinscope::testkit::workload::NoisySeries;
use twinscope::twin::anomaly::{EwmaParams, ewma_anomalies};
use twinscope::twin::forecast::{ForecastParams, Threshold, predict};

const SERIES: usize = 1_000;
const SAMPLES: usize = 3_600;

/// Series around 50 with slopes from falling to rising, a 6-minute cycle and ±0.5 of noise.
fn fleet() -> Vec<(Vec<i64>, Vec<f64>)> {
    (0..SERIES)
        .map(|k| {
            let series = NoisySeries {
                n: SAMPLES,
                start: T0,
                base: 50.0,
                slope_per_s: (k as f64 - 500.0) * 1e-5,
                noise: 0.5,
                season: Some((1.0, 60.0 * std::f64::consts::TAU)),
            };
            series.generate(42 + k as u64)
        })
        .collect()
}
fn bench(c: &mut Criterion) {
    let fleet = fleet();
    let at = T0 + (SAMPLES as i64 - 1) * 1000;
    let params = ForecastParams::default();
    let limit = Some(Threshold::above(60.0));
    let mut g = c.benchmark_group("forecast");
    g.sample_size(10);
    g.bench_function("predict_one_series_3600", |b| {
        let (t, v) = &fleet[0];
        b.iter(|| predict(black_box(t), black_box(v), at, 600_000, limit, &params));
    });
    g.bench_function("predict_1000_series_3600", |b| {
        b.iter(|| {
            fleet
                .iter()
                .filter_map(|(t, v)| {
                    predict(black_box(t), black_box(v), at, 600_000, limit, &params)
                })
                .count()
        });
    });
    g.bench_function("ewma_one_series_3600", |b| {
        let (_, v) = &fleet[0];
        b.iter(|| ewma_anomalies(black_box(v), &EwmaParams::default()));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

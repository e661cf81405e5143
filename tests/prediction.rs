//! Prediction through Kafka: a forecast made at a past T depends only on records
//! whose event time is at or before T, whatever is produced later; the "predict" thread gives
//! the same answer as the synchronous path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use twinscope::config::Config;
use twinscope::predict::{Job, JobKind, JobResult, PredictWorker, forecast_at, series_input};
use twinscope::twin::forecast::{Rul, Threshold};

use common::T0;
const T: i64 = T0 + 400_000;

/// 2 + 0.005/s with a small deterministic wiggle; after T the slope is 0.02/s.
fn value(i: i64) -> f64 {
    let wiggle = 0.01 * ((i * 37 % 11) as f64 - 5.0) / 5.0;
    if i <= 400 {
        2.0 + 0.005 * i as f64 + wiggle
    } else {
        4.0 + 0.02 * (i - 400) as f64 + wiggle
    }
}

fn produce(p: &mut common::TestProducer, range: std::ops::RangeInclusive<i64>) {
    for i in range {
        let ts = T0 + i * 1000;
        // Spread over two partitions, so event-time order is not offset order.
        p.send_str(
            "twin.telemetry",
            (i % 2) as i32,
            "m/press",
            &format!(r#"{{"ts": {ts}, "vib": {}}}"#, value(i)),
            ts,
        );
    }
    p.flush();
}

/// What the "predict" thread answers for `m/press`'s `vib` at T in `store`, asked as the
/// focus job of `generation`.
fn focus_at_t(
    worker: &PredictWorker,
    store: &twinscope::twin::Store,
    limit: &[Threshold],
    generation: u64,
) -> JobResult {
    let input = series_input(store, "m/press", "vib", T, limit.to_vec(), None, true).unwrap();
    let job = Job {
        kind: JobKind::Focus,
        at: T,
        generation,
        inputs: vec![input],
    };
    worker.try_submit(job).unwrap();
    worker.recv_timeout(Duration::from_secs(10)).unwrap()
}

#[test]
fn forecast_at_a_past_time_ignores_records_produced_after_it() {
    let cluster = common::twin_cluster(1, 2, 1);
    let bootstrap = cluster.bootstrap_servers();
    let config = Config::default();
    let limit = [Threshold::above(5.0)];
    let mut p = common::TestProducer::new(&bootstrap);
    produce(&mut p, 0..=400);

    let before = common::read_all(&config, &bootstrap);
    let first = forecast_at(&before, "m/press", "vib", T, &limit).unwrap();
    let pred = first.prediction.clone().unwrap();
    // The trend of the data up to T: 0.005/s, crossing 5.0 near 600 s.
    assert!(
        (pred.slope_per_s() - 0.005).abs() < 0.0002,
        "{}",
        pred.slope_per_s()
    );
    match first.rul {
        Some((
            l,
            Rul::Crossing {
                expected,
                earliest,
                latest,
            },
        )) => {
            assert_eq!(l, Threshold::above(5.0));
            assert!(
                (expected - (T0 + 600_000)).abs() < 10_000,
                "{}",
                expected - T0
            );
            assert!(earliest <= expected && expected <= latest);
            assert!(
                earliest > T && latest - earliest < 60_000,
                "{earliest}..{latest}"
            );
        }
        other => panic!("no crossing: {other:?}"),
    }

    // The thread computes the same from the same store.
    let worker = PredictWorker::spawn(Arc::new(|| {})).unwrap();
    let threaded = focus_at_t(&worker, &before, &limit, 1);
    assert_eq!(threaded.outcomes[0].2.prediction, first.prediction);
    assert_eq!(threaded.outcomes[0].2.rul, first.rul);
    // Nothing after T exists yet: the backtest has no actuals.
    let b = threaded.outcomes[0].2.backtest.unwrap();
    assert_eq!((b.overlap, b.mae, b.actual_crossing), (0, None, None));

    // More records, all after T, with a much steeper slope; then a fresh read.
    produce(&mut p, 401..=600);
    let after = common::read_all(&config, &bootstrap);
    assert_eq!(after.stats().records, 601);
    let again = forecast_at(&after, "m/press", "vib", T, &limit).unwrap();
    assert_eq!(
        again, first,
        "the forecast at T changed when later records arrived"
    );

    // The forecast at the end sees the steeper data.
    let later = forecast_at(&after, "m/press", "vib", T0 + 600_000, &limit).unwrap();
    let slope = later.prediction.as_ref().unwrap().slope_per_s();
    // Theil–Sen is robust, so the 200 steep samples move the median slope only part of the way.
    assert!(slope > 0.006, "{slope}");
    assert_eq!(later.rul.map(|r| r.1), Some(Rul::AlreadyBeyond));

    // The backtest at T now scores against what happened: the limit was crossed at ~450 s
    // (4.0 + 0.02·50), long before the predicted ~600 s.
    let r = focus_at_t(&worker, &after, &limit, 2);
    let o = &r.outcomes[0].2;
    assert_eq!(o.prediction, first.prediction);
    let b = o.backtest.unwrap();
    assert_eq!(b.overlap, 200);
    let crossed = b.actual_crossing.unwrap();
    assert!(
        (T0 + 449_000..=T0 + 452_000).contains(&crossed),
        "{}",
        crossed - T0
    );
    assert!(
        b.crossing_error_ms().unwrap() < -140_000,
        "{:?}",
        b.crossing_error_ms()
    );
    // Actual minus forecast is 0.015·(t - 400 s): mean over 401..=600 s is 0.015·100.5.
    let mae = b.mae.unwrap();
    assert!((mae - 1.5075).abs() < 0.02, "{mae}");
    drop(worker);
}

/// The demo's degrading bearing gives a time to its vibration limit that shrinks as time goes
/// on, and the estimate an hour earlier was longer.
#[test]
fn demo_bearing_rul_is_visible_and_shrinks() {
    use twinscope::kafka::demo::simulator::{PlantSim, TopicKind, demo_limits};
    let limits = demo_limits();
    assert_eq!(limits[0].property, "vibration");
    assert_eq!(limits[0].threshold, Threshold::above(7.0));
    let mut sim = PlantSim::new(7);
    let start = T0;
    let mut store = twinscope::twin::Store::new("/", 1024);
    let mut offset = 0i64;
    for s in 0..2 * 3600 {
        let now = start + s * 1000;
        for r in sim.step(now) {
            if r.key != "plant-a/line-1/press-01" || r.role != TopicKind::Telemetry {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(r.payload.as_deref().unwrap()).unwrap();
            let rec = twinscope::twin::Rec {
                origin: twinscope::twin::Origin {
                    role: twinscope::twin::Role::Telemetry,
                    partition: 0,
                    offset,
                    kafka_ts: now,
                },
                body: twinscope::twin::Decoded::Telemetry {
                    asset: r.key.as_str().into(),
                    parent: None,
                    ts: now,
                    props: vec![(
                        "vibration".into(),
                        twinscope::twin::Value::Num(v["vibration"].as_f64().unwrap()),
                    )],
                },
            };
            offset += 1;
            store.apply(rec);
        }
    }
    let lim = [Threshold::above(7.0)];
    let rul_at = |t: i64| match forecast_at(&store, "plant-a/line-1/press-01", "vibration", t, &lim)
        .unwrap()
        .rul
    {
        Some((_, Rul::Crossing { expected, .. })) => expected - t,
        other => panic!("no crossing at {}: {other:?}", t - start),
    };
    let now = start + 2 * 3600 * 1000 - 1000;
    let live = rul_at(now);
    let hour_ago = rul_at(now - 3_600_000);
    eprintln!(
        "RUL now {} min, an hour ago {} min",
        live / 60_000,
        hour_ago / 60_000
    );
    // Wear +0.25/h at 8 mm/s per unit: +2 mm/s per hour from ~2.25 mm/s; the limit 7 is ~2.4 h
    // after the fresh bearing, i.e. ~20-25 min after the backfill and ~80-85 min an hour before.
    assert!((5 * 60_000..45 * 60_000).contains(&live), "{live}");
    assert!(hour_ago > live + 30 * 60_000, "{hour_ago} vs {live}");
}

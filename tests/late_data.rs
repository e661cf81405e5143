//! Late data: cars that go offline (1 minute, 30 minutes, 6 hours) and upload their buffered
//! history on reconnect, with the original times, so partitions hold records far behind their
//! neighbours. `snapshot --at T` and the store must equal the fold at every T, inside, at the
//! edges of and after the offline windows, on one partition and on many, with the buffer
//! uploaded at once or interleaved with live records. A bounded read (`--max-lateness`) is an
//! explicit assumption, stated in the output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use twinscope::config::Config;

use common::fold::{Outage, Upload, outage_times, produce_with_outages};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// Offline windows (ms after T0): 1 minute, 30 minutes, 6 hours, and a second 30 minutes.
const OUTAGES: [Outage; 4] = [
    Outage {
        car: 1,
        from: HOUR,
        to: HOUR + MIN,
    },
    Outage {
        car: 2,
        from: 2 * HOUR,
        to: 2 * HOUR + 30 * MIN,
    },
    Outage {
        car: 3,
        from: 30 * MIN,
        to: 6 * HOUR + 30 * MIN,
    },
    Outage {
        car: 4,
        from: 5 * HOUR,
        to: 5 * HOUR + 30 * MIN,
    },
];

fn check(partitions: i32, upload: Upload, seed: u64) {
    let (_cluster, bootstrap, mut p, mut rng) =
        common::producing(common::twin_cluster(1, partitions, 1), seed);
    // 12 cars every 30 s for 7 hours: 10,080 records.
    let produced = produce_with_outages(
        &mut p,
        &mut rng,
        (12, partitions),
        (T0, 7 * HOUR),
        &OUTAGES,
        upload,
    );
    p.flush();
    let late = produced
        .tele
        .windows(2)
        .filter(|w| w[1].ts + 10 * MIN < w[0].ts)
        .count();
    assert!(
        late > 0,
        "the log holds records far behind their neighbours"
    );

    let store = common::read_all(&Config::default(), &bootstrap);
    assert_eq!(store.stats().records, produced.tele.len() as u64);
    let times = outage_times(&produced, &mut rng, T0, &OUTAGES);
    produced.assert_store_folds(&store, &times, T0);
    // The command line, exact by default: inside each window, at its end, and after it.
    for o in &OUTAGES {
        for t in [T0 + (o.from + o.to) / 2, T0 + o.to - 1, T0 + o.to + MIN] {
            let out = common::snapshot_json(&bootstrap, t, &[]);
            produced.assert_folds(&out, t, T0, "snapshot");
            assert_eq!(
                out["read"],
                json!({"to": "end offsets at start", "exact": true})
            );
        }
    }
    // A bounded read is an assumption the user makes, and says so; inside the 30-minute
    // window it misses the buffered upload, which is why it is not the default.
    let t = T0 + 2 * HOUR + 15 * MIN;
    let bounded = common::snapshot_json(&bootstrap, t, &["--max-lateness", "60s"]);
    assert_eq!(
        bounded["read"],
        json!({"to": "event-time watermark", "exact": false, "assumed_max_lateness_ms": 60_000})
    );
    assert_ne!(
        bounded["assets"],
        produced.state_at(t),
        "a 60 s bound cannot see a 30 min upload"
    );
}

#[test]
fn late_uploads_on_one_partition_at_once() {
    check(1, Upload::AtOnce, 1);
}

#[test]
fn late_uploads_on_many_partitions_interleaved_with_live_records() {
    check(6, Upload::Interleaved, 2);
}

#[test]
fn the_operator_sees_late_data_in_the_asset_panel_the_timeline_and_a_notice() {
    use egui_kittest::kittest::Queryable as _;
    use twinscope::config::ClientProps;

    let (_cluster, bootstrap, mut p, mut rng) = common::producing(common::twin_cluster(1, 1, 1), 3);
    // Car 2 is offline for 30 minutes, 2 h in, and uploads its buffer on reconnect.
    let mut produced = produce_with_outages(
        &mut p,
        &mut rng,
        (6, 1),
        (T0, 3 * HOUR),
        &OUTAGES[1..2],
        Upload::AtOnce,
    );
    // And, an hour after the fact, one more record from inside the window: the car's fault,
    // which a rule turns into an alarm that happened at 02:15 and was known at the end.
    let fault_at = T0 + 2 * HOUR + 15 * MIN;
    produced.send_tele(
        &mut p,
        0,
        "eu/f2/car-002",
        fault_at,
        vec![("fault".into(), json!("OVERHEAT"))],
    );
    p.flush();
    let config = Config::parse(
        "[[rules]]\ncode = \"OVERHEAT\"\nproperty = \"fault\"\nequals = \"OVERHEAT\"\npriority = \"high\"\n",
    )
    .unwrap();
    let mut h = common::window_on(&bootstrap, config, ClientProps::default());
    let total = produced.tele.len() as u64;
    common::plant::step_until(
        &mut h,
        std::time::Duration::from_secs(30),
        "the read",
        |h| h.state().store().stats().records >= total,
    );
    h.run_steps(2);
    // The timeline marks the stretch that was filled in late.
    h.get_by_label_contains("late data 02:0");
    // The asset panel of the car says what arrived late and when.
    common::plant::select(&mut h, &["eu", "f2", "car-002"]);
    h.run_steps(1);
    // Its first and last buffered records are 28 min apart (02:00:03–02:28:33 UTC).
    let label = h.get_by_label_contains("⏳ late data: 28 min (02:00:03–02:28:33)");
    let text = format!("{label:?}");
    assert!(text.contains("arrived at 02:30:"), "{text}");
    // Scrubbed into the window: what is shown changed when the upload arrived.
    assert!(
        h.query_by_label_contains("History at this time changed")
            .is_none()
    );
    let t = T0 + 2 * HOUR + 10 * MIN;
    common::go_to(&mut h, t);
    h.get_by_label_contains("History at this time changed at");
    // And the values at that time are the car's buffered ones, exact.
    assert_eq!(
        h.state().snapshot_at_cursor()["assets"],
        produced.state_at(t)
    );
    // The journal tells when the alarm happened and when it became known.
    let t = fault_at + 5 * MIN;
    common::go_to(&mut h, t);
    h.get_by_label("⏵ Journal").click();
    h.run_steps(3);
    // Known when its partition was at its newest record, 02:59:44.
    h.get_by_label_contains("known 02:59:44 (+44 min)");
}

/// Where the assumption holds (no record more than 90 s behind its partition's newest), a
/// bounded read is exact and reads only up to T: the opt-in is a real shortcut, not a guess.
#[test]
fn a_bounded_read_is_exact_when_its_lateness_assumption_holds() {
    use common::fold::{Fleet, produce_fleet};
    let (_cluster, bootstrap, mut p, mut rng) = common::producing(common::twin_cluster(1, 4, 1), 4);
    let fleet = Fleet {
        records: 4_000,
        partitions: 4,
        t0: T0,
        span_ms: 40 * MIN,
        jitter_ms: 90_000,
        ..Fleet::default()
    };
    let produced = produce_fleet(&mut p, &mut rng, fleet);
    p.flush();
    for t in produced.probe_times(&mut rng, 20) {
        let read = common::read_bounded(
            &Config::default(),
            &bootstrap,
            t,
            90_000,
            std::time::Duration::from_secs(20),
        )
        .unwrap();
        produced.assert_folds(&read.snapshot(t), t, T0, "bounded read");
        if t < T0 + 10 * MIN {
            let total = (produced.tele.len() + produced.defs.len()) as u64;
            assert!(
                read.stats().records < total / 2,
                "read {} of {total}",
                read.stats().records
            );
        }
    }
}

//! Late data: cars that go offline (1 minute, 30 minutes, 6 hours) and upload their buffered
//! history on reconnect, with the original times, so partitions hold records far behind their
//! neighbours. `snapshot --at T` and the store must equal the fold at every T, inside, at the
//! edges of and after the offline windows, on one partition and on many, with the buffer
//! uploaded at once or interleaved with live records. A bounded read (`--max-lateness`) is an
//! explicit assumption, stated in the output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use rdkafka::mocking::MockCluster;
use serde_json::{Value as Json, json};
use twinscope::config::Config;

use common::TestProducer;
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

fn snapshot(bootstrap: &str, at: i64, extra: &[&str]) -> Json {
    let out = Command::new(env!("CARGO_BIN_EXE_twinscope"))
        .args(["snapshot", "--at", &at.to_string(), "--brokers", bootstrap])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(partitions: i32, upload: Upload, seed: u64) {
    let cluster = MockCluster::new(1).unwrap();
    cluster
        .create_topic("twin.telemetry", partitions, 1)
        .unwrap();
    cluster.create_topic("twin.events", 1, 1).unwrap();
    cluster.create_topic("twin.assets", 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let mut p = TestProducer::new(&bootstrap);
    let mut rng = fastrand::Rng::with_seed(seed);
    // 12 cars every 30 s for 7 hours: 10,080 records.
    let produced = produce_with_outages(
        &mut p,
        &mut rng,
        "twin.telemetry",
        (12, partitions),
        (T0, 7 * HOUR, 30_000),
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
    for &t in &times {
        assert_eq!(
            store.snapshot(t)["assets"],
            produced.state_at(t),
            "store at T0{:+} ms",
            t - T0
        );
    }
    // The command line, exact by default: inside each window, at its end, and after it.
    for o in &OUTAGES {
        for t in [T0 + (o.from + o.to) / 2, T0 + o.to - 1, T0 + o.to + MIN] {
            let out = snapshot(&bootstrap, t, &[]);
            assert_eq!(
                out["assets"],
                produced.state_at(t),
                "snapshot at T0{:+} ms",
                t - T0
            );
            assert_eq!(
                out["read"],
                json!({"to": "end offsets at start", "exact": true})
            );
        }
    }
    // A bounded read is an assumption the user makes, and says so; inside the 30-minute
    // window it misses the buffered upload, which is why it is not the default.
    let t = T0 + 2 * HOUR + 15 * MIN;
    let bounded = snapshot(&bootstrap, t, &["--max-lateness", "60s"]);
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

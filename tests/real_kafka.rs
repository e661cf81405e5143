//! twinscope's promises on a real Apache Kafka (one KRaft node, `tests/common/real_kafka.rs`),
//! where librdkafka's mock cluster cannot stand in: exact state at T through `snapshot` and
//! the store, the broker's `ListOffsets` by time, no consumer group and no writes, compaction
//! of `twin.assets`, time retention, and `demo produce` creating its topics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use twinscope::config::Config;

use common::TestProducer;
use common::fold::{Fleet, produce_fleet};
use common::real_kafka::{KafkaOptions, RealKafka};

const BIN: &str = env!("CARGO_BIN_EXE_twinscope");
/// 2024-03-01T00:00:00Z: data no other test uses.
const T0: i64 = 1_709_251_200_000;

/// The twin topics on `kafka`: telemetry with `partitions`, events and a compacted assets topic.
fn create_twin_topics(kafka: &RealKafka, partitions: i32, replication: i32) {
    kafka.create_topic("twin.telemetry", partitions, replication, &[]);
    kafka.create_topic("twin.events", 1, replication, &[]);
    kafka.create_topic(
        "twin.assets",
        1,
        replication,
        &[("cleanup.policy", "compact")],
    );
}

/// `twinscope snapshot --at T --brokers B` with `extra` arguments.
fn snapshot_cli(bootstrap: &str, at: i64, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["snapshot", "--at", &at.to_string(), "--brokers", bootstrap])
        .args(["--timeout-s", "30"])
        .args(extra)
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> Json {
    assert!(
        out.status.success(),
        "snapshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn snapshot_and_store_equal_the_fold_on_a_real_broker() {
    let kafka = RealKafka::start(KafkaOptions::default());
    eprintln!("one node started in {:?}", kafka.started_in());
    create_twin_topics(&kafka, 4, 1);
    let bootstrap = kafka.bootstrap();
    let mut p = TestProducer::new(&bootstrap);
    let mut rng = fastrand::Rng::with_seed(0x5eed_4ea1);
    let fleet = Fleet {
        cars: 30,
        records: 3_000,
        partitions: 4,
        t0: T0,
        span_ms: 20 * 60_000,
        jitter_ms: 90_000,
    };
    let produced = produce_fleet(&mut p, &mut rng, fleet, ("twin.telemetry", "twin.assets"));
    p.flush();

    // The store, read by the real ingest thread.
    let store = common::read_all(&Config::default(), &bootstrap);
    assert_eq!(store.bad_records(), &[]);
    assert_eq!(
        store.stats().records,
        (produced.tele.len() + produced.defs.len()) as u64
    );
    let times = produced.probe_times(&mut rng, 120);
    let mut nonempty = 0;
    for &t in &times {
        let expected = produced.state_at(t);
        nonempty += usize::from(expected.as_object().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            store.snapshot(t)["assets"],
            expected,
            "store at T0{:+}",
            t - T0
        );
        assert!(
            store.exact_at(t).is_ok(),
            "nothing deleted or compacted yet"
        );
    }
    assert!(nonempty > 100, "only {nonempty} non-empty states");

    // The command line, a fresh process each time, at a spread of times including the edges.
    let mut cli_times: Vec<i64> = times.iter().step_by(15).copied().collect();
    cli_times.extend([
        T0 - 1,
        T0,
        T0 + fleet.span_ms / 2,
        T0 + fleet.span_ms + 5_000,
    ]);
    for &t in &cli_times {
        let out = stdout_json(&snapshot_cli(&bootstrap, t, &[]));
        assert_eq!(
            out["assets"],
            produced.state_at(t),
            "snapshot --at T0{:+}",
            t - T0
        );
        assert_eq!(out["read"]["exact"], json!(true));
    }
}

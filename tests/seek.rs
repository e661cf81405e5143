//! Seeking by time against a real Kafka-protocol broker. librdkafka's MockCluster does not
//! answer ListOffsets by timestamp, so these exercise the own index and the bisection fallback,
//! and `--since` reading only the requested look-back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use rdkafka::producer::Producer as _;
use twinscope::config::{ClientProps, Config};
use twinscope::headless::{read_to_store, spec_for};
use twinscope::kafka::client::ClientSettings;
use twinscope::kafka::ingest::StartAt;
use twinscope::kafka::seek::{SeekMethod, TimeIndex, offset_for_time};

use common::T0;
const N: i64 = 1_000;

fn cluster_with_records() -> (common::Cluster, String) {
    let cluster = common::twin_cluster(1, 1, 1);
    let bootstrap = cluster.bootstrap_servers();
    let p = common::plant::producer(&bootstrap);
    for i in 0..N {
        let ts = T0 + i * 1000;
        common::plant::telemetry(&p, "m", ts, &format!(r#""v": {i}"#));
    }
    p.flush(Duration::from_secs(10)).unwrap();
    (cluster, bootstrap)
}

#[test]
fn bisection_and_own_index_find_the_first_record_at_a_time() {
    let (_cluster, bootstrap) = cluster_with_records();
    let settings = ClientSettings::plain(&bootstrap);
    let t = T0 + 500_500;
    let (offset, method) = offset_for_time(
        &settings,
        "twin.telemetry",
        0,
        t,
        (0, N),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(offset, 501, "first record with timestamp >= t");
    match method {
        SeekMethod::Bisection { probes } => assert!(probes <= 12, "{probes} probes"),
        other => panic!("the mock cannot answer by time, expected bisection, got {other:?}"),
    }
    // Exactly at a record's time, and past the end.
    let at = offset_for_time(
        &settings,
        "twin.telemetry",
        0,
        T0 + 7_000,
        (0, N),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(at.0, 7);
    let end = offset_for_time(
        &settings,
        "twin.telemetry",
        0,
        T0 + N * 1000,
        (0, N),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(end, (N, SeekMethod::Broker));

    // With the index built while consuming, no request is needed, and the answer is never
    // after the first record at t.
    let mut ix = TimeIndex::default();
    for i in 0..N {
        ix.observe(i, T0 + i * 1000);
    }
    let (o, m) = offset_for_time(
        &settings,
        "twin.telemetry",
        0,
        t,
        (0, N),
        Some(&ix),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(m, SeekMethod::OwnIndex);
    assert!(o <= 501 && 501 - o <= 512, "index offset {o}");
}

#[test]
fn since_reads_only_the_look_back() {
    let (_cluster, bootstrap) = cluster_with_records();
    let spec = spec_for(
        &Config::default(),
        &bootstrap,
        ClientProps::default(),
        StartAt::Since(T0 + 900_000),
    );
    let store = read_to_store(spec, 0, Duration::from_secs(20), Duration::from_secs(60)).unwrap();
    assert_eq!(store.stats().records, 100);
    assert_eq!(store.time_range(), Some((T0 + 900_000, T0 + 999_000)));
}

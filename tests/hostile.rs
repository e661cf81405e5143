//! Hostile and broken input, end to end: every kind of garbage a producer can write goes
//! through a librdkafka mock cluster and the real ingest thread. Each bad record must be
//! counted and listed with its topic, partition, offset and reason; the good records around it
//! must all be applied; nothing panics or stalls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TestProducer, read_all};
use twinscope::config::{ClientProps, Config};
use twinscope::headless::{read_to_store, spec_for};
use twinscope::kafka::ingest::StartAt;
use twinscope::twin::Store;

use common::T0;
const TELEMETRY: &str = "twin.telemetry";
const GOOD: &str = "site/good";

/// A hostile record: (key, value, the start of the expected reason).
type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, String);

/// A bad `value` under the good asset's key.
fn bad_value(value: &[u8], reason: impl Into<String>) -> Case<'_> {
    (Some(GOOD.as_bytes()), Some(value), reason.into())
}

/// The good record number `n`: property `n` = n, one second apart.
fn good(p: &mut TestProducer, part: i32, n: i64) -> i64 {
    let ts = T0 + n * 1000;
    p.send_str(
        TELEMETRY,
        part,
        GOOD,
        &format!(r#"{{"ts": {ts}, "n": {n}, "part": {part}}}"#),
        ts,
    )
}

/// The values of `n` the store holds for the good asset, in event-time order.
fn good_values(store: &Store) -> Vec<f64> {
    let a = store.asset_by_id(GOOD).expect("good asset");
    let n = store.prop_by_name("n").expect("n");
    let s = store.series(a, n).expect("series");
    (0..s.len()).map(|i| s.num(i).expect("numeric")).collect()
}

#[test]
fn every_kind_of_garbage_is_listed_and_good_records_around_it_are_applied() {
    let cluster = common::twin_cluster(1, 2, 1);
    let bootstrap = cluster.bootstrap_servers();
    let mut p = TestProducer::with_props(&bootstrap, &[("message.max.bytes", "4000000")]);

    // (partition, offset, the start of the expected reason)
    let mut expected: Vec<(i32, i64, String)> = Vec::new();
    let mut n = 0;
    let mut next_good = |p: &mut TestProducer, part: i32| {
        good(p, part, n);
        n += 1;
    };
    let raw = |p: &mut TestProducer, part: i32, key: Option<&[u8]>, value: Option<&[u8]>| {
        p.send(TELEMETRY, part, key, value, T0 + 500)
    };

    let deep = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    // The record itself plus 19 nested objects: 20 levels, within serde's recursion limit
    // but above the configured depth limit.
    let nested_19 = (0..19).fold("1".to_owned(), |inner, _| format!(r#"{{"a": {inner}}}"#));
    let nested_20 = format!(r#"{{"ts": {T0}, "a": {nested_19}}}"#);
    let big = format!(r#"{{"ts": {T0}, "blob": "{}"}}"#, "x".repeat(2 << 20));
    let future = format!(r#"{{"ts": {}, "temp": 1}}"#, T0 + 500 + 2 * 86_400_000);
    let past = r#"{"ts": 1000, "temp": 1}"#.to_owned();
    let cases: Vec<Case<'_>> = vec![
        bad_value(br#"{"ts": 1, "temp": "#, "invalid JSON: EOF while parsing"),
        bad_value(b"42", "value is JSON number, not an object"),
        bad_value(b"null", "value is JSON null, not an object"),
        bad_value(br#"["a", 1]"#, "value is JSON array, not an object"),
        bad_value(br#"{"ts": "yesterday", "temp": 1}"#, "bad time at /ts"),
        bad_value(
            br#"{"ts": 1700000000000, "temp": [1, 2], "x": null}"#,
            "no scalar properties in telemetry record",
        ),
        bad_value(
            br#"{"ts": 1700000000000, "temp": NaN}"#,
            "invalid JSON: expected value",
        ),
        bad_value(
            br#"{"ts": 1700000000000, "temp": Infinity}"#,
            "invalid JSON: expected value",
        ),
        bad_value(
            br#"{"ts": 1700000000000, "temp": 1e999}"#,
            "invalid JSON: number out of range",
        ),
        bad_value(deep.as_bytes(), "invalid JSON: recursion limit exceeded"),
        bad_value(
            nested_20.as_bytes(),
            "nesting depth 20 exceeds the limit of 16",
        ),
        bad_value(
            big.as_bytes(),
            format!(
                "value of {} bytes exceeds the limit of 1048576 bytes",
                big.len()
            ),
        ),
        (
            Some(&[0xff, 0xfe, b'a']),
            Some(br#"{"temp": 1}"#),
            "key is not valid UTF-8".into(),
        ),
        (
            Some(b""),
            Some(br#"{"temp": 1}"#),
            "empty or missing key (asset id)".into(),
        ),
        (
            None,
            Some(br#"{"temp": 1}"#),
            "empty or missing key (asset id)".into(),
        ),
        (
            Some(GOOD.as_bytes()),
            None,
            "null value (tombstone) on a non-compacted topic".into(),
        ),
        bad_value(future.as_bytes(), "event time"),
        bad_value(past.as_bytes(), "event time"),
    ];
    let n_cases = cases.len();
    for (i, (key, value, reason)) in cases.into_iter().enumerate() {
        // Alternate partitions so both carry garbage between good records.
        let part = i32::try_from(i % 2).unwrap();
        next_good(&mut p, part);
        let o = raw(&mut p, part, key, value);
        expected.push((part, o, reason));
        next_good(&mut p, part);
    }
    // A producer retry written twice: the second copy is listed, not applied.
    let first = good(&mut p, 1, 1000);
    let second = good(&mut p, 1, 1000);
    expected.push((
        1,
        second,
        format!("duplicate of partition 1 offset {first}: same asset, event time and values"),
    ));
    p.flush();

    let store = read_all(&Config::default(), &bootstrap);

    let got = common::bad_list(&store);
    assert_eq!(got.len(), n_cases + 1, "bad records: {got:#?}");
    expected.sort();
    for ((topic, part, off, reason), (e_part, e_off, e_reason)) in got.iter().zip(&expected) {
        assert_eq!(topic, TELEMETRY);
        assert_eq!((part, off), (e_part, e_off), "{reason}");
        assert!(
            reason.starts_with(e_reason.as_str()),
            "partition {part} offset {off}: {reason:?} should start with {e_reason:?}"
        );
    }
    assert_eq!(store.stats().bad, n_cases as u64 + 1);

    // Every good record, exactly once, and nothing else for the good asset.
    let mut want: Vec<f64> = (0..2 * n_cases).map(|i| i as f64).collect();
    want.push(1000.0);
    assert_eq!(good_values(&store), want);
    assert_eq!(store.stats().records, 2 * n_cases as u64 + 1);
    assert_eq!(store.stats().duplicates, 0);
}

/// A record larger than everything the consumer is configured to fetch: librdkafka drops the
/// connection on every fetch of it, which would stall every partition on that broker.
/// twinscope raises `receive.message.max.bytes` for the session, then the record is judged by
/// the value limit like any other and listed with its exact place.
#[test]
fn a_record_above_the_fetch_limits_is_listed_and_skipped() {
    let (_cluster, bootstrap, mut p) = common::producer_into(common::twin_cluster(1, 1, 1));
    for n in 0..3 {
        good(&mut p, 0, n);
    }
    let huge = format!(r#"{{"ts": {T0}, "blob": "{}"}}"#, "x".repeat(300_000));
    let big_at = p.send_str(TELEMETRY, 0, GOOD, &huge, T0 + 3500);
    for n in 3..6 {
        good(&mut p, 0, n);
    }
    p.flush();

    let spec = small_fetch_limits(&bootstrap);
    let store = read_to_store(spec, 0, Duration::from_secs(20), Duration::from_secs(60))
        .expect("read past the oversized record");

    assert_eq!(good_values(&store), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let got = common::bad_list(&store);
    assert_eq!(got.len(), 1, "{got:#?}");
    let (topic, part, off, reason) = &got[0];
    assert_eq!((topic.as_str(), *part, *off), (TELEMETRY, 0, big_at));
    assert_eq!(
        reason,
        &format!(
            "value of {} bytes exceeds the limit of 100000 bytes",
            huge.len()
        )
    );
}

/// README (Reliability): "twinscope raises `receive.message.max.bytes` for the session (a
/// notice says so, in *Bad records*)". The notice names the response size that did not fit,
/// the old limit and the new one, and comes before the records after the oversized one.
#[test]
fn raising_the_fetch_limit_is_announced_with_the_sizes() {
    use twinscope::kafka::ingest::{Ingest, IngestEvent};

    let (_cluster, bootstrap, mut p) = common::producer_into(common::twin_cluster(1, 1, 1));
    good(&mut p, 0, 0);
    let huge = format!(r#"{{"ts": {T0}, "blob": "{}"}}"#, "x".repeat(300_000));
    p.send_str(TELEMETRY, 0, GOOD, &huge, T0 + 3500);
    good(&mut p, 0, 1);
    p.flush();

    let spec = small_fetch_limits(&bootstrap);
    let mut store = Store::new(spec.mapping.separator(), 0);
    let ingest = Ingest::spawn(spec, std::sync::Arc::new(|| {})).unwrap();
    let mut notices = Vec::new();
    let start = std::time::Instant::now();
    let values = |s: &Store| {
        if s.asset_by_id(GOOD).is_some() {
            good_values(s)
        } else {
            Vec::new()
        }
    };
    while values(&store) != [0.0, 1.0] {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "stalled at {:?}; notices {notices:?}",
            values(&store)
        );
        match ingest.recv_timeout(Duration::from_millis(50)) {
            Ok(IngestEvent::Batch { mut recs, bad }) => {
                if recs.iter().any(|r| r.origin.offset == 2) {
                    assert!(!notices.is_empty(), "records after it before the notice");
                }
                store.apply_lent(&mut recs, bad);
            }
            Ok(IngestEvent::Notice(n)) => notices.push(n),
            Ok(_) | Err(false) => {}
            Err(true) => panic!("the ingest thread ended"),
        }
    }
    assert_eq!(notices.len(), 1, "{notices:?}");
    let n = &notices[0];
    // "A fetch response of N bytes exceeded receive.message.max.bytes (66048); raised it to M
    // for this session so no partition stalls. Records above the value limit are listed as bad."
    let needed: usize = n
        .strip_prefix("A fetch response of ")
        .and_then(|r| r.split(' ').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{n}"));
    assert!(needed > huge.len(), "{n}");
    assert_eq!(
        n,
        &format!(
            "A fetch response of {needed} bytes exceeded receive.message.max.bytes (66048); \
             raised it to {} for this session so no partition stalls. Records above the value \
             limit are listed as bad.",
            needed + needed / 4
        )
    );
    assert_eq!(store.stats().bad, 1);
}

/// A read with a 100 kB value limit and fetch limits (64 kB) smaller than the 300 kB record
/// the tests put between good ones.
fn small_fetch_limits(bootstrap: &str) -> twinscope::kafka::ingest::IngestSpec {
    let mut config = Config::default();
    config.mapping.limits.max_value_bytes = 100_000;
    let limits = [
        "fetch.message.max.bytes=65536".to_owned(),
        "fetch.max.bytes=65536".to_owned(),
        "message.max.bytes=65536".to_owned(),
        "receive.message.max.bytes=66048".to_owned(),
    ];
    let props = ClientProps::resolve(&Default::default(), &limits).unwrap();
    spec_for(&config, bootstrap, props, StartAt::Beginning)
}

//! Rule alarms derived from telemetry read through the real ingest thread from a mock cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use twinscope::config::Config;
use twinscope::headless::read_to_store_with_rules;
use twinscope::testkit::rules;
use twinscope::twin::alarms::AlarmState;

use common::spec;

use common::T0;

#[test]
fn threshold_rule_alarm_states_at_known_times() {
    let config = Config::parse(&rules::vib_hi("off_delay_s = 2\n")).unwrap();
    let (_cluster, bootstrap, mut p) = common::producer_into(common::twin_cluster(1, 2, 1));
    // One sample a second for 60 s: 5.0, above the limit (8.0) from 10 s, inside the deadband
    // (6.8) from 30 s, below it (6.0) from 40 s. Alternating partitions, odd seconds sent
    // first, so arrival order differs from event-time order.
    let value = |i: i64| match i {
        0..10 => 5.0,
        10..30 => 8.0,
        30..40 => 6.8,
        _ => 6.0,
    };
    for i in (1..60).step_by(2).chain((0..60).step_by(2)) {
        let payload = format!(
            r#"{{"ts": {}, "vibration": {:?}}}"#,
            T0 + i * 1000,
            value(i)
        );
        p.send_str(
            &config.topics.telemetry,
            (i % 2) as i32,
            "plant/m1",
            &payload,
            T0 + i * 1000,
        );
    }
    p.flush();
    let store = read_to_store_with_rules(
        spec(&config, &bootstrap),
        config.rules.clone(),
        0,
        i64::MAX,
        Duration::from_secs(20),
        Duration::from_secs(60),
    )
    .expect("read");
    let st = |s: i64| rules::alarm_state(&store, "plant/m1", "VIB_HI", T0 + s);
    assert_eq!(st(0), None);
    assert_eq!(st(19_999), None, "before the on-delay elapsed");
    assert_eq!(st(20_000), Some(AlarmState::UnackActive));
    assert_eq!(
        st(35_000),
        Some(AlarmState::UnackActive),
        "inside the deadband"
    );
    assert_eq!(
        st(41_999),
        Some(AlarmState::UnackActive),
        "off-delay running"
    );
    assert_eq!(st(42_000), Some(AlarmState::UnackRtn));
    assert_eq!(st(59_000), Some(AlarmState::UnackRtn));
    assert!(store.alarms_at(T0 + 19_000).is_empty());
    assert_eq!(store.alarms_at(T0 + 25_000).len(), 1);
    let snap = store.snapshot(T0 + 25_000);
    assert_eq!(snap["alarms"][0]["state"], "unack_active");
    assert_eq!(snap["alarms"][0]["since"], T0 + 20_000);
}

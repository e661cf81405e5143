//! End-to-end ingest: records produced to a librdkafka mock cluster are read by the real
//! ingest thread (`headless::read_to_store`) and checked against exact expectations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use serde_json::{Value as Json, json};
use twinscope::config::Config;
use twinscope::headless::HeadlessError;
use twinscope::testkit::mapping::POINTER_HIERARCHY;
use twinscope::twin::alarms::{AlarmState, Priority};
use twinscope::twin::hierarchy::Tree;
use twinscope::twin::{Store, Value, seq_parts};

use common::{TestProducer, read_all, read_bounded};

use common::T0;

const TELEMETRY: &str = "twin.telemetry";
const EVENTS: &str = "twin.events";
const ASSETS: &str = "twin.assets";

/// All properties of an asset at `t`, as JSON, from `props_at`.
fn props_json(store: &Store, id: &str, t: i64) -> Json {
    let a = store
        .asset_by_id(id)
        .unwrap_or_else(|| panic!("asset {id} missing"));
    let m: serde_json::Map<String, Json> = store
        .props_at(a, t)
        .into_iter()
        .map(|p| (p.name.to_string(), p.sample.value.to_json()))
        .collect();
    Json::Object(m)
}

/// (partition, offset, event ts, Kafka ts, value) of the record that set a property at `t`.
fn provenance(store: &Store, id: &str, prop: &str, t: i64) -> (i32, i64, i64, i64, Value) {
    let a = store.asset_by_id(id).unwrap();
    let p = store
        .props_at(a, t)
        .into_iter()
        .find(|p| &*p.name == prop)
        .unwrap_or_else(|| panic!("{id} has no {prop} at {t}"));
    let (part, off) = seq_parts(p.sample.seq);
    (part, off, p.sample.ts, p.sample.kafka_ts, p.sample.value)
}

/// (asset, code, priority, state, since) of every alarm listed at `t`.
fn alarms_at(store: &Store, t: i64) -> Vec<(String, String, Priority, AlarmState, i64)> {
    store
        .alarms_at(t)
        .into_iter()
        .map(|v| {
            let id = store.asset(v.asset).unwrap().id.to_string();
            (
                id,
                v.code.to_string(),
                v.priority,
                v.status.state,
                v.status.since,
            )
        })
        .collect()
}

fn num(f: f64) -> Value {
    Value::Num(f)
}

fn text(s: &str) -> Value {
    Value::Str(s.into())
}

#[test]
fn known_records_over_several_partitions_give_exact_store_contents() {
    let (_cluster, bootstrap, mut p) = common::producer_into(common::twin_cluster(3, 4, 2));

    const A: &str = "plant/l1/m1";
    const B: &str = "plant/l1/m2";
    const C: &str = "plant/l2/m3";
    const D: &str = "solo";
    const M4: &str = "plant/l2/m4";
    const M9: &str = "plant/l2/m9";

    // Every telemetry record with a `ts` field gets a Kafka time 50 ms after its event time.
    let tele = |p: &mut TestProducer, part: i32, key: &str, ts: i64, body: &str| -> i64 {
        let payload = format!(r#"{{"ts": {}, {body}}}"#, T0 + ts);
        p.send_str(TELEMETRY, part, key, &payload, T0 + ts + 50)
    };
    let mut bad: Vec<(String, i32, i64, String)> = Vec::new();
    let mut expect_bad = |topic: &str, part: i32, offset: i64, reason: &str| {
        bad.push((topic.to_owned(), part, offset, reason.to_owned()));
    };

    // Partition 0.
    assert_eq!(
        tele(
            &mut p,
            0,
            A,
            1000,
            r#""temp": 20.0, "state": "IDLE", "bearing": {"wear": 0.1}"#
        ),
        0
    );
    assert_eq!(
        tele(&mut p, 0, A, 3000, r#""temp": 21.5, "state": "RUN""#),
        1
    );
    let broken = br#"{"ts": 1, "temp": "#;
    let json_err = serde_json::from_slice::<Json>(broken).unwrap_err();
    let o = p.send(TELEMETRY, 0, Some(A.as_bytes()), Some(broken), T0 + 2100);
    expect_bad(TELEMETRY, 0, o, &format!("invalid JSON: {json_err}"));
    // Late: an earlier event time than offset 1, so it must not win "temp" at the end.
    assert_eq!(
        tele(
            &mut p,
            0,
            A,
            2000,
            r#""temp": 99.0, "bearing": {"wear": 0.9}"#
        ),
        3
    );
    tele(&mut p, 0, B, 1500, r#""temp": 30.0, "ok": true"#);
    let o = p.send_str(TELEMETRY, 0, B, "[1, 2, 3]", T0 + 1600);
    expect_bad(TELEMETRY, 0, o, "value is JSON array, not an object");
    tele(&mut p, 0, D, 4000, r#""count": 7"#);

    // Partition 1.
    // Same event time as partition 0 offset 1: the higher partition wins the tie.
    assert_eq!(tele(&mut p, 1, A, 3000, r#""temp": 22.0"#), 0);
    assert_eq!(
        tele(&mut p, 1, B, 2500, r#""temp": 31.0, "state": "RUN""#),
        1
    );
    let o = tele(&mut p, 1, "", 2600, r#""temp": 1.0"#);
    expect_bad(TELEMETRY, 1, o, "empty or missing key (asset id)");
    tele(&mut p, 1, C, 1000, r#""temp": 40.0, "state": "STOP""#);
    // Same event time and partition: the higher offset wins.
    assert_eq!(tele(&mut p, 1, C, 1000, r#""temp": 41.0"#), 4);
    let o = p.send(
        TELEMETRY,
        1,
        Some(&[0xff, 0xfe]),
        Some(format!(r#"{{"ts": {}, "temp": 1.0}}"#, T0 + 2700).as_bytes()),
        T0 + 2700,
    );
    expect_bad(TELEMETRY, 1, o, "key is not valid UTF-8");

    // Partition 2.
    let o = p.send(TELEMETRY, 2, Some(A.as_bytes()), None, T0 + 2800);
    expect_bad(
        TELEMETRY,
        2,
        o,
        "null value (tombstone) on a non-compacted topic",
    );
    // Same event time as partition 1 offset 1 (state RUN): partition 2 wins.
    assert_eq!(tele(&mut p, 2, B, 2500, r#""state": "STOP""#), 1);
    tele(
        &mut p,
        2,
        C,
        5000,
        r#""bearing": {"wear": 0.3, "temp": 55.5}, "ok": false"#,
    );
    let o = p.send_str(
        TELEMETRY,
        2,
        C,
        r#"{"ts": "yesterday", "temp": 1.0}"#,
        T0 + 2900,
    );
    expect_bad(TELEMETRY, 2, o, r#"bad time at /ts: "yesterday""#);
    // No `ts` field: the Kafka timestamp is the event time.
    assert_eq!(
        p.send_str(
            TELEMETRY,
            2,
            D,
            r#"{"count": 8, "mode": "auto"}"#,
            T0 + 4500
        ),
        4
    );

    // Partition 3.
    assert_eq!(
        tele(&mut p, 3, A, 500, r#""temp": 10.0, "extra": "first""#),
        0
    );
    tele(&mut p, 3, C, 4999, r#""temp": 42.0"#);
    let o = p.send(
        TELEMETRY,
        3,
        None,
        Some(format!(r#"{{"ts": {}, "temp": 1.0}}"#, T0 + 3100).as_bytes()),
        T0 + 3100,
    );
    expect_bad(TELEMETRY, 3, o, "empty or missing key (asset id)");
    let o = tele(&mut p, 3, B, 3200, r#""arr": [1, 2], "nothing": null"#);
    expect_bad(TELEMETRY, 3, o, "no scalar properties in telemetry record");
    assert_eq!(
        tele(
            &mut p,
            3,
            B,
            6000,
            r#""temp": 32.5, "bearing": {"wear": 0.05}"#
        ),
        4
    );

    // Twelve records of one asset, produced newest first, spread over the partitions.
    for i in (0..12i64).rev() {
        tele(
            &mut p,
            (i % 4) as i32,
            M4,
            100 * i,
            &format!(r#""temp": {i}"#),
        );
    }

    // Events: HOT on A goes active, cleared, acked; VIB on C goes active and stays.
    let ev = |p: &mut TestProducer, part: i32, key: &str, ts: i64, body: &str| -> i64 {
        let payload = format!(r#"{{"ts": {}, {body}}}"#, T0 + ts);
        p.send_str(EVENTS, part, key, &payload, T0 + ts)
    };
    let alarm = r#""type": "alarm", "code": "HOT", "severity": "high""#;
    let hot = format!(r#"{alarm}, "state": "active", "message": "too hot""#);
    assert_eq!(ev(&mut p, 0, A, 2000, &hot), 0);
    ev(
        &mut p,
        0,
        A,
        4000,
        &format!(r#"{alarm}, "state": "cleared""#),
    );
    let bogus = r#""type": "alarm", "code": "X", "severity": "bogus", "state": "active""#;
    let o = ev(&mut p, 0, A, 4100, bogus);
    expect_bad(EVENTS, 0, o, r#"unknown severity "bogus""#);
    ev(
        &mut p,
        0,
        A,
        4500,
        &format!(r#"{alarm}, "state": "acked", "by": "ann""#),
    );
    let vib = r#""type": "alarm", "code": "VIB", "severity": "critical", "state": "active""#;
    ev(&mut p, 1, C, 3000, vib);
    let o = ev(
        &mut p,
        1,
        A,
        3100,
        r#""type": "alarm", "severity": "high", "state": "active""#,
    );
    expect_bad(EVENTS, 1, o, "alarm without a code");
    let pm = r#""type": "maintenance", "code": "PM", "message": "greased""#;
    ev(&mut p, 1, B, 3500, pm);

    // Assets: A gets a name; M9 exists only through twin.assets and is removed again.
    p.send_str(
        ASSETS,
        0,
        A,
        r#"{"name": "Mill 1", "kind": "mill"}"#,
        T0 + 100,
    );
    p.send_str(
        ASSETS,
        0,
        M9,
        r#"{"kind": "spare", "parent": "plant/l2"}"#,
        T0 + 200,
    );
    p.send(ASSETS, 0, Some(M9.as_bytes()), None, T0 + 5000);
    let o = p.send_str(ASSETS, 0, "", r#"{"kind": "x"}"#, T0 + 5100);
    expect_bad(ASSETS, 0, o, "empty or missing key (asset id)");
    let o = p.send(ASSETS, 0, None, None, T0 + 5200);
    expect_bad(ASSETS, 0, o, "tombstone without a key");
    p.flush();
    let total_sent = p.sent().len() as u64;

    let store = read_all(&Config::default(), &bootstrap);

    // Bad records: exactly these, with the decoder's reasons.
    let got_bad = common::bad_list(&store);
    bad.sort();
    assert_eq!(got_bad, bad);
    assert_eq!(bad.len(), 12);
    assert_eq!(store.stats().bad, 12);
    assert_eq!(store.stats().records, total_sent - 12);
    assert_eq!(store.stats().duplicates, 0);

    // Every property of every asset at the end.
    let end = T0 + 10_000;
    let expected = json!({
        A: {"bearing.wear": 0.9, "extra": "first", "state": "RUN", "temp": 22.0},
        B: {"bearing.wear": 0.05, "ok": true, "state": "STOP", "temp": 32.5},
        C: {"bearing.temp": 55.5, "bearing.wear": 0.3, "ok": false, "state": "STOP", "temp": 42.0},
        D: {"count": 8.0, "mode": "auto"},
        M4: {"temp": 11.0},
    });
    let snap = store.snapshot(end);
    assert_eq!(snap["assets"], expected);
    for id in [A, B, C, D, M4] {
        assert_eq!(props_json(&store, id, end), expected[id], "{id}");
    }
    let mut ids: Vec<&str> = store.assets().iter().map(|a| a.id.as_ref()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [A, B, C, M4, M9, D]);
    // M9 was removed at T0+5000 and existed before.
    let m9 = store.asset_by_id(M9).unwrap();
    assert!(store.exists_at(m9, T0 + 4999));
    assert!(!store.exists_at(m9, T0 + 5000));
    assert_eq!(store.snapshot(T0 + 4999)["assets"][M9], json!({}));

    // Provenance: which record set a value: (partition, offset, event ts, Kafka ts, value).
    // M4 record i sits in partition i % 4 after that partition's earlier records.
    let sources = [
        (A, "temp", end, (1, 0, T0 + 3000, T0 + 3050, num(22.0))),
        (
            A,
            "bearing.wear",
            end,
            (0, 3, T0 + 2000, T0 + 2050, num(0.9)),
        ),
        (A, "extra", end, (3, 0, T0 + 500, T0 + 550, text("first"))),
        (B, "state", end, (2, 1, T0 + 2500, T0 + 2550, text("STOP"))),
        (
            C,
            "temp",
            T0 + 1000,
            (1, 4, T0 + 1000, T0 + 1050, num(41.0)),
        ),
        (D, "count", end, (2, 4, T0 + 4500, T0 + 4500, num(8.0))),
        (M4, "temp", end, (3, 5, T0 + 1100, T0 + 1150, num(11.0))),
    ];
    for (id, prop, t, want) in sources {
        assert_eq!(provenance(&store, id, prop, t), want, "{id} {prop} at {t}");
    }

    // Values as of earlier times.
    assert_eq!(
        props_json(&store, A, T0 + 2999),
        json!({"bearing.wear": 0.9, "extra": "first", "state": "IDLE", "temp": 99.0})
    );
    assert_eq!(props_json(&store, A, T0 + 499), json!({}));
    assert_eq!(props_json(&store, M4, T0 + 550), json!({"temp": 5.0}));

    // Alarms.
    let alarms = |t: i64| alarms_at(&store, t);
    let hot = |state, since| (A.to_owned(), "HOT".to_owned(), Priority::High, state, since);
    let vib = (
        C.to_owned(),
        "VIB".to_owned(),
        Priority::Critical,
        AlarmState::UnackActive,
        T0 + 3000,
    );
    assert_eq!(alarms(T0 + 1999), vec![]);
    assert_eq!(
        alarms(T0 + 2000),
        vec![hot(AlarmState::UnackActive, T0 + 2000)]
    );
    assert_eq!(
        alarms(T0 + 3500),
        vec![vib.clone(), hot(AlarmState::UnackActive, T0 + 2000)]
    );
    assert_eq!(
        alarms(T0 + 4200),
        vec![vib.clone(), hot(AlarmState::UnackRtn, T0 + 4000)]
    );
    assert_eq!(alarms(end), vec![vib]);
    assert_eq!(store.alarms().len(), 2);
    let a = store.asset_by_id(A).unwrap();
    let hot_status = store
        .alarm_at(store.asset(a).unwrap().alarm_ids()[0], T0 + 3000)
        .unwrap();
    assert_eq!(hot_status.status.message.as_deref(), Some("too hot"));
    let hot_end = store
        .alarm_at(store.asset(a).unwrap().alarm_ids()[0], end)
        .unwrap();
    assert_eq!(hot_end.status.state, AlarmState::Normal);
    assert_eq!(hot_end.status.acked_by.as_deref(), Some("ann"));
    assert_eq!(hot_end.status.acked_at, Some(T0 + 4500));
    assert_eq!(
        snap["alarms"],
        json!([{"asset": C, "code": "VIB", "severity": "critical", "state": "unack_active", "since": T0 + 3000}])
    );

    // The plain event is a note, not an alarm.
    let notes: Vec<(i64, String, String, Option<String>)> = store
        .notes()
        .iter()
        .map(|n| {
            (
                n.ts,
                store.asset(n.asset).unwrap().id.to_string(),
                n.code.clone(),
                n.message.clone(),
            )
        })
        .collect();
    assert_eq!(
        notes,
        vec![(
            T0 + 3500,
            B.to_owned(),
            "PM".to_owned(),
            Some("greased".to_owned())
        )]
    );

    // Asset metadata and time range.
    let asset_a = store.asset(a).unwrap();
    assert_eq!(asset_a.implied_parent.as_deref(), Some("plant/l1"));
    assert_eq!(asset_a.parent_at(end), Some("plant/l1"));
    assert_eq!(
        asset_a
            .def_at(end)
            .flatten()
            .and_then(|d| d.name.clone())
            .as_deref(),
        Some("Mill 1")
    );
    assert_eq!(
        store
            .asset(store.asset_by_id(D).unwrap())
            .unwrap()
            .implied_parent,
        None
    );
    assert_eq!(
        store.asset(m9).unwrap().parent_at(T0 + 300),
        Some("plant/l2")
    );
    assert!(store.exists_at(a, T0 + 100));
    assert!(!store.exists_at(a, T0 + 99));
    assert_eq!(store.time_range(), Some((T0, T0 + 6000)));
}

#[test]
fn mapping_config_for_a_non_default_payload_shape() {
    let topics = "[topics]\ntelemetry = \"cars.state\"\nevents = \"cars.events\"\nassets = \"\"\n";
    let config = Config::parse(&format!("{topics}{}", common::CAR_MAPPING)).unwrap();
    let (_cluster, bootstrap, mut p) = common::producer_into(common::mock_cluster(
        3,
        &[("cars.state", 2), ("cars.events", 1)],
    ));
    // Kafka timestamps are far from the payload times, so a mix-up shows.
    let kts = T0 + 86_400_000;
    let s = "cars.state";
    p.send_str(s, 0, "gw-1", r#"{"vin": "V1", "t": 1700000000.5, "region": "eu", "fleet": "f3", "speed": 80, "gear": "D"}"#, kts);
    p.send_str(
        s,
        1,
        "gw-1",
        r#"{"vin": "V1", "t": 1700000001.25, "region": "eu", "fleet": "f3", "speed": 95.5}"#,
        kts,
    );
    p.send_str(
        s,
        0,
        "gw-2",
        r#"{"vin": "V2", "t": 1700000000, "region": "us", "fleet": "f1", "speed": 30}"#,
        kts,
    );
    p.send_str(
        s,
        1,
        "gw-2",
        r#"{"vin": "V3", "t": 1700000002, "region": "us", "fleet": "f1", "speed": 10}"#,
        kts,
    );
    let no_vin = p.send_str(s, 0, "gw-3", r#"{"t": 1700000003, "speed": 1}"#, kts);
    let bad_t = p.send_str(s, 1, "V2", r#"{"vin": "V2", "t": "soon", "speed": 1}"#, kts);
    let e = "cars.events";
    p.send_str(e, 0, "gw-1", r#"{"vin": "V1", "t": 1700000001, "type": "alarm", "code": "OVERSPEED", "sev": 1, "state": "active"}"#, kts);
    // V5 is only known from an event.
    p.send_str(e, 0, "gw-9", r#"{"vin": "V5", "t": 1700000001.5, "type": "alarm", "code": "LOWFUEL", "sev": 2, "state": "active"}"#, kts);
    let bad_sev = p.send_str(e, 0, "gw-9", r#"{"vin": "V5", "t": 1700000001.5, "type": "alarm", "code": "X", "sev": 7, "state": "active"}"#, kts);
    p.flush();

    let store = read_all(&config, &bootstrap);

    let got_bad = common::bad_list(&store);
    assert_eq!(
        got_bad,
        vec![
            (
                e.to_owned(),
                0,
                bad_sev,
                r#"unknown severity "7""#.to_owned()
            ),
            (
                s.to_owned(),
                0,
                no_vin,
                "missing asset id at /vin".to_owned()
            ),
            (
                s.to_owned(),
                1,
                bad_t,
                r#"bad time at /t: "soon""#.to_owned()
            ),
        ]
    );

    // Assets are keyed by vin, never by the record key.
    let mut ids: Vec<&str> = store.assets().iter().map(|a| a.id.as_ref()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["V1", "V2", "V3", "V5"]);
    assert_eq!(store.asset_by_id("gw-1"), None);

    // The group path comes from region and fleet. (V1 and V5 also have events; see
    // `pointer_hierarchy_parent_is_kept_for_assets_first_seen_in_events`.)
    let parent = |id: &str| {
        store
            .asset(store.asset_by_id(id).unwrap())
            .unwrap()
            .implied_parent
            .as_deref()
            .map(str::to_owned)
    };
    assert_eq!(parent("V2").as_deref(), Some("us/f1"));
    assert_eq!(parent("V3").as_deref(), Some("us/f1"));

    // Times are seconds in the payload and milliseconds in the store; the id and time fields
    // are not properties, the other hierarchy fields are.
    let end = 1_700_000_010_000;
    assert_eq!(
        store.snapshot(end)["assets"],
        json!({
            "V1": {"fleet": "f3", "gear": "D", "region": "eu", "speed": 95.5},
            "V2": {"fleet": "f1", "region": "us", "speed": 30.0},
            "V3": {"fleet": "f1", "region": "us", "speed": 10.0},
            "V5": {},
        })
    );
    assert_eq!(
        provenance(&store, "V1", "speed", end),
        (1, 0, 1_700_000_001_250, kts, num(95.5))
    );
    assert_eq!(
        provenance(&store, "V1", "speed", 1_700_000_001_249),
        (0, 0, 1_700_000_000_500, kts, num(80.0))
    );
    assert_eq!(props_json(&store, "V1", 1_700_000_000_499), json!({}));
    assert_eq!(
        store.time_range(),
        Some((1_700_000_000_000, 1_700_000_002_000))
    );

    // "sev": 1 maps to critical, "sev": 2 to high.
    let alarms = |t: i64| alarms_at(&store, t);
    assert_eq!(alarms(1_700_000_000_999), vec![]);
    assert_eq!(
        alarms(end),
        vec![
            (
                "V1".to_owned(),
                "OVERSPEED".to_owned(),
                Priority::Critical,
                AlarmState::UnackActive,
                1_700_000_001_000
            ),
            (
                "V5".to_owned(),
                "LOWFUEL".to_owned(),
                Priority::High,
                AlarmState::UnackActive,
                1_700_000_001_500
            ),
        ]
    );
    assert_eq!(store.snapshot(end)["alarms"][0]["severity"], "critical");
}

/// With a pointer hierarchy, the group path in an event payload must place the asset too:
/// otherwise an asset first seen in an event is never put under its region/fleet, and the
/// tree would depend on which topic happened to be read first.
#[test]
fn pointer_hierarchy_parent_is_kept_for_assets_first_seen_in_events() {
    let topics = "[topics]\ntelemetry = \"cars.state\"\nevents = \"cars.events\"\nassets = \"\"\n";
    let config = Config::parse(&format!("{topics}[mapping]{POINTER_HIERARCHY}")).unwrap();
    let (_cluster, bootstrap, mut p) = common::producer_into(common::mock_cluster(
        3,
        &[("cars.state", 1), ("cars.events", 1)],
    ));
    p.send_str("cars.events", 0, "k", r#"{"vin": "V9", "t": 1700000000, "region": "eu", "fleet": "f9", "type": "alarm", "code": "HOT", "severity": "high", "state": "active"}"#, T0);
    p.flush();
    let store = read_all(&config, &bootstrap);
    let v9 = store.asset(store.asset_by_id("V9").unwrap()).unwrap();
    assert_eq!(v9.implied_parent.as_deref(), Some("eu/f9"));
}

/// (path, parent path, label, kind, is an asset) of a tree node.
type TreeRow = (String, Option<String>, String, Option<String>, bool);

/// Every node of the tree at `t`, sorted by path.
fn tree_rows(store: &Store, t: i64) -> Vec<TreeRow> {
    let tree = Tree::build(store, t);
    let mut rows: Vec<_> = tree
        .nodes
        .iter()
        .map(|n| {
            (
                n.path.to_string(),
                n.parent.map(|p| tree.nodes[p as usize].path.to_string()),
                n.label.clone(),
                n.kind.clone(),
                n.asset.is_some(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn tree_and_existence_follow_assets_topic_at_t() {
    let (_cluster, bootstrap, mut p) = common::producer_into(common::twin_cluster(3, 2, 1));
    const OLD: &str = "plant/l9/old";
    const NEW: &str = "plant/l9/new";
    p.send_str(
        TELEMETRY,
        0,
        OLD,
        &format!(r#"{{"ts": {}, "temp": 1.0}}"#, T0 + 1000),
        T0 + 1000,
    );
    p.send_str(
        TELEMETRY,
        1,
        NEW,
        &format!(r#"{{"ts": {}, "temp": 2.0}}"#, T0 + 3000),
        T0 + 3000,
    );
    // Telemetry after the tombstone does not bring the asset back.
    p.send_str(
        TELEMETRY,
        1,
        NEW,
        &format!(r#"{{"ts": {}, "temp": 3.0}}"#, T0 + 9000),
        T0 + 9000,
    );
    p.send_str(
        ASSETS,
        0,
        NEW,
        &format!(
            r#"{{"ts": {}, "name": "New one", "kind": "machine", "attributes": {{"serial": 42}}}}"#,
            T0 + 2000
        ),
        T0 + 2000,
    );
    p.send(ASSETS, 0, Some(NEW.as_bytes()), None, T0 + 8000);
    p.flush();

    let store = read_all(&Config::default(), &bootstrap);
    assert_eq!(store.bad_records(), &[]);
    let new = store.asset_by_id(NEW).unwrap();
    let old = store.asset_by_id(OLD).unwrap();
    let exists = |a, t| store.exists_at(a, t);
    assert_eq!(
        [999, 1000, 1999, 2000, 3000, 7999, 8000, 9000, 20_000].map(|d| (
            d,
            exists(new, T0 + d),
            exists(old, T0 + d)
        )),
        [
            (999, false, false),
            (1000, false, true),
            (1999, false, true),
            (2000, true, true),
            (3000, true, true),
            (7999, true, true),
            (8000, false, true),
            (9000, false, true),
            (20_000, false, true),
        ]
    );
    let def = store
        .asset(new)
        .unwrap()
        .def_at(T0 + 2000)
        .flatten()
        .cloned()
        .unwrap();
    assert_eq!(def.attributes, vec![("serial".to_owned(), "42".to_owned())]);
    assert_eq!(store.asset(new).unwrap().def_at(T0 + 1999), None);
    assert!(matches!(
        store.asset(new).unwrap().def_at(T0 + 8000),
        Some(None)
    ));

    assert!(Tree::build(&store, T0 + 999).is_empty());
    // (path, parent, label, kind, is an asset), as `tree_rows` lists them.
    let row = |path: &str, parent: Option<&str>, label: &str, kind: Option<&str>, asset| {
        (
            path.to_owned(),
            parent.map(str::to_owned),
            label.to_owned(),
            kind.map(str::to_owned),
            asset,
        )
    };
    let plant = row("plant", None, "plant", None, false);
    let line = row("plant/l9", Some("plant"), "l9", None, false);
    let old = row(OLD, Some("plant/l9"), "old", None, true);
    let new = row(NEW, Some("plant/l9"), "New one", Some("machine"), true);
    let before = vec![plant.clone(), line.clone(), old.clone()];
    assert_eq!(tree_rows(&store, T0 + 1999), before);
    let with_new = vec![plant, line, new, old];
    assert_eq!(tree_rows(&store, T0 + 2000), with_new);
    assert_eq!(tree_rows(&store, T0 + 7999), with_new);
    assert_eq!(tree_rows(&store, T0 + 8000), before);
    assert_eq!(tree_rows(&store, T0 + 9000), before);
    let tree = Tree::build(&store, T0 + 2000);
    assert!(tree.find(NEW).is_some());
    assert!(Tree::build(&store, T0 + 8000).find(NEW).is_none());

    // The snapshot follows existence too, but the history is still there.
    assert_eq!(
        store.snapshot(T0 + 3000)["assets"][NEW],
        json!({"temp": 2.0})
    );
    assert_eq!(store.snapshot(T0 + 9000)["assets"].get(NEW), None);
    assert_eq!(props_json(&store, NEW, T0 + 9000), json!({"temp": 3.0}));
}

#[test]
fn missing_topics_are_reported() {
    let cluster = MockCluster::new(3).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let config = Config::default();

    // Bounded read: reported as soon as the first metadata answer arrives.
    let started = Instant::now();
    let res = read_bounded(
        &config,
        &bootstrap,
        twinscope::timeline::now_ms(),
        0,
        Duration::from_secs(10),
    );
    let took = started.elapsed();
    match res {
        Err(HeadlessError::MissingTopics(t)) => assert_eq!(t, "twin.telemetry, twin.events"),
        other => panic!("expected MissingTopics, got {other:?}"),
    }
    assert!(took < Duration::from_secs(10), "took {took:?}");

    // Unbounded read: reported once the connect timeout has passed.
    let started = Instant::now();
    let res = twinscope::headless::read_to_store(
        common::spec(&config, &bootstrap),
        0,
        Duration::from_secs(3),
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    match res {
        Err(HeadlessError::MissingTopics(t)) => assert_eq!(t, "twin.telemetry, twin.events"),
        other => panic!("expected MissingTopics, got {other:?}"),
    }
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "took {took:?}"
    );

    // Only the assets topic missing is fine: it is optional.
    cluster.create_topic(TELEMETRY, 1, 1).unwrap();
    cluster.create_topic(EVENTS, 1, 1).unwrap();
    let store = read_bounded(
        &config,
        &bootstrap,
        twinscope::timeline::now_ms(),
        0,
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(store.assets().len(), 0);
    assert_eq!(store.stats().records, 0);
}

//! A plant with one known incident, for the incident bundle and incident view tests: what the
//! ranking must put on top, which alarm is the worst unacknowledged one, and every record's
//! offset, so a bundle can be checked value by value against what was produced.
//!
//! `plant/line1/robot` (telemetry partition 0) reports torque, temp and mode every minute for
//! 110 minutes; `plant/line1/conv` and `plant/line2/press` (partition 1) report speed and
//! pressure. Before the incident: torque jumps far outside its normal range at 90 min and mode
//! goes AUTO → MANUAL at 97 min (the state change ranks first). Alarms: FAULT_COLLISION
//! (critical) on the robot raised at 40 min, acknowledged by alice with a comment, cleared at
//! 45 min, raised again at 100 min and left unacknowledged (the incident); HOT (medium) on the
//! press raised at 96 min; E_STOP (critical) on the conveyor raised at 20 min and acknowledged
//! by bob at 105 min, so it sorts above FAULT_COLLISION until unacknowledged alarms are asked for.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use serde_json::{Value as Json, json};

use super::TestProducer;
use super::fold::Produced;

pub const T0: i64 = 1_700_000_000_000;
pub const MIN: i64 = 60_000;
pub const ROBOT: &str = "plant/line1/robot";
pub const CONV: &str = "plant/line1/conv";
pub const PRESS: &str = "plant/line2/press";
pub const CODE: &str = "FAULT_COLLISION";
/// The incident's onset.
pub const ONSET: i64 = T0 + 100 * MIN;
/// The earlier, acknowledged and cleared, onset of the same alarm.
pub const FIRST_ONSET: i64 = T0 + 40 * MIN;
pub const ACK_COMMENT: &str = "gripper jammed, cleared by hand";

/// The plant in a fresh mock cluster: the cluster (keep it alive) and what was produced.
pub fn produce_plant() -> (MockCluster<'static, DefaultProducerContext>, Produced) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("twin.telemetry", 2, 1).unwrap();
    for t in ["twin.events", "twin.assets", "twin.commands"] {
        cluster.create_topic(t, 1, 1).unwrap();
    }
    let mut p = TestProducer::new(&cluster.bootstrap_servers());
    let mut produced = Produced::default();
    let prop = |k: &str, v: Json| (k.to_owned(), v);
    for i in 0..=110_i64 {
        let ts = T0 + i * MIN;
        let torque = if i >= 90 { 55.0 } else { 10.0 + (i % 3) as f64 };
        let mut props = vec![
            prop("torque", json!(torque)),
            prop("temp", json!(40.0 + (i % 7) as f64)),
        ];
        if i == 0 || i == 97 {
            props.push(prop("mode", json!(if i == 0 { "AUTO" } else { "MANUAL" })));
        }
        produced.send_tele(&mut p, 0, ROBOT, ts, props);
        let speed = 1.0 + (i % 5) as f64 * 0.1;
        produced.send_tele(&mut p, 1, CONV, ts, vec![prop("speed", json!(speed))]);
        let pressure = 200.0 + (i % 4) as f64;
        produced.send_tele(
            &mut p,
            1,
            PRESS,
            ts,
            vec![prop("pressure", json!(pressure))],
        );
    }
    let mut alarm = |asset: &str,
                     ts: i64,
                     code: &str,
                     severity: &str,
                     state: &str,
                     by: &str,
                     comment: Option<&str>| {
        let mut v = json!({"ts": ts, "type": "alarm", "code": code, "severity": severity, "state": state, "message": format!("{code} on {asset}")});
        if !by.is_empty() {
            v["by"] = json!(by);
        }
        if let Some(c) = comment {
            v["comment"] = json!(c);
        }
        p.send_str("twin.events", 0, asset, &v.to_string(), ts);
    };
    alarm(
        CONV,
        T0 + 20 * MIN,
        "E_STOP",
        "critical",
        "active",
        "",
        None,
    );
    alarm(ROBOT, FIRST_ONSET, CODE, "critical", "active", "", None);
    alarm(
        ROBOT,
        T0 + 42 * MIN,
        CODE,
        "critical",
        "acked",
        "alice",
        Some(ACK_COMMENT),
    );
    alarm(ROBOT, T0 + 45 * MIN, CODE, "critical", "cleared", "", None);
    alarm(PRESS, T0 + 96 * MIN, "HOT", "medium", "active", "", None);
    alarm(ROBOT, ONSET, CODE, "critical", "active", "", None);
    alarm(
        CONV,
        T0 + 105 * MIN,
        "E_STOP",
        "critical",
        "acked",
        "bob",
        None,
    );
    p.flush();
    (cluster, produced)
}

/// The record (partition, offset, Kafka time) that set `asset.prop` as of `t`, and its value.
pub fn winner(
    produced: &Produced,
    asset: &str,
    prop: &str,
    t: i64,
) -> Option<((i32, i64, i64), Json)> {
    produced
        .tele
        .iter()
        .filter(|r| r.key == asset && r.ts <= t)
        .filter_map(|r| {
            r.props
                .iter()
                .find(|(k, _)| k == prop)
                .map(|(_, v)| ((r.ts, r.partition, r.offset), v.clone()))
        })
        .max_by_key(|(k, _)| *k)
        .map(|((ts, partition, offset), v)| ((partition, offset, ts), v))
}

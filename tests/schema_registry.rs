//! Avro, Protobuf and JSON Schema records through a real schema registry (Apicurio Registry,
//! `tests/common/registry.rs`) and a Kafka-protocol broker: schemas are registered over the
//! registry's Confluent-compatible API, records are produced in the Confluent wire format by
//! the Rust encoders, and read back by the real ingest thread. Expected values are the ones
//! produced; the failure cases check the exact bad-record list and that the records around
//! each failure are applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use twinscope::config::Config;
use twinscope::kafka::ingest::{Ingest, IngestEvent};
use twinscope::schema::avro::AvroSchema;
use twinscope::schema::encode::frame_proto;
use twinscope::schema::evolution::schema_change;
use twinscope::schema::protobuf::{ProtoSchema, to_base64_descriptor};
use twinscope::schema::{provenance, wire};
use twinscope::testkit::schemas::{CAR_PROTO, POS_PROTO};
use twinscope::twin::Store;

use common::registry::Registry;
use common::{TestProducer, read_all};
use egui_kittest::kittest::Queryable as _;

/// Base of all event times: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;
const TELEMETRY: &str = "twin.telemetry";

/// One registry for the whole file (each test uses its own subjects); the JVM dies with the
/// test process through the fixture's watchdog.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::start)
}

/// One broker with the twin topics, telemetry on two partitions, and its bootstrap servers.
fn cluster() -> (common::Cluster, String) {
    let cluster = common::twin_cluster(1, 2, 1);
    let bootstrap = cluster.bootstrap_servers();
    (cluster, bootstrap)
}

/// Produces `value`, framed by `frame`, to `partition` of the telemetry topic under `key`,
/// with its event time (`ts`) as its Kafka time; returns its offset.
fn send_framed(
    p: &mut TestProducer,
    partition: i32,
    key: &str,
    value: &Json,
    frame: impl Fn(&Json) -> Vec<u8>,
) -> i64 {
    let ts = value["ts"].as_i64().expect("a record with an event time");
    p.send(
        TELEMETRY,
        partition,
        Some(key.as_bytes()),
        Some(&frame(value)),
        ts,
    )
}

/// The Avro `schema` registered under `subject` (its id), and parsed here to encode records.
fn register_avro(reg: &Registry, subject: &str, schema: &str) -> (u32, AvroSchema) {
    let id = reg.register(subject, "AVRO", schema, &[]);
    (id, AvroSchema::parse(schema, &[]).unwrap())
}

fn config_for(reg: Option<&Registry>) -> Config {
    let mut config = Config::default();
    config.schema_registry.url = reg.map(Registry::url);
    config
}

/// All properties of an asset at `t`.
fn props_json(store: &Store, id: &str, t: i64) -> Json {
    let a = store
        .asset_by_id(id)
        .unwrap_or_else(|| panic!("asset {id} missing"));
    Json::Object(
        store
            .props_at(a, t)
            .into_iter()
            .map(|p| (p.name.to_string(), p.sample.value.to_json()))
            .collect(),
    )
}

/// The bad records as (partition, offset, reason).
fn bad_list(store: &Store) -> Vec<(i32, i64, String)> {
    let mut v: Vec<_> = store
        .bad_records()
        .iter()
        .map(|b| (b.partition, b.offset, b.reason.clone()))
        .collect();
    v.sort();
    v
}

/// `bad` (from [`bad_list`]) is the record at `offset` of partition 0, for a reason that
/// starts with `reason`.
fn assert_bad_at(bad: &(i32, i64, String), offset: i64, reason: &str) {
    assert_eq!((bad.0, bad.1), (0, offset), "{bad:?}");
    assert!(bad.2.starts_with(reason), "{}", bad.2);
}

/// The provenance line of a record: "subject vN".
fn schema_at(bootstrap: &str, partition: i32, offset: i64) -> Option<String> {
    provenance::lookup(bootstrap, TELEMETRY, partition, offset).map(|t| {
        format!(
            "{} v{}",
            t.subject.clone().unwrap_or_default(),
            t.version.unwrap_or(0)
        )
    })
}

const MACHINE_V1: &str = r#"{"type": "record", "name": "Machine", "namespace": "plant", "fields": [
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "temperature", "type": "double"},
    {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["RUN", "IDLE", "FAULT"]}},
    {"name": "bearing", "type": {"type": "record", "name": "Bearing", "fields": [{"name": "wear", "type": "float"}]}},
    {"name": "note", "type": ["null", "string"], "default": null}
]}"#;

/// A [`MACHINE_V1`] record at event time `ts`.
fn machine(ts: i64, temperature: f64, state: &str, wear: f64, note: Option<&str>) -> Json {
    json!({"ts": ts, "temperature": temperature, "state": state, "bearing": {"wear": wear},
        "note": note})
}

#[test]
fn avro_records_become_the_same_properties_as_json_on_a_mixed_topic() {
    let reg = registry();
    let (_cluster, bootstrap) = cluster();
    let (id, schema) = register_avro(reg, "mixed-avro-value", MACHINE_V1);
    let avro = |v: &Json| wire::frame(id, &schema.encode_json(v).unwrap());
    let send = |p: &mut TestProducer, partition, key: &str, v: Json| {
        send_framed(p, partition, key, &v, avro)
    };
    let mut p = TestProducer::new(&bootstrap);
    let press = "plant/l1/press";
    let oven = "plant/l2/oven";
    let o0 = send(
        &mut p,
        0,
        press,
        machine(T0 + 1000, 61.5, "RUN", 0.25, Some("new pads")),
    );
    // A producer not migrated yet writes plain JSON between the Avro records.
    let o1 = p.send_str(
        TELEMETRY,
        0,
        press,
        &format!(
            r#"{{"ts": {}, "temperature": 62.0, "state": "IDLE"}}"#,
            T0 + 2000
        ),
        T0 + 2000,
    );
    let o2 = send(
        &mut p,
        0,
        press,
        machine(T0 + 3000, 63.25, "FAULT", 0.5, None),
    );
    send(&mut p, 1, oven, machine(T0 + 1500, 180.0, "RUN", 0.0, None));
    p.flush();

    let store = read_all(&config_for(Some(reg)), &bootstrap);
    assert_eq!(bad_list(&store), vec![]);
    assert_eq!(
        props_json(&store, press, T0 + 1000),
        json!({"temperature": 61.5, "state": "RUN", "bearing.wear": 0.25, "note": "new pads"})
    );
    assert_eq!(
        props_json(&store, press, T0 + 2000),
        json!({"temperature": 62.0, "state": "IDLE", "bearing.wear": 0.25, "note": "new pads"})
    );
    // A null union branch is no value, like a JSON null: "note" keeps its last one.
    assert_eq!(
        props_json(&store, press, T0 + 3000),
        json!({"temperature": 63.25, "state": "FAULT", "bearing.wear": 0.5, "note": "new pads"})
    );
    assert_eq!(
        props_json(&store, oven, T0 + 9000),
        json!({"temperature": 180.0, "state": "RUN", "bearing.wear": 0.0})
    );
    // The hierarchy comes from the asset id as for JSON.
    assert!(store.asset_by_id(press).is_some() && store.asset_by_id(oven).is_some());
    // Provenance: each Avro record names its subject and version; the JSON one none.
    assert_eq!(
        schema_at(&bootstrap, 0, o0).as_deref(),
        Some("mixed-avro-value v1")
    );
    assert_eq!(schema_at(&bootstrap, 0, o1), None);
    assert_eq!(
        schema_at(&bootstrap, 0, o2).as_deref(),
        Some("mixed-avro-value v1")
    );
}

/// A `fleet.Car` in the wire format: message indexes `[1]` (the second message of the file).
fn car_record(
    s: &ProtoSchema,
    id: u32,
    vin: &str,
    t: i64,
    speed: f64,
    lat: f64,
    gear: i32,
) -> Vec<u8> {
    let v = json!({
        "vin": vin,
        "speed": speed,
        "gear": gear,
        "odometer_m": 1_234_567,
        "region": "eu",
        "pos": {"lat": lat, "lon": 11.5},
        "t": {"seconds": t / 1000, "nanos": (t % 1000) * 1_000_000},
    });
    frame_proto(id, &[1], &s.message(&[1]).unwrap(), &v).unwrap()
}

#[test]
fn protobuf_with_an_import_decodes_from_proto_text_and_from_a_base64_descriptor() {
    let reg = registry();
    let (_cluster, bootstrap) = cluster();
    let pos_id = reg.register("geo-pos", "PROTOBUF", POS_PROTO, &[]);
    assert!(pos_id > 0);
    let refs = [("geo/pos.proto", "geo-pos", 1)];
    let text_id = reg.register("cars-value", "PROTOBUF", CAR_PROTO, &refs);
    // The same schema stored the other way registries store Protobuf: a base64
    // FileDescriptorProto.
    let b64 = to_base64_descriptor("fleet/car.proto", CAR_PROTO).unwrap();
    let b64_id = reg.register("cars-b64-value", "PROTOBUF", &b64, &refs);
    assert_ne!(text_id, b64_id);
    let stored = reg.get(&format!("schemas/ids/{b64_id}")).unwrap();
    assert_eq!(
        stored["schema"],
        json!(b64),
        "the registry keeps the descriptor as given"
    );

    let local = ProtoSchema::compile(
        "fleet/car.proto",
        CAR_PROTO,
        &[("geo/pos.proto".into(), POS_PROTO.into())],
    )
    .unwrap();
    let mut p = TestProducer::new(&bootstrap);
    // The key is not the id (`/vin` is), and the Kafka times are not the event times.
    let car_a = car_record(&local, text_id, "VIN-A", T0 + 1250, 87.5, 48.25, 1);
    let a = p.send(TELEMETRY, 0, Some(b"ignored"), Some(&car_a), T0 + 1300);
    let car_b = car_record(&local, b64_id, "VIN-B", T0 + 2500, 0.0, 52.5, 0);
    let b = p.send(TELEMETRY, 1, Some(b"ignored"), Some(&car_b), T0 + 2600);
    p.flush();

    // The mapping applies unchanged: id and time pointers into the decoded message, the
    // hierarchy from payload fields.
    let mut config: Config = Config::parse(
        r#"
        [mapping]
        asset_id = "/vin"
        time = "/t"
        hierarchy = ["/region", "/vin"]
        "#,
    )
    .unwrap();
    config.schema_registry.url = Some(reg.url());
    let store = read_all(&config, &bootstrap);
    assert_eq!(bad_list(&store), vec![]);
    // The event time is the Timestamp (ms), not the Kafka time.
    assert!(
        store
            .props_at(store.asset_by_id("VIN-A").unwrap(), T0 + 1249)
            .is_empty()
    );
    assert_eq!(
        props_json(&store, "VIN-A", T0 + 1250),
        json!({"speed": 87.5, "pos.lat": 48.25, "pos.lon": 11.5, "gear": "DRIVE",
            "odometer_m": 1_234_567.0, "region": "eu"})
    );
    // proto3 defaults (speed 0, gear PARK) are values, not absences.
    assert_eq!(
        props_json(&store, "VIN-B", T0 + 2500),
        json!({"speed": 0.0, "pos.lat": 52.5, "pos.lon": 11.5, "gear": "PARK",
            "odometer_m": 1_234_567.0, "region": "eu"})
    );
    assert_eq!(
        schema_at(&bootstrap, 0, a).as_deref(),
        Some("cars-value v1")
    );
    assert_eq!(
        schema_at(&bootstrap, 1, b).as_deref(),
        Some("cars-b64-value v1")
    );
}

const READING_JSON_SCHEMA: &str = r#"{"type": "object", "required": ["ts", "temperature"],
  "properties": {"ts": {"type": "integer"}, "temperature": {"type": "number", "maximum": 500},
                 "site": {"type": "object", "properties": {"hall": {"type": "string"}}}}}"#;

#[test]
fn json_schema_payloads_are_validated_and_flattened() {
    let reg = registry();
    let (_cluster, bootstrap) = cluster();
    let id = reg.register("readings-value", "JSON", READING_JSON_SCHEMA, &[]);
    let framed = |v: &Json| wire::frame(id, v.to_string().as_bytes());
    let send = |p: &mut TestProducer, v: Json| send_framed(p, 0, "b/hall/sensor", &v, framed);
    let mut p = TestProducer::new(&bootstrap);
    send(
        &mut p,
        json!({"ts": T0 + 1000, "temperature": 21.5, "site": {"hall": "H2"}}),
    );
    let bad_type = send(&mut p, json!({"ts": T0 + 2000, "temperature": "warm"}));
    let too_hot = send(&mut p, json!({"ts": T0 + 2500, "temperature": 900}));
    send(&mut p, json!({"ts": T0 + 3000, "temperature": 22.0}));
    p.flush();
    let store = read_all(&config_for(Some(reg)), &bootstrap);
    let schema = format!("readings-value v1 (JSON Schema, id {id})");
    let bad = bad_list(&store);
    assert_eq!(bad.len(), 2, "{bad:?}");
    let reason = format!("payload does not match its schema {schema}: at /temperature:");
    assert_bad_at(&bad[0], bad_type, &reason);
    assert_eq!((bad[1].0, bad[1].1), (0, too_hot));
    assert!(bad[1].2.contains("900"), "{}", bad[1].2);
    assert_eq!(
        props_json(&store, "b/hall/sensor", T0 + 2999),
        json!({"temperature": 21.5, "site.hall": "H2"})
    );
    assert_eq!(
        props_json(&store, "b/hall/sensor", T0 + 3000),
        json!({"temperature": 22.0, "site.hall": "H2"})
    );
}

const EVO_V1: &str = r#"{"type": "record", "name": "Pump", "fields": [
    {"name": "ts", "type": "long"},
    {"name": "temperature", "type": "double"},
    {"name": "pressure", "type": "double"}
]}"#;
const EVO_V2: &str = r#"{"type": "record", "name": "Pump", "fields": [
    {"name": "ts", "type": "long"},
    {"name": "temperature", "type": "double"},
    {"name": "humidity", "type": "double", "default": 0.0}
]}"#;

#[test]
fn schema_evolution_is_exact_at_every_time_and_the_diff_names_fields_that_came_and_went() {
    let reg = registry();
    let (_cluster, bootstrap) = cluster();
    let (v1, s1) = register_avro(reg, "pumps-value", EVO_V1);
    let (v2, s2) = register_avro(reg, "pumps-value", EVO_V2);
    assert_ne!(v1, v2);
    let pump = "site/pumps/p1";
    let mut p = TestProducer::new(&bootstrap);
    // Event times 1..=5 s with v1, 6..=10 s with v2; the v2 records are produced first to
    // another partition, so arrival order is not time order.
    let mut expected: Vec<(i64, Json)> = Vec::new();
    for i in 6..=10 {
        let ts = T0 + i * 1000;
        let v = json!({"ts": ts, "temperature": 50.0 + i as f64, "humidity": 30.0 + i as f64});
        p.send(
            TELEMETRY,
            1,
            Some(pump.as_bytes()),
            Some(&wire::frame(v2, &s2.encode_json(&v).unwrap())),
            ts,
        );
    }
    for i in 1..=5 {
        let ts = T0 + i * 1000;
        let v =
            json!({"ts": ts, "temperature": 50.0 + i as f64, "pressure": 2.0 + i as f64 / 10.0});
        p.send(
            TELEMETRY,
            0,
            Some(pump.as_bytes()),
            Some(&wire::frame(v1, &s1.encode_json(&v).unwrap())),
            ts,
        );
    }
    p.flush();
    // The reference fold: each property's last value at or before T.
    for i in 1..=10 {
        let mut state = serde_json::Map::new();
        state.insert("temperature".into(), json!(50.0 + i as f64));
        state.insert("pressure".into(), json!(2.0 + i.min(5) as f64 / 10.0));
        if i >= 6 {
            state.insert("humidity".into(), json!(30.0 + i as f64));
        }
        expected.push((T0 + i * 1000, Json::Object(state)));
    }
    let store = read_all(&config_for(Some(reg)), &bootstrap);
    assert_eq!(bad_list(&store), vec![]);
    for (t, want) in &expected {
        assert_eq!(&props_json(&store, pump, *t), want, "at {t}");
        assert_eq!(&props_json(&store, pump, t + 999), want, "at {t} + 999");
    }
    assert_eq!(
        schema_at(&bootstrap, 0, 0).as_deref(),
        Some("pumps-value v1")
    );
    assert_eq!(
        schema_at(&bootstrap, 1, 4).as_deref(),
        Some("pumps-value v2")
    );

    // Across the change: humidity appeared; pressure is still shown with its last value but
    // is written by no record of the schema in force.
    let change = schema_change(&store, &bootstrap, TELEMETRY, pump, T0 + 5000, T0 + 10_000)
        .expect("a schema change between 5 s and 10 s");
    assert_eq!(change.from.as_ref().map(|t| t.id), Some(v1));
    assert_eq!(change.to.as_ref().map(|t| t.id), Some(v2));
    assert_eq!(change.appeared, ["humidity"]);
    assert_eq!(change.disappeared, ["pressure"]);
    assert_eq!(
        schema_change(&store, &bootstrap, TELEMETRY, pump, T0 + 6000, T0 + 10_000),
        None,
        "same schema at both times"
    );
    // The store's own diff agrees on what appeared.
    let d = twinscope::twin::diff::diff(&store, T0 + 5000, T0 + 10_000, Some(pump));
    let humidity = d.changed.iter().find(|c| c.property == "humidity").unwrap();
    assert_eq!(
        (humidity.old.clone(), humidity.new.clone()),
        (None, Some(json!(40.0)))
    );
}

/// The diff window across a schema change says which properties appeared and disappeared:
/// v1 records (temperature, pressure) for 1..=5 s, then v2 (temperature, humidity) for
/// 6..=10 s; A at 5 s and B at 10 s on the selected pump name both, and A and B on the same
/// schema show no schema line.
#[test]
fn the_diff_window_names_the_properties_a_schema_change_added_and_dropped() {
    let reg = registry();
    let (_cluster, bootstrap) = cluster();
    let subject = format!("{TELEMETRY}-value");
    // The pump of the evolution test under another record name, so these versions get ids of
    // their own under the subject of the app's topic.
    let [ui_v1, ui_v2] = [EVO_V1, EVO_V2].map(|s| s.replace(r#""Pump""#, r#""UiPump""#));
    let (v1, s1) = register_avro(reg, &subject, &ui_v1);
    let (v2, s2) = register_avro(reg, &subject, &ui_v2);
    let pump = "pump-ui";
    let mut p = TestProducer::new(&bootstrap);
    for i in 1..=10 {
        let ts = T0 + i * 1000;
        let (id, schema, v) = if i <= 5 {
            (
                v1,
                &s1,
                json!({"ts": ts, "temperature": 50.0 + i as f64, "pressure": 2.5}),
            )
        } else {
            (
                v2,
                &s2,
                json!({"ts": ts, "temperature": 50.0 + i as f64, "humidity": 40.0}),
            )
        };
        let value = wire::frame(id, &schema.encode_json(&v).unwrap());
        p.send(TELEMETRY, 0, Some(pump.as_bytes()), Some(&value), ts);
    }
    p.flush();
    let mut h = common::window_on(
        &bootstrap,
        config_for(Some(reg)),
        twinscope::config::ClientProps::default(),
    );
    common::step_until(&mut h, Duration::from_secs(30), "the ten records", |h| {
        h.state().caught_up() && h.state().store().stats().records == 10
    });
    h.get_by_label(pump).click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some(pump));
    let diff = |h: &mut common::App, a: i64, b: i64| {
        common::go_to(h, a);
        h.get_by_label("Set A").click();
        h.run_steps(2);
        common::go_to(h, b);
        h.get_by_label("Set B").click();
        h.run_steps(2);
        h.get_by_label("Diff A→B").click();
        h.run_steps(3);
    };
    diff(&mut h, T0 + 5000, T0 + 10_000);
    h.get_by_label(&format!("schema {subject} v1 → v2: + humidity, − pressure"));
    // The export carries it too.
    let text = h
        .state()
        .export_text(twinscope::app::Export::Diff, T0 + 10_000)
        .unwrap();
    let exported: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(
        exported["schema_change"]["appeared"],
        json!(["humidity"]),
        "{text}"
    );
    assert_eq!(
        exported["schema_change"]["disappeared"],
        json!(["pressure"])
    );
    // Both times on v2: the same schema, no schema line (the diff itself is still shown).
    diff(&mut h, T0 + 7000, T0 + 10_000);
    h.get_by_label("Diff A → B");
    let text = common::ui_text(&h);
    assert!(!text.contains("schema "), "{text}");
    let text = h
        .state()
        .export_text(twinscope::app::Export::Diff, T0 + 10_000)
        .unwrap();
    assert!(!text.contains("schema_change"), "{text}");
}

const SMALL: &str = r#"{"type": "record", "name": "S", "fields": [{"name": "ts", "type": "long"}, {"name": "v", "type": "double"}]}"#;

#[test]
fn unknown_ids_mismatched_payloads_and_a_missing_registry_are_bad_records_between_good_ones() {
    let reg = registry();
    let (_cluster, bootstrap) = cluster();
    let (id, s) = register_avro(reg, "failures-value", SMALL);
    let good =
        |ts: i64, v: f64| wire::frame(id, &s.encode_json(&json!({"ts": ts, "v": v})).unwrap());
    let key = Some(&b"a/b/c"[..]);
    let mut p = TestProducer::new(&bootstrap);
    p.send(TELEMETRY, 0, key, Some(&good(T0 + 1000, 1.0)), T0 + 1000);
    let unknown = p.send(
        TELEMETRY,
        0,
        key,
        Some(&wire::frame(
            999_999,
            &s.encode_json(&json!({"ts": T0, "v": 9.0})).unwrap(),
        )),
        T0 + 1100,
    );
    p.send_str(
        TELEMETRY,
        0,
        "a/b/c",
        &format!(r#"{{"ts": {}, "j": 2}}"#, T0 + 1200),
        T0 + 1200,
    );
    // A long with its continuation bit set and nothing after it.
    let truncated = p.send(
        TELEMETRY,
        0,
        key,
        Some(&wire::frame(id, &[0x80])),
        T0 + 1300,
    );
    let short = p.send(TELEMETRY, 0, key, Some(&[0, 0, 1]), T0 + 1400);
    p.send(TELEMETRY, 0, key, Some(&good(T0 + 1500, 3.0)), T0 + 1500);
    p.flush();

    let store = read_all(&config_for(Some(reg)), &bootstrap);
    let bad = bad_list(&store);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!(
        bad[0],
        (
            0,
            unknown,
            "unknown schema id 999999: the schema registry does not have it".to_owned()
        )
    );
    let reason = format!("payload does not match its schema failures-value v1 (Avro, id {id}):");
    assert_bad_at(&bad[1], truncated, &reason);
    assert_eq!(
        bad[2],
        (
            0,
            short,
            "wire format: 3 bytes is too short for the magic byte and a schema id".to_owned()
        )
    );
    assert_eq!(
        props_json(&store, "a/b/c", T0 + 1499),
        json!({"v": 1.0, "j": 2.0})
    );
    assert_eq!(
        props_json(&store, "a/b/c", T0 + 1500),
        json!({"v": 3.0, "j": 2.0})
    );

    // Without a registry: every framed record says so, the JSON one is applied.
    let store = read_all(&config_for(None), &bootstrap);
    let reasons: Vec<String> = bad_list(&store).into_iter().map(|b| b.2).collect();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert!(reasons[0].starts_with(&format!(
        "record in the Confluent wire format (schema id {id}) but no schema registry is configured"
    )));
    assert_eq!(props_json(&store, "a/b/c", T0 + 9999), json!({"j": 2.0}));
}

#[test]
fn an_unreachable_registry_is_a_banner_then_bad_records_and_json_keeps_flowing() {
    // Its own registry: this test stops it.
    let mut reg = Registry::start();
    let (_cluster, bootstrap) = cluster();
    let (id, s) = register_avro(&reg, "down-value", SMALL);
    let mut p = TestProducer::new(&bootstrap);
    let json_rec = |p: &mut TestProducer, ts: i64| {
        p.send_str(
            TELEMETRY,
            0,
            "x/y",
            &format!(r#"{{"ts": {ts}, "j": {ts}}}"#),
            ts,
        )
    };
    json_rec(&mut p, T0 + 1000);
    let framed = p.send(
        TELEMETRY,
        0,
        Some(b"x/y"),
        Some(&wire::frame(
            id,
            &s.encode_json(&json!({"ts": T0 + 1100, "v": 1.0})).unwrap(),
        )),
        T0 + 1100,
    );
    json_rec(&mut p, T0 + 1200);
    p.flush();
    reg.stop();

    let mut config = config_for(Some(&reg));
    config.schema_registry.retry_s = 2;
    let spec = common::spec(&config, &bootstrap);
    let ingest = Ingest::spawn(spec, Arc::new(|| {})).unwrap();
    let t0 = Instant::now();
    let (mut recs, mut bad, mut banner) = (Vec::new(), Vec::new(), None);
    while t0.elapsed() < Duration::from_secs(30) && recs.len() + bad.len() < 3 {
        match ingest.recv_timeout(Duration::from_millis(200)) {
            Ok(IngestEvent::Batch { recs: r, bad: b }) => {
                recs.extend(r.into_vec());
                bad.extend(b);
            }
            Ok(IngestEvent::Progress(pr)) => {
                if let Some(s) = pr.schema_registry {
                    banner.get_or_insert(s);
                }
            }
            _ => {}
        }
    }
    let waited = t0.elapsed();
    let banner = banner.expect("a banner while the registry is unreachable");
    assert!(banner.contains("unreachable"), "{banner}");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].offset, framed);
    assert!(
        bad[0].reason.starts_with("schema registry unreachable:"),
        "{}",
        bad[0].reason
    );
    // Both JSON records around it were applied.
    assert_eq!(recs.len(), 2);
    // It waited for the registry (about the 2 s window), and not much longer.
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
}

#[test]
fn the_demo_plants_avro_records_on_a_real_kafka_read_like_its_json() {
    use common::real_kafka::{KafkaOptions, RealKafka};
    use twinscope::schema::encode::AvroPlant;

    let reg = registry();
    // Topics of its own: the plant registers its schemas under `<topic>-value`, and the
    // registry is shared with the other tests, which count their versions under theirs.
    let (telemetry, events) = ("plant.telemetry", "plant.events");
    let mut config = config_for(Some(reg));
    config.topics.telemetry = telemetry.into();
    config.topics.events = events.into();
    let kafka = RealKafka::start(KafkaOptions::default());
    kafka.create_topic(telemetry, 2, 1, &[]);
    kafka.create_topic(events, 1, 1, &[]);
    let bootstrap = kafka.bootstrap();
    let plant = AvroPlant::register(&reg.settings(1), telemetry, events).unwrap();
    let mut p = TestProducer::new(&bootstrap);
    let machine = "plant-a/line-1/press-01";
    let mut expected = Vec::new();
    for i in 0..20i64 {
        let ts = T0 + i * 1000;
        let json = format!(
            r#"{{"ts":{ts},"temperature":{},"vibration":{},"spindle_rpm":1450,"power_kw":12.5,"good_count":{i},"state":"{}","bearing":{{"wear":0.25}}}}"#,
            60.0 + i as f64 / 4.0,
            2.0 + i as f64 / 8.0,
            if i % 5 == 4 { "IDLE" } else { "RUN" }
        );
        expected.push((ts, json.clone()));
        let bytes = plant.telemetry(&json).unwrap();
        p.send(
            telemetry,
            (i % 2) as i32,
            Some(machine.as_bytes()),
            Some(&bytes),
            ts,
        );
    }
    let alarm = format!(
        r#"{{"ts": {}, "type": "alarm", "code": "VIB_HIGH", "severity": "high", "state": "active", "message": "vibration"}}"#,
        T0 + 5000
    );
    p.send(
        events,
        0,
        Some(machine.as_bytes()),
        Some(&plant.event(&alarm).unwrap()),
        T0 + 5000,
    );
    p.flush();
    let store = read_all(&config, &bootstrap);
    assert_eq!(bad_list(&store), vec![]);
    // Each state equals the JSON the record was made from, decoded by the JSON path.
    for (ts, json) in &expected {
        let mut want: Json = serde_json::from_str(json).unwrap();
        let obj = want.as_object_mut().unwrap();
        obj.remove("ts");
        let wear = obj.remove("bearing").unwrap()["wear"].clone();
        obj.insert("bearing.wear".into(), wear);
        for v in obj.values_mut() {
            if let Some(n) = v.as_f64() {
                *v = json!(n);
            }
        }
        assert_eq!(&props_json(&store, machine, *ts), &want, "at {ts}");
    }
    let alarms = store.alarms_at(T0 + 5000);
    assert_eq!(alarms.len(), 1, "the Avro alarm is active");
}

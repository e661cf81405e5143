//! Decode cost per format: the same telemetry records (the ingest benchmark's workload: ts,
//! three numbers and a state, about 110 B as JSON) as plain JSON, and as Avro, Protobuf and
//! JSON Schema in the Confluent wire format, each through the path the ingest thread takes
//! (header, schema decode, mapping into a twin record). The schema is compiled once, as the
//! registry cache holds it; the by-id lookup itself is one hash-map hit and is not measured.
//!
//! `cargo bench --bench decode` prints records/s per format; under `cargo test` (no `--bench`)
//! it runs a few iterations on a small set, so CI only checks that it works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value as Json;
use twinscope::schema::encode::{MACHINE_AVRO, MACHINE_PROTO, frame_proto};
use twinscope::schema::protobuf::ProtoSchema;
use twinscope::schema::{Format, Schema, SchemaTag, avro::AvroSchema, wire};
use twinscope::testkit::Workload;
use twinscope::twin::decode::{Origin, decode, decode_value};
use twinscope::twin::mapping::Mapping;
use twinscope::twin::{Decoded, Role};

const JSON_SCHEMA: &str = r#"{"type": "object", "required": ["ts", "temperature"],
  "properties": {"ts": {"type": "integer"}, "temperature": {"type": "number"},
  "vibration": {"type": "number"}, "power_kw": {"type": "number"},
  "state": {"type": "string", "enum": ["RUN", "IDLE", "FAULT", "MAINT"]}}}"#;

fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn tag(id: u32, format: Format) -> SchemaTag {
    SchemaTag {
        id,
        format,
        subject: None,
        version: None,
    }
}

/// One record per format: key, JSON value, and the framed Avro, Protobuf and JSON Schema values.
struct Sample {
    key: String,
    json: Vec<u8>,
    avro: Vec<u8>,
    proto: Vec<u8>,
    json_schema: Vec<u8>,
}

fn samples(n: usize, avro: &AvroSchema, proto: &ProtoSchema) -> Vec<Sample> {
    let w = Workload {
        records: n,
        assets: 10_000,
        start: 1_700_000_000_000,
        span_ms: 3_600_000,
        state: true,
    };
    let desc = proto.message(&[0]).unwrap();
    (0..n)
        .map(|i| {
            let text = w.payload(i);
            let v: Json = serde_json::from_str(&text).unwrap();
            Sample {
                key: Workload::asset_id(w.asset(i)),
                json: text.clone().into_bytes(),
                avro: wire::frame(1, &avro.encode_json(&v).unwrap()),
                proto: frame_proto(2, &[0], &desc, &v).unwrap(),
                json_schema: wire::frame(3, text.as_bytes()),
            }
        })
        .collect()
}

fn origin(i: usize) -> Origin {
    Origin {
        role: Role::Telemetry,
        partition: 0,
        offset: i as i64,
        kafka_ts: 1_700_000_000_000 + 3_600_000,
    }
}

/// The ingest thread's framed path: header, schema decode, then the shared mapping.
fn framed(mapping: &Mapping, schema: &Schema, o: Origin, key: &str, value: &[u8]) -> Decoded {
    let (_, payload) = wire::split(value).unwrap();
    let json = schema.decode(payload).unwrap();
    decode_value(mapping, o, Some(key.as_bytes()), json).unwrap()
}

fn bench(c: &mut Criterion) {
    let n = if full() { 10_000 } else { 50 };
    let mapping = Mapping::default();
    let avro_schema = AvroSchema::parse(MACHINE_AVRO, &[]).unwrap();
    let avro = Schema::compile(tag(1, Format::Avro), MACHINE_AVRO, &[]).unwrap();
    let proto = Schema::compile(tag(2, Format::Protobuf), MACHINE_PROTO, &[]).unwrap();
    let proto_local = ProtoSchema::compile("m.proto", MACHINE_PROTO, &[]).unwrap();
    let json_schema = Schema::compile(tag(3, Format::JsonSchema), JSON_SCHEMA, &[]).unwrap();
    let recs = samples(n, &avro_schema, &proto_local);

    // Every format decodes to the same twin record.
    for (i, s) in recs.iter().enumerate() {
        let want = decode(&mapping, origin(i), Some(s.key.as_bytes()), Some(&s.json)).unwrap();
        assert_eq!(framed(&mapping, &avro, origin(i), &s.key, &s.avro), want);
        assert_eq!(framed(&mapping, &proto, origin(i), &s.key, &s.proto), want);
        assert_eq!(
            framed(&mapping, &json_schema, origin(i), &s.key, &s.json_schema),
            want
        );
    }

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(n as u64));
    if !full() {
        g.sample_size(10);
        g.warm_up_time(std::time::Duration::from_millis(10));
        g.measurement_time(std::time::Duration::from_millis(50));
    }
    g.bench_function("json", |b| {
        b.iter(|| {
            for (i, s) in recs.iter().enumerate() {
                black_box(decode(&mapping, origin(i), Some(s.key.as_bytes()), Some(&s.json)).ok());
            }
        });
    });
    for (name, schema, pick) in [
        (
            "avro",
            &avro,
            (|s: &Sample| &s.avro) as fn(&Sample) -> &Vec<u8>,
        ),
        ("protobuf", &proto, |s: &Sample| &s.proto),
        ("json_schema", &json_schema, |s: &Sample| &s.json_schema),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for (i, s) in recs.iter().enumerate() {
                    black_box(framed(&mapping, schema, origin(i), &s.key, pick(s)));
                }
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Producing in the Confluent wire format: the demo plant's Avro schemas, registered under
//! the topic-name strategy's subjects (`<topic>-value`), and the encoder `demo broker --avro`
//! and `demo produce --avro` write telemetry and events with.
//!
//! Asset definitions stay JSON (their `attributes` are free-form), which also shows a reader
//! handling a mixed cluster.
//!
//! [`WireEncoder`] writes any JSON record as Avro or Protobuf under a registered schema, so
//! the ingest benchmark and the tests produce the very same records in every format.

use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, Value as PValue};
use serde_json::Value as Json;

use super::avro::AvroSchema;
use super::protobuf::ProtoSchema;
use super::registry::{RegistrySettings, register};
use super::{SchemaError, wire};

/// The plant's telemetry record.
pub const PLANT_TELEMETRY: &str = r#"{"type": "record", "name": "MachineTelemetry",
 "namespace": "twinscope.demo", "fields": [
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "temperature", "type": "double"},
  {"name": "vibration", "type": "double"},
  {"name": "spindle_rpm", "type": "double"},
  {"name": "power_kw", "type": "double"},
  {"name": "good_count", "type": "long"},
  {"name": "state", "type": {"type": "enum", "name": "MachineState",
                             "symbols": ["RUN", "IDLE", "FAULT", "MAINT"]}},
  {"name": "bearing", "type": {"type": "record", "name": "Bearing",
                               "fields": [{"name": "wear", "type": "double"}]}}
]}"#;

/// The plant's events: alarms, maintenance events and command results in one record type.
pub const PLANT_EVENTS: &str = r#"{"type": "record", "name": "PlantEvent",
 "namespace": "twinscope.demo", "fields": [
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "type", "type": "string"},
  {"name": "code", "type": ["null", "string"], "default": null},
  {"name": "severity", "type": ["null", "string"], "default": null},
  {"name": "state", "type": ["null", "string"], "default": null},
  {"name": "message", "type": ["null", "string"], "default": null},
  {"name": "correlation_id", "type": ["null", "string"], "default": null},
  {"name": "command", "type": ["null", "string"], "default": null},
  {"name": "status", "type": ["null", "string"], "default": null},
  {"name": "by", "type": ["null", "string"], "default": null},
  {"name": "comment", "type": ["null", "string"], "default": null},
  {"name": "until", "type": ["null", "long"], "default": null}
]}"#;

/// One registered Avro schema and its id.
#[derive(Debug)]
struct Registered {
    id: u32,
    schema: AvroSchema,
}

impl Registered {
    fn new(settings: &RegistrySettings, subject: &str, text: &str) -> Result<Self, SchemaError> {
        let schema = AvroSchema::parse(text, &[])
            .map_err(|reason| SchemaError::BadSchema { id: 0, reason })?;
        let id = register(settings, subject, "AVRO", text, &[])?;
        Ok(Self { id, schema })
    }

    fn encode(&self, json: &str) -> Result<Vec<u8>, String> {
        let v: Json = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Ok(wire::frame(self.id, &self.schema.encode_json(&v)?))
    }
}

/// The demo plant's Avro encoders, registered at a registry.
#[derive(Debug)]
pub struct AvroPlant {
    telemetry: Registered,
    events: Registered,
}

impl AvroPlant {
    /// Registers the plant's schemas for these topics (`<topic>-value`; an identical schema
    /// keeps its id, so a restart reuses them).
    ///
    /// # Errors
    /// When the registry cannot be reached or refuses a schema.
    pub fn register(
        settings: &RegistrySettings,
        telemetry_topic: &str,
        events_topic: &str,
    ) -> Result<Self, SchemaError> {
        Ok(Self {
            telemetry: Registered::new(
                settings,
                &format!("{telemetry_topic}-value"),
                PLANT_TELEMETRY,
            )?,
            events: Registered::new(settings, &format!("{events_topic}-value"), PLANT_EVENTS)?,
        })
    }

    /// A telemetry record's JSON payload in the wire format.
    ///
    /// # Errors
    /// When the payload does not fit the schema.
    pub fn telemetry(&self, json: &str) -> Result<Vec<u8>, String> {
        self.telemetry.encode(json)
    }

    /// An event record's JSON payload in the wire format.
    ///
    /// # Errors
    /// When the payload does not fit the schema.
    pub fn event(&self, json: &str) -> Result<Vec<u8>, String> {
        self.events.encode(json)
    }
}

/// The Avro schema of the benchmark workload's records ([`crate::testkit::Workload`] with
/// `state`: ts, three numbers and a state), field for field its JSON.
pub const MACHINE_AVRO: &str = r#"{"type": "record", "name": "Machine", "fields": [
    {"name": "ts", "type": "long"}, {"name": "temperature", "type": "double"},
    {"name": "vibration", "type": "double"}, {"name": "power_kw", "type": "double"},
    {"name": "state", "type": "string"}]}"#;

/// The Protobuf schema of the same records.
pub const MACHINE_PROTO: &str = r#"syntax = "proto3";
message Machine { int64 ts = 1; double temperature = 2; double vibration = 3;
  double power_kw = 4; string state = 5; }
"#;

/// A schema format a record can be produced in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    Avro,
    Protobuf,
}

impl WireFormat {
    /// The registry's `schemaType`.
    #[must_use]
    pub fn schema_type(self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Protobuf => "PROTOBUF",
        }
    }
}

#[derive(Debug)]
enum Compiled {
    Avro(AvroSchema),
    /// The message at indexes `[0]` (the file's first message).
    Protobuf(MessageDescriptor),
}

/// Encodes JSON records into the Confluent wire format under one registered schema: what a
/// producer using the registry's serializers writes, for any record the schema fits.
#[derive(Debug)]
pub struct WireEncoder {
    id: u32,
    schema: Compiled,
}

impl WireEncoder {
    /// Registers `text` (Avro JSON or `.proto` text whose first message is the record) under
    /// `subject` and compiles it. An identical schema keeps its id.
    ///
    /// # Errors
    /// When the schema does not compile, or the registry cannot be reached or refuses it.
    pub fn register(
        settings: &RegistrySettings,
        subject: &str,
        format: WireFormat,
        text: &str,
    ) -> Result<Self, SchemaError> {
        let bad = |reason| SchemaError::BadSchema { id: 0, reason };
        let schema = match format {
            WireFormat::Avro => Compiled::Avro(AvroSchema::parse(text, &[]).map_err(bad)?),
            WireFormat::Protobuf => Compiled::Protobuf(
                ProtoSchema::compile("record.proto", text, &[])
                    .and_then(|p| p.message(&[0]))
                    .map_err(bad)?,
            ),
        };
        let id = register(settings, subject, format.schema_type(), text, &[])?;
        Ok(Self { id, schema })
    }

    /// The id the registry gave the schema.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// `value` in the wire format: magic byte, schema id, (Protobuf: message indexes,) body.
    ///
    /// # Errors
    /// When the value does not fit the schema.
    pub fn encode(&self, value: &Json) -> Result<Vec<u8>, String> {
        match &self.schema {
            Compiled::Avro(s) => Ok(wire::frame(self.id, &s.encode_json(value)?)),
            Compiled::Protobuf(desc) => frame_proto(self.id, &[0], desc, value),
        }
    }
}

/// `value` as a Protobuf message of type `desc` in the wire format: magic byte, schema `id`,
/// the message `indexes` of `desc` in its file, then the message.
///
/// # Errors
/// When the value does not fit the message (see [`proto_from_json`]).
pub fn frame_proto(
    id: u32,
    indexes: &[usize],
    desc: &MessageDescriptor,
    value: &Json,
) -> Result<Vec<u8>, String> {
    let mut body = wire::encode_message_indexes(indexes);
    body.extend(proto_from_json(desc, value)?.encode_to_vec());
    Ok(wire::frame(id, &body))
}

/// A Protobuf message of type `desc` from a JSON object, field by field name (numbers,
/// strings, booleans, enums by name or number, nested messages); fields the JSON lacks keep
/// their defaults.
///
/// # Errors
/// When `value` is not an object, names an unknown field, or a value does not fit its field.
pub fn proto_from_json(desc: &MessageDescriptor, value: &Json) -> Result<DynamicMessage, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("{}: not a JSON object", desc.full_name()))?;
    let mut m = DynamicMessage::new(desc.clone());
    for (name, v) in obj {
        let field = desc
            .get_field_by_name(name)
            .ok_or_else(|| format!("{}: no field {name}", desc.full_name()))?;
        let wrong = || format!("{}.{name}: {v} does not fit", desc.full_name());
        let pv = match field.kind() {
            Kind::Double => PValue::F64(v.as_f64().ok_or_else(wrong)?),
            Kind::Float => PValue::F32(v.as_f64().ok_or_else(wrong)? as f32),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                PValue::I64(v.as_i64().ok_or_else(wrong)?)
            }
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PValue::I32(
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(wrong)?,
            ),
            Kind::Uint64 | Kind::Fixed64 => PValue::U64(v.as_u64().ok_or_else(wrong)?),
            Kind::Uint32 | Kind::Fixed32 => PValue::U32(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(wrong)?,
            ),
            Kind::Bool => PValue::Bool(v.as_bool().ok_or_else(wrong)?),
            Kind::String => PValue::String(v.as_str().ok_or_else(wrong)?.to_owned()),
            Kind::Bytes => return Err(wrong()),
            Kind::Enum(e) => PValue::EnumNumber(match v {
                Json::String(s) => e.get_value_by_name(s).ok_or_else(wrong)?.number(),
                _ => v
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(wrong)?,
            }),
            Kind::Message(inner) => PValue::Message(proto_from_json(&inner, v)?),
        };
        m.set_field(&field, pv);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plant_payloads_fit_the_plant_schemas() {
        let t = AvroSchema::parse(PLANT_TELEMETRY, &[]).unwrap();
        let json = r#"{"ts":1000,"temperature":61.25,"vibration":2.5,"spindle_rpm":1450,"power_kw":12.5,"good_count":7,"state":"RUN","bearing":{"wear":0.125}}"#;
        let v: Json = serde_json::from_str(json).unwrap();
        let back = t.decode(&t.encode_json(&v).unwrap()).unwrap();
        assert_eq!(back["spindle_rpm"], serde_json::json!(1450.0));
        assert_eq!(back["state"], "RUN");
        assert_eq!(back["bearing"]["wear"], 0.125);
        let e = AvroSchema::parse(PLANT_EVENTS, &[]).unwrap();
        let ev: Json = serde_json::from_str(
            r#"{"ts": 5, "type": "alarm", "code": "VIB_HIGH", "severity": "medium", "state": "active", "message": "m"}"#,
        )
        .unwrap();
        let back = e.decode(&e.encode_json(&ev).unwrap()).unwrap();
        assert_eq!(back["code"], "VIB_HIGH");
        assert_eq!(back["correlation_id"], Json::Null);
    }

    #[test]
    fn the_workload_schemas_round_trip_its_json() {
        let v: Json = serde_json::from_str(
            r#"{"ts":1700000000123,"temperature":61.25,"vibration":2.125,"power_kw":12.5,"state":"IDLE"}"#,
        )
        .unwrap();
        let avro = AvroSchema::parse(MACHINE_AVRO, &[]).unwrap();
        assert_eq!(avro.decode(&avro.encode_json(&v).unwrap()).unwrap(), v);
        let proto = ProtoSchema::compile("m.proto", MACHINE_PROTO, &[]).unwrap();
        let desc = proto.message(&[0]).unwrap();
        let framed = frame_proto(7, &[0], &desc, &v).unwrap();
        let (id, body) = wire::split(&framed).unwrap();
        assert_eq!(id, 7);
        let back = proto.decode(body).unwrap();
        assert_eq!(back["ts"], v["ts"]);
        assert_eq!(back["power_kw"], 12.5);
        assert_eq!(back["state"], "IDLE");
        assert!(proto_from_json(&desc, &serde_json::json!({"nope": 1})).is_err());
    }
}

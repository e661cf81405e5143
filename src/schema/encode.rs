//! Producing in the Confluent wire format: the demo plant's Avro schemas, registered under
//! the topic-name strategy's subjects (`<topic>-value`), and the encoder `demo broker --avro`
//! and `demo produce --avro` write telemetry and events with.
//!
//! Asset definitions stay JSON (their `attributes` are free-form), which also shows a reader
//! handling a mixed cluster.

use serde_json::Value as Json;

use super::avro::AvroSchema;
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
}

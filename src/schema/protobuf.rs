//! Protobuf messages to the same JSON value the plain-JSON path parses.
//!
//! Registries store a Protobuf schema either as `.proto` text or as a base64-encoded
//! `FileDescriptorProto`; both are accepted, for the root schema and for each reference
//! (import). `protox` compiles them in memory (well-known `google/protobuf/*` imports
//! included), `prost-reflect` decodes the message the record's message indexes point at.
//!
//! Every field of the message type is a property, also when proto3 leaves it at its default
//! (a temperature of 0 is a value, not an absence); fields with explicit presence (messages,
//! `optional`) only when set. Enums become their value name, 64-bit integers numbers,
//! `google.protobuf.Timestamp` epoch milliseconds and the wrapper types their value; bytes are
//! not properties (dropped). Pure: no registry access here.

use std::collections::HashMap;

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{
    DynamicMessage, FileDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage as _, Value,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::{Map, Number, Value as Json};

/// A compiled Protobuf schema: the root file, ready to decode any of its messages.
#[derive(Debug)]
pub struct ProtoSchema {
    file: FileDescriptor,
}

/// Serves the root schema and its references from memory, in either stored form.
struct Memory {
    files: HashMap<String, String>,
}

impl FileResolver for Memory {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let Some(text) = self.files.get(name) else {
            return Err(protox::Error::file_not_found(name));
        };
        match descriptor_from_base64(text) {
            Some(mut proto) => {
                // The import name is what the root refers to; the stored descriptor may carry
                // another.
                proto.name = Some(name.to_owned());
                Ok(File::from_file_descriptor_proto(proto))
            }
            None => File::from_source(name, text),
        }
    }
}

/// A `FileDescriptorProto` when `text` is base64 of one. `.proto` text is never valid base64
/// (it has spaces, `;` and `{`), so the test cannot mistake one form for the other.
fn descriptor_from_base64(text: &str) -> Option<prost_types::FileDescriptorProto> {
    let compact: String = text.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()
}

impl ProtoSchema {
    /// Compiles the root schema (`.proto` text or base64 descriptor) with its references, by
    /// import name; the root itself is named `root_name`.
    ///
    /// # Errors
    /// When a file does not parse, an import is missing, or types do not resolve.
    pub fn compile(
        root_name: &str,
        root: &str,
        references: &[(String, String)],
    ) -> Result<Self, String> {
        let mut files: HashMap<String, String> = references.iter().cloned().collect();
        files.insert(root_name.to_owned(), root.to_owned());
        let mut chain = ChainFileResolver::new();
        chain.add(Memory { files });
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        compiler.include_imports(true);
        compiler.open_file(root_name).map_err(|e| e.to_string())?;
        let pool = compiler.descriptor_pool();
        let file = pool
            .get_file_by_name(root_name)
            .ok_or_else(|| format!("{root_name} missing after compiling"))?;
        Ok(Self { file })
    }

    /// The message type at the wire format's message indexes.
    ///
    /// # Errors
    /// When the indexes point past the file's messages.
    pub fn message(&self, indexes: &[usize]) -> Result<MessageDescriptor, String> {
        let bad = || format!("message indexes {indexes:?} are not in the schema");
        let (&first, rest) = indexes.split_first().ok_or_else(bad)?;
        let mut msg = self.file.messages().nth(first).ok_or_else(bad)?;
        for &i in rest {
            let child = msg.child_messages().nth(i).ok_or_else(bad)?;
            msg = child;
        }
        Ok(msg)
    }

    /// Decodes the bytes after the wire header (message indexes first) into JSON.
    ///
    /// # Errors
    /// When the indexes or the message bytes do not match the schema.
    pub fn decode(&self, payload: &[u8]) -> Result<Json, String> {
        let (indexes, bytes) = super::wire::message_indexes(payload).map_err(|e| e.to_string())?;
        let desc = self.message(&indexes)?;
        let msg = DynamicMessage::decode(desc, bytes).map_err(|e| e.to_string())?;
        Ok(message_to_json(&msg))
    }
}

fn num(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// A decoded message as a JSON object (see the module doc for the mapping).
#[must_use]
pub fn message_to_json(msg: &DynamicMessage) -> Json {
    let desc = msg.descriptor();
    match desc.full_name() {
        "google.protobuf.Timestamp" => {
            let field = |n: &str| {
                desc.get_field_by_name(n)
                    .map(|f| msg.get_field(&f).into_owned())
            };
            let secs = match field("seconds") {
                Some(Value::I64(s)) => s,
                _ => 0,
            };
            let nanos = match field("nanos") {
                Some(Value::I32(n)) => n,
                _ => 0,
            };
            return Json::from(secs.saturating_mul(1000) + i64::from(nanos / 1_000_000));
        }
        name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
            if let Some(f) = desc.get_field_by_name("value") {
                return value_to_json(&msg.get_field(&f), &f.kind());
            }
        }
        _ => {}
    }
    let mut obj = Map::new();
    for f in desc.fields() {
        if f.supports_presence() && !msg.has_field(&f) {
            continue;
        }
        let v = msg.get_field(&f);
        obj.insert(f.name().to_owned(), value_to_json(&v, &f.kind()));
    }
    Json::Object(obj)
}

fn value_to_json(v: &Value, kind: &Kind) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(i) => Json::from(*i),
        Value::I64(i) => Json::from(*i),
        Value::U32(i) => Json::from(*i),
        Value::U64(i) => Json::from(*i),
        Value::F32(f) => num(f64::from(*f)),
        Value::F64(f) => num(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(_) => Json::Null,
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| Json::from(*n), |ev| Json::String(ev.name().to_owned())),
            _ => Json::from(*n),
        },
        Value::Message(m) => message_to_json(m),
        Value::List(items) => Json::Array(items.iter().map(|x| value_to_json(x, kind)).collect()),
        Value::Map(entries) => {
            let value_kind = match kind {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other.clone(),
            };
            Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (map_key(k), value_to_json(v, &value_kind)))
                    .collect(),
            )
        }
    }
}

fn map_key(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(i) => i.to_string(),
        MapKey::I64(i) => i.to_string(),
        MapKey::U32(i) => i.to_string(),
        MapKey::U64(i) => i.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// The base64 `FileDescriptorProto` form of `.proto` text, as some registries store it (for
/// tests and producers).
///
/// # Errors
/// When the text does not parse.
pub fn to_base64_descriptor(name: &str, text: &str) -> Result<String, String> {
    let file = File::from_source(name, text).map_err(|e| e.to_string())?;
    let bytes = file.file_descriptor_proto().encode_to_vec();
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::schemas::{CAR_PROTO, POS_PROTO};

    fn encode(s: &ProtoSchema, idx: &[usize], set: impl Fn(&mut DynamicMessage)) -> Vec<u8> {
        let desc = s.message(idx).unwrap();
        let mut m = DynamicMessage::new(desc);
        set(&mut m);
        let mut out = super::super::wire::encode_message_indexes(idx);
        out.extend(m.encode_to_vec());
        out
    }

    fn check(root: &str, reference: &str) {
        let s = ProtoSchema::compile(
            "root.proto",
            root,
            &[("geo/pos.proto".to_owned(), reference.to_owned())],
        )
        .unwrap();
        let bytes = encode(&s, &[1], |m| {
            m.set_field_by_name("vin", Value::String("V1".into()));
            m.set_field_by_name("speed", Value::F64(80.5));
            m.set_field_by_name("gear", Value::EnumNumber(1));
            m.set_field_by_name("odometer_m", Value::I64(123_456));
            let pos_desc = s.file.parent_pool().get_message_by_name("geo.Pos").unwrap();
            let mut pos = DynamicMessage::new(pos_desc);
            pos.set_field_by_name("lat", Value::F64(48.5));
            m.set_field_by_name("pos", Value::Message(pos));
            let ts_desc = s
                .file
                .parent_pool()
                .get_message_by_name("google.protobuf.Timestamp")
                .unwrap();
            let mut ts = DynamicMessage::new(ts_desc);
            ts.set_field_by_name("seconds", Value::I64(12));
            ts.set_field_by_name("nanos", Value::I32(500_000_000));
            m.set_field_by_name("t", Value::Message(ts));
        });
        assert_eq!(
            s.decode(&bytes).unwrap(),
            serde_json::json!({"vin": "V1", "t": 12_500, "speed": 80.5, "pos": {"lat": 48.5, "lon": 0.0},
                "gear": "DRIVE", "odometer_m": 123_456, "region": "", "tyres": {}})
        );
        // Nested types count in descriptor order, the map's entry type included: Car.Inner is
        // [1, 1].
        let inner = encode(&s, &[1, 1], |m| {
            m.set_field_by_name("ok", Value::Bool(true));
        });
        assert_eq!(s.decode(&inner).unwrap(), serde_json::json!({"ok": true}));
        assert!(s.decode(&encode(&s, &[0], |_| {})[..]).is_ok());
        let mut wrong = super::super::wire::encode_message_indexes(&[7]);
        wrong.push(8);
        assert!(s.decode(&wrong).unwrap_err().contains("not in the schema"));
        let mut garbage = super::super::wire::encode_message_indexes(&[1]);
        garbage.extend([0x0a, 0x20, 0x41]);
        assert!(s.decode(&garbage).is_err());
    }

    #[test]
    fn text_and_base64_descriptors_decode_alike() {
        check(CAR_PROTO, POS_PROTO);
        let root64 = to_base64_descriptor("root.proto", CAR_PROTO).unwrap();
        let ref64 = to_base64_descriptor("geo/pos.proto", POS_PROTO).unwrap();
        assert!(descriptor_from_base64(CAR_PROTO).is_none());
        check(&root64, &ref64);
        check(&root64, POS_PROTO);
    }
}

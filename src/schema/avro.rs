//! Avro records to the same JSON value the plain-JSON path parses, so the mapping (id and time
//! pointers, `.`-flattened nested fields) applies unchanged.
//!
//! Unions become their branch's value, enums their symbol, maps objects; timestamps of any
//! precision become epoch milliseconds (the unit the twin keeps time in), dates days, and
//! bytes, fixed and decimals are not properties (dropped). Pure: no registry access here.

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use serde_json::{Map, Number, Value as Json};

/// A parsed Avro writer schema, with the named types it references.
#[derive(Debug)]
pub struct AvroSchema {
    root: Schema,
    refs: Vec<Schema>,
}

impl AvroSchema {
    /// Parses the schema text; `references` are the texts of the schemas it names types from.
    ///
    /// # Errors
    /// When the text is not a valid Avro schema.
    pub fn parse(text: &str, references: &[String]) -> Result<Self, String> {
        if references.is_empty() {
            let root = Schema::parse_str(text).map_err(|e| e.to_string())?;
            return Ok(Self {
                root,
                refs: Vec::new(),
            });
        }
        let (root, refs) =
            Schema::parse_str_with_list(text, references).map_err(|e| e.to_string())?;
        Ok(Self { root, refs })
    }

    /// The schema, for encoders (the demo and the tests).
    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.root
    }

    /// Encodes a value as one datum (for producers: the demo, tests and benches).
    ///
    /// # Errors
    /// When the value does not fit the schema.
    pub fn encode(&self, value: impl Into<Avro>) -> Result<Vec<u8>, String> {
        apache_avro::writer::datum::GenericDatumWriter::builder(&self.root)
            .build()
            .and_then(|w| w.write_value_to_vec(value))
            .map_err(|e| e.to_string())
    }

    /// Encodes a JSON object as one datum, coercing to the schema's types (numbers to
    /// int/long/double, strings to enum symbols, values into union branches).
    ///
    /// # Errors
    /// When the value does not fit the schema.
    pub fn encode_json(&self, value: &Json) -> Result<Vec<u8>, String> {
        let v = from_json(value)
            .resolve(&self.root)
            .map_err(|e| e.to_string())?;
        self.encode(v)
    }

    /// Decodes one datum (the bytes after the wire header) into JSON.
    ///
    /// # Errors
    /// When the bytes do not decode with this schema, or bytes are left over.
    pub fn decode(&self, bytes: &[u8]) -> Result<Json, String> {
        let mut reader = bytes;
        let builder = apache_avro::reader::datum::GenericDatumReader::builder(&self.root);
        let value = if self.refs.is_empty() {
            builder.build().and_then(|r| r.read_value(&mut reader))
        } else {
            builder
                .writer_schemata(self.refs.iter().collect())
                .and_then(|b| b.build())
                .and_then(|r| r.read_value(&mut reader))
        }
        .map_err(|e| e.to_string())?;
        if !reader.is_empty() {
            return Err(format!(
                "{} bytes left over after the Avro datum",
                reader.len()
            ));
        }
        Ok(to_json(value))
    }
}

/// A JSON value as the closest Avro value, before resolving it against a schema: integers
/// as long, other numbers as double, objects as maps (a record resolves from a map).
fn from_json(v: &Json) -> Avro {
    match v {
        Json::Null => Avro::Null,
        Json::Bool(b) => Avro::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Avro::Long(i),
            None => Avro::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Avro::String(s.clone()),
        Json::Array(a) => Avro::Array(a.iter().map(from_json).collect()),
        Json::Object(m) => Avro::Map(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

fn num(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// One Avro value as JSON (see the module doc for the mapping).
#[must_use]
pub fn to_json(v: Avro) -> Json {
    match v {
        Avro::Null | Avro::Bytes(_) | Avro::Fixed(..) | Avro::Decimal(_) => Json::Null,
        Avro::BigDecimal(d) => Json::String(d.to_string()),
        Avro::Boolean(b) => Json::Bool(b),
        Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => Json::from(i),
        Avro::Long(i) | Avro::TimeMicros(i) => Json::from(i),
        Avro::Float(f) => num(f64::from(f)),
        Avro::Double(f) => num(f),
        Avro::String(s) | Avro::Enum(_, s) => Json::String(s),
        Avro::Uuid(u) => Json::String(u.to_string()),
        Avro::Union(_, inner) => to_json(*inner),
        Avro::Array(a) => Json::Array(a.into_iter().map(to_json).collect()),
        Avro::Map(m) => Json::Object(m.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
        Avro::Record(fields) => {
            let mut obj = Map::with_capacity(fields.len());
            for (k, v) in fields {
                obj.insert(k, to_json(v));
            }
            Json::Object(obj)
        }
        Avro::TimestampMillis(t) | Avro::LocalTimestampMillis(t) => Json::from(t),
        Avro::TimestampMicros(t) | Avro::LocalTimestampMicros(t) => num(t as f64 / 1e3),
        Avro::TimestampNanos(t) | Avro::LocalTimestampNanos(t) => num(t as f64 / 1e6),
        Avro::Duration(_) => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Record;

    const SCHEMA: &str = r#"{"type": "record", "name": "T", "fields": [
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "temp", "type": "double"},
        {"name": "state", "type": {"type": "enum", "name": "S", "symbols": ["RUN", "IDLE"]}},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "bearing", "type": {"type": "record", "name": "B", "fields": [{"name": "wear", "type": "float"}]}}
    ]}"#;

    #[test]
    fn record_decodes_to_nested_json() {
        let s = AvroSchema::parse(SCHEMA, &[]).unwrap();
        let mut r = Record::new(s.schema()).unwrap();
        r.put("ts", Avro::TimestampMillis(5000));
        r.put("temp", 21.5);
        r.put("state", Avro::Enum(1, "IDLE".into()));
        r.put("note", Avro::Union(1, Box::new(Avro::String("hi".into()))));
        r.put(
            "bearing",
            Avro::Record(vec![("wear".into(), Avro::Float(0.25))]),
        );
        let bytes = s.encode(r).unwrap();
        let j = s.decode(&bytes).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"ts": 5000, "temp": 21.5, "state": "IDLE", "note": "hi", "bearing": {"wear": 0.25}})
        );
        let again = s
            .encode_json(&serde_json::json!({"ts": 5000, "temp": 21.5, "state": "IDLE", "note": "hi", "bearing": {"wear": 0.25}}))
            .unwrap();
        assert_eq!(s.decode(&again).unwrap(), j);
        // A truncated datum and trailing garbage are both refused.
        assert!(s.decode(&bytes[..bytes.len() - 2]).is_err());
        let mut longer = bytes.clone();
        longer.push(7);
        assert!(s.decode(&longer).unwrap_err().contains("left over"));
    }

    #[test]
    fn named_types_from_references() {
        let reference = r#"{"type": "record", "name": "Pos", "namespace": "geo", "fields": [{"name": "lat", "type": "double"}]}"#;
        let root =
            r#"{"type": "record", "name": "Car", "fields": [{"name": "pos", "type": "geo.Pos"}]}"#;
        let s = AvroSchema::parse(root, &[reference.to_owned()]).unwrap();
        let bytes = 48.5f64.to_le_bytes();
        assert_eq!(
            s.decode(&bytes).unwrap(),
            serde_json::json!({"pos": {"lat": 48.5}})
        );
    }
}

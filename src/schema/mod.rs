//! Records in the Confluent wire format (Avro, Protobuf, JSON Schema), decoded through a
//! schema registry into the same JSON value the plain-JSON path parses, so that the mapping
//! (id and time pointers, `.`-flattened nested fields) and everything after it apply unchanged.
//!
//! The format is told per record by the magic byte ([`wire::is_framed`]), so a topic may mix
//! JSON and framed records during a migration; each record is decoded with its own schema id,
//! which is what makes time travel across schema versions exact. The format decoders
//! ([`avro`], [`protobuf`], [`json_schema`], [`wire`]) are pure; [`registry`] is the only part
//! that does I/O, and [`provenance`] remembers which schema each record was written with.

pub mod avro;
pub mod encode;
pub mod evolution;
pub mod json_schema;
pub mod protobuf;
pub mod provenance;
pub mod registry;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

pub use registry::{Registry, RegistrySettings};

/// The encoding a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Avro,
    Protobuf,
    JsonSchema,
}

impl Format {
    /// The name shown in provenance.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Avro => "Avro",
            Format::Protobuf => "Protobuf",
            Format::JsonSchema => "JSON Schema",
        }
    }
}

/// Which registered schema a record was written with: shown next to partition and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTag {
    pub id: u32,
    pub format: Format,
    /// The subject and version the id was registered under, when the registry says.
    pub subject: Option<String>,
    pub version: Option<i64>,
}

impl std::fmt::Display for SchemaTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.subject, self.version) {
            (Some(s), Some(v)) => write!(f, "{s} v{v} ({}, id {})", self.format.name(), self.id),
            _ => write!(f, "{} schema id {}", self.format.name(), self.id),
        }
    }
}

/// A compiled schema.
#[derive(Debug)]
pub struct Schema {
    pub tag: Arc<SchemaTag>,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Avro(avro::AvroSchema),
    Protobuf(protobuf::ProtoSchema),
    Json(json_schema::JsonSchema),
}

impl Schema {
    /// Compiles a schema's text (for Protobuf `.proto` text or a base64 descriptor) with its
    /// references as `(import name, text)`, dependencies first.
    ///
    /// # Errors
    /// When the schema or a reference does not compile.
    pub fn compile(
        tag: SchemaTag,
        text: &str,
        references: &[(String, String)],
    ) -> Result<Self, String> {
        let body = match tag.format {
            Format::Avro => {
                let texts: Vec<String> = references.iter().map(|(_, t)| t.clone()).collect();
                Body::Avro(avro::AvroSchema::parse(text, &texts)?)
            }
            Format::Protobuf => Body::Protobuf(protobuf::ProtoSchema::compile(
                &format!("schema-{}.proto", tag.id),
                text,
                references,
            )?),
            Format::JsonSchema => Body::Json(json_schema::JsonSchema::compile(text)?),
        };
        Ok(Self {
            tag: Arc::new(tag),
            body,
        })
    }

    /// Decodes the bytes after the 5-byte header.
    ///
    /// # Errors
    /// [`SchemaError::Mismatch`] when the payload does not match the schema.
    pub fn decode(&self, payload: &[u8]) -> Result<Json, SchemaError> {
        match &self.body {
            Body::Avro(s) => s.decode(payload),
            Body::Protobuf(s) => s.decode(payload),
            Body::Json(s) => s.decode(payload),
        }
        .map_err(|reason| SchemaError::Mismatch {
            schema: self.tag.to_string(),
            reason,
        })
    }
}

/// Why a framed record could not be decoded; each becomes the record's bad-record reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "record in the Confluent wire format (schema id {0}) but no schema registry is \
         configured (--schema-registry or [schema_registry] url)"
    )]
    NoRegistry(u32),
    #[error("schema registry unreachable: {0}")]
    Unreachable(String),
    #[error("unknown schema id {0}: the schema registry does not have it")]
    UnknownId(u32),
    #[error("schema registry: {0}")]
    Registry(String),
    #[error("schema id {id} cannot be used: {reason}")]
    BadSchema { id: u32, reason: String },
    #[error("payload does not match its schema {schema}: {reason}")]
    Mismatch { schema: String, reason: String },
    #[error(transparent)]
    Wire(#[from] wire::WireError),
}

/// Decodes framed records: the registry (if configured) and its cache.
#[derive(Debug, Default)]
pub struct Decoder {
    registry: Option<Registry>,
}

impl Decoder {
    /// A decoder for this registry; without one, framed records are bad records that say so.
    #[must_use]
    pub fn new(settings: Option<RegistrySettings>) -> Self {
        Self {
            registry: settings.map(Registry::new),
        }
    }

    /// Decodes one framed record value (one attempt: see [`Decoder::retry_in`]).
    ///
    /// # Errors
    /// See [`SchemaError`].
    pub fn decode(&mut self, value: &[u8]) -> Result<(Json, Arc<SchemaTag>), SchemaError> {
        let (id, payload) = wire::split(value)?;
        let Some(registry) = self.registry.as_mut() else {
            return Err(SchemaError::NoRegistry(id));
        };
        let schema = registry.schema(id)?;
        Ok((schema.decode(payload)?, schema.tag.clone()))
    }

    /// While the registry is unreachable and inside its retry window: wait this long, then
    /// try the record again. See [`Registry::retry_in`].
    #[must_use]
    pub fn retry_in(&self) -> Option<Duration> {
        self.registry.as_ref()?.retry_in()
    }

    /// What is wrong with the registry, for the status bar.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        self.registry.as_ref()?.problem()
    }
}

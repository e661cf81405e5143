//! Turns raw Kafka records (key, value, timestamp) into twin records, per the topic contract
//! and the deployment's [`Mapping`].
//!
//! Records in a schema registry's wire format are decoded to JSON by `crate::schema` first and
//! enter through [`decode_value`], so every format shares one mapping and one contract.
//!
//! Runs on the ingest thread, off the UI thread. Every failure becomes a [`BadRecord`] with a
//! reason, so that one broken producer cannot hide good records or stall ingest.

use std::borrow::Cow;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value as Json};

use super::alarms::Priority;
use super::mapping::{Hierarchy, IdSource, Mapping, TimeUnit};

/// Which contract a topic follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Telemetry,
    Events,
    Assets,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 3] = [Role::Telemetry, Role::Events, Role::Assets];

    /// Index into per-role arrays.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The role's name, as in the config's `[topics]`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Role::Telemetry => "telemetry",
            Role::Events => "events",
            Role::Assets => "assets",
        }
    }
}

/// A property value. Numbers can be plotted; the others are state properties.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Bool(bool),
    Str(Arc<str>),
}

impl Value {
    /// The value as JSON, for snapshots and exports.
    #[must_use]
    pub fn to_json(&self) -> Json {
        match self {
            Value::Num(n) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
            Value::Bool(b) => Json::Bool(*b),
            Value::Str(s) => Json::String(s.to_string()),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Shortest form at millesimal precision: 21.5, not 21.500.
            Value::Num(n) if n.abs() < 1e15 => write!(f, "{}", (n * 1000.0).round() / 1000.0),
            Value::Num(n) => write!(f, "{n:e}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// Where a record sits in Kafka: enough to fetch exactly that record again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub role: Role,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka record timestamp (ms), which may differ from the event time.
    pub kafka_ts: i64,
}

/// A decoded twin record.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// State of one asset at one time. The asset id and the property names are shared
    /// (interned by the decoder, see [`Interner`]): a record carries no allocation per name,
    /// and the store looks them up by pointer.
    Telemetry {
        asset: Arc<str>,
        /// Group path above the asset when the hierarchy comes from payload fields.
        parent: Option<String>,
        ts: i64,
        props: Props,
    },
    /// An alarm transition or a plain event.
    Event(Event),
    /// An asset definition; `def` is `None` for a tombstone (the asset was removed).
    Asset {
        asset: String,
        ts: i64,
        def: Option<AssetDef>,
    },
}

impl Decoded {
    /// The event time of the record.
    #[must_use]
    pub fn event_time(&self) -> i64 {
        match self {
            Decoded::Telemetry { ts, .. } | Decoded::Asset { ts, .. } => *ts,
            Decoded::Event(e) => e.ts,
        }
    }
}

/// What `twin.assets` says about an asset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssetDef {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub parent: Option<String>,
    pub attributes: Vec<(String, String)>,
}

/// Severity of an event; info events are not alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Alarm(Priority),
    Info,
}

/// What an alarm record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmAction {
    Active,
    Cleared,
    Acked,
    Shelved,
    Unshelved,
}

/// A record on the events topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub asset: String,
    /// Group path above the asset when the hierarchy comes from payload fields.
    pub parent: Option<String>,
    pub ts: i64,
    pub kind: EventKind,
    pub code: String,
    pub severity: Severity,
    pub message: Option<String>,
    pub by: Option<String>,
    pub comment: Option<String>,
}

/// The `type` of an event record.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Alarm {
        action: AlarmAction,
        /// For shelving: until when (epoch ms).
        until: Option<i64>,
    },
    Event,
    /// The outcome of an operator command, matched by correlation id.
    CommandResult {
        correlation_id: String,
        status: String,
    },
}

/// A decoded record with its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub origin: Origin,
    pub body: Decoded,
}

/// A record that could not be decoded, for the diagnostics panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

/// Names most kept by an [`Interner`] before it starts afresh. A fleet has far fewer asset ids
/// and property names than this; a producer inventing new ones forever must not grow the
/// decoder without bound (the store keeps its own reference to every name it holds).
const MAX_INTERNED_NAMES: usize = 1 << 20;
/// Distinct string values most kept before starting afresh: states like `RUN` repeat, free
/// text does not and only costs an allocation per value, as without interning.
pub(crate) const MAX_INTERNED_TEXTS: usize = 4096;
/// Longest string value that is interned.
const MAX_INTERNED_TEXT_LEN: usize = 64;

/// The decoder's shared names. Every record of a fleet repeats the same asset ids, property
/// names and states: handing out one `Arc<str>` per distinct string, instead of a fresh
/// `String` per name per record, removes most of ingest's allocations (and their frees on the
/// store's thread), and lets the store find assets and properties by pointer.
///
/// Lives as long as the ingest session that owns it; equal strings from different interners
/// are still equal, only not the same pointer.
#[derive(Debug, Default)]
pub struct Interner {
    names: foldhash::HashSet<Arc<str>>,
    texts: foldhash::HashSet<Arc<str>>,
    /// Scratch for dotted property names (`bearing.wear`), so nested names allocate only the
    /// first time they are seen.
    path: String,
    /// Emptied property lists of records already applied (see [`Self::reclaim`]), handed to
    /// the next records instead of a fresh allocation each.
    spare: Vec<Props>,
    /// The last record's property names by place in its list (see [`Self::property`]).
    layout: Vec<Arc<str>>,
    /// The last record's text values by place in its list (see [`Self::text_at`]).
    last_texts: Vec<Option<Arc<str>>>,
}

/// A telemetry record's properties.
pub type Props = Vec<(Arc<str>, Value)>;

/// Emptied property lists most kept for reuse: a few batches' worth.
const MAX_SPARE_LISTS: usize = 16_384;
/// Longest property list kept for reuse; a rare wide record's list is freed instead.
const MAX_SPARE_LIST_LEN: usize = 64;

impl Interner {
    /// An empty interner.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy of an asset id or property name.
    pub fn name(&mut self, s: &str) -> Arc<str> {
        intern(&mut self.names, s, MAX_INTERNED_NAMES)
    }

    /// A string property value: shared when short, as states are; long or rare text gets its
    /// own allocation once the table is full of others.
    pub fn text(&mut self, s: &str) -> Arc<str> {
        if s.len() > MAX_INTERNED_TEXT_LEN {
            return Arc::from(s);
        }
        intern(&mut self.texts, s, MAX_INTERNED_TEXTS)
    }

    /// The shared copy of `prefix.key` (or `key` at the top level).
    fn dotted(&mut self, prefix: &str, key: &str) -> Arc<str> {
        if prefix.is_empty() {
            return self.name(key);
        }
        let mut path = std::mem::take(&mut self.path);
        path.clear();
        path.push_str(prefix);
        path.push('.');
        path.push_str(key);
        let name = self.name(&path);
        self.path = path;
        name
    }

    /// The name of the property at place `at` of a record's list: the name the last record
    /// had there when it is the same one, as records of a topic mostly share one layout, so
    /// that most names cost a compare instead of a hash lookup; else the shared copy.
    fn property(&mut self, at: usize, prefix: &str, key: &str) -> Arc<str> {
        if let Some(n) = self.layout.get(at)
            && is_dotted(n, prefix, key)
        {
            return n.clone();
        }
        let n = self.dotted(prefix, key);
        if let Some(slot) = self.layout.get_mut(at) {
            *slot = n.clone();
        } else if at == self.layout.len() && at < MAX_SPARE_LIST_LEN {
            self.layout.push(n.clone());
        }
        n
    }

    /// [`Self::text`] for the value at place `at` of a record's list: the last record's text
    /// there when it is the same (a state that has not changed), without a lookup.
    fn text_at(&mut self, at: usize, s: &str) -> Arc<str> {
        // Long text is not shared (see `text`): not kept here either.
        if s.len() > MAX_INTERNED_TEXT_LEN {
            return self.text(s);
        }
        if let Some(Some(t)) = self.last_texts.get(at)
            && **t == *s
        {
            return t.clone();
        }
        let t = self.text(s);
        if at >= MAX_SPARE_LIST_LEN {
            return t;
        }
        if at >= self.last_texts.len() {
            self.last_texts.resize(at + 1, None);
        }
        if let Some(slot) = self.last_texts.get_mut(at) {
            *slot = Some(t.clone());
        }
        t
    }

    /// Takes back records the store has applied: they are dropped here, on the decoder's
    /// thread, and their property lists are kept for the next records.
    ///
    /// Why: a record dropped where it was applied releases its shared names there, and each
    /// release writes to a reference count the decoder's thread writes too, so the count's
    /// cache line crossed cores twice per name per record; freeing its list on the other
    /// thread also sent glibc's memory back and forth between the threads' arenas.
    pub fn reclaim(&mut self, recs: &mut Vec<Rec>) {
        for rec in recs.drain(..) {
            if let Decoded::Telemetry { mut props, .. } = rec.body
                && self.spare.len() < MAX_SPARE_LISTS
                && props.capacity() <= MAX_SPARE_LIST_LEN
            {
                props.clear();
                self.spare.push(props);
            }
        }
    }

    /// An empty property list with room for `n`, reused when one is spare.
    fn props(&mut self, n: usize) -> Props {
        match self.spare.pop() {
            Some(mut list) => {
                list.reserve(n);
                list
            }
            None => Vec::with_capacity(n),
        }
    }

    /// Distinct asset ids and property names held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True before the first name.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Whether `name` is `prefix.key` (or `key` at the top level).
fn is_dotted(name: &str, prefix: &str, key: &str) -> bool {
    if prefix.is_empty() {
        return name == key;
    }
    name.len() == prefix.len() + 1 + key.len()
        && name.starts_with(prefix)
        && name.as_bytes().get(prefix.len()) == Some(&b'.')
        && name.ends_with(key)
}

fn intern(set: &mut foldhash::HashSet<Arc<str>>, s: &str, max: usize) -> Arc<str> {
    if let Some(a) = set.get(s) {
        return a.clone();
    }
    if set.len() >= max {
        set.clear();
    }
    let a: Arc<str> = Arc::from(s);
    set.insert(a.clone());
    a
}

/// Why a record does not follow the topic contract. Each becomes the reason of a
/// [`BadRecord`], shown with the record's exact place so the producer can be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("value of {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("key is not valid UTF-8")]
    KeyNotUtf8,
    #[error("null value (tombstone) on a non-compacted topic")]
    Tombstone,
    #[error("tombstone without a key")]
    TombstoneWithoutKey,
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("value is JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("nesting depth {depth} exceeds the limit of {max}")]
    TooDeep { depth: usize, max: usize },
    #[error("no scalar properties in telemetry record")]
    NoProperties,
    #[error("bad time at {at}: {value}")]
    BadTime { at: String, value: String },
    #[error(
        "event time {ts} ms is more than {limit_s} s ahead of the Kafka timestamp {kafka_ts} ms"
    )]
    TooFarAhead {
        ts: i64,
        limit_s: u64,
        kafka_ts: i64,
    },
    #[error("event time {ts} ms is more than {limit_s} s behind the Kafka timestamp {kafka_ts} ms")]
    TooFarBehind {
        ts: i64,
        limit_s: u64,
        kafka_ts: i64,
    },
    #[error("empty or missing key (asset id)")]
    MissingKey,
    #[error("missing asset id at {0}")]
    MissingId(String),
    #[error("unknown severity {0:?}")]
    UnknownSeverity(String),
    #[error("alarm without a state")]
    AlarmWithoutState,
    #[error("unknown alarm state {0:?}")]
    UnknownAlarmState(String),
    #[error("alarm without a code")]
    AlarmWithoutCode,
    #[error("shelve without `until`")]
    ShelveWithoutUntil,
    #[error("command_result without correlation_id")]
    NoCorrelationId,
}

/// Decodes one record of the given role, with names of its own: for tools and tests that
/// decode a few records. The ingest keeps one [`Interner`] for all of them ([`decode_with`]).
///
/// # Errors
/// Returns the reason when the record does not follow the contract.
pub fn decode(
    mapping: &Mapping,
    origin: Origin,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<Decoded, DecodeError> {
    decode_with(&mut Interner::new(), mapping, origin, key, value)
}

/// Decodes one record of the given role, sharing asset ids, property names and short string
/// values through `names` so that a record costs no allocation per name.
///
/// # Errors
/// Returns the reason when the record does not follow the contract.
pub fn decode_with(
    names: &mut Interner,
    mapping: &Mapping,
    origin: Origin,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<Decoded, DecodeError> {
    if let Some(v) = value
        && v.len() > mapping.limits.max_value_bytes
    {
        return Err(DecodeError::TooLarge {
            bytes: v.len(),
            limit: mapping.limits.max_value_bytes,
        });
    }
    let key = key_str(key)?;
    match origin.role {
        Role::Assets => decode_asset(mapping, origin, key, value),
        Role::Telemetry | Role::Events => {
            let Some(value) = value else {
                return Err(DecodeError::Tombstone);
            };
            if origin.role == Role::Telemetry
                && let Some(d) = fast_telemetry(names, mapping, key, value, origin.kafka_ts)
            {
                return Ok(d);
            }
            decode_json(names, mapping, origin, key, value)
        }
    }
}

/// Decodes one record whose value was already decoded into JSON elsewhere: a schema-registry
/// format (Avro, Protobuf, JSON Schema; see `crate::schema`). From here on it is the same
/// path as a JSON record's, so the mapping applies unchanged. Names of its own, as
/// [`decode`]; the ingest uses [`decode_value_with`].
///
/// # Errors
/// Returns the reason when the record does not follow the contract.
pub fn decode_value(
    mapping: &Mapping,
    origin: Origin,
    key: Option<&[u8]>,
    value: Json,
) -> Result<Decoded, DecodeError> {
    decode_value_with(&mut Interner::new(), mapping, origin, key, value)
}

/// [`decode_value`] sharing names through `names`, as [`decode_with`].
///
/// # Errors
/// Returns the reason when the record does not follow the contract.
pub fn decode_value_with(
    names: &mut Interner,
    mapping: &Mapping,
    origin: Origin,
    key: Option<&[u8]>,
    value: Json,
) -> Result<Decoded, DecodeError> {
    let key = key_str(key)?;
    match origin.role {
        Role::Assets => decode_asset_json(mapping, origin, key, value),
        Role::Telemetry | Role::Events => decode_object(names, mapping, origin, key, value),
    }
}

/// The record key as text, or [`DecodeError::KeyNotUtf8`].
fn key_str(key: Option<&[u8]>) -> Result<Option<&str>, DecodeError> {
    key.map(std::str::from_utf8)
        .transpose()
        .map_err(|_| DecodeError::KeyNotUtf8)
}

/// The general path for telemetry and events: the whole value as a `serde_json::Value`.
fn decode_json(
    names: &mut Interner,
    mapping: &Mapping,
    origin: Origin,
    key: Option<&str>,
    value: &[u8],
) -> Result<Decoded, DecodeError> {
    let json = parse_json(value)?;
    decode_object(names, mapping, origin, key, json)
}

/// The value parsed as JSON, or why not.
fn parse_json(value: &[u8]) -> Result<Json, DecodeError> {
    serde_json::from_slice(value).map_err(|e| DecodeError::InvalidJson(e.to_string()))
}

/// Telemetry or an event from a parsed value.
fn decode_object(
    names: &mut Interner,
    mapping: &Mapping,
    origin: Origin,
    key: Option<&str>,
    json: Json,
) -> Result<Decoded, DecodeError> {
    let obj = into_object(mapping, json)?;
    let ts = event_time(mapping, &obj, origin.kafka_ts)?;
    let (asset, parent) = asset_id(mapping, key, &obj)?;
    if origin.role == Role::Telemetry {
        let mut props = names.props(0);
        flatten(names, mapping, &obj, "", &mut props);
        if props.is_empty() {
            return Err(DecodeError::NoProperties);
        }
        Ok(Decoded::Telemetry {
            asset: names.name(&asset),
            parent,
            ts,
            props,
        })
    } else {
        decode_event(mapping, asset, parent, ts, &obj).map(Decoded::Event)
    }
}

/// The value as an object within the nesting limit, or why not.
fn into_object(mapping: &Mapping, json: Json) -> Result<Map<String, Json>, DecodeError> {
    let Json::Object(obj) = json else {
        return Err(DecodeError::NotAnObject(json_kind(&json)));
    };
    check_depth(&obj, mapping.limits.max_depth)?;
    Ok(obj)
}

fn json_kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn check_depth(obj: &Map<String, Json>, max: usize) -> Result<(), DecodeError> {
    fn depth(j: &Json) -> usize {
        match j {
            Json::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            Json::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let d = 1 + obj.values().map(depth).max().unwrap_or(0);
    if d > max {
        return Err(DecodeError::TooDeep { depth: d, max });
    }
    Ok(())
}

fn event_time(
    mapping: &Mapping,
    obj: &Map<String, Json>,
    kafka_ts: i64,
) -> Result<i64, DecodeError> {
    if mapping.time == "kafka" {
        return Ok(kafka_ts);
    }
    event_time_of(mapping, pointer(obj, &mapping.time), kafka_ts)
}

/// The event time given the payload's time field, if any.
fn event_time_of(mapping: &Mapping, v: Option<&Json>, kafka_ts: i64) -> Result<i64, DecodeError> {
    let Some(v) = v else {
        return Ok(kafka_ts);
    };
    let ts = parse_time(v, mapping.time_unit).ok_or_else(|| DecodeError::BadTime {
        at: mapping.time.clone(),
        value: v.to_string(),
    })?;
    let ahead = i64::try_from(mapping.limits.max_ahead_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let behind =
        i64::try_from(mapping.limits.max_behind_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    if ts > kafka_ts.saturating_add(ahead) {
        return Err(DecodeError::TooFarAhead {
            ts,
            limit_s: mapping.limits.max_ahead_s,
            kafka_ts,
        });
    }
    if ts < kafka_ts.saturating_sub(behind) {
        return Err(DecodeError::TooFarBehind {
            ts,
            limit_s: mapping.limits.max_behind_s,
            kafka_ts,
        });
    }
    Ok(ts)
}

/// Parses a payload time field in the given unit.
#[must_use]
pub fn parse_time(v: &Json, unit: TimeUnit) -> Option<i64> {
    let ms = match (v, unit) {
        (Json::Number(n), TimeUnit::Auto | TimeUnit::Ms) => n.as_f64()?,
        (Json::Number(n), TimeUnit::S) => n.as_f64()? * 1000.0,
        (Json::String(s), TimeUnit::Auto | TimeUnit::Rfc3339) => {
            return chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.timestamp_millis());
        }
        _ => return None,
    };
    // Beyond ±10,000 years the value is garbage, not a time.
    (ms.is_finite() && ms.abs() < 3.2e14).then_some(ms as i64)
}

fn pointer<'a>(obj: &'a Map<String, Json>, ptr: &str) -> Option<&'a Json> {
    let rest = ptr.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let first = parts.next()?;
    let mut cur = obj.get(first)?;
    for p in parts {
        cur = cur.pointer(&format!("/{p}"))?;
    }
    Some(cur)
}

fn scalar_string(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn asset_id(
    mapping: &Mapping,
    key: Option<&str>,
    obj: &Map<String, Json>,
) -> Result<(String, Option<String>), DecodeError> {
    let id = match &mapping.asset_id {
        IdSource::Key => key.map(str::to_owned),
        IdSource::Pointer(p) => pointer(obj, p).and_then(scalar_string),
    };
    let id = id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| match &mapping.asset_id {
            IdSource::Key => DecodeError::MissingKey,
            IdSource::Pointer(p) => DecodeError::MissingId(p.clone()),
        })?;
    let parent = match &mapping.hierarchy {
        Hierarchy::Separator(_) => None,
        Hierarchy::Pointers(ptrs) => {
            let n = ptrs.len().saturating_sub(1);
            let path: Vec<String> = ptrs[..n]
                .iter()
                .filter_map(|p| pointer(obj, p).and_then(scalar_string))
                .collect();
            (!path.is_empty()).then(|| path.join("/"))
        }
    };
    Ok((id, parent))
}

fn flatten(
    names: &mut Interner,
    mapping: &Mapping,
    obj: &Map<String, Json>,
    prefix: &str,
    out: &mut Vec<(Arc<str>, Value)>,
) {
    for (k, v) in obj {
        if out.len() >= mapping.limits.max_properties {
            return;
        }
        if prefix.is_empty()
            && (Some(k.as_str()) == mapping.time_field() || Some(k.as_str()) == mapping.id_field())
        {
            continue;
        }
        match v {
            Json::Number(n) => {
                if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                    out.push((names.dotted(prefix, k), Value::Num(f)));
                }
            }
            Json::Bool(b) => out.push((names.dotted(prefix, k), Value::Bool(*b))),
            Json::String(s) => {
                let name = names.dotted(prefix, k);
                out.push((name, Value::Str(names.text(s))));
            }
            Json::Object(m) => {
                let name = names.dotted(prefix, k);
                flatten(names, mapping, m, &name, out);
            }
            Json::Null | Json::Array(_) => {}
        }
    }
}

/// The common telemetry shape decoded straight from the bytes, without a `serde_json::Value`
/// tree: `None` when the mapping or the record needs the general path (payload hierarchy,
/// nested pointers, arrays, any error), which then decides and words the outcome. Whenever this
/// returns a record, the general path returns the same one.
fn fast_telemetry(
    names: &mut Interner,
    mapping: &Mapping,
    key: Option<&str>,
    value: &[u8],
    kafka_ts: i64,
) -> Option<Decoded> {
    if !matches!(mapping.hierarchy, Hierarchy::Separator(_)) {
        return None;
    }
    // "kafka" (or anything not a pointer) never reads the payload; a top-level pointer reads
    // one field; deeper pointers take the general path.
    let time_field = match mapping.time_field() {
        Some(f) => Some(f),
        None if mapping.time == "kafka" || !mapping.time.starts_with('/') => None,
        None => return None,
    };
    let id_field = match &mapping.asset_id {
        IdSource::Key => None,
        IdSource::Pointer(_) => Some(mapping.id_field()?),
    };
    let max_depth = mapping.limits.max_depth;
    if max_depth < 1 {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(value);
    let top = de
        .deserialize_map(TopVisitor {
            time_field,
            id_field,
            max_depth,
        })
        .ok()?;
    de.end().ok()?;
    let ts = event_time_of(mapping, top.time.as_ref(), kafka_ts).ok()?;
    let asset = match id_field {
        None => key.filter(|k| !k.is_empty()).map(|k| names.name(k)),
        Some(_) => match top.id.as_ref()? {
            Json::String(s) if s.is_empty() => None,
            Json::String(s) => Some(names.name(s)),
            other => scalar_string(other).map(|s| names.name(&s)),
        },
    }?;
    let mut props = names.props(top.entries.len());
    emit(
        names,
        mapping,
        (time_field, id_field),
        top.entries,
        "",
        &mut props,
    );
    if props.is_empty() {
        return None;
    }
    Some(Decoded::Telemetry {
        asset,
        parent: None,
        ts,
        props,
    })
}

/// A payload value the fast path keeps: what `flatten` would turn into properties.
enum Node<'de> {
    Num(f64),
    Bool(bool),
    Str(Cow<'de, str>),
    /// `null`: no property, but it still replaces an earlier duplicate key.
    Null,
    Obj(Vec<(Cow<'de, str>, Node<'de>)>),
}

/// The top-level object, with the time and id fields set aside as `flatten` skips them.
struct Top<'de> {
    time: Option<Json>,
    id: Option<Json>,
    entries: Vec<(Cow<'de, str>, Node<'de>)>,
}

struct TopVisitor<'m> {
    time_field: Option<&'m str>,
    id_field: Option<&'m str>,
    max_depth: usize,
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut top = Top {
            time: None,
            id: None,
            entries: Vec::with_capacity(map.size_hint().unwrap_or(8)),
        };
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let is_time = Some(&*k) == self.time_field;
            let is_id = Some(&*k) == self.id_field;
            if is_time || is_id {
                let v: Json = map.next_value()?;
                // Nested values here would count towards the depth limit: general path.
                if matches!(v, Json::Object(_) | Json::Array(_)) {
                    return Err(de::Error::custom("structured time or id field"));
                }
                if is_time {
                    top.time = Some(v.clone());
                }
                if is_id {
                    top.id = Some(v);
                }
                continue;
            }
            let v = map.next_value_seed(NodeSeed {
                depth: 2,
                max_depth: self.max_depth,
            })?;
            top.entries.push((k, v));
        }
        Ok(top)
    }
}

/// An object key, borrowed from the input unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(StrVisitor)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// A value at object nesting level `depth` (the top-level object is level 1).
struct NodeSeed {
    depth: usize,
    max_depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a scalar or an object")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }

    // As `serde_json::Number::as_f64` converts them.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Node::Num(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        // Deeper than the limit: the general path words the error.
        if self.depth > self.max_depth {
            return Err(de::Error::custom("too deep"));
        }
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(NodeSeed {
                depth: self.depth + 1,
                max_depth: self.max_depth,
            })?;
            entries.push((k, v));
        }
        Ok(Node::Obj(entries))
    }

    // Arrays count towards the depth limit but never become properties: general path.
}

/// Orders the entries of one object as `serde_json::Map` (a `BTreeMap`) iterates them, keeping
/// the last of duplicate keys as it does, so properties come out in the same order and the
/// `max_properties` cut keeps the same ones.
fn sort_entries<'de>(entries: &mut Vec<(Cow<'de, str>, Node<'de>)>) {
    if entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    // Reversed then stably sorted, the last of equal keys in the input comes first and is the
    // one `dedup_by` keeps (linear, even for a hostile record of many equal keys).
    entries.reverse();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
}

/// `flatten` over the fast path's entries.
fn emit<'de>(
    names: &mut Interner,
    mapping: &Mapping,
    skip: (Option<&str>, Option<&str>),
    mut entries: Vec<(Cow<'de, str>, Node<'de>)>,
    prefix: &str,
    out: &mut Vec<(Arc<str>, Value)>,
) {
    sort_entries(&mut entries);
    for (k, v) in entries {
        let k = &*k;
        if out.len() >= mapping.limits.max_properties {
            return;
        }
        // Only reached below the top level through an empty key, as in `flatten`.
        if prefix.is_empty() && (Some(k) == skip.0 || Some(k) == skip.1) {
            continue;
        }
        match v {
            Node::Num(f) => {
                if f.is_finite() {
                    out.push((names.property(out.len(), prefix, k), Value::Num(f)));
                }
            }
            Node::Bool(b) => out.push((names.property(out.len(), prefix, k), Value::Bool(b))),
            Node::Str(s) => {
                let at = out.len();
                let name = names.property(at, prefix, k);
                out.push((name, Value::Str(names.text_at(at, &s))));
            }
            Node::Obj(m) => {
                let name = names.dotted(prefix, k);
                emit(names, mapping, skip, m, &name, out);
            }
            Node::Null => {}
        }
    }
}

fn decode_asset(
    mapping: &Mapping,
    origin: Origin,
    key: Option<&str>,
    value: Option<&[u8]>,
) -> Result<Decoded, DecodeError> {
    let Some(value) = value else {
        let asset = key
            .filter(|k| !k.is_empty())
            .ok_or(DecodeError::TombstoneWithoutKey)?
            .to_owned();
        return Ok(Decoded::Asset {
            asset,
            ts: origin.kafka_ts,
            def: None,
        });
    };
    let json = parse_json(value)?;
    decode_asset_json(mapping, origin, key, json)
}

/// An asset definition from a parsed value.
fn decode_asset_json(
    mapping: &Mapping,
    origin: Origin,
    key: Option<&str>,
    json: Json,
) -> Result<Decoded, DecodeError> {
    let obj = into_object(mapping, json)?;
    let asset = key
        .filter(|k| !k.is_empty())
        .ok_or(DecodeError::MissingKey)?
        .to_owned();
    let ts = event_time(mapping, &obj, origin.kafka_ts)?;
    let text = |f: &str| obj.get(f).and_then(scalar_string);
    let attributes = match obj.get("attributes") {
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), scalar_string(v).unwrap_or_else(|| v.to_string())))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Decoded::Asset {
        asset,
        ts,
        def: Some(AssetDef {
            name: text("name"),
            kind: text("kind"),
            parent: text("parent").filter(|p| !p.is_empty()),
            attributes,
        }),
    })
}

fn decode_event(
    mapping: &Mapping,
    asset: String,
    parent: Option<String>,
    ts: i64,
    obj: &Map<String, Json>,
) -> Result<Event, DecodeError> {
    let f = &mapping.events;
    let text = |name: &str| obj.get(name).and_then(scalar_string);
    let kind = text(&f.kind).unwrap_or_else(|| "event".into());
    let code = text(&f.code).unwrap_or_default();
    let raw_sev = text(&f.severity).unwrap_or_else(|| "info".into());
    let sev = f.severity_map.get(&raw_sev).cloned().unwrap_or(raw_sev);
    let severity = if sev.eq_ignore_ascii_case("info") {
        Severity::Info
    } else {
        Severity::Alarm(
            Priority::parse(&sev).ok_or_else(|| DecodeError::UnknownSeverity(sev.clone()))?,
        )
    };
    let kind = match kind.as_str() {
        "alarm" => {
            let raw = text(&f.state).ok_or(DecodeError::AlarmWithoutState)?;
            let state = f.state_map.get(&raw).cloned().unwrap_or(raw);
            let action = match state.to_ascii_lowercase().as_str() {
                "active" | "raised" => AlarmAction::Active,
                "cleared" | "normal" | "rtn" => AlarmAction::Cleared,
                "acked" | "ack" | "acknowledged" => AlarmAction::Acked,
                "shelved" => AlarmAction::Shelved,
                "unshelved" => AlarmAction::Unshelved,
                other => return Err(DecodeError::UnknownAlarmState(other.to_owned())),
            };
            if code.is_empty() {
                return Err(DecodeError::AlarmWithoutCode);
            }
            let until = obj.get("until").and_then(|v| parse_time(v, TimeUnit::Auto));
            if action == AlarmAction::Shelved && until.is_none() {
                return Err(DecodeError::ShelveWithoutUntil);
            }
            EventKind::Alarm { action, until }
        }
        "command_result" => EventKind::CommandResult {
            correlation_id: text("correlation_id").ok_or(DecodeError::NoCorrelationId)?,
            status: text("status").unwrap_or_else(|| "unknown".into()),
        },
        _ => EventKind::Event,
    };
    Ok(Event {
        asset,
        parent,
        ts,
        kind,
        code,
        severity,
        message: text(&f.message),
        by: text(&f.by),
        comment: text(&f.comment),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(role: Role) -> Origin {
        Origin {
            role,
            partition: 1,
            offset: 7,
            kafka_ts: 1_000,
        }
    }

    fn tele(m: &Mapping, key: &str, v: &str) -> Result<Decoded, DecodeError> {
        decode(
            m,
            origin(Role::Telemetry),
            Some(key.as_bytes()),
            Some(v.as_bytes()),
        )
    }

    #[test]
    fn reclaimed_property_lists_come_back_empty_and_names_stay_shared() {
        let m = Mapping::default();
        let mut names = Interner::new();
        let rec = |names: &mut Interner, v: &str| Rec {
            origin: origin(Role::Telemetry),
            body: decode_with(
                names,
                &m,
                origin(Role::Telemetry),
                Some(b"a/b"),
                Some(v.as_bytes()),
            )
            .unwrap(),
        };
        let props_of = |r: &Rec| match &r.body {
            Decoded::Telemetry { props, .. } => props.clone(),
            other => panic!("not telemetry: {other:?}"),
        };
        // Wide records, flat (fast path) and nested (the general one), then given back.
        let mut applied = vec![
            rec(&mut names, r#"{"ts": 1, "a": 1, "b": 2, "c": 3, "d": 4}"#),
            rec(&mut names, r#"{"ts": 2, "n": {"x": 1, "y": 2}, "z": 3}"#),
        ];
        let first_a = props_of(&applied[0])[0].0.clone();
        names.reclaim(&mut applied);
        assert!(applied.is_empty());
        assert_eq!(names.spare.len(), 2, "both lists kept for reuse");
        // Narrow records reuse those lists and must carry only their own properties.
        let flat = rec(&mut names, r#"{"ts": 3, "a": 9}"#);
        let nested = rec(&mut names, r#"{"ts": 4, "n": {"x": 7}}"#);
        assert!(names.spare.is_empty(), "the spare lists were used");
        let flat = props_of(&flat);
        assert_eq!(flat, vec![(Arc::from("a"), Value::Num(9.0))]);
        assert!(Arc::ptr_eq(&flat[0].0, &first_a), "names still shared");
        assert_eq!(props_of(&nested), vec![(Arc::from("n.x"), Value::Num(7.0))]);
    }

    #[test]
    fn flattens_nested_objects_and_skips_ts() {
        let d = tele(
            &Mapping::default(),
            "a/b/c",
            r#"{"ts": 5000, "temp": 21.5, "ok": true, "state": "RUN", "bearing": {"wear": 0.25}, "arr": [1]}"#,
        )
        .unwrap();
        let Decoded::Telemetry {
            asset, ts, props, ..
        } = d
        else {
            panic!("not telemetry")
        };
        assert_eq!(&*asset, "a/b/c");
        assert_eq!(ts, 5000);
        let names: Vec<_> = props.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["bearing.wear", "ok", "state", "temp"]);
        assert_eq!(props[0].1, Value::Num(0.25));
    }

    #[test]
    fn missing_ts_uses_kafka_time_and_rfc3339_is_parsed() {
        let m = Mapping::default();
        let Decoded::Telemetry { ts, .. } = tele(&m, "x", r#"{"t": 1}"#).unwrap() else {
            panic!()
        };
        assert_eq!(ts, 1_000);
        let Decoded::Telemetry { ts, .. } =
            tele(&m, "x", r#"{"ts": "1970-01-01T00:00:02Z", "t": 1}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(ts, 2_000);
    }

    #[test]
    fn rejects_bad_records_with_reasons() {
        let m = Mapping::default();
        assert!(
            tele(&m, "x", "{not json")
                .unwrap_err()
                .to_string()
                .starts_with("invalid JSON")
        );
        assert_eq!(
            tele(&m, "x", "[1,2]").unwrap_err().to_string(),
            "value is JSON array, not an object"
        );
        assert_eq!(
            tele(&m, "", r#"{"a":1}"#).unwrap_err().to_string(),
            "empty or missing key (asset id)"
        );
        assert!(
            tele(&m, "x", r#"{"ts": "yesterday", "a": 1}"#)
                .unwrap_err()
                .to_string()
                .starts_with("bad time")
        );
        let deep = format!("{}1{}", r#"{"a":"#.repeat(40), "}".repeat(40));
        assert!(
            tele(&m, "x", &deep)
                .unwrap_err()
                .to_string()
                .contains("nesting depth")
        );
        let bad_key = decode(
            &m,
            origin(Role::Telemetry),
            Some(&[0xff, 0xfe]),
            Some(b"{}"),
        );
        assert_eq!(bad_key.unwrap_err().to_string(), "key is not valid UTF-8");
        let none = decode(&m, origin(Role::Telemetry), Some(b"x"), None);
        assert!(none.unwrap_err().to_string().contains("tombstone"));
    }

    #[test]
    fn pointer_mapping_takes_id_time_and_path_from_payload() {
        let m: Mapping = toml::from_str(crate::testkit::mapping::POINTER_HIERARCHY).unwrap();
        let d = tele(
            &m,
            "ignored",
            r#"{"vin": "V1", "t": 12.5, "region": "eu", "fleet": "f3", "speed": 80}"#,
        )
        .unwrap();
        let Decoded::Telemetry {
            asset,
            parent,
            ts,
            props,
        } = d
        else {
            panic!()
        };
        assert_eq!(
            (&*asset, parent.as_deref(), ts),
            ("V1", Some("eu/f3"), 12_500)
        );
        assert!(props.iter().all(|(n, _)| &**n != "vin" && &**n != "t"));
    }

    #[test]
    fn events_with_renamed_fields_and_severity_numbers() {
        let mut m = Mapping::default();
        m.events.severity = "sev".into();
        m.events.severity_map = [("1".to_owned(), "critical".to_owned())].into();
        let d = decode(
            &m,
            origin(Role::Events),
            Some(b"a/b"),
            Some(br#"{"ts": 9, "type": "alarm", "code": "HOT", "sev": 1, "state": "active", "message": "too hot"}"#),
        )
        .unwrap();
        let Decoded::Event(e) = d else { panic!() };
        assert_eq!(e.severity, Severity::Alarm(Priority::Critical));
        assert_eq!(
            e.kind,
            EventKind::Alarm {
                action: AlarmAction::Active,
                until: None
            }
        );
        assert_eq!(e.message.as_deref(), Some("too hot"));
    }

    #[test]
    fn asset_definitions_and_tombstones() {
        let m = Mapping::default();
        let d = decode(
            &m,
            origin(Role::Assets),
            Some(b"p/l"),
            Some(br#"{"name": "Line", "kind": "line", "parent": "p", "attributes": {"n": 3}}"#),
        )
        .unwrap();
        let Decoded::Asset {
            asset,
            def: Some(def),
            ts,
        } = d
        else {
            panic!()
        };
        assert_eq!((asset.as_str(), ts), ("p/l", 1_000));
        assert_eq!(def.kind.as_deref(), Some("line"));
        assert_eq!(def.attributes, vec![("n".to_owned(), "3".to_owned())]);
        let t = decode(&m, origin(Role::Assets), Some(b"p/l"), None).unwrap();
        assert!(matches!(t, Decoded::Asset { def: None, .. }));
    }

    #[test]
    fn a_value_decoded_elsewhere_gives_what_its_json_gives() {
        let m: Mapping =
            toml::from_str("asset_id = \"/id\"\nhierarchy = [\"/site\", \"/id\"]").unwrap();
        let cases = [
            (
                Role::Telemetry,
                r#"{"id": "m1", "site": "s", "ts": 900, "temp": 1.5, "b": {"w": true}}"#,
            ),
            (Role::Telemetry, r#"{"site": "s", "temp": 1.5}"#),
            (Role::Telemetry, "[1]"),
            (
                Role::Events,
                r#"{"id": "m1", "type": "alarm", "code": "X", "severity": "high", "state": "active"}"#,
            ),
            (
                Role::Events,
                r#"{"id": "m1", "type": "alarm", "severity": "high"}"#,
            ),
            (
                Role::Assets,
                r#"{"name": "M", "kind": "machine", "attributes": {"n": 1}}"#,
            ),
        ];
        for (role, v) in cases {
            let json: Json = serde_json::from_str(v).unwrap();
            assert_eq!(
                decode_value(&m, origin(role), Some(b"k"), json),
                decode(&m, origin(role), Some(b"k"), Some(v.as_bytes())),
                "{v}"
            );
        }
        assert_eq!(
            decode_value(&m, origin(Role::Telemetry), Some(&[0xff]), Json::Null)
                .unwrap_err()
                .to_string(),
            "key is not valid UTF-8"
        );
    }

    #[test]
    fn oversized_value_is_rejected_before_parsing() {
        let mut m = Mapping::default();
        m.limits.max_value_bytes = 10;
        assert!(
            tele(&m, "x", r#"{"a": 123456789}"#)
                .unwrap_err()
                .to_string()
                .contains("exceeds the limit")
        );
    }

    #[test]
    fn fast_path_matches_the_general_path() {
        let id_ptr: Mapping = toml::from_str("asset_id = \"/id\"\ntime = \"/ts\"").unwrap();
        let kafka_time: Mapping = toml::from_str("time = \"kafka\"").unwrap();
        let mut few = Mapping::default();
        few.limits.max_properties = 2;
        let mut shallow = Mapping::default();
        shallow.limits.max_depth = 2;
        let mappings = [Mapping::default(), id_ptr, kafka_time, few, shallow];
        let values = [
            r#"{"ts": 5000, "temperature": 61.25, "vibration": 2.5, "state": "RUN"}"#,
            r#"{"z": 1, "a": {"y": true, "b": {"c": -3}}, "m": null, "s": "t\u00e9\"x\""}"#,
            r#"{"a": 1, "a": "two", "b": {"x": 1}, "b": 7, "a.x": 5, "c": {"d": 1, "d": null}}"#,
            r#"{"": {"ts": 9, "v": 1}, "id": "A1", "ts": 2000, "w": 18446744073709551615}"#,
            r#"{"id": 42, "n": -0, "big": 1e300, "i": -9223372036854775808, "ts": 1}"#,
            r#"{"ts": "1970-01-01T00:00:03Z", "k\u0065y": 1, "id": "x"}"#,
            r#"{"a": {"b": {"c": 1}}, "id": "x"}"#,
            r#"{"a": [1, 2], "b": 1}"#,
            r#"{"ts": 1, "ts": 2, "v": 0.1}"#,
            r#"{"ts": {"x": 1}, "v": 1}"#,
            r#"{"ts": 99999999999999, "v": 1}"#,
            r#"{"id": "", "v": 1}"#,
            r#"{"v": null}"#,
            r#"{"v": 1} x"#,
            r#"{"v": 1e999}"#,
            r#"{"a": {"b": 1}, "s": "RUN"}"#,
            r#"{"a.b": 2, "s": "IDLE"}"#,
            r#"{"a": {"c": 1}, "ab": {"c": 2}, "s": "IDLE"}"#,
        ];
        let mut fast = 0;
        for m in &mappings {
            // One interner through every record, as an ingest session has: each record's
            // names and texts must come out the same whatever the record before it was.
            let mut session = Interner::new();
            for v in values.iter().chain(values.iter().rev()) {
                let o = origin(Role::Telemetry);
                let general = decode_json(&mut Interner::new(), m, o, Some("key"), v.as_bytes());
                if let Some(d) =
                    fast_telemetry(&mut session, m, Some("key"), v.as_bytes(), o.kafka_ts)
                {
                    assert_eq!(Ok(d), general, "{v} after another record");
                }
            }
            for v in values {
                let o = origin(Role::Telemetry);
                let general = decode_json(&mut Interner::new(), m, o, Some("key"), v.as_bytes());
                let shortcut = fast_telemetry(
                    &mut Interner::new(),
                    m,
                    Some("key"),
                    v.as_bytes(),
                    o.kafka_ts,
                );
                if let Some(d) = shortcut {
                    assert_eq!(Ok(d), general, "{v}");
                    fast += 1;
                }
                assert_eq!(tele(m, "key", v), general, "{v}");
            }
        }
        // The common shapes do take the fast path.
        assert!(fast >= 25, "{fast}");
    }

    #[test]
    fn the_interner_hands_out_one_copy_per_name() {
        let mut names = Interner::new();
        assert!(names.is_empty());
        let a = names.name("plant/line/m1");
        let b = names.name("plant/line/m1");
        let c = names.name("plant/line/m2");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((&*a, &*c), ("plant/line/m1", "plant/line/m2"));
        assert_eq!(names.len(), 2);
        // Names and values are kept apart: a state called like a property is not counted.
        let t = names.text("plant/line/m1");
        assert!(!Arc::ptr_eq(&a, &t));
        assert_eq!(names.len(), 2);
        let dotted = names.dotted("bearing", "wear");
        assert_eq!(&*dotted, "bearing.wear");
        assert!(Arc::ptr_eq(&dotted, &names.name("bearing.wear")));
        assert!(Arc::ptr_eq(&names.dotted("", "wear"), &names.name("wear")));
    }

    #[test]
    fn records_decoded_with_one_interner_share_their_names_and_equal_the_unshared_ones() {
        let mut names = Interner::new();
        let m = Mapping::default();
        let general: Mapping = toml::from_str("asset_id = \"/id\"\ntime = \"/ts\"").unwrap();
        for (m, v) in [
            // Fast path: key as id.
            (
                &m,
                r#"{"ts": 5, "temp": 1.5, "state": "RUN", "bearing": {"wear": 0.25}}"#,
            ),
            // General path: an array sends it there.
            (
                &m,
                r#"{"ts": 5, "temp": 1.5, "state": "RUN", "bearing": {"wear": 0.25}, "x": [1]}"#,
            ),
            // Fast path, id from the payload.
            (
                &general,
                r#"{"id": "k", "ts": 5, "temp": 1.5, "state": "RUN", "bearing": {"wear": 0.25}}"#,
            ),
        ] {
            let decode_shared = |names: &mut Interner| {
                decode_with(
                    names,
                    m,
                    origin(Role::Telemetry),
                    Some(b"k"),
                    Some(v.as_bytes()),
                )
                .unwrap()
            };
            let first = decode_shared(&mut names);
            let second = decode_shared(&mut names);
            assert_eq!(first, tele(m, "k", v).unwrap(), "{v}");
            assert_eq!(first, second, "{v}");
            let (
                Decoded::Telemetry {
                    asset: a1,
                    props: p1,
                    ..
                },
                Decoded::Telemetry {
                    asset: a2,
                    props: p2,
                    ..
                },
            ) = (first, second)
            else {
                panic!("not telemetry: {v}")
            };
            assert!(Arc::ptr_eq(&a1, &a2), "{v}");
            assert_eq!(p1.len(), 3, "{v}");
            for ((n1, v1), (n2, v2)) in p1.iter().zip(&p2) {
                assert!(Arc::ptr_eq(n1, n2), "{n1} in {v}");
                if let (Value::Str(s1), Value::Str(s2)) = (v1, v2) {
                    assert!(Arc::ptr_eq(s1, s2), "{s1} in {v}");
                }
            }
        }
        // One id, three property names and the group above `wear`, over all three shapes.
        assert_eq!(names.len(), 5);
    }

    #[test]
    fn interned_texts_stay_short_and_bounded() {
        let mut names = Interner::new();
        let long = "x".repeat(MAX_INTERNED_TEXT_LEN + 1);
        assert!(!Arc::ptr_eq(&names.text(&long), &names.text(&long)));
        assert_eq!(&*names.text(&long), long);
        let run = names.text("RUN");
        assert!(Arc::ptr_eq(&run, &names.text("RUN")));
        for i in 0..MAX_INTERNED_TEXTS * 2 {
            let t = names.text(&i.to_string());
            assert_eq!(*t, *i.to_string());
            assert!(names.texts.len() <= MAX_INTERNED_TEXTS);
        }
        // Started afresh on the way: "RUN" is a new copy now, still equal.
        let again = names.text("RUN");
        assert!(!Arc::ptr_eq(&run, &again));
        assert_eq!(run, again);
        assert!(names.is_empty());
    }
}

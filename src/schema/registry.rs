//! The schema registry client: fetches schemas by id over the Confluent-compatible REST API
//! (Confluent Schema Registry, Apicurio's `/apis/ccompat/v7`, Redpanda, Karapace), resolves
//! their references, compiles them and caches them by id.
//!
//! Blocking (`ureq`) because it runs on the ingest thread, which decodes records in log order:
//! a record whose schema is not cached yet cannot be decoded before the answer anyway, and
//! every later lookup of that id is a hash-map hit. Schemas are immutable per id, so the cache
//! never expires; an unknown id is asked again after [`UNKNOWN_RETRY`].
//!
//! When the registry does not answer, [`Registry::schema`] fails fast and schedules the next
//! attempt with capped exponential backoff; [`Registry::retry_in`] tells the caller how long to
//! wait while the outage is younger than the configured retry window, after which records
//! that need an uncached schema become bad records (the ingest thread must not stall forever).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use super::{Format, Schema, SchemaError, SchemaTag};
use crate::config::Secret;

/// First wait after a failed request; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_START: Duration = Duration::from_millis(250);
/// Longest wait between attempts while the registry is unreachable.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long an unknown id is believed unknown before it is asked again (a producer may have
/// registered it meanwhile).
const UNKNOWN_RETRY: Duration = Duration::from_secs(10);
/// Per request: a registry slower than this counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Deepest chain of references followed (a cycle would otherwise never end).
const MAX_REFERENCE_DEPTH: usize = 16;

/// Where the registry is and how to authenticate, with secrets already resolved (and kept out
/// of debug output by [`Secret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Base URL, e.g. `http://registry:8081` or `http://apicurio:8080/apis/ccompat/v7`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// How long a record waits for an unreachable registry before it becomes a bad record.
    pub retry_for: Duration,
}

/// A reference (import) of a schema to a version of another subject.
#[derive(Debug, Clone, Deserialize)]
struct Reference {
    name: String,
    subject: String,
    version: i64,
}

/// A schema as the registry returns it.
#[derive(Debug, Deserialize)]
struct Stored {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Debug, Deserialize)]
struct SubjectVersion {
    subject: String,
    version: i64,
}

/// Why one request failed.
enum Fetch {
    /// No answer (connection refused, timeout, DNS): retried.
    Unreachable(String),
    /// The registry answered 404.
    NotFound,
    /// Any other answer that is not a schema (auth refused, server error): not retried per
    /// record, reported as the record's reason.
    Refused(String),
}

/// The registry is down since `since`; the next attempt is not before `next_try`.
#[derive(Debug, Clone)]
struct Outage {
    reason: String,
    since: Instant,
    next_try: Instant,
    backoff: Duration,
}

/// The registry client and its by-id cache.
pub struct Registry {
    settings: RegistrySettings,
    agent: ureq::Agent,
    auth: Option<String>,
    cache: HashMap<u32, Arc<Schema>>,
    /// Ids whose schema cannot be used (it does not compile): immutable, so remembered.
    broken: HashMap<u32, String>,
    unknown: HashMap<u32, Instant>,
    outage: Option<Outage>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("settings", &self.settings)
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A client; nothing is requested until the first lookup.
    #[must_use]
    pub fn new(settings: RegistrySettings) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build();
        let auth = settings.username.as_ref().map(|u| {
            let pair = format!(
                "{u}:{}",
                settings.password.as_ref().map_or("", Secret::expose)
            );
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Self {
            settings,
            agent: ureq::Agent::new_with_config(config),
            auth,
            cache: HashMap::new(),
            broken: HashMap::new(),
            unknown: HashMap::new(),
            outage: None,
        }
    }

    /// The schema with this id, from the cache or the registry (one attempt).
    ///
    /// # Errors
    /// [`SchemaError::Unreachable`] (also without a request while the backoff runs),
    /// [`SchemaError::UnknownId`], [`SchemaError::Registry`] for other refusals, and
    /// [`SchemaError::BadSchema`] when the schema does not compile.
    pub fn schema(&mut self, id: u32) -> Result<&Arc<Schema>, SchemaError> {
        if self.cache.contains_key(&id) {
            return self.cache.get(&id).ok_or(SchemaError::UnknownId(id));
        }
        if let Some(reason) = self.broken.get(&id) {
            return Err(SchemaError::BadSchema {
                id,
                reason: reason.clone(),
            });
        }
        if self
            .unknown
            .get(&id)
            .is_some_and(|t| t.elapsed() < UNKNOWN_RETRY)
        {
            return Err(SchemaError::UnknownId(id));
        }
        if let Some(o) = &self.outage
            && Instant::now() < o.next_try
        {
            return Err(SchemaError::Unreachable(o.reason.clone()));
        }
        match self.load(id) {
            Ok(schema) => {
                self.outage = None;
                self.unknown.remove(&id);
                Ok(self.cache.entry(id).or_insert_with(|| Arc::new(schema)))
            }
            Err(Loaded::Fetch(Fetch::Unreachable(reason))) => {
                let now = Instant::now();
                let (since, backoff) = match &self.outage {
                    Some(o) => (o.since, (o.backoff * 2).min(BACKOFF_MAX)),
                    None => (now, BACKOFF_START),
                };
                self.outage = Some(Outage {
                    reason: reason.clone(),
                    since,
                    next_try: now + backoff,
                    backoff,
                });
                Err(SchemaError::Unreachable(reason))
            }
            Err(Loaded::Fetch(Fetch::NotFound)) => {
                self.outage = None;
                self.unknown.insert(id, Instant::now());
                Err(SchemaError::UnknownId(id))
            }
            Err(Loaded::Fetch(Fetch::Refused(reason))) => {
                self.outage = None;
                Err(SchemaError::Registry(reason))
            }
            Err(Loaded::Broken(reason)) => {
                self.outage = None;
                self.broken.insert(id, reason.clone());
                Err(SchemaError::BadSchema { id, reason })
            }
        }
    }

    /// While the registry is unreachable and the outage is younger than the retry window: how
    /// long until the next attempt. `None` when reachable, or when the window has passed.
    #[must_use]
    pub fn retry_in(&self) -> Option<Duration> {
        let o = self.outage.as_ref()?;
        (o.since.elapsed() < self.settings.retry_for)
            .then(|| o.next_try.saturating_duration_since(Instant::now()))
    }

    /// What is wrong with the registry, for the status bar: `None` while it answers.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        let o = self.outage.as_ref()?;
        Some(format!(
            "schema registry {} unreachable for {} s ({}); records with a schema not yet cached \
             wait up to {} s, then are listed as bad records; retrying in {} s",
            self.settings.url,
            o.since.elapsed().as_secs(),
            o.reason,
            self.settings.retry_for.as_secs(),
            o.next_try
                .saturating_duration_since(Instant::now())
                .as_secs()
        ))
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Fetch> {
        let url = format!("{}/{path}", self.settings.url.trim_end_matches('/'));
        let mut req = self.agent.get(&url).header(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().map_err(|e| Fetch::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => resp
                .body_mut()
                .read_json()
                .map_err(|e| Fetch::Refused(format!("unexpected answer from {url}: {e}"))),
            404 => Err(Fetch::NotFound),
            401 | 403 => Err(Fetch::Refused(format!(
                "the schema registry refused the credentials ({status}; check \
                 schema_registry.username and password)"
            ))),
            // Overloaded or restarting: as good as unreachable, and worth retrying.
            502..=504 => Err(Fetch::Unreachable(format!("HTTP {status}"))),
            _ => {
                let body = resp.body_mut().read_to_string().unwrap_or_default();
                Err(Fetch::Refused(format!(
                    "the schema registry answered {status} for {url}: {}",
                    body.chars().take(200).collect::<String>()
                )))
            }
        }
    }

    /// Fetches, resolves and compiles the schema `id`.
    fn load(&self, id: u32) -> Result<Schema, Loaded> {
        let stored: Stored = self.get(&format!("schemas/ids/{id}"))?;
        let format = match stored.schema_type.as_deref() {
            None | Some("AVRO") => Format::Avro,
            Some("PROTOBUF") => Format::Protobuf,
            Some("JSON") => Format::JsonSchema,
            Some(other) => return Err(Loaded::Broken(format!("unknown schema type {other}"))),
        };
        let mut refs = Vec::new();
        self.references(&stored.references, 0, &mut refs)?;
        // Which subject and version this id is, for provenance. Not every registry answers
        // this; the id alone still identifies the schema.
        let (subject, version) =
            match self.get::<Vec<SubjectVersion>>(&format!("schemas/ids/{id}/versions")) {
                Ok(v) => v
                    .into_iter()
                    .min_by_key(|sv| sv.version)
                    .map_or((None, None), |sv| (Some(sv.subject), Some(sv.version))),
                Err(Fetch::Unreachable(r)) => return Err(Loaded::Fetch(Fetch::Unreachable(r))),
                Err(_) => (None, None),
            };
        Schema::compile(
            SchemaTag {
                id,
                format,
                subject,
                version,
            },
            &stored.schema,
            &refs,
        )
        .map_err(Loaded::Broken)
    }

    /// Collects referenced schemas (transitively) as `(import name, text)`, dependencies first.
    fn references(
        &self,
        refs: &[Reference],
        depth: usize,
        out: &mut Vec<(String, String)>,
    ) -> Result<(), Loaded> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(Loaded::Broken(
                "references nested too deeply (a cycle?)".into(),
            ));
        }
        for r in refs {
            if out.iter().any(|(n, _)| *n == r.name) {
                continue;
            }
            let path = format!(
                "subjects/{}/versions/{}",
                encode_path(&r.subject),
                r.version
            );
            let stored: Stored = self.get(&path).map_err(|e| match e {
                Fetch::NotFound => Loaded::Broken(format!(
                    "reference {} ({} version {}) not found",
                    r.name, r.subject, r.version
                )),
                other => Loaded::Fetch(other),
            })?;
            self.references(&stored.references, depth + 1, out)?;
            out.push((r.name.clone(), stored.schema));
        }
        Ok(())
    }
}

/// Registers `schema` (type `AVRO`, `PROTOBUF` or `JSON`) under `subject`, with references
/// `(import name, subject, version)`, and returns its id; an identical schema keeps its id. For
/// producers: the demo's `--avro` and the tests.
///
/// # Errors
/// [`SchemaError::Unreachable`] or [`SchemaError::Registry`] with the registry's answer.
pub fn register(
    settings: &RegistrySettings,
    subject: &str,
    schema_type: &str,
    schema: &str,
    references: &[(&str, &str, i64)],
) -> Result<u32, SchemaError> {
    let refs: Vec<serde_json::Value> = references
        .iter()
        .map(|(name, subject, version)| {
            serde_json::json!({"name": name, "subject": subject, "version": version})
        })
        .collect();
    let body = serde_json::json!({"schema": schema, "schemaType": schema_type, "references": refs});
    let url = format!(
        "{}/subjects/{}/versions",
        settings.url.trim_end_matches('/'),
        encode_path(subject)
    );
    let mut req = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build(),
    )
    .post(&url)
    .header("Content-Type", "application/vnd.schemaregistry.v1+json");
    if let Some(u) = &settings.username {
        let pair = format!(
            "{u}:{}",
            settings.password.as_ref().map_or("", Secret::expose)
        );
        req = req.header(
            "Authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
        );
    }
    let mut resp = req
        .send_json(&body)
        .map_err(|e| SchemaError::Unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let answer: serde_json::Value = resp
        .body_mut()
        .read_json()
        .map_err(|e| SchemaError::Registry(format!("registering {subject}: {e}")))?;
    answer
        .get("id")
        .and_then(serde_json::Value::as_u64)
        .and_then(|id| u32::try_from(id).ok())
        .filter(|_| (200..300).contains(&status))
        .ok_or_else(|| SchemaError::Registry(format!("registering {subject}: {status} {answer}")))
}

/// Why loading a schema failed.
enum Loaded {
    Fetch(Fetch),
    /// The registry answered, but the schema cannot be used.
    Broken(String),
}

impl From<Fetch> for Loaded {
    fn from(f: Fetch) -> Self {
        Loaded::Fetch(f)
    }
}

/// Percent-encodes a subject name for a URL path segment.
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_registry_backs_off_and_gives_up_after_the_window() {
        // A port nothing listens on: bind, then drop.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut r = Registry::new(RegistrySettings {
            url: format!("http://127.0.0.1:{port}"),
            username: None,
            password: None,
            retry_for: Duration::from_millis(600),
        });
        assert!(r.retry_in().is_none() && r.problem().is_none());
        assert!(matches!(r.schema(1), Err(SchemaError::Unreachable(_))));
        // Inside the window: the caller is told to wait, and asking again before the backoff
        // ends makes no request.
        let wait = r.retry_in().unwrap();
        assert!(wait <= BACKOFF_START, "{wait:?}");
        assert!(r.problem().unwrap().contains("unreachable"));
        assert!(matches!(r.schema(1), Err(SchemaError::Unreachable(_))));
        std::thread::sleep(Duration::from_millis(700));
        assert!(matches!(r.schema(1), Err(SchemaError::Unreachable(_))));
        let o = r.outage.clone().unwrap();
        assert_eq!(o.backoff, BACKOFF_START * 2);
        assert!(r.retry_in().is_none(), "the window has passed");
    }

    #[test]
    fn subjects_are_encoded_and_secrets_redacted() {
        assert_eq!(encode_path("a.b-c/d e"), "a.b-c%2Fd%20e");
        let s = RegistrySettings {
            url: "http://x".into(),
            username: Some("u".into()),
            password: Some("hunter2".into()),
            retry_for: Duration::from_secs(1),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

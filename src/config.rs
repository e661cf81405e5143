//! The TOML config file: brokers and client settings, topic names, the payload mapping, the
//! history budget, UI limits and write-back.
//!
//! Loaded once in `main.rs` and passed down. Secret values may be written as `env:VAR` or
//! `file:/path` and are resolved here, so they never need to appear in the file itself.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::twin::forecast::Threshold;
use crate::twin::mapping::Mapping;
use crate::twin::rules::{Limit, RuleDef, RuleKind, ThresholdCondition, scope_matches};

/// Errors loading or resolving a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The reason is in the message rather than the error's source, which a `{:#}` print (as
    // the CLI's) would repeat after it.
    #[error("cannot read config {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The message names the place itself (file, line, table and key), e.g. `unknown key
    /// "brokerz" in [kafka] at plant.toml line 3, did you mean "brokers"?`.
    #[error("{message}")]
    Parse { path: PathBuf, message: String },
    #[error("client property {key}: {message}")]
    Secret { key: String, message: String },
    #[error("invalid -X option {0:?}: expected key=value")]
    BadOverride(String),
}

/// Kafka connection settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers; none means the embedded demo.
    pub brokers: Option<String>,
    /// librdkafka properties, as with `-X` (e.g. `"security.protocol" = "SASL_SSL"`).
    pub properties: BTreeMap<String, String>,
    /// Look-back such as `"2h"`; by default everything retained is read.
    pub since: Option<String>,
    /// An assumption, off by default: how far out of event-time order records may be within a
    /// partition. With it, `snapshot --at T` stops a partition at the first record later than
    /// `T` plus this (and says so in its output); without it, every partition is read to its
    /// end as of the start, which is exact however late records arrive.
    pub max_lateness_s: Option<u64>,
}

/// Topic names per role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topics {
    pub telemetry: String,
    pub events: String,
    /// An empty name (here or for telemetry or events) leaves that role unread.
    pub assets: String,
    pub commands: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            telemetry: "twin.telemetry".into(),
            events: "twin.events".into(),
            assets: "twin.assets".into(),
            commands: "twin.commands".into(),
        }
    }
}

/// In-memory history limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Property history kept in memory; older history is evicted and re-read from Kafka.
    pub budget_mb: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self { budget_mb: 1024 }
    }
}

/// UI settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// A value older than this is shown as stale.
    pub stale_after_s: u64,
    /// Width of the live plot window.
    pub plot_window_s: u64,
    /// A record this far behind the newest of its partition has arrived late: the asset panel
    /// and the timeline mark the stretch it filled in.
    pub late_after_s: u64,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            stale_after_s: 30,
            plot_window_s: 600,
            late_after_s: 60,
        }
    }
}

/// Write-back (acks, commands). Off unless enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteConfig {
    pub enabled: bool,
}

/// Who the operator is, for acknowledgements and commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorConfig {
    pub name: Option<String>,
}

/// An operator command that can be sent to assets (`[[commands]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    /// The command name sent in the payload, e.g. `reset_fault`.
    pub name: String,
    /// The button text; defaults to the name.
    #[serde(default)]
    pub label: Option<String>,
    /// Asset kinds it applies to; empty means every asset.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Parameters with their default values; the confirmation dialog lets the operator edit them.
    #[serde(default)]
    pub args: BTreeMap<String, serde_json::Value>,
}

impl CommandDef {
    /// Whether this command applies to an asset of `kind`.
    #[must_use]
    pub fn applies_to(&self, kind: Option<&str>) -> bool {
        self.kinds.is_empty()
            || kind.is_some_and(|k| self.kinds.iter().any(|x| x.eq_ignore_ascii_case(k)))
    }

    /// The text on the button.
    #[must_use]
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

/// The demo plant's commands, used when the config defines none.
#[must_use]
pub fn default_commands() -> Vec<CommandDef> {
    let def = |name: &str, label: &str, args: &[(&str, serde_json::Value)]| CommandDef {
        name: name.into(),
        label: Some(label.into()),
        kinds: vec!["machine".into()],
        args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    };
    vec![
        def("reset_fault", "Reset fault", &[]),
        def(
            "start_maintenance",
            "Start maintenance",
            &[("minutes", serde_json::json!(15))],
        ),
        def("stop", "Stop", &[]),
        def("start", "Start", &[]),
    ]
}

/// The whole config.
///
/// Every table refuses keys it does not know (`deny_unknown_fields` here, on the mapping's
/// types and on the rule and limit shapes), so a typo is an error that names the
/// key and its line instead of a setting silently left at its default. Only the free-form maps
/// (`[kafka.properties]`, `units`, `severity_map`, `state_map`, a command's `args`) take any key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub mapping: Mapping,
    pub history: HistoryConfig,
    pub ui: UiConfig,
    pub write: WriteConfig,
    pub operator: OperatorConfig,
    #[serde(default = "default_commands")]
    pub commands: Vec<CommandDef>,
    /// Alarm rules derived from telemetry (`[[rules]]`); none by default.
    pub rules: Vec<RuleDef>,
    /// Limits the prediction looks for (`[[limits]]`), besides the threshold rules' limits.
    pub limits: Vec<LimitDef>,
    /// Where records in the Confluent wire format find their schemas (`[schema_registry]`).
    pub schema_registry: SchemaRegistryConfig,
}

/// A secret (a password) that debug output never shows: `"<redacted>"` stands in for it, so a
/// config or the settings made from it can be logged whole. Read and written as the plain
/// string it is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt("<redacted>", f)
    }
}

/// The schema registry for Avro, Protobuf and JSON Schema records (`[schema_registry]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// Base URL of a Confluent-compatible API, e.g. `http://registry:8081` or Apicurio's
    /// `http://apicurio:8080/apis/ccompat/v7`. None: framed records are bad records that say so.
    pub url: Option<String>,
    /// Basic auth user.
    pub username: Option<String>,
    /// Basic auth password; `env:VAR` or `file:/path` like the client secrets.
    pub password: Option<Secret>,
    /// How long a record waits for an unreachable registry before it is a bad record.
    pub retry_s: u64,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: None,
            username: None,
            password: None,
            retry_s: 30,
        }
    }
}

impl SchemaRegistryConfig {
    /// The registry to use: `cli_url` (`--schema-registry`) wins over `url`; secrets resolved.
    ///
    /// # Errors
    /// When the password names an unset variable or an unreadable file.
    pub fn resolve(
        &self,
        cli_url: Option<&str>,
    ) -> Result<Option<crate::schema::RegistrySettings>, ConfigError> {
        let Some(url) = cli_url.or(self.url.as_deref()) else {
            return Ok(None);
        };
        let password = self
            .password
            .as_ref()
            .map(|p| resolve_value("schema_registry.password", p.expose()).map(Secret::from))
            .transpose()?;
        Ok(Some(crate::schema::RegistrySettings {
            url: url.to_owned(),
            username: self.username.clone(),
            password,
            retry_for: std::time::Duration::from_secs(self.retry_s),
        }))
    }
}

/// A limit on a numeric property that time-to-threshold estimates look for (`[[limits]]`).
///
/// Alarms may come from elsewhere (a PLC, the events topic); this only tells the prediction
/// where the failure side starts. Threshold rules count as limits too (see [`thresholds_for`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawLimit", into = "RawLimit")]
pub struct LimitDef {
    /// Property (telemetry field) the limit is on.
    pub property: String,
    /// The limit value and its failure side.
    pub threshold: Threshold,
    /// Asset kinds it applies to; empty means every asset.
    pub kinds: Vec<String>,
    /// Asset id glob (`*` matches any run of characters); `None` means every asset.
    pub pattern: Option<String>,
}

/// The flat TOML shape of a limit: exactly one of `above` / `below`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    property: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    above: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    below: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
}

impl TryFrom<RawLimit> for LimitDef {
    type Error = String;

    fn try_from(r: RawLimit) -> Result<Self, String> {
        let threshold = match (r.above, r.below) {
            (Some(v), None) if v.is_finite() => Threshold::above(v),
            (None, Some(v)) if v.is_finite() => Threshold::below(v),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "limit on {}: give `above` or `below`, not both",
                    r.property
                ));
            }
            _ => {
                return Err(format!(
                    "limit on {}: needs a finite `above` or `below`",
                    r.property
                ));
            }
        };
        Ok(Self {
            property: r.property,
            threshold,
            kinds: r.kinds,
            pattern: r.pattern,
        })
    }
}

impl From<LimitDef> for RawLimit {
    fn from(d: LimitDef) -> Self {
        let (above, below) = match d.threshold.direction {
            crate::twin::forecast::Direction::Above => (Some(d.threshold.value), None),
            crate::twin::forecast::Direction::Below => (None, Some(d.threshold.value)),
        };
        Self {
            property: d.property,
            above,
            below,
            kinds: d.kinds,
            pattern: d.pattern,
        }
    }
}

impl LimitDef {
    /// Whether the limit applies to the asset `id` whose kind is `kind`.
    #[must_use]
    pub fn applies_to(&self, id: &str, kind: Option<&str>) -> bool {
        scope_matches(&self.kinds, self.pattern.as_deref(), id, kind)
    }
}

/// The limits on `property` of asset `id` (of `kind`): from `[[limits]]` and from threshold
/// rules. At most one per side: the tightest (lowest `above`, highest `below`), because that
/// is the one reached first.
#[must_use]
pub fn thresholds_for(
    limits: &[LimitDef],
    rules: &[RuleDef],
    id: &str,
    kind: Option<&str>,
    property: &str,
) -> Vec<Threshold> {
    let from_limits = limits
        .iter()
        .filter(|l| l.property == property && l.applies_to(id, kind))
        .map(|l| l.threshold);
    let from_rules = rules
        .iter()
        .filter(|r| r.property == property && r.applies_to(id, kind))
        .filter_map(|r| match r.kind {
            RuleKind::Threshold(ThresholdCondition {
                limit: Limit::Hi | Limit::HiHi,
                value,
                ..
            }) => Some(Threshold::above(value)),
            RuleKind::Threshold(ThresholdCondition {
                limit: Limit::Lo | Limit::LoLo,
                value,
                ..
            }) => Some(Threshold::below(value)),
            RuleKind::State { .. } => None,
        });
    let mut above: Option<f64> = None;
    let mut below: Option<f64> = None;
    for t in from_limits.chain(from_rules) {
        match t.direction {
            crate::twin::forecast::Direction::Above => {
                above = Some(above.map_or(t.value, |a| a.min(t.value)));
            }
            crate::twin::forecast::Direction::Below => {
                below = Some(below.map_or(t.value, |b| b.max(t.value)));
            }
        }
    }
    above
        .map(Threshold::above)
        .into_iter()
        .chain(below.map(Threshold::below))
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            kafka: KafkaConfig::default(),
            topics: Topics::default(),
            mapping: Mapping::default(),
            history: HistoryConfig::default(),
            ui: UiConfig::default(),
            write: WriteConfig::default(),
            operator: OperatorConfig::default(),
            commands: default_commands(),
            rules: Vec::new(),
            limits: Vec::new(),
            schema_registry: SchemaRegistryConfig::default(),
        }
    }
}

impl Config {
    /// Reads and parses a config file.
    ///
    /// # Errors
    /// When the file cannot be read or is not a valid config.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse_named(&text, Some(&path.display().to_string())).map_err(|message| {
            ConfigError::Parse {
                path: path.to_owned(),
                message,
            }
        })
    }

    /// Parses config text.
    ///
    /// # Errors
    /// A message that names the line, the table and the key at fault, and for an unknown key
    /// the nearest known one.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_named(text, None)
    }

    /// Parses config text read from `file` (named in errors).
    fn parse_named(text: &str, file: Option<&str>) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| describe_error(text, file, e.message(), e.span()))
    }

    /// The operator name: from the config, else the OS user.
    #[must_use]
    pub fn operator(&self) -> String {
        self.operator
            .name
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("USERNAME").ok())
            .unwrap_or_else(|| "operator".into())
    }
}

/// Turns a TOML/serde error into a message that says where: the file and line, the table
/// (`[kafka]`, `[[rules]] #2`, ...) and the key, with the nearest known key for a typo.
fn describe_error(
    text: &str,
    file: Option<&str>,
    message: &str,
    span: Option<Range<usize>>,
) -> String {
    let Some(span) = span else {
        return match file {
            Some(f) => format!("invalid config {f}: {message}"),
            None => format!("invalid config: {message}"),
        };
    };
    let line = text
        .as_bytes()
        .get(..span.start.min(text.len()))
        .map_or(1, |b| b.iter().filter(|&&c| c == b'\n').count() + 1);
    let at = match file {
        Some(f) => format!("at {f} line {line}"),
        None => format!("at line {line}"),
    };
    let place = locate(text, &span);
    let table = place
        .as_ref()
        .map_or_else(|| "the config".to_owned(), |p| table_name(&p.table));
    if let Some((named, expected)) = unknown_name(message, "unknown field `") {
        // The document's own key when found (exact even with a backtick in it), else serde's.
        let key = place
            .as_ref()
            .and_then(|p| p.key.as_deref())
            .unwrap_or(named);
        let hint = match nearest(key, &expected) {
            Some(n) => format!(", did you mean \"{n}\"?"),
            None if expected.is_empty() => ", which takes no keys".to_owned(),
            None => format!("; known keys: {}", expected.join(", ")),
        };
        // `{:?}` quotes the key and escapes what would break the line (a key may be "a\nb").
        return format!("unknown key {key:?} in {table} {at}{hint}");
    }
    // A wrong value names its variant list; suggest the nearest one, as for keys.
    let hint = unknown_name(message, "unknown variant `")
        .and_then(|(v, expected)| nearest(v, &expected))
        .map(|n| format!(", did you mean \"{n}\"?"))
        .unwrap_or_default();
    match place {
        Some(Place { key: Some(key), .. }) => {
            format!("invalid value for {key:?} in {table} {at}: {message}{hint}")
        }
        Some(Place { key: None, .. }) => format!("invalid {table} {at}: {message}{hint}"),
        None => format!("invalid config {at}: {message}{hint}"),
    }
}

/// Where in the document an error span lies: the table it is in and, unless the error is about
/// the table itself (such as a missing key), the key.
#[derive(Debug, PartialEq)]
struct Place {
    table: Vec<Seg>,
    key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Finds the table and key an error span belongs to, by walking the spanned document. `None`
/// when the text does not parse as TOML (a syntax error has only its line).
fn locate(text: &str, span: &Range<usize>) -> Option<Place> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    locate_in(text, doc.get_ref(), span, &mut path, 0)
}

fn locate_in(
    text: &str,
    table: &toml::de::DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<Seg>,
    depth: usize,
) -> Option<Place> {
    // Configs are shallow; a hostile document nested deeper is not worth the stack.
    if depth > 32 {
        return None;
    }
    for (k, v) in table.iter() {
        let key = k.get_ref().to_string();
        path.push(Seg::Key(key.clone()));
        let found = match v.get_ref() {
            toml::de::DeValue::Table(t) => locate_in(text, t, span, path, depth + 1),
            toml::de::DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let toml::de::DeValue::Table(t) = item.get_ref() else {
                    return None;
                };
                path.push(Seg::Index(i));
                // The span of a `[[x]]` entry is its header: an error there is about the entry.
                let found = if item.span() == *span {
                    Some(Place {
                        table: path.clone(),
                        key: None,
                    })
                } else {
                    locate_in(text, t, span, path, depth + 1)
                };
                path.pop();
                found
            }),
            _ => None,
        };
        path.pop();
        if found.is_some() {
            return found;
        }
        // A `[table]` header's span is the header: an error there is about the table (an
        // inline `{ ... }` table is a value like any other).
        if v.get_ref().is_table()
            && v.span() == *span
            && text.get(span.clone()).is_some_and(|t| t.starts_with('['))
        {
            let mut table = path.clone();
            table.push(Seg::Key(key));
            return Some(Place { table, key: None });
        }
        if k.span().contains(&span.start) || v.span().contains(&span.start) {
            return Some(Place {
                table: path.clone(),
                key: Some(key),
            });
        }
    }
    None
}

/// `[kafka]`, `[mapping.events]`, `[[rules]] #2`, or `the top-level table`.
fn table_name(path: &[Seg]) -> String {
    if path.is_empty() {
        return "the top-level table".to_owned();
    }
    let mut name = String::new();
    let mut index = None;
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !name.is_empty() {
                    name.push('.');
                }
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    name.push_str(k);
                } else {
                    name.push_str(&format!("{k:?}"));
                }
                index = None;
            }
            Seg::Index(i) => index = Some(*i),
        }
    }
    match index {
        Some(i) => format!("[[{name}]] #{}", i + 1),
        None => format!("[{name}]"),
    }
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant ...") into
/// the name and the expected names.
fn unknown_name<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, Vec<&'m str>)> {
    let rest = message.strip_prefix(prefix)?;
    let (name, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).collect();
    Some((name, expected))
}

/// The known name nearest to `name`, if it is near enough to be a typo of it: a few edits
/// away (about one in three characters), or a prefix or extension of it (`asset` for
/// `asset_id`).
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let near = |k: &str| {
        let d = edit_distance(name, k);
        let (short, long) = if name.len() <= k.len() {
            (name, k)
        } else {
            (k, name)
        };
        let longer = long.chars().count();
        let prefix = short.chars().count() >= 3
            && long
                .to_ascii_lowercase()
                .starts_with(&short.to_ascii_lowercase());
        (d <= 1 || d <= longer / 3 || prefix).then_some(d)
    };
    known
        .iter()
        .filter_map(|k| near(k).map(|d| (*k, d)))
        .min_by_key(|&(_, d)| d)
        .map(|(k, _)| k)
}

/// Edit distance (optimal string alignment: insertions, deletions, substitutions and swaps of
/// adjacent characters), ignoring ASCII case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Rows i-2, i-1 and i of the distance table.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// librdkafka client properties with secrets resolved. `Debug` redacts secret values, so the
/// struct can be logged safely.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientProps(Vec<(String, String)>);

impl std::fmt::Debug for ClientProps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, if is_secret_key(k) { "<redacted>" } else { v })),
            )
            .finish()
    }
}

impl ClientProps {
    /// Merges config properties with `-X key=value` overrides (which win), resolving `env:` and
    /// `file:` values.
    ///
    /// # Errors
    /// On a malformed override or an unresolvable secret.
    pub fn resolve(
        config: &BTreeMap<String, String>,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let mut merged = config.clone();
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ConfigError::BadOverride(redact_override(o)))?;
            merged.insert(k.trim().to_owned(), v.to_owned());
        }
        let mut out = Vec::with_capacity(merged.len());
        for (k, v) in merged {
            let v = resolve_value(&k, &v)?;
            out.push((k, v));
        }
        Ok(Self(out))
    }

    /// The properties, for building a client.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The secret values, so that tests and exporters can check they never leak.
    #[must_use]
    pub fn secret_values(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| is_secret_key(k) && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn redact_override(o: &str) -> String {
    match o.split_once('=') {
        Some((k, _)) if is_secret_key(k) => format!("{k}=<redacted>"),
        _ => o.chars().take(40).collect(),
    }
}

/// Whether a librdkafka property holds a secret.
#[must_use]
pub fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "key.pem",
        "private.key",
        "jaas",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn resolve_value(key: &str, v: &str) -> Result<String, ConfigError> {
    let err = |message: String| ConfigError::Secret {
        key: key.to_owned(),
        message,
    };
    if let Some(var) = v.strip_prefix("env:") {
        std::env::var(var).map_err(|_| err(format!("environment variable {var} is not set")))
    } else if let Some(path) = v.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| err(format!("cannot read {path}: {e}")))
    } else {
        Ok(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses() {
        let c = Config::parse(
            r#"
            [kafka]
            brokers = "k1:9092"
            since = "2h"
            properties = { "security.protocol" = "SASL_SSL", "sasl.password" = "env:TS_TEST_PW_UNSET" }
            [topics]
            telemetry = "cars.state"
            assets = ""
            [mapping]
            asset_id = "/vin"
            [history]
            budget_mb = 64
            [write]
            enabled = true
            "#,
        )
        .unwrap();
        assert_eq!(c.kafka.brokers.as_deref(), Some("k1:9092"));
        assert_eq!(c.topics.telemetry, "cars.state");
        assert_eq!(c.topics.events, "twin.events");
        assert_eq!(c.history.budget_mb, 64);
        assert!(c.write.enabled);
        let e = ClientProps::resolve(&c.kafka.properties, &[]).unwrap_err();
        assert!(e.to_string().contains("TS_TEST_PW_UNSET"));
    }

    #[test]
    fn schema_registry_section_resolves_secrets_and_the_cli_wins() {
        assert_eq!(
            Config::default().schema_registry.resolve(None).unwrap(),
            None
        );
        let c = Config::parse(
            r#"
            [schema_registry]
            url = "http://reg:8081"
            username = "viewer"
            password = "env:TS_TEST_REGISTRY_PW_UNSET"
            retry_s = 5
            "#,
        )
        .unwrap();
        let e = c.schema_registry.resolve(None).unwrap_err();
        assert!(e.to_string().contains("TS_TEST_REGISTRY_PW_UNSET"), "{e}");
        let mut plain = c.schema_registry.clone();
        plain.password = Some("hunter2".into());
        assert!(!format!("{plain:?}").contains("hunter2"));
        let r = plain.resolve(Some("http://cli:1")).unwrap().unwrap();
        assert_eq!(r.url, "http://cli:1");
        assert_eq!(r.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert_eq!(r.retry_for, std::time::Duration::from_secs(5));
        let typo = Config::parse("[schema_registry]\nurls = \"x\"").unwrap_err();
        assert!(typo.contains("urls"), "{typo}");
    }

    #[test]
    fn rules_parse_and_default_to_none() {
        assert!(Config::default().rules.is_empty());
        assert!(Config::parse("").unwrap().rules.is_empty());
        let c = Config::parse(&crate::testkit::rules::two_rules()).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].code, "VIB_HI");
        assert_eq!(c.rules[1].pattern.as_deref(), Some("plant-a/*"));
        let e = Config::parse("[[rules]]\ncode='X'\nproperty='p'\npriority='low'").unwrap_err();
        assert!(e.contains("limit"), "{e}");
    }

    #[test]
    fn limits_parse_and_merge_with_threshold_rules() {
        let c = Config::parse(
            r#"
[[limits]]
property = "vibration"
above = 7.0
kinds = ["machine"]
[[limits]]
property = "vibration"
above = 6.0
pattern = "plant-a/*"
[[limits]]
property = "pressure"
below = 1.5
[[rules]]
code = "VIB_HIHI"
property = "vibration"
limit = "hihi"
value = 9.0
priority = "high"
[[rules]]
code = "P_LO"
property = "pressure"
limit = "lo"
value = 2.0
priority = "low"
"#,
        )
        .unwrap();
        assert_eq!(c.limits.len(), 3);
        let t = |id: &str, kind: Option<&str>, p: &str| {
            thresholds_for(&c.limits, &c.rules, id, kind, p)
        };
        // The tightest limit per side wins: 6.0 on plant-a, 7.0 for other machines, the rule's
        // 9.0 for anything else.
        assert_eq!(
            t("plant-a/x", Some("machine"), "vibration"),
            vec![Threshold::above(6.0)]
        );
        assert_eq!(
            t("plant-b/x", Some("machine"), "vibration"),
            vec![Threshold::above(7.0)]
        );
        assert_eq!(
            t("plant-b/x", None, "vibration"),
            vec![Threshold::above(9.0)]
        );
        // A low rule at 2.0 is reached before the configured 1.5.
        assert_eq!(t("x", None, "pressure"), vec![Threshold::below(2.0)]);
        assert!(t("x", None, "temperature").is_empty());
        let e = Config::parse("[[limits]]\nproperty='p'\nabove=1\nbelow=0").unwrap_err();
        assert!(e.contains("not both"), "{e}");
        assert!(Config::parse("[[limits]]\nproperty='p'").is_err());
        // Round trip through TOML.
        let text = toml::to_string(&c).unwrap();
        assert_eq!(Config::parse(&text).unwrap().limits, c.limits);
    }

    /// Asserts `text` is refused with a message containing every one of `parts`.
    fn refused(text: &str, parts: &[&str]) -> String {
        let e = match Config::parse(text) {
            Ok(c) => panic!("accepted {text:?} as {c:?}"),
            Err(e) => e,
        };
        for p in parts {
            assert!(e.contains(p), "{e:?} lacks {p:?}");
        }
        e
    }

    #[test]
    fn unknown_key_at_the_top_level_is_refused_with_line_and_suggestion() {
        let e = refused(
            "[kafka]\nbrokers = \"k:9092\"\n\n[histroy]\nbudget_mb = 64\n",
            &[
                "\"histroy\"",
                "top-level",
                "line 4",
                "did you mean \"history\"?",
            ],
        );
        assert_eq!(
            e,
            "unknown key \"histroy\" in the top-level table at line 4, did you mean \"history\"?"
        );
        refused("brokers = \"k:9092\"", &["\"brokers\"", "line 1"]);
    }

    #[test]
    fn unknown_key_in_a_table_is_refused_with_line_and_suggestion() {
        let e = refused(
            "[kafka]\nsince = \"2h\"\nbrokerz = \"k:9092\"\n",
            &[
                "\"brokerz\"",
                "[kafka]",
                "line 3",
                "did you mean \"brokers\"?",
            ],
        );
        assert_eq!(
            e,
            "unknown key \"brokerz\" in [kafka] at line 3, did you mean \"brokers\"?"
        );
        // The same through a dotted key and an inline table.
        refused(
            "kafka.brokerz = 1",
            &["\"brokerz\"", "[kafka]", "line 1", "\"brokers\""],
        );
        refused(
            "\n\nkafka = { brokerz = 1 }",
            &["\"brokerz\"", "[kafka]", "line 3", "\"brokers\""],
        );
        // Every table of the config, with the key it should have been.
        for (text, table, want) in [
            ("[topics]\ntelemetri = 'x'", "[topics]", "telemetry"),
            ("[mapping]\nasset = '/vin'", "[mapping]", "asset_id"),
            (
                "[mapping]\n[mapping.events]\nseverty = 'sev'",
                "[mapping.events]",
                "severity",
            ),
            (
                "[mapping.limits]\nmax_dept = 3",
                "[mapping.limits]",
                "max_depth",
            ),
            ("[history]\nbudget = 64", "[history]", "budget_mb"),
            ("[ui]\nstale_after = 5", "[ui]", "stale_after_s"),
            ("[write]\nenable = true", "[write]", "enabled"),
            ("[operator]\nnmae = 'a'", "[operator]", "name"),
        ] {
            let line = format!("line {}", text.lines().count());
            refused(text, &[table, &line, &format!("did you mean \"{want}\"?")]);
        }
        // A quoted key is named as written, its control characters escaped.
        refused(
            "[write]\n\"en`abled\\n\" = true",
            &["unknown key \"en`abled\\n\" in [write] at line 2"],
        );
        // Far from every known key: the known keys are listed instead.
        refused(
            "[write]\ncolour = 'red'",
            &["\"colour\"", "[write]", "line 2", "known keys: enabled"],
        );
    }

    #[test]
    fn unknown_key_in_an_array_of_tables_is_refused_with_line_and_suggestion() {
        let e = refused(
            "[[rules]]\ncode = 'A'\nproperty = 'p'\nequals = 'F'\npriority = 'low'\n\
             [[rules]]\ncode = 'B'\npropery = 'p'\nequals = 'F'\npriority = 'low'\n",
            &[
                "\"propery\"",
                "[[rules]] #2",
                "line 8",
                "did you mean \"property\"?",
            ],
        );
        assert_eq!(
            e,
            "unknown key \"propery\" in [[rules]] #2 at line 8, did you mean \"property\"?"
        );
        refused(
            "[[commands]]\nname = 'stop'\nlable = 'Stop'",
            &[
                "\"lable\"",
                "[[commands]] #1",
                "line 3",
                "did you mean \"label\"?",
            ],
        );
        refused(
            "[[limits]]\nproperty = 'p'\nabov = 7.0",
            &[
                "\"abov\"",
                "[[limits]] #1",
                "line 3",
                "did you mean \"above\"?",
            ],
        );
    }

    #[test]
    fn free_form_maps_take_any_key() {
        let c = Config::parse(
            r#"
[kafka.properties]
"anything.librdkafka.knows" = "1"
[mapping]
units = { brokerz = "mm" }
[mapping.events]
severity_map = { whatever = "high" }
state_map = { RAISED = "active" }
[[commands]]
name = "jog"
args = { anything = 1 }
"#,
        )
        .unwrap();
        assert_eq!(c.kafka.properties["anything.librdkafka.knows"], "1");
        assert_eq!(c.mapping.units["brokerz"], "mm");
        assert_eq!(c.commands[0].args["anything"], 1);
    }

    #[test]
    fn wrong_types_and_out_of_range_values_name_key_and_line() {
        let e = refused(
            "[history]\nbudget_mb = \"lots\"",
            &["\"budget_mb\"", "[history]", "line 2", "invalid type"],
        );
        assert_eq!(
            e,
            "invalid value for \"budget_mb\" in [history] at line 2: invalid type: string \"lots\", expected usize"
        );
        refused(
            "[kafka]\nbrokers = 1",
            &["\"brokers\"", "[kafka]", "line 2"],
        );
        refused(
            "[ui]\nplot_window_s = 600\nstale_after_s = -5",
            &["\"stale_after_s\"", "[ui]", "line 3", "-5"],
        );
        refused(
            "[[limits]]\nproperty = 'p'\nkinds = ['machine', 3]",
            &["\"kinds\"", "[[limits]] #1", "line 3"],
        );
        refused(
            "[[rules]]\ncode = 'A'\nproperty = 'p'\nlimit = 'hihj'\nvalue = 1.0\npriority = 'low'",
            &[
                "\"limit\"",
                "[[rules]] #1",
                "line 4",
                "did you mean \"hihi\"?",
            ],
        );
        // A refused entry as a whole (a missing key) is named by its header line.
        refused(
            "[[rules]]\ncode = 'A'\nproperty = 'p'\nequals = 'F'\npriority = 'low'\n[[rules]]\ncode = 'B'",
            &["[[rules]] #2", "line 6", "missing field"],
        );
        // A syntax error has its line.
        refused("[kafka]\nbrokers = \"k:9092\n", &["line 2"]);
    }

    #[test]
    fn load_names_the_file_in_errors() {
        let path = std::env::temp_dir().join(format!("ts-plant-{}.toml", std::process::id()));
        std::fs::write(&path, "# plant\n[kafka]\nbrokerz = \"k:9092\"\n").unwrap();
        let loaded = Config::load(&path);
        std::fs::remove_file(&path).ok();
        let e = loaded.unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "unknown key \"brokerz\" in [kafka] at {} line 3, did you mean \"brokers\"?",
                path.display()
            )
        );
    }

    #[test]
    fn every_toml_example_in_the_readme_parses() {
        let readme = include_str!("../README.md");
        let mut blocks = 0;
        let mut rest = readme;
        while let Some(start) = rest.find("```toml\n") {
            let body = &rest[start + "```toml\n".len()..];
            let end = body
                .find("```")
                .expect("unclosed ```toml block in README.md");
            let block = &body[..end];
            if let Err(e) = Config::parse(block) {
                panic!("README.md example does not parse: {e}\n{block}");
            }
            blocks += 1;
            rest = &body[end + 3..];
        }
        // The config reference, commands, rules, limits and the cars mapping at least.
        assert!(
            blocks >= 5,
            "only {blocks} ```toml blocks found in README.md"
        );
        // The reference example sets every table; a typo in it would now be caught above.
        let reference = readme
            .split("## Config reference")
            .nth(1)
            .and_then(|s| s.split("```toml\n").nth(1))
            .and_then(|s| s.split("```").next())
            .expect("README.md has a config reference example");
        let c = Config::parse(reference).unwrap();
        assert_eq!(c.mapping.events.severity, "sev");
        // The bounded read is an opt-in assumption: the reference shows it commented out.
        assert_eq!(c.kafka.max_lateness_s, None);
        assert_eq!(c.ui.late_after_s, 60);
    }

    #[test]
    fn nearest_key_by_edit_distance() {
        assert_eq!(edit_distance("brokerz", "brokers"), 1);
        assert_eq!(edit_distance("evnets", "events"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("Brokers", "brokers"), 0);
        assert_eq!(nearest("brokerz", &["since", "brokers"]), Some("brokers"));
        assert_eq!(nearest("budget", &["budget_mb"]), Some("budget_mb"));
        assert_eq!(nearest("id", &["by", "kind"]), None);
        assert_eq!(nearest("asset", &["time", "asset_id"]), Some("asset_id"));
        assert_eq!(nearest("colour", &["enabled"]), None);
        assert_eq!(nearest("x", &[]), None);
    }

    #[test]
    fn secrets_resolve_from_files_and_are_redacted_in_debug() {
        let dir = std::env::temp_dir().join(format!("ts-secret-{}", std::process::id()));
        std::fs::write(&dir, "hunter2\n").unwrap();
        let mut props = BTreeMap::new();
        props.insert(
            "sasl.password".to_owned(),
            format!("file:{}", dir.display()),
        );
        let p = ClientProps::resolve(&props, &["sasl.username=ann".to_owned()]).unwrap();
        assert!(
            p.iter()
                .any(|(k, v)| k == "sasl.password" && v == "hunter2")
        );
        assert_eq!(p.secret_values(), vec!["hunter2"]);
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("hunter2") && dbg.contains("ann"));
        let bad =
            ClientProps::resolve(&BTreeMap::new(), &["sasl.password".to_owned()]).unwrap_err();
        assert!(!bad.to_string().contains("hunter"));
        std::fs::remove_file(dir).ok();
    }
}

//! The TOML config file: brokers and client settings, topic names, the payload mapping, the
//! history budget, UI limits and write-back.
//!
//! Loaded once in `main.rs` and passed down. Secret values may be written as `env:VAR` or
//! `file:/path` and are resolved here, so they never need to appear in the file itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::twin::forecast::Threshold;
use crate::twin::mapping::Mapping;
use crate::twin::rules::{Limit, RuleDef, RuleKind, glob_match};

/// Errors loading or resolving a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("client property {key}: {message}")]
    Secret { key: String, message: String },
    #[error("invalid -X option {0:?}: expected key=value")]
    BadOverride(String),
}

/// Kafka connection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
#[serde(default)]
pub struct Topics {
    pub telemetry: String,
    pub events: String,
    /// An empty name (here or for telemetry or events) leaves that role unread.
    pub assets: String,
    pub commands: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: None,
            properties: BTreeMap::new(),
            since: None,
            max_lateness_s: None,
        }
    }
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
#[serde(default)]
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
#[serde(default)]
pub struct UiConfig {
    /// A value older than this is shown as stale.
    pub stale_after_s: u64,
    /// Width of the live plot window.
    pub plot_window_s: u64,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            stale_after_s: 30,
            plot_window_s: 600,
        }
    }
}

/// Write-back (acks, commands). Off unless enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriteConfig {
    pub enabled: bool,
}

/// Who the operator is, for acknowledgements and commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperatorConfig {
    pub name: Option<String>,
}

/// An operator command that can be sent to assets (`[[commands]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
        let kind_ok = self.kinds.is_empty()
            || kind.is_some_and(|k| self.kinds.iter().any(|x| x.eq_ignore_ascii_case(k)));
        kind_ok && self.pattern.as_deref().is_none_or(|p| glob_match(p, id))
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
            RuleKind::Threshold {
                limit: Limit::Hi | Limit::HiHi,
                value,
                ..
            } => Some(Threshold::above(value)),
            RuleKind::Threshold {
                limit: Limit::Lo | Limit::LoLo,
                value,
                ..
            } => Some(Threshold::below(value)),
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
        }
    }
}

impl Config {
    /// Reads and parses a config file.
    ///
    /// # Errors
    /// When the file cannot be read or is not a valid config.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses config text.
    ///
    /// # Errors
    /// Returns the parser's message.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
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
    fn rules_parse_and_default_to_none() {
        assert!(Config::default().rules.is_empty());
        assert!(Config::parse("").unwrap().rules.is_empty());
        let c = Config::parse(
            r#"
[[rules]]
code = "VIB_HI"
property = "vibration"
limit = "hi"
value = 7.0
deadband = 0.5
on_delay_s = 10
priority = "medium"
kinds = ["machine"]
[[rules]]
code = "STATE_FAULT"
property = "state"
equals = "FAULT"
priority = "high"
pattern = "plant-a/*"
"#,
        )
        .unwrap();
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

    #[test]
    fn unknown_fields_are_reported() {
        assert!(
            Config::parse("[kafka]\nbrokerz = 1").is_ok()
                || Config::parse("[kafka]\nbrokers = 1").is_err()
        );
        assert!(Config::parse("[history]\nbudget_mb = \"lots\"").is_err());
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

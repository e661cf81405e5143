//! The incident bundle: one folder that lets someone who was not there check an alarm and
//! what led to it, value by value, against Kafka. Written by File → Export incident… and by
//! `twinscope incident`, so it holds no window state: only the store, an
//! [`Analysis`](crate::twin::incident::Analysis) and, from the GUI, a screenshot.
//!
//! The format is documented in the bundle's own `README.md` ([`README`]), so a bundle
//! explains itself wherever it is sent.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};

use crate::twin::Store;
use crate::twin::diff::in_scope;
use crate::twin::incident::{Analysis, Source, plot_window};
use crate::twin::store::state_name;
use crate::ui::style::rfc3339;

/// Errors writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode {what}: {msg}")]
    Encode { what: &'static str, msg: String },
}

/// A screenshot of the window, as RGBA rows.
#[derive(Debug, Clone, Copy)]
pub struct Screenshot<'a> {
    pub width: u32,
    pub height: u32,
    /// `width × height × 4` bytes, row by row.
    pub rgba: &'a [u8],
}

/// What a bundle is made from.
#[derive(Debug, Clone, Copy)]
pub struct Bundle<'a> {
    /// The store the analysis was made on (its history must cover the plot window).
    pub store: &'a Store,
    pub analysis: &'a Analysis,
    /// The plotted series, `(asset, property)`: the asset's numeric properties after
    /// "go to onset", or what the operator plotted since.
    pub plotted: &'a [(String, String)],
    /// Bootstrap servers and the telemetry topic, for the coordinates and `kcat` commands.
    pub brokers: &'a str,
    pub telemetry_topic: &'a str,
    /// A `window.png` accompanies the bundle (the GUI writes it when the screenshot arrives).
    pub window_png: bool,
}

/// The bundle's file names.
pub mod files {
    pub const INCIDENT: &str = "incident.json";
    pub const STATE_AT_ONSET: &str = "state-at-onset.json";
    pub const STATE_BEFORE: &str = "state-before.json";
    pub const DIFF: &str = "diff.json";
    pub const CHANGES: &str = "changes.json";
    pub const ALARMS: &str = "alarms.json";
    pub const VALUES: &str = "values.csv";
    pub const SERIES: &str = "series.csv";
    pub const WINDOW: &str = "window.png";
    pub const README: &str = "README.md";
}

/// The bundle's `README.md`: its format.
pub const README: &str = r#"# twinscope incident bundle

One alarm's onset and what led to it, written by twinscope (File → Export incident…, or
`twinscope incident --asset A --code C [--at T] --out DIR`). Times are epoch milliseconds
(event time) unless a column says otherwise; `*_rfc3339` columns are UTC.

| file | what |
|---|---|
| `incident.json` | the alarm (asset, code, severity, onset), the lookback N and scope of "what changed before", the plot window (onset − 15 min … onset + 5 min), brokers, topics, and the list of files |
| `state-at-onset.json` | the state of the fleet at the onset, in the shape of `twinscope snapshot --at` |
| `state-before.json` | the same at onset − N |
| `diff.json` | what changed in the scope from onset − N to the onset: properties (old → new), assets added or removed, alarms raised or cleared |
| `changes.json` | the diff's property changes, ranked as the incident view shows them: state changes first, then numeric changes by `score` = \|new − old\| / normal range (min–max over the hour before onset − N, or, when flat there, up to the onset); each with the record of its old and new value (`old_source`, `new_source`: topic, partition, offset, Kafka timestamp, `kcat`) |
| `alarms.json` | `journal`: every transition of the alarm up to the end of the plot window, with operator (`by`) and comment; `raised`: the other alarms raised anywhere in the fleet from onset − N to the onset; `shown`: the fleet's alarms at the onset |
| `values.csv` | every property value in the scope at onset − N and at the onset, with the record that set it |
| `series.csv` | every sample of the plotted series in the plot window, with the record that set it |
| `window.png` | the window as it was when exported (GUI only) |

In the CSV files, `value` is a string as it is and a number or boolean as in JSON. In
`values.csv`, `at` (`before` or `onset`) and `time_ms` say which state a row belongs to and
`ts` is the event time of the record that set the value; in `series.csv`, `time_ms` is it.

Coordinates: each value is set by one Kafka record, given as `topic,partition,offset` and the
record's Kafka timestamp (`kafka_ts_ms`). The `kcat` column fetches exactly that record:
`kcat -C -b BROKERS -t TOPIC -p P -o OFFSET -c 1`.
"#;

/// The `kcat` command that fetches one record.
#[must_use]
pub fn kcat(brokers: &str, topic: &str, partition: i32, offset: i64) -> String {
    format!("kcat -C -b {brokers} -t {topic} -p {partition} -o {offset} -c 1")
}

impl Bundle<'_> {
    /// A record's coordinates as JSON, with its `kcat` command.
    fn source_json(&self, s: Option<Source>) -> Json {
        s.map_or(Json::Null, |s| {
            json!({
                "topic": self.telemetry_topic,
                "partition": s.partition,
                "offset": s.offset,
                "kafka_ts_ms": s.kafka_ts,
                "ts": s.ts,
                "kcat": kcat(self.brokers, self.telemetry_topic, s.partition, s.offset),
            })
        })
    }

    /// The CSV tail of a record: `topic,partition,offset,kafka_ts_ms,kcat`.
    fn source_csv(&self, s: Source) -> String {
        format!(
            "{},{},{},{},{}",
            csv_field(self.telemetry_topic),
            s.partition,
            s.offset,
            s.kafka_ts,
            csv_field(&kcat(
                self.brokers,
                self.telemetry_topic,
                s.partition,
                s.offset
            ))
        )
    }

    /// `incident.json`.
    fn incident_json(&self, with_png: bool) -> Json {
        let a = self.analysis;
        let (from, to) = plot_window(a.onset.at);
        let mut list = vec![
            files::INCIDENT,
            files::STATE_AT_ONSET,
            files::STATE_BEFORE,
            files::DIFF,
            files::CHANGES,
            files::ALARMS,
            files::VALUES,
            files::SERIES,
            files::README,
        ];
        if with_png {
            list.push(files::WINDOW);
        }
        json!({
            "format": "twinscope-incident/1",
            "asset": a.onset.asset,
            "code": a.onset.code,
            "severity": a.onset.severity,
            "onset": a.onset.at,
            "onset_rfc3339": rfc3339(a.onset.at),
            "lookback_ms": a.lookback_ms,
            "before": a.from,
            "scope": a.scope.as_str(),
            "scope_path": a.scope_path,
            "window": {"from": from, "to": to},
            "brokers": self.brokers,
            "telemetry_topic": self.telemetry_topic,
            "plotted": self.plotted.iter().map(|(asset, prop)| json!({"asset": asset, "property": prop})).collect::<Vec<_>>(),
            "files": list,
        })
    }

    /// `changes.json`.
    fn changes_json(&self) -> Json {
        Json::Array(
            self.analysis
                .ranked
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    json!({
                        "rank": i + 1,
                        "asset": c.asset,
                        "property": c.property,
                        "kind": c.kind,
                        "old": c.old,
                        "new": c.new,
                        "score": c.score,
                        "normal_range": c.normal_range,
                        "old_source": self.source_json(c.old_source),
                        "new_source": self.source_json(c.new_source),
                    })
                })
                .collect(),
        )
    }

    /// `alarms.json`.
    fn alarms_json(&self) -> Json {
        let a = self.analysis;
        let store = self.store;
        let (_, to) = plot_window(a.onset.at);
        let journal: Vec<Json> = store
            .alarms()
            .get(a.onset.alarm as usize)
            .map(|al| al.history.journal_until(to))
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                json!({
                    "ts": t.ts,
                    "ts_rfc3339": rfc3339(t.ts),
                    "from": state_name(&t.from),
                    "to": state_name(&t.to),
                    "cause": t.cause,
                    "by": t.by,
                    "comment": t.comment,
                })
            })
            .collect();
        let shown: Vec<Json> = store
            .alarms_at(a.onset.at)
            .into_iter()
            .map(|v| {
                json!({
                    "asset": store.asset(v.asset).map(|x| x.id.to_string()),
                    "code": v.code.as_ref(),
                    "severity": v.priority.as_str(),
                    "state": state_name(&v.status.state),
                    "since": v.status.since,
                    "acked_by": v.status.acked_by,
                    "ack_comment": v.status.ack_comment,
                })
            })
            .collect();
        json!({
            "alarm": {"asset": a.onset.asset, "code": a.onset.code, "severity": a.onset.severity},
            "journal": journal,
            "raised": a.raised,
            "shown": shown,
        })
    }

    /// `values.csv`: every value in the scope at onset − N and at the onset.
    fn values_csv(&self) -> String {
        let a = self.analysis;
        let store = self.store;
        let mut out = String::from(
            "at,time_ms,asset,property,value,ts,topic,partition,offset,kafka_ts_ms,kcat\n",
        );
        let mut ids: Vec<(&str, u32)> = store
            .assets()
            .iter()
            .enumerate()
            .filter(|(_, x)| in_scope(&x.id, a.scope_path.as_deref(), store.separator()))
            .map(|(i, x)| (x.id.as_ref(), i as u32))
            .collect();
        ids.sort_unstable();
        for (name, t) in [("before", a.from), ("onset", a.onset.at)] {
            for &(id, idx) in &ids {
                for p in store.props_at(idx, t) {
                    let _ = writeln!(
                        out,
                        "{name},{t},{},{},{},{},{}",
                        csv_field(id),
                        csv_field(&p.name),
                        csv_field(&value_text(&p.sample.value)),
                        p.sample.ts,
                        self.source_csv(Source::of(&p.sample)),
                    );
                }
            }
        }
        out
    }

    /// `series.csv`: every sample of the plotted series in the plot window.
    fn series_csv(&self) -> String {
        let store = self.store;
        let (from, to) = plot_window(self.analysis.onset.at);
        let mut out = String::from(
            "time_ms,time_rfc3339,asset,property,value,topic,partition,offset,kafka_ts_ms,kcat\n",
        );
        for (asset, prop) in self.plotted {
            let Some(s) = store
                .asset_by_id(asset)
                .zip(store.prop_by_name(prop))
                .and_then(|(a, p)| store.series(a, p))
            else {
                continue;
            };
            for i in s.range(from, to) {
                let Some(smp) = s.sample(i) else { continue };
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    smp.ts,
                    rfc3339(smp.ts),
                    csv_field(asset),
                    csv_field(prop),
                    csv_field(&value_text(&smp.value)),
                    self.source_csv(Source::of(&smp)),
                );
            }
        }
        out
    }

    /// Writes the bundle into `dir` (created if missing) and returns the files written.
    ///
    /// # Errors
    /// When a file cannot be written or the screenshot cannot be encoded.
    pub fn write(
        &self,
        dir: &Path,
        shot: Option<Screenshot<'_>>,
    ) -> Result<Vec<PathBuf>, BundleError> {
        std::fs::create_dir_all(dir).map_err(|source| BundleError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let a = self.analysis;
        let pretty = |v: &Json| serde_json::to_string_pretty(v).unwrap_or_default();
        let diff = serde_json::to_value(&a.diff).map_err(|e| BundleError::Encode {
            what: "the diff",
            msg: e.to_string(),
        })?;
        let texts = [
            (
                files::INCIDENT,
                pretty(&self.incident_json(self.window_png || shot.is_some())),
            ),
            (
                files::STATE_AT_ONSET,
                pretty(&self.store.snapshot(a.onset.at)),
            ),
            (files::STATE_BEFORE, pretty(&self.store.snapshot(a.from))),
            (files::DIFF, pretty(&diff)),
            (files::CHANGES, pretty(&self.changes_json())),
            (files::ALARMS, pretty(&self.alarms_json())),
            (files::VALUES, self.values_csv()),
            (files::SERIES, self.series_csv()),
            (files::README, README.to_owned()),
        ];
        let mut written = Vec::new();
        for (name, text) in texts {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| BundleError::Io {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        if let Some(shot) = shot {
            written.push(write_png(&dir.join(files::WINDOW), shot)?);
        }
        Ok(written)
    }
}

/// Encodes a screenshot as PNG at `path`.
///
/// # Errors
/// When the file cannot be written or the pixels do not match the size.
pub fn write_png(path: &Path, shot: Screenshot<'_>) -> Result<PathBuf, BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    let enc = |e: png::EncodingError| BundleError::Encode {
        what: "the screenshot",
        msg: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), shot.width, shot.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(enc)?;
    writer.write_image_data(shot.rgba).map_err(enc)?;
    writer.finish().map_err(enc)?;
    Ok(path.to_owned())
}

/// A value as CSV text: strings as they are, numbers and booleans as in JSON.
fn value_text(v: &crate::twin::Value) -> String {
    match v.to_json() {
        Json::String(s) => s,
        other => other.to_string(),
    }
}

/// A CSV field, quoted when it holds a separator, a quote or a line break.
#[must_use]
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

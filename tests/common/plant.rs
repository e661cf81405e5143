//! The small plant the window tests run against: a mock cluster with the twin topics, three
//! telemetry records on `a/b/c` and `a/b/d` (temp and state at T0 and T0 + 60 s, rpm), and the
//! real app reading it until caught up. Also the plain producer those tests write with.

use std::time::Duration;

use egui_kittest::kittest::Queryable as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use twinscope::app::{AppOptions, Persisted};
use twinscope::kafka::client::ClientSettings;
use twinscope::testkit::T0;

use super::{Cluster, app_harness, mock_cluster};

pub use super::{App, step_until};

/// The twin topics, in the order [`watermarks`] lists them.
pub const TOPICS: [&str; 4] = [
    "twin.telemetry",
    "twin.events",
    "twin.assets",
    "twin.commands",
];

/// A running plant and the app reading it.
pub struct Fixture {
    pub cluster: Cluster,
    pub harness: App,
}

/// A mock cluster with the twin topics (one partition each).
pub fn cluster() -> Cluster {
    mock_cluster(1, &TOPICS.map(|t| (t, 1)))
}

/// A plain producer (no delivery tracking).
pub fn producer(bootstrap: &str) -> BaseProducer {
    ClientSettings::plain(bootstrap)
        .producer_config("test")
        .create()
        .unwrap()
}

/// Sends one record to partition 0, waiting while the producer queue is full.
pub fn produce(p: &BaseProducer, topic: &str, key: &str, ts: i64, value: &str) {
    produce_to(p, (topic, 0), key, ts, value);
}

/// Sends one record to `(topic, partition)`, waiting while the producer queue is full.
pub fn produce_to(
    p: &BaseProducer,
    (topic, partition): (&str, i32),
    key: &str,
    ts: i64,
    value: &str,
) {
    let rec = BaseRecord::to(topic)
        .key(key)
        .payload(value)
        .timestamp(ts)
        .partition(partition);
    super::send_waiting(p, rec);
}

/// Sends telemetry of `key` at event time `ts` with the JSON fields `fields` (`"temp": 20.5`).
pub fn telemetry(p: &BaseProducer, key: &str, ts: i64, fields: &str) {
    produce(
        p,
        "twin.telemetry",
        key,
        ts,
        &format!(r#"{{"ts": {ts}, {fields}}}"#),
    );
}

/// High watermarks of every twin topic, to prove what was (not) produced.
pub fn watermarks(bootstrap: &str) -> Vec<i64> {
    let c: BaseConsumer = ClientSettings::plain(bootstrap)
        .consumer_config("wm")
        .create()
        .unwrap();
    TOPICS
        .iter()
        .map(|t| c.fetch_watermarks(t, 0, Duration::from_secs(5)).unwrap().1)
        .collect()
}

/// Options for the app reading `bootstrap` (read-only, default config).
pub fn options(bootstrap: &str) -> AppOptions {
    AppOptions {
        brokers: Some(bootstrap.to_owned()),
        ..AppOptions::default()
    }
}

/// The plant's telemetry, `extra` records (the caller's alarms and more), and the app, with
/// options changed by `adjust`, reading it until it has caught up with every record produced.
pub fn fixture(
    adjust: impl FnOnce(&mut AppOptions),
    persisted: Persisted,
    extra: impl FnOnce(&BaseProducer),
) -> Fixture {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let p = producer(&bootstrap);
    telemetry(&p, "a/b/c", T0, r#""temp": 20.25, "state": "RUN""#);
    telemetry(
        &p,
        "a/b/c",
        T0 + 60_000,
        r#""temp": 21.5, "state": "FAULT""#,
    );
    telemetry(&p, "a/b/d", T0, r#""rpm": 1200"#);
    extra(&p);
    p.flush(Duration::from_secs(10)).unwrap();
    let total = watermarks(&bootstrap).iter().sum::<i64>() as u64;
    let mut opts = options(&bootstrap);
    adjust(&mut opts);
    let mut harness = app_harness(opts, persisted);
    step_until(&mut harness, Duration::from_secs(30), "catch-up", |h| {
        h.state().caught_up() && h.state().store().stats().records >= total
    });
    harness.run_steps(2);
    Fixture { cluster, harness }
}

/// Produces an alarm event: `code` of `severity` in `state` on `key` at `ts`, with the message
/// "`code` message", by operator "op", shelved (where the state is a shelve) for ten minutes.
pub fn alarm(p: &BaseProducer, key: &str, ts: i64, code: &str, severity: &str, state: &str) {
    produce(
        p,
        "twin.events",
        key,
        ts,
        &format!(
            r#"{{"ts": {ts}, "type": "alarm", "code": "{code}", "severity": "{severity}", "state": "{state}", "message": "{code} message", "by": "op", "until": {}}}"#,
            ts + 600_000
        ),
    );
}

/// [`fixture`] with OVERHEAT (high) raised on a/b/d at T0 + 30 s, then the `extra` records:
/// the plant of the window tests that need an alarm.
pub fn overheat_fixture(
    adjust: impl FnOnce(&mut AppOptions),
    persisted: Persisted,
    extra: impl FnOnce(&BaseProducer),
) -> Fixture {
    fixture(adjust, persisted, |p| {
        alarm(p, "a/b/d", T0 + 30_000, "OVERHEAT", "high", "active");
        extra(p);
    })
}

/// Clicks the widget labelled `label` and lets the window answer (two frames).
pub fn click(h: &mut App, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(2);
}

/// Selects an asset through the tree (expanding its groups).
pub fn select(h: &mut App, path: &[&str]) {
    for g in &path[..path.len() - 1] {
        let expand = format!("Expand {g}");
        if h.query_by_label(&expand).is_some() {
            click(h, &expand);
        }
    }
    click(h, path[path.len() - 1]);
}

/// Opens the diff from the earliest retained time (A) to live (B) with the keyboard and the
/// time panel's buttons, as an operator would.
pub fn diff_earliest_to_live(h: &mut App) {
    h.key_press(egui::Key::Home);
    h.run_steps(2);
    click(h, "Set A");
    h.key_press(egui::Key::End);
    h.run_steps(2);
    click(h, "Set B");
    h.get_by_label("Diff A→B").click();
    h.run_steps(3);
}

/// The plotted series as `(asset, property)`, in plot order.
pub fn plotted(h: &App) -> Vec<(String, String)> {
    h.state()
        .plotted()
        .iter()
        .map(|k| (k.asset.clone(), k.prop.clone()))
        .collect()
}

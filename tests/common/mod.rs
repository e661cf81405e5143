//! Shared helpers for the integration tests: mock clusters with the twin topics, a producer
//! that tracks the offset each record gets and checks it against the broker's delivery
//! reports, bounded-time reads, and the app in an egui_kittest harness. Workloads and record
//! builders shared with the unit tests and benches are in `twinscope::testkit`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, DeliveryResult, Producer, ProducerContext,
};
use twinscope::app::{AppOptions, Persisted, TwinApp};
use twinscope::config::{ClientProps, Config};
use twinscope::headless::{HeadlessError, read_to_store, spec_for};
use twinscope::kafka::client::ClientSettings;
use twinscope::kafka::ingest::{IngestSpec, StartAt};
use twinscope::twin::Store;

/// Start of the synthetic histories: the testkit's, so tests and benches name the same times.
pub const T0: i64 = twinscope::testkit::T0;

/// A librdkafka mock cluster, as every broker test holds it (dropping it stops the brokers).
pub type Cluster = MockCluster<'static, DefaultProducerContext>;

/// A mock cluster of `brokers` brokers with `topics` as (name, partitions), replication 1.
pub fn mock_cluster(brokers: i32, topics: &[(&str, i32)]) -> Cluster {
    replicated_cluster(brokers, 1, topics)
}

/// A mock cluster of `brokers` brokers with `topics` as (name, partitions), each partition
/// on `replication` brokers.
pub fn replicated_cluster(brokers: i32, replication: i32, topics: &[(&str, i32)]) -> Cluster {
    let cluster = MockCluster::new(brokers).unwrap();
    for (t, partitions) in topics {
        cluster.create_topic(t, *partitions, replication).unwrap();
    }
    cluster
}

/// A mock cluster of `brokers` brokers with the default twin topics that ingest reads:
/// telemetry with `telemetry` partitions, events with `events`, assets with one.
pub fn twin_cluster(brokers: i32, telemetry: i32, events: i32) -> Cluster {
    mock_cluster(
        brokers,
        &[
            ("twin.telemetry", telemetry),
            ("twin.events", events),
            ("twin.assets", 1),
        ],
    )
}

/// A mock cluster of one broker with the twin topics and the commands topic the write-back
/// produces to: telemetry with `telemetry` partitions, events with `events`, assets with one,
/// commands with `commands`.
pub fn command_cluster(telemetry: i32, events: i32, commands: i32) -> Cluster {
    mock_cluster(
        1,
        &[
            ("twin.telemetry", telemetry),
            ("twin.events", events),
            ("twin.assets", 1),
            ("twin.commands", commands),
        ],
    )
}

/// A cluster tests produce into: a mock one or a [`real_kafka::RealKafka`].
pub trait Broker {
    /// Its bootstrap servers.
    fn bootstrap(&self) -> String;
}

impl Broker for Cluster {
    fn bootstrap(&self) -> String {
        self.bootstrap_servers()
    }
}

/// Calls `attempt` every `every` until it gives `Ok`, and fails the test with its last `Err`
/// once `timeout` has passed since `since`: a test's wait for what another thread or process
/// does.
pub fn poll<T>(
    since: Instant,
    timeout: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    loop {
        match attempt() {
            Ok(done) => return done,
            Err(why) => assert!(since.elapsed() < timeout, "{why}"),
        }
        std::thread::sleep(every);
    }
}

/// The setup of a test that produces records by hand: `broker` (kept, as dropping it stops
/// it), its bootstrap servers and a [`TestProducer`] into it.
pub fn producer_into<B: Broker>(broker: B) -> (B, String, TestProducer) {
    let bootstrap = broker.bootstrap();
    let p = TestProducer::new(&bootstrap);
    (broker, bootstrap, p)
}

/// The setup of a test that produces a workload: [`producer_into`] `broker`, and an rng
/// seeded with `seed`.
pub fn producing<B: Broker>(broker: B, seed: u64) -> (B, String, TestProducer, fastrand::Rng) {
    let (broker, bootstrap, p) = producer_into(broker);
    (broker, bootstrap, p, fastrand::Rng::with_seed(seed))
}

/// The mapping of a car fleet's payloads (`{"vin", "t" in seconds, "region", "fleet", ...}`,
/// severities as numbers): a config for a payload shape other than the default.
pub const CAR_MAPPING: &str = r#"
[mapping]
asset_id = "/vin"
time = "/t"
time_unit = "s"
hierarchy = ["/region", "/fleet", "/vin"]
[mapping.events]
severity = "sev"
severity_map = { "1" = "critical", "2" = "high" }
"#;

/// Sends `rec`, waiting while the producer's queue is full; any other error fails the test.
pub fn send_waiting<'a, C, K, P>(
    producer: &BaseProducer<C>,
    mut rec: BaseRecord<'a, K, P, C::DeliveryOpaque>,
) where
    C: ProducerContext,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(rec) {
            Ok(()) => return,
            Err((e, back)) => {
                assert!(
                    matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ),
                    "send failed: {e}"
                );
                rec = back;
                producer.poll(Duration::from_millis(10));
            }
        }
    }
}

/// Delivery reports: (record id, Ok((topic, partition, offset)) or the error).
pub type Reports = Arc<Mutex<Vec<(usize, Result<(String, i32, i64), String>)>>>;

/// A producer context that keeps every delivery report, for the producers here that check
/// where each record landed.
pub struct Recorder {
    pub reports: Reports,
}

impl Recorder {
    /// A producer made from `config` that keeps its delivery reports in the returned list.
    pub fn producer(config: &rdkafka::ClientConfig) -> (BaseProducer<Recorder>, Reports) {
        let reports = Reports::default();
        let producer = config
            .create_with_context(Recorder {
                reports: reports.clone(),
            })
            .expect("producer");
        (producer, reports)
    }
}

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let r = match result {
            Ok(m) => Ok((m.topic().to_owned(), m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        self.reports.lock().unwrap().push((id, r));
    }
}

/// One record as sent, with the offset it must have been given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub kafka_ts: i64,
}

/// A producer that writes to explicit partitions and predicts each record's offset (offsets
/// start at 0 per partition, in production order); `flush` verifies the predictions.
pub struct TestProducer {
    producer: BaseProducer<Recorder>,
    reports: Reports,
    next: HashMap<(String, i32), i64>,
    sent: Vec<Sent>,
}

impl TestProducer {
    pub fn new(bootstrap: &str) -> Self {
        Self::with_props(bootstrap, &[])
    }

    /// A producer with extra client properties (e.g. a larger `message.max.bytes`).
    pub fn with_props(bootstrap: &str, props: &[(&str, &str)]) -> Self {
        let mut config = ClientSettings::plain(bootstrap).producer_config("test");
        for (k, v) in props {
            config.set(*k, *v);
        }
        // One request in flight per partition keeps production order = offset order even if a
        // request were retried.
        config
            .set("max.in.flight.requests.per.connection", "1")
            .set("linger.ms", "5");
        let (producer, reports) = Recorder::producer(&config);
        Self {
            producer,
            reports,
            next: HashMap::new(),
            sent: Vec::new(),
        }
    }

    /// Sends one record and returns the offset it will get.
    pub fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        kafka_ts: i64,
    ) -> i64 {
        let id = self.sent.len();
        let mut rec: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, id)
            .partition(partition)
            .timestamp(kafka_ts);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        if let Some(p) = payload {
            rec = rec.payload(p);
        }
        send_waiting(&self.producer, rec);
        let slot = self.next.entry((topic.to_owned(), partition)).or_insert(0);
        let offset = *slot;
        *slot += 1;
        self.sent.push(Sent {
            topic: topic.to_owned(),
            partition,
            offset,
            kafka_ts,
        });
        offset
    }

    /// Sends a string key and payload.
    pub fn send_str(
        &mut self,
        topic: &str,
        partition: i32,
        key: &str,
        payload: &str,
        kafka_ts: i64,
    ) -> i64 {
        self.send(
            topic,
            partition,
            Some(key.as_bytes()),
            Some(payload.as_bytes()),
            kafka_ts,
        )
    }

    /// Waits for every delivery and checks that each record got the predicted offset.
    pub fn flush(&mut self) {
        self.producer
            .flush(Duration::from_secs(20))
            .expect("flush within 20 s");
        let mut reports = self.reports.lock().unwrap().clone();
        reports.sort_by_key(|(id, _)| *id);
        assert_eq!(reports.len(), self.sent.len(), "delivery reports");
        for (id, r) in reports {
            let s = &self.sent[id];
            assert_eq!(
                r,
                Ok((s.topic.clone(), s.partition, s.offset)),
                "record {id} to {}/{}",
                s.topic,
                s.partition
            );
        }
    }

    /// Records sent so far.
    pub fn sent(&self) -> &[Sent] {
        &self.sent
    }
}

/// The store's bad-record list as (topic, partition, offset, reason), sorted.
pub fn bad_list(store: &Store) -> Vec<(String, i32, i64, String)> {
    let mut v: Vec<_> = store
        .bad_records()
        .iter()
        .map(|b| (b.topic.to_string(), b.partition, b.offset, b.reason.clone()))
        .collect();
    v.sort();
    v
}

/// Reads everything (unbounded: until caught up) with the real ingest thread.
pub fn read_all(config: &Config, bootstrap: &str) -> Store {
    let spec = spec(config, bootstrap);
    read_to_store(spec, 0, Duration::from_secs(20), Duration::from_secs(60)).expect("read")
}

/// The spec for a config, from the beginning.
pub fn spec(config: &Config, bootstrap: &str) -> IngestSpec {
    spec_for(
        config,
        bootstrap,
        ClientProps::default(),
        StartAt::Beginning,
    )
}

/// A bounded read.
pub fn read_bounded(
    config: &Config,
    bootstrap: &str,
    at: i64,
    lateness_ms: i64,
    connect_timeout: Duration,
) -> Result<Store, HeadlessError> {
    let mut spec = spec(config, bootstrap);
    spec.stop_at = Some((at, lateness_ms));
    read_to_store(spec, 0, connect_timeout, Duration::from_secs(60))
}

/// Runs the `twinscope` binary with `args` to the end.
pub fn twinscope(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_twinscope"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `cmd` to the end; panics with `cannot_run` if it does not start, and with its output
/// if it fails.
pub fn run_ok(cmd: &mut Command, cannot_run: &str) -> std::process::Output {
    let out = cmd.output().expect(cannot_run);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON a run printed; the run must have succeeded.
pub fn success_json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "twinscope failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What a run said on stderr; the run must have failed.
pub fn failure_message(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "twinscope succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What `twinscope snapshot --at at --brokers bootstrap` prints, with `extra` arguments.
pub fn snapshot_json(bootstrap: &str, at: i64, extra: &[&str]) -> serde_json::Value {
    let at = at.to_string();
    let mut args = vec!["snapshot", "--at", &at, "--brokers", bootstrap];
    args.extend_from_slice(extra);
    success_json(&twinscope(&args))
}

/// A child process (a `twinscope demo broker` or `demo produce`), killed when dropped, pass
/// or fail.
pub struct ChildProcess(pub Child);

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on (bound, then released): for "unreachable broker" cases
/// only. Never hand it to a server to bind: another process may take it first; servers bind
/// port 0 themselves and say which port they got (see [`start_broker_process`]).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `twinscope demo broker --no-sim --port 0`, with `extra` arguments, as a separate
/// process; returns it with the bootstrap address it prints first. The process binds its
/// bootstrap port itself (port 0: the system picks a free one), so no other process can take
/// the port between choosing and binding it.
pub fn start_broker_process(extra: &[&str]) -> (ChildProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twinscope"))
        .args(["demo", "broker", "--no-sim", "--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let bootstrap = line.trim().to_owned();
    let port = bootstrap
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok());
    assert!(
        port.is_some_and(|p| p != 0),
        "demo broker printed {bootstrap:?}, not the port it bound"
    );
    (ChildProcess(child), bootstrap)
}

/// Starts `twinscope demo produce --brokers bootstrap --backfill-s backfill_s` (the simulator
/// into that cluster) with its stderr going to `stderr`.
pub fn demo_produce(bootstrap: &str, backfill_s: u32, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_twinscope"))
        .args(["demo", "produce", "--brokers", bootstrap])
        .args(["--backfill-s", &backfill_s.to_string()])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// The real app reading `brokers` (read-only, from the start of retention) with `config` and
/// resolved client `props`, in the harness of [`app_harness`].
pub fn window_on(brokers: &str, config: Config, props: ClientProps) -> Harness<'static, TwinApp> {
    let opts = AppOptions {
        config,
        brokers: Some(brokers.to_owned()),
        props,
        ..AppOptions::default()
    };
    app_harness(opts, Persisted::default())
}

/// An eframe storage that keeps what the app persists in memory, to read back what a
/// restart would find.
#[derive(Default)]
pub struct MemStorage(pub HashMap<String, String>);

impl eframe::Storage for MemStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// The real app in its test harness.
pub type App = Harness<'static, TwinApp>;

/// Steps the app until `done`, at most `timeout`, then once more: the live store is applied on
/// its own thread, so what `done` read from it may be newer than the last frame drew.
pub fn step_until(h: &mut App, timeout: Duration, what: &str, mut done: impl FnMut(&App) -> bool) {
    let start = Instant::now();
    while !done(h) {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
}

/// Every label and value in the window's accessibility tree, one a line.
pub fn ui_text(h: &Harness<'_, TwinApp>) -> String {
    use egui_kittest::kittest::NodeT as _;
    h.root()
        .children_recursive()
        .flat_map(|n| {
            let a = n.accesskit_node();
            [a.label(), a.value()]
        })
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Types `t` into the time box and goes there, replacing what an earlier jump left in it.
pub fn go_to(h: &mut Harness<'static, TwinApp>, t: i64) {
    h.get_by_label("Go to time").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Go to time").type_text(&t.to_string());
    h.run_steps(1);
    h.get_by_label("Go").click();
    h.run_steps(3);
    assert_eq!(h.state().timeline().at(i64::MAX), t);
}

/// The real app in an egui_kittest harness, at the size and with the fonts the UI tests use.
pub fn app_harness(opts: AppOptions, persisted: Persisted) -> Harness<'static, TwinApp> {
    let app = TwinApp::new(&egui::Context::default(), opts, persisted);
    Harness::builder()
        .with_size([1400.0, 900.0])
        .with_context_setup(twinscope::app::install_fonts)
        .build_ui_state(|ui, app: &mut TwinApp| app.frame(ui), app)
}

pub mod fold;
pub mod incident_plant;
pub mod jvm;
pub mod plant;
pub mod real_kafka;
pub mod registry;
pub mod stream;

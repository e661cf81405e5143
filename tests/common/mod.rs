//! Shared helpers for the integration tests: a producer that tracks the offset each record
//! gets, checks it against the broker's delivery reports, and a bounded-time read.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use twinscope::app::{AppOptions, Persisted, TwinApp};
use twinscope::config::{ClientProps, Config};
use twinscope::headless::{HeadlessError, read_to_store, spec_for};
use twinscope::kafka::client::ClientSettings;
use twinscope::kafka::ingest::{IngestSpec, StartAt};
use twinscope::twin::Store;

/// Delivery reports: (record id, Ok((partition, offset)) or the error).
type Reports = Arc<Mutex<Vec<(usize, Result<(i32, i64), String>)>>>;

pub struct Recorder {
    reports: Reports,
}

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let r = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
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
        let reports = Reports::default();
        let mut config = ClientSettings::plain(bootstrap).producer_config("test");
        for (k, v) in props {
            config.set(*k, *v);
        }
        let producer = config
            // One request in flight per partition keeps production order = offset order even
            // if a request were retried.
            .set("max.in.flight.requests.per.connection", "1")
            .set("linger.ms", "5")
            .create_with_context(Recorder {
                reports: reports.clone(),
            })
            .expect("producer");
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
        loop {
            match self.producer.send(rec) {
                Ok(()) => break,
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
                    self.producer.poll(Duration::from_millis(10));
                }
            }
        }
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
                Ok((s.partition, s.offset)),
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

/// A `twinscope demo broker --no-sim` process, killed when dropped, pass or fail.
pub struct BrokerProcess(Child);

impl Drop for BrokerProcess {
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
pub fn start_broker_process(extra: &[&str]) -> (BrokerProcess, String) {
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
    (BrokerProcess(child), bootstrap)
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
pub mod real_kafka;
pub mod stream;

//! The end-to-end benchmarks behind `twinscope-bench` (built only with the `testkit`
//! feature, so the product carries none of it): ingest against `kcat` and against a bare
//! rdkafka poll loop, scrubbing against a naive replay of the log, memory per stored sample,
//! and live produce-to-applied latency. Prints figures and ratios and never fails on timing.
//!
//! Every figure comes from the code the app runs (the ingest thread, the decoder,
//! [`Store::apply_batch`], [`Store::snapshot`], the app's tree cache) against a MockCluster
//! started here or, with [`BenchOptions::brokers`], a real cluster: there the workload goes to
//! a topic created for it (or reused when one with the same workload is already complete).
//! Peers are measured in the same process and run, interleaved, so ratios compare like with
//! like. The workloads come from [`crate::testkit`], as the criterion benches' do.
//!
//! With [`BenchOptions::format`] Avro or Protobuf, the ingest workload is the same records
//! encoded in the Confluent wire format under a schema registered at
//! [`BenchOptions::schema_registry`], and twinscope reads them through that registry, so the
//! msg/s of every format come from the same records, topic layout and code path.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaLayerError;
use super::client::ClientSettings;
use super::demo::{DemoBroker, DemoOptions};
use super::ingest::{Ingest, IngestEvent, StartAt};
use crate::app::TreeView;
use crate::config::SchemaRegistryConfig;
use crate::config::{ClientProps, Config, Topics};
use crate::headless::{HeadlessError, read_to_store_with_rules, spec_for};
use crate::schema::SchemaError;
use crate::schema::encode::{MACHINE_AVRO, MACHINE_PROTO, WireEncoder, WireFormat};
use crate::testkit::{BATCH, Pcts, T0, Workload, ui_scrub};
use crate::twin::Store;

/// Errors of a benchmark run (never a timing: timings are only reported).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Kafka(#[from] KafkaLayerError),
    #[error(transparent)]
    Client(#[from] KafkaError),
    #[error(transparent)]
    Headless(#[from] HeadlessError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("{0}")]
    Failed(String),
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Produces the workload to `topic` with the project's producer settings, each asset to one
/// partition: as JSON, or with `encoder` as its records in the wire format. Returns
/// `(partition, log start, head)` of every partition afterwards.
///
/// # Errors
/// When producing fails, a record does not fit the schema, or the topic cannot be read back.
pub fn fill(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    partitions: i32,
    encoder: Option<&WireEncoder>,
) -> Result<Vec<(i32, i64, i64)>, BenchError> {
    let producer: BaseProducer = ClientSettings::plain(bootstrap)
        .producer_config("bench-fill")
        .create()?;
    for i in 0..w.records {
        let key = Workload::asset_id(w.asset(i));
        let payload = encoded(w, i, encoder)?;
        send_retrying(
            &producer,
            BaseRecord::to(topic)
                .key(&key)
                .payload(&payload)
                .timestamp(w.ts(i))
                .partition(w.partition(i, partitions)),
        )?;
    }
    producer.flush(Duration::from_secs(300))?;
    partitions_of(bootstrap, topic)
}

/// Record `i`'s value: its JSON, or that JSON encoded by `encoder`.
fn encoded(w: &Workload, i: usize, encoder: Option<&WireEncoder>) -> Result<Vec<u8>, BenchError> {
    let json = w.payload(i);
    let Some(enc) = encoder else {
        return Ok(json.into_bytes());
    };
    let v: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| BenchError::Failed(e.to_string()))?;
    enc.encode(&v).map_err(BenchError::Failed)
}

/// Sends, waiting while the producer queue is full.
fn send_retrying<P: rdkafka::message::ToBytes + ?Sized>(
    producer: &BaseProducer,
    mut rec: BaseRecord<'_, String, P>,
) -> Result<(), BenchError> {
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// `(partition, log start, head)` of every partition of `topic`.
///
/// # Errors
/// When the metadata or watermarks cannot be read.
pub fn partitions_of(bootstrap: &str, topic: &str) -> Result<Vec<(i32, i64, i64)>, BenchError> {
    let c: BaseConsumer = ClientSettings::plain(bootstrap)
        .consumer_config("bench-meta")
        .create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut out = Vec::new();
    for t in md.topics() {
        for p in t.partitions() {
            let (lo, hi) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            out.push((p.id(), lo, hi));
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn held(parts: &[(i32, i64, i64)]) -> u64 {
    parts
        .iter()
        .map(|(_, lo, hi)| (hi - lo).max(0) as u64)
        .sum()
}

/// What the benchmarks run on.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Telemetry records in the topic.
    pub records: usize,
    pub assets: usize,
    pub partitions: i32,
    /// Repetitions of each ingest run (the median is reported).
    pub reps: usize,
    /// Run `kcat` (skipped with a note when it is not installed).
    pub kcat: bool,
    /// Random times for the scrub measurements.
    pub scrub_times: usize,
    /// Replays for the naive fold (each reads the whole topic).
    pub naive_times: usize,
    /// Numeric samples for the memory measurement.
    pub samples: usize,
    /// Live produce rate (records/s) and duration.
    pub rate: u64,
    pub seconds: u64,
    /// Bootstrap servers of a real cluster for the ingest, scrub and latency benchmarks;
    /// without, they run on an embedded MockCluster. Memory is measured in-process either way.
    pub brokers: Option<String>,
    /// The ingest workload's value format.
    pub format: BenchFormat,
    /// The Confluent-compatible registry the Avro and Protobuf schemas are registered at and
    /// read from (required for those formats).
    pub schema_registry: Option<String>,
}

/// The value format of the ingest workload: the same records either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchFormat {
    Json,
    Avro,
    Protobuf,
}

impl BenchFormat {
    /// The name used in topic names and output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Avro => "avro",
            Self::Protobuf => "protobuf",
        }
    }

    /// The wire format and the workload's schema in it; `None` for plain JSON.
    fn schema(self) -> Option<(WireFormat, &'static str)> {
        match self {
            Self::Json => None,
            Self::Avro => Some((WireFormat::Avro, MACHINE_AVRO)),
            Self::Protobuf => Some((WireFormat::Protobuf, MACHINE_PROTO)),
        }
    }
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            records: 2_000_000,
            assets: 10_000,
            partitions: 64,
            reps: 3,
            kcat: true,
            scrub_times: 1000,
            naive_times: 3,
            samples: 10_000_000,
            rate: 100_000,
            seconds: 10,
            brokers: None,
            format: BenchFormat::Json,
            schema_registry: None,
        }
    }
}

/// Which benchmarks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    All,
    /// Ingest vs kcat vs a bare consumer, then scrub vs naive on the same topic.
    Ingest,
    Memory,
    Latency,
}

/// Runs the selected benchmarks and prints their figures.
///
/// # Errors
/// When the broker, a client or the ingest fails (never because of a timing).
pub fn run(opts: &BenchOptions, which: Which) -> Result<(), BenchError> {
    println!(
        "twinscope-bench: {} cores, {} build",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        if cfg!(debug_assertions) {
            "DEBUG (figures not meaningful)"
        } else {
            "release"
        }
    );
    // Memory first: peak RSS is per process, so nothing else may have run before it.
    if matches!(which, Which::All | Which::Memory) {
        memory(opts);
    }
    if matches!(which, Which::All | Which::Ingest) {
        ingest_and_scrub(opts)?;
    }
    if matches!(which, Which::All | Which::Latency) {
        latency(opts)?;
    }
    Ok(())
}

/// Ingest vs kcat vs the bare loop, then scrub vs naive replay on the store it produced.
fn ingest_and_scrub(opts: &BenchOptions) -> Result<(), BenchError> {
    let w = Workload {
        records: opts.records,
        assets: opts.assets,
        start: T0,
        span_ms: 3_600_000,
        state: true,
    };
    let registry = match (opts.format.schema(), &opts.schema_registry) {
        (None, _) => None,
        (Some(_), Some(url)) => Some(SchemaRegistryConfig {
            url: Some(url.clone()),
            ..SchemaRegistryConfig::default()
        }),
        (Some(_), None) => {
            return Err(BenchError::Failed(format!(
                "--format {} needs --schema-registry URL",
                opts.format.name()
            )));
        }
    };
    let started = Instant::now();
    let mut target = match &opts.brokers {
        None => Target::mock(opts.partitions)?,
        Some(brokers) => Target::real(brokers, &ingest_topic_stem(opts, &w))?,
    };
    let encoder = match (opts.format.schema(), &registry) {
        (Some((format, text)), Some(reg)) => {
            let settings = reg
                .resolve(None)
                .map_err(|e| BenchError::Failed(e.to_string()))?
                .ok_or_else(|| BenchError::Failed("no registry".into()))?;
            // The topic-name strategy's subject; the real cluster's topic name carries the
            // format, so each format has its own subject there.
            let subject = format!("{}-value", target.topics.telemetry);
            Some(WireEncoder::register(&settings, &subject, format, text)?)
        }
        _ => None,
    };
    let bytes: usize = (0..w.records.min(10_000))
        .map(|i| {
            encoded(&w, i, encoder.as_ref()).map_or(0, |v| v.len())
                + Workload::asset_id(w.asset(i)).len()
        })
        .sum();
    let (parts, how) = match &opts.brokers {
        None => {
            let parts = fill(
                &target.bootstrap,
                &target.topics.telemetry,
                &w,
                opts.partitions,
                encoder.as_ref(),
            )?;
            (parts, "filled".to_owned())
        }
        Some(brokers) => {
            let (t, parts, how) = ingest_topic_on(brokers, opts, &w, encoder.as_ref())?;
            target = t;
            (parts, how)
        }
    };
    let (bootstrap, topics) = (target.bootstrap.as_str(), &target.topics);
    let n = held(&parts);
    println!(
        "\n== ingest ({}): {} records (~{} B key+value), {} assets, {} partitions; filled in \
         {:.1} s; topic holds {n} (log start > 0 on {} partitions)",
        opts.format.name(),
        w.records,
        bytes / w.records.clamp(1, 10_000),
        w.assets,
        opts.partitions,
        started.elapsed().as_secs_f64(),
        parts.iter().filter(|p| p.1 > 0).count(),
    );
    println!(
        "  cluster: {}; topic {} {how}",
        target.describe(),
        topics.telemetry
    );
    let mut kcat = Vec::new();
    let mut bare = Vec::new();
    let mut twin = Vec::new();
    let mut store = None;
    let mut kcat_ok = opts.kcat;
    // Interleaved, so drift (thermal, other load) hits every contender alike.
    for rep in 0..opts.reps.max(1) {
        if kcat_ok {
            match run_kcat(bootstrap, &topics.telemetry, rep == 0 && n <= 5_000_000)? {
                Some((d, count)) => {
                    if let Some(c) = count
                        && c != n
                    {
                        println!("  kcat read {c} records, expected {n}");
                    }
                    kcat.push(d);
                }
                None => {
                    println!(
                        "  kcat not found: apt-get install -y kcat (benches/ingest_vs_kcat.sh)"
                    );
                    kcat_ok = false;
                }
            }
        }
        bare.push(run_bare(bootstrap, &topics.telemetry, &parts)?);
        let (d, s) = run_twinscope(bootstrap, topics, registry.clone(), w.end())?;
        if s.stats().records != n {
            println!(
                "  twinscope applied {} records, expected {n}",
                s.stats().records
            );
        }
        twin.push(d);
        store = Some(s);
    }
    let rate = |v: &[Duration]| median(v.iter().map(|d| n as f64 / d.as_secs_f64()).collect());
    let show = |name: &str, v: &[Duration]| {
        let secs: Vec<String> = v
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect();
        println!(
            "  {name:<34} {:>12.0} msg/s  (median of runs: {} s)",
            rate(v),
            secs.join(", ")
        );
    };
    show("twinscope headless (snapshot --at end)", &twin);
    show("bare rdkafka BaseConsumer loop", &bare);
    if !kcat.is_empty() {
        show("kcat -C -e -q -o beginning", &kcat);
        println!(
            "  ratio twinscope / kcat        = {:.2}x  (goal >= 3x)",
            rate(&twin) / rate(&kcat)
        );
    }
    println!(
        "  ratio twinscope / bare loop   = {:.2}x  (goal >= 0.5x)",
        rate(&twin) / rate(&bare)
    );
    match store {
        // The naive replay parses JSON values only.
        Some(store) if opts.format == BenchFormat::Json => {
            scrub_vs_naive(opts, bootstrap, &topics.telemetry, &parts, &store, &w)?;
        }
        _ => println!("  (scrub vs naive replay: with --format json only)"),
    }
    Ok(())
}

/// Where the benchmark's topics live: an embedded MockCluster (dropped with this), or a real
/// cluster given with `--brokers`.
struct Target {
    demo: Option<DemoBroker>,
    bootstrap: String,
    topics: Topics,
}

impl Target {
    /// A MockCluster with the default topics, telemetry in `partitions` partitions.
    fn mock(partitions: i32) -> Result<Self, BenchError> {
        let topics = Topics::default();
        let demo = DemoBroker::start(
            &DemoOptions {
                partitions,
                simulate: false,
                ..DemoOptions::default()
            },
            &topics,
        )?;
        Ok(Self {
            bootstrap: demo.bootstrap().to_owned(),
            demo: Some(demo),
            topics,
        })
    }

    /// A real cluster whose telemetry topic is `telemetry`, with empty events and assets
    /// topics beside it (created when missing), as the mock cluster has.
    fn real(bootstrap: &str, telemetry: &str) -> Result<Self, BenchError> {
        let topics = Topics {
            telemetry: telemetry.to_owned(),
            events: BENCH_EVENTS.to_owned(),
            assets: BENCH_ASSETS.to_owned(),
            commands: String::new(),
        };
        create_topic(bootstrap, &topics.events, 4)?;
        create_topic(bootstrap, &topics.assets, 1)?;
        Ok(Self {
            demo: None,
            bootstrap: bootstrap.to_owned(),
            topics,
        })
    }

    /// One line on the cluster used.
    fn describe(&self) -> String {
        if self.demo.is_some() {
            return format!(
                "embedded MockCluster (3 brokers, in this process) at {}",
                self.bootstrap
            );
        }
        let brokers = ClientSettings::plain(&self.bootstrap)
            .consumer_config("bench-meta")
            .create::<BaseConsumer>()
            .ok()
            .and_then(|c| c.fetch_metadata(None, Duration::from_secs(10)).ok())
            .map_or(0, |md| md.brokers().len());
        format!(
            "real Kafka cluster at {} ({brokers} broker(s), via --brokers)",
            self.bootstrap
        )
    }
}

/// The empty events and assets topics twinscope's ingest reads beside the telemetry topic on
/// a real cluster (the mock cluster has empty `twin.events` and `twin.assets`).
const BENCH_EVENTS: &str = "twinscope-bench.events";
const BENCH_ASSETS: &str = "twinscope-bench.assets";

/// The telemetry topic for workload `w` on the real cluster at `brokers`: a complete one from
/// an earlier run (same name stem, partitions and record count) is reused; otherwise a new
/// topic is created, with a unique suffix if the plain name is taken, and filled.
fn ingest_topic_on(
    brokers: &str,
    opts: &BenchOptions,
    w: &Workload,
    encoder: Option<&WireEncoder>,
) -> Result<(Target, Partitions, String), BenchError> {
    let stem = ingest_topic_stem(opts, w);
    let want = w.records as u64;
    let existing = topic_names(brokers)?;
    for name in existing
        .iter()
        .filter(|t| *t == &stem || t.starts_with(&format!("{stem}-")))
    {
        let parts = partitions_of(brokers, name)?;
        if parts.len() == opts.partitions.max(1) as usize && held(&parts) == want {
            let target = Target::real(brokers, name)?;
            return Ok((
                target,
                parts,
                format!("reused (already held the {want} records; not produced again)"),
            ));
        }
    }
    let name = if existing.contains(&stem) {
        format!("{stem}-{}", now_ms_f() as u64)
    } else {
        stem
    };
    create_topic(brokers, &name, opts.partitions)?;
    let target = Target::real(brokers, &name)?;
    let parts = fill(brokers, &name, w, opts.partitions, encoder)?;
    Ok((
        target,
        parts,
        "created (replication 1, retention unlimited) and filled; kept for reuse".to_owned(),
    ))
}

/// The name (stem) of the ingest workload's topic on a real cluster: JSON keeps the name it
/// always had; other formats add theirs (a reused topic must hold the same encoding).
fn ingest_topic_stem(opts: &BenchOptions, w: &Workload) -> String {
    let stem = format!(
        "twinscope-bench.telemetry-{}r-{}a-{}p",
        w.records, w.assets, opts.partitions
    );
    match opts.format {
        BenchFormat::Json => stem,
        f => format!("{stem}-{}", f.name()),
    }
}

/// `(partition, log start, head)` of every partition of a topic.
type Partitions = Vec<(i32, i64, i64)>;

/// Every topic name on the cluster.
fn topic_names(bootstrap: &str) -> Result<Vec<String>, BenchError> {
    let c: BaseConsumer = ClientSettings::plain(bootstrap)
        .consumer_config("bench-meta")
        .create()?;
    let md = c.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(md.topics().iter().map(|t| t.name().to_owned()).collect())
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, BenchError> {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "twinscope-bench-admin")
        .set("log_level", "3");
    Ok(c.create()?)
}

fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, BenchError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

/// Creates `name` with `partitions` partitions, replication 1 and no retention limit (the
/// workload's timestamps are in the past), then waits until every partition has a leader.
/// Returns `false` when it already existed (it is used as it is).
fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<bool, BenchError> {
    let topic = NewTopic::new(name, partitions.max(1), TopicReplication::Fixed(1))
        .set("retention.ms", "-1")
        .set("retention.bytes", "-1");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let admin = admin(bootstrap)?;
    let mut created = true;
    for r in block_on(admin.create_topics([&topic], &opts))?? {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => created = false,
            Err((t, code)) => {
                return Err(BenchError::Failed(format!("creating topic {t}: {code}")));
            }
        }
    }
    let c: BaseConsumer = ClientSettings::plain(bootstrap)
        .consumer_config("bench-meta")
        .create()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = c
            .fetch_metadata(Some(name), Duration::from_secs(10))
            .is_ok_and(|md| {
                md.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && !t.partitions().is_empty()
                        && t.partitions()
                            .iter()
                            .all(|p| p.error().is_none() && p.leader() >= 0)
                })
            });
        if ready {
            return Ok(created);
        }
        if Instant::now() > deadline {
            return Err(BenchError::Failed(format!(
                "topic {name}: no leader for every partition after 60 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Deletes `name` (a topic this run created and does not keep).
fn delete_topic(bootstrap: &str, name: &str) -> Result<(), BenchError> {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let admin = admin(bootstrap)?;
    for r in block_on(admin.delete_topics(&[name], &opts))?? {
        if let Err((t, code)) = r {
            return Err(BenchError::Failed(format!("deleting topic {t}: {code}")));
        }
    }
    Ok(())
}

/// Runs `kcat` over the whole topic to /dev/null. `None` when kcat is not installed. With
/// `verify`, first runs it once (untimed) with one byte per record, to count them.
fn run_kcat(
    bootstrap: &str,
    topic: &str,
    verify: bool,
) -> Result<Option<(Duration, Option<u64>)>, BenchError> {
    let args = [
        "-b",
        bootstrap,
        "-C",
        "-t",
        topic,
        "-e",
        "-q",
        "-o",
        "beginning",
    ];
    let mut count = None;
    if verify {
        match Command::new("kcat")
            .args(args)
            .args(["-f", "x"])
            .stderr(Stdio::null())
            .output()
        {
            Ok(o) => count = Some(o.stdout.len() as u64),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    let start = Instant::now();
    let status = match Command::new("kcat")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let d = start.elapsed();
    if !status.success() {
        return Err(BenchError::Failed(format!("kcat exited with {status}")));
    }
    Ok(Some((d, count)))
}

/// A consumer with the project's settings, assigned to every partition of `topic` from the
/// beginning (no group: nothing is committed).
fn reader_from_start(
    bootstrap: &str,
    topic: &str,
    parts: &[(i32, i64, i64)],
    purpose: &str,
) -> Result<BaseConsumer, BenchError> {
    let c: BaseConsumer = ClientSettings::plain(bootstrap)
        .consumer_config(purpose)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for (p, _, _) in parts {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    Ok(c)
}

/// A bare consumer with the same settings as the ingest thread, assigned to every partition
/// from the beginning, touching only each payload's length: the client's own limit.
fn run_bare(
    bootstrap: &str,
    topic: &str,
    parts: &[(i32, i64, i64)],
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let c = reader_from_start(bootstrap, topic, parts, "bench-bare")?;
    let want = held(parts);
    let (mut n, mut bytes) = (0u64, 0usize);
    while n < want {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(BenchError::Failed(format!("bare loop read {n} of {want}")));
        }
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                n += 1;
                bytes += m.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(e)) => tracing::warn!("bare loop: {e}"),
            None => {}
        }
    }
    std::hint::black_box(bytes);
    Ok(start.elapsed())
}

/// What `twinscope snapshot --at END` does: the headless ingest (decode, store, time index)
/// bounded at the end of the data, then the snapshot JSON.
fn run_twinscope(
    bootstrap: &str,
    topics: &Topics,
    registry: Option<SchemaRegistryConfig>,
    end: i64,
) -> Result<(Duration, Store), BenchError> {
    let config = Config {
        topics: topics.clone(),
        schema_registry: registry.unwrap_or_default(),
        ..Config::default()
    };
    let start = Instant::now();
    let mut spec = spec_for(
        &config,
        bootstrap,
        ClientProps::default(),
        StartAt::Beginning,
    );
    spec.stop_at = Some((end, i64::MAX));
    let store = read_to_store_with_rules(
        spec,
        config.rules.clone(),
        config.history.budget_mb,
        end,
        Duration::from_secs(20),
        Duration::from_secs(600),
    )?;
    let json = serde_json::to_string(&store.snapshot(end))
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    std::hint::black_box(json.len());
    Ok((start.elapsed(), store))
}

/// The state of the fleet at `t` as a kcat user gets it: read the whole topic from the
/// earliest offset and keep, per (asset, property), the value with the latest
/// `(event time, partition, offset)` at or before `t`. Returns the number of values.
///
/// # Errors
/// When the consumer fails or the topic cannot be read within 10 minutes.
pub fn naive_state_at(
    bootstrap: &str,
    topic: &str,
    parts: &[(i32, i64, i64)],
    t: i64,
) -> Result<usize, BenchError> {
    type Key = (String, String);
    let c = reader_from_start(bootstrap, topic, parts, "bench-naive")?;
    let want = held(parts);
    let start = Instant::now();
    let mut state: HashMap<Key, ((i64, i32, i64), serde_json::Value)> = HashMap::new();
    let mut n = 0u64;
    while n < want {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(BenchError::Failed(format!(
                "naive replay read {n} of {want}"
            )));
        }
        let Some(res) = c.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = res?;
        n += 1;
        let (Some(k), Some(v)) = (m.key(), m.payload()) else {
            continue;
        };
        let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(v) else {
            continue;
        };
        let Some(ts) = obj.get("ts").and_then(serde_json::Value::as_i64) else {
            continue;
        };
        if ts > t {
            continue;
        }
        let order = (ts, m.partition(), m.offset());
        let asset = String::from_utf8_lossy(k).into_owned();
        for (prop, val) in obj {
            if prop == "ts" {
                continue;
            }
            let e = state
                .entry((asset.clone(), prop))
                .or_insert((order, serde_json::Value::Null));
            if e.0 <= order {
                *e = (order, val);
            }
        }
    }
    Ok(state.len())
}

fn scrub_vs_naive(
    opts: &BenchOptions,
    bootstrap: &str,
    topic: &str,
    parts: &[(i32, i64, i64)],
    store: &Store,
    w: &Workload,
) -> Result<(), BenchError> {
    let mut rng = fastrand::Rng::with_seed(5);
    let times: Vec<i64> = (0..opts.scrub_times.max(1))
        .map(|_| rng.i64(w.start..=w.end()))
        .collect();
    let selected = store
        .asset_by_id(&Workload::asset_id(w.assets / 2))
        .unwrap_or(0);
    let mut snap = Vec::new();
    let mut ui = Vec::new();
    let mut cold = Vec::new();
    let mut shapes = TreeView::default();
    // One loop per path, so that each runs as it would across frames.
    for &t in &times {
        let s = Instant::now();
        std::hint::black_box(ui_scrub(store, t, selected, Some(&mut shapes)));
        ui.push(ms(s.elapsed()));
    }
    for &t in &times {
        let s = Instant::now();
        let j = store.snapshot(t);
        snap.push(ms(s.elapsed()));
        std::hint::black_box(j);
        let s = Instant::now();
        std::hint::black_box(ui_scrub(store, t, selected, None));
        cold.push(ms(s.elapsed()));
    }
    let (snap, ui, cold) = (Pcts::of(snap), Pcts::of(ui), Pcts::of(cold));
    println!(
        "\n== scrub: state at {} random T, {} assets, {} samples held",
        times.len(),
        store.assets().len(),
        store.stats().samples
    );
    println!("  UI path (the app's TreeView + alarms_at + props_at) {ui}");
    println!("  same, tree rebuilt every time (Tree::build)        {cold}");
    println!("  full fleet (Store::snapshot)                 {snap}");
    let mut naive = Vec::new();
    for &t in times.iter().take(opts.naive_times.max(1)) {
        let s = Instant::now();
        let values = naive_state_at(bootstrap, topic, parts, t)?;
        naive.push(ms(s.elapsed()));
        std::hint::black_box(values);
    }
    let naive = Pcts::of(naive);
    println!("  naive replay from the earliest offset        {naive}");
    println!(
        "  ratio naive / snapshot: p50 {:.0}x, naive p50 / snapshot p99 {:.0}x  (goal >= 100x)",
        naive.p50 / snap.p50,
        naive.p50 / snap.p99
    );
    Ok(())
}

/// Resident and peak resident memory of this process, in bytes, from `/proc/self/status`.
#[must_use]
pub fn rss() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Bytes of history per numeric sample: `samples` numbers decoded and applied in ingest-sized
/// batches (generated per batch, so only the store grows), against the process's RSS.
fn memory(opts: &BenchOptions) {
    let w = Workload {
        records: opts.samples / 4,
        assets: opts.assets,
        start: T0,
        span_ms: 3_600_000,
        state: false,
    };
    let before = rss();
    let mut store = Store::new("/", 0);
    let mut offsets = vec![0i64; opts.partitions.max(1) as usize];
    let started = Instant::now();
    for s in (0..w.records).step_by(BATCH) {
        let recs = w.decode_range(s..(s + BATCH).min(w.records), &mut offsets);
        store.apply_batch(recs, Vec::new());
    }
    let elapsed = started.elapsed();
    let after = rss();
    let samples = store.stats().samples.max(1);
    println!(
        "\n== memory: {samples} numeric samples ({} records x 4, {} assets), decoded and applied in {:.1} s",
        w.records,
        w.assets,
        elapsed.as_secs_f64()
    );
    match (before, after) {
        (Some((rss0, _)), Some((rss1, hwm1))) => {
            println!(
                "  peak RSS growth / sample    = {:.1} B  (goal <= 8 B)",
                hwm1.saturating_sub(rss0) as f64 / samples as f64
            );
            println!(
                "  RSS growth / sample         = {:.1} B",
                rss1.saturating_sub(rss0) as f64 / samples as f64
            );
        }
        _ => println!("  /proc/self/status not readable: RSS not measured"),
    }
    println!(
        "  store.history_bytes / sample = {:.1} B (the budget's estimate)",
        store.history_bytes() as f64 / samples as f64
    );
    std::hint::black_box(&store);
}

fn now_ms_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Live latency: the ingest thread follows the head while a producer writes `rate` records/s;
/// for each record, the time from its Kafka (create) timestamp to when the batch holding it
/// was applied to the store, as the UI thread would.
fn latency(opts: &BenchOptions) -> Result<(), BenchError> {
    let target = match &opts.brokers {
        None => Target::mock(opts.partitions)?,
        Some(brokers) => {
            // A fresh topic, so that the ingest reaches the head at once; deleted afterwards.
            let name = format!("twinscope-bench.live-{}", now_ms_f() as u64);
            create_topic(brokers, &name, opts.partitions)?;
            Target::real(brokers, &name)?
        }
    };
    let res = latency_on(opts, &target);
    if target.demo.is_none()
        && let Err(e) = delete_topic(&target.bootstrap, &target.topics.telemetry)
    {
        println!("  could not delete {}: {e}", target.topics.telemetry);
    }
    res
}

fn latency_on(opts: &BenchOptions, target: &Target) -> Result<(), BenchError> {
    let (bootstrap, topics) = (target.bootstrap.clone(), &target.topics);
    let config = Config {
        topics: topics.clone(),
        ..Config::default()
    };
    let spec = spec_for(
        &config,
        &bootstrap,
        ClientProps::default(),
        StartAt::Beginning,
    );
    let mut store = Store::new("/", config.history.budget_mb);
    let ingest = Ingest::spawn(spec, Arc::new(|| {}))?;
    let ready = Instant::now();
    loop {
        if ready.elapsed() > Duration::from_secs(30) {
            return Err(BenchError::Failed("ingest did not connect".into()));
        }
        match ingest.recv_timeout(Duration::from_millis(100)) {
            Ok(IngestEvent::Progress(p)) if p.reached_start_head => break,
            Ok(IngestEvent::Batch { recs, bad }) => store.apply_batch(recs, bad),
            Err(true) => return Err(HeadlessError::Ended.into()),
            _ => {}
        }
    }
    let total = opts.rate * opts.seconds;
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producer: BaseProducer = ClientSettings::plain(&bootstrap)
        .producer_config("bench-live")
        .create()?;
    let (rate, partitions) = (opts.rate, opts.partitions);
    let w = Workload {
        records: total as usize,
        assets: opts.assets,
        start: T0,
        span_ms: 1,
        state: true,
    };
    let (s2, d2, topic) = (sent.clone(), done.clone(), topics.telemetry.clone());
    let thread = std::thread::Builder::new()
        .name("bench-live-producer".into())
        .spawn(move || {
            let start = Instant::now();
            let mut i = 0u64;
            while i < total {
                let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
                while i < due {
                    let ts = crate::timeline::now_ms();
                    let key = Workload::asset_id(w.asset(i as usize));
                    let payload = w.payload_at(i as usize, ts);
                    let rec = BaseRecord::to(&topic)
                        .key(&key)
                        .payload(&payload)
                        .timestamp(ts)
                        .partition(w.partition(i as usize, partitions));
                    if let Err(e) = send_retrying(&producer, rec) {
                        tracing::warn!("live producer: {e}");
                        break;
                    }
                    i += 1;
                }
                s2.store(i, Ordering::Relaxed);
                producer.poll(Duration::ZERO);
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = producer.flush(Duration::from_secs(30));
            d2.store(true, Ordering::Relaxed);
            start.elapsed()
        })?;
    let base = store.stats().records;
    let started = Instant::now();
    let warmup_until = crate::timeline::now_ms() + 1000;
    let mut lat = Vec::with_capacity(total as usize);
    let limit = Duration::from_secs(opts.seconds + 30);
    while started.elapsed() < limit {
        if done.load(Ordering::Relaxed)
            && store.stats().records - base >= sent.load(Ordering::Relaxed)
        {
            break;
        }
        match ingest.recv_timeout(Duration::from_millis(100)) {
            Ok(IngestEvent::Batch { recs, bad }) => {
                let stamps: Vec<i64> = recs.iter().map(|r| r.origin.kafka_ts).collect();
                store.apply_batch(recs, bad);
                let now = now_ms_f();
                lat.extend(
                    stamps
                        .into_iter()
                        .filter(|&t| t >= warmup_until)
                        .map(|t| now - t as f64),
                );
            }
            Err(true) => return Err(HeadlessError::Ended.into()),
            _ => {}
        }
    }
    let produce_time = thread
        .join()
        .map_err(|_| BenchError::Failed("producer thread panicked".into()))?;
    let sent = sent.load(Ordering::Relaxed);
    println!(
        "\n== live latency: {} records/s for {} s into {} partitions; produced {sent} in {:.1} s \
         ({:.0}/s), applied {}",
        opts.rate,
        opts.seconds,
        opts.partitions,
        produce_time.as_secs_f64(),
        sent as f64 / produce_time.as_secs_f64(),
        store.stats().records - base
    );
    println!(
        "  cluster: {}; topic {}",
        target.describe(),
        topics.telemetry
    );
    println!(
        "  produce -> applied (after 1 s warm-up): {}  (goal p99 <= 100 ms)",
        Pcts::of(lat)
    );
    drop(ingest);
    Ok(())
}

//! The embedded demo: a librdkafka MockCluster (a real Kafka-protocol broker on loopback)
//! with the twin topics, an optional fixed-port bootstrap address, and the plant simulator
//! producing into it. The GUI reads it through the normal ingest path; nothing is faked.
//! The simulator itself ([`simulator`]) is pure: it makes records and never touches Kafka.

pub mod simulator;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use super::KafkaLayerError;
use super::client::ClientSettings;
use crate::config::Topics;
use crate::timeline::now_ms;
use simulator::{OutRecord, PlantSim, TopicKind};

/// Creates the twin topics that do not exist yet on a real cluster, for `demo produce`: the
/// telemetry topic with `telemetry_partitions`, events with 4, commands with 2, and
/// `twin.assets` compacted (it holds the latest definition per asset, like a table). The
/// replication factor is 3, or the number of brokers when fewer. Returns the topics created.
///
/// # Errors
/// When the cluster cannot be reached or refuses to create a topic.
pub fn ensure_topics(
    settings: &ClientSettings,
    topics: &Topics,
    telemetry_partitions: i32,
) -> Result<Vec<String>, KafkaLayerError> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let probe: BaseConsumer = settings.consumer_config("demo-topics").create()?;
    let md = probe
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(|e| KafkaLayerError::Unreachable {
            brokers: settings.brokers.clone(),
            reason: e.to_string(),
        })?;
    let replication = i32::try_from(md.brokers().len().clamp(1, 3)).unwrap_or(1);
    let exists = |name: &str| {
        md.topics()
            .iter()
            .any(|t| t.name() == name && t.error().is_none())
    };
    let wanted = [
        (
            topics.telemetry.as_str(),
            telemetry_partitions.max(1),
            false,
        ),
        (topics.events.as_str(), 4, false),
        (topics.assets.as_str(), 1, true),
        (topics.commands.as_str(), 2, false),
    ];
    let new: Vec<NewTopic<'_>> = wanted
        .iter()
        .filter(|(name, _, _)| !name.is_empty() && !exists(name))
        .map(|&(name, partitions, compacted)| {
            let t = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
            if compacted {
                t.set("cleanup.policy", "compact")
            } else {
                t
            }
        })
        .collect();
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let mut admin_config = rdkafka::ClientConfig::new();
    admin_config.set("bootstrap.servers", &settings.brokers);
    for (k, v) in settings.props.iter() {
        admin_config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = admin_config.create()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KafkaLayerError::Demo(format!("cannot start the admin runtime: {e}")))?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = rt.block_on(admin.create_topics(&new, &opts))?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            // Another producer created it meanwhile: as good.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaLayerError::Demo(format!(
                    "cannot create topic {name}: {code}"
                )));
            }
        }
    }
    // A new topic has no leaders for a moment; records sent then are refused and retried,
    // which is slower than waiting here.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let led = probe
            .fetch_metadata(None, Duration::from_secs(5))
            .is_ok_and(|md| {
                created.iter().all(|name| {
                    md.topics().iter().any(|t| {
                        t.name() == name
                            && !t.partitions().is_empty()
                            && t.partitions()
                                .iter()
                                .all(|p| p.leader() >= 0 && p.error().is_none())
                    })
                })
            });
        if led {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(created)
}

/// The demo asset a first run selects: a press whose bearing slowly degrades.
pub const SHOWCASE_ASSET: &str = "plant-a/line-1/press-01";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Telemetry partitions. The mock keeps at most 5 MB per partition, so 2 h of the demo
    /// plant (about 40 MB) needs at least 12.
    pub partitions: i32,
    /// Run the plant simulator.
    pub simulate: bool,
    /// Also accept bootstrap connections on this loopback port (0: a free one, chosen when
    /// binding; [`DemoBroker::bootstrap`] names it).
    pub port: Option<u16>,
    /// Seconds of history produced at start, with past timestamps.
    pub backfill_s: i64,
    pub seed: u64,
    /// Produce telemetry and events in Avro (Confluent wire format) with these registered
    /// schemas instead of JSON (`--avro`).
    pub avro: Option<std::sync::Arc<crate::schema::encode::AvroPlant>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            partitions: 16,
            simulate: true,
            port: None,
            backfill_s: 2 * 3600,
            seed: 42,
            avro: None,
        }
    }
}

/// A running demo broker. Dropping it stops the simulator, the proxy and the cluster.
pub struct DemoBroker {
    // Field order is drop order: stop producers before the cluster goes away.
    sim: Option<Simulator>,
    proxy: Option<Proxy>,
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl std::fmt::Debug for DemoBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoBroker")
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl DemoBroker {
    /// Starts a 3-broker mock cluster with the twin topics.
    ///
    /// # Errors
    /// When the cluster cannot start or the port is taken.
    pub fn start(opts: &DemoOptions, topics: &Topics) -> Result<Self, KafkaLayerError> {
        let cluster = MockCluster::new(3)?;
        let parts = opts.partitions.max(1);
        cluster.create_topic(&topics.telemetry, parts, 1)?;
        cluster.create_topic(&topics.events, 4, 1)?;
        if !topics.assets.is_empty() {
            cluster.create_topic(&topics.assets, 1, 1)?;
        }
        cluster.create_topic(&topics.commands, 2, 1)?;
        let mut bootstrap = cluster.bootstrap_servers();
        let proxy = match opts.port {
            Some(port) => {
                let p = Proxy::start(port, &bootstrap)?;
                // With port 0 the system picked a free one: name the one actually bound.
                bootstrap = p.addr.to_string();
                Some(p)
            }
            None => None,
        };
        let mut demo = Self {
            sim: None,
            proxy,
            cluster,
            bootstrap,
        };
        if opts.simulate {
            demo.sim = Some(Simulator::start(
                ClientSettings::plain(&demo.cluster.bootstrap_servers()),
                topics.clone(),
                opts.clone(),
            )?);
        }
        Ok(demo)
    }

    /// The address clients should bootstrap from.
    #[must_use]
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The mock cluster, for fault injection.
    #[must_use]
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }

    /// Whether the simulator finished its backfill (live records follow at 1 Hz).
    #[must_use]
    pub fn backfilled(&self) -> bool {
        self.sim
            .as_ref()
            .is_some_and(|s| s.backfilled.load(Ordering::Relaxed))
    }

    /// True while the proxy is serving (tells `demo broker` it is running).
    #[must_use]
    pub fn has_proxy(&self) -> bool {
        self.proxy.is_some()
    }
}

/// The plant simulator thread, producing into the cluster.
struct Simulator {
    stop: Arc<AtomicBool>,
    backfilled: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Simulator {
    fn start(
        settings: ClientSettings,
        topics: Topics,
        opts: DemoOptions,
    ) -> Result<Self, KafkaLayerError> {
        let producer: BaseProducer = settings
            .producer_config("demo-sim")
            .set("enable.idempotence", "true")
            .create()?;
        let commands: Option<BaseConsumer> = if topics.commands.is_empty() {
            None
        } else {
            Some(settings.consumer_config("demo-sim-commands").create()?)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let backfilled = Arc::new(AtomicBool::new(false));
        let (s, b) = (stop.clone(), backfilled.clone());
        let thread = std::thread::Builder::new()
            .name("demo-sim".into())
            .spawn(move || {
                simulate_with_commands(&producer, commands.as_ref(), &topics, &opts, &s, &b);
            })
            .map_err(|e| KafkaLayerError::Demo(format!("cannot start simulator: {e}")))?;
        Ok(Self {
            stop,
            backfilled,
            thread: Some(thread),
        })
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("simulator thread panicked");
        }
    }
}

/// How long the live loop waits between rounds. Bounds the command-to-result latency
/// together with the consumer's `fetch.wait.max.ms` and the producer's `linger.ms`.
const LIVE_TICK: Duration = Duration::from_millis(50);

/// Most command records handled per live round; the rest wait for the next round.
const MAX_COMMANDS_PER_TICK: usize = 64;

/// Runs the simulator: 2 h of backfill, then live at 1 Hz until stopped. With a `commands`
/// consumer (not yet assigned), it also obeys the operator commands on `topics.commands`: every partition is read from its end
/// as of the start (earlier commands are not replayed), commands arriving during the backfill
/// wait for the live phase, and each one is answered with a `command_result` event.
pub fn simulate_with_commands(
    producer: &BaseProducer,
    commands: Option<&BaseConsumer>,
    topics: &Topics,
    opts: &DemoOptions,
    stop: &AtomicBool,
    backfilled: &AtomicBool,
) {
    let commands = commands.filter(|c| match assign_at_end(c, &topics.commands) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                "demo: not listening for commands on {}: {e}",
                topics.commands
            );
            false
        }
    });
    // Every record below goes out as JSON, or in Avro with `--avro`.
    let produce = |p: &BaseProducer, t: &Topics, r: &OutRecord, s: &AtomicBool| {
        produce_as(p, t, r, s, opts.avro.as_deref());
    };
    let mut sim = PlantSim::new(opts.seed);
    let now = now_ms();
    let start = (now - opts.backfill_s * 1000) / 1000 * 1000;
    for r in sim.asset_records(start - 1000) {
        produce(producer, topics, &r, stop);
    }
    let mut t = start;
    let mut acks = BackfillAcks::new(opts.seed, now);
    while t <= now && !stop.load(Ordering::Relaxed) {
        for r in sim.step(t) {
            acks.observe(&r);
            produce(producer, topics, &r, stop);
        }
        for r in acks.due(t) {
            produce(producer, topics, &r, stop);
        }
        t += 1000;
    }
    if let Err(e) = producer.flush(Duration::from_secs(30)) {
        tracing::warn!("demo backfill flush: {e}");
    }
    backfilled.store(true, Ordering::Relaxed);
    tracing::info!("demo: backfilled {} s of plant history", opts.backfill_s);
    let mut last_poll_error = String::new();
    while !stop.load(Ordering::Relaxed) {
        let now = now_ms();
        while t <= now {
            for r in sim.step(t) {
                produce(producer, topics, &r, stop);
            }
            t += 1000;
        }
        if let Some(consumer) = commands {
            for _ in 0..MAX_COMMANDS_PER_TICK {
                let msg = match consumer.poll(Duration::ZERO) {
                    None => break,
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        let e = e.to_string();
                        if e != last_poll_error {
                            tracing::warn!("demo: reading {}: {e}", topics.commands);
                            last_poll_error = e;
                        }
                        break;
                    }
                };
                // Stamped before the next step, so that step's telemetry shows the effect.
                let at = now_ms().min(t - 1);
                for r in handle_command(&mut sim, at, &msg) {
                    produce(producer, topics, &r, stop);
                }
            }
        }
        producer.poll(LIVE_TICK);
    }
    let _ = producer.flush(Duration::from_secs(2));
}

/// Assigns every partition of `topic` at its current end. The end is resolved here rather
/// than left to a lazy `Offset::End`, so a command produced once the simulator reports
/// `backfilled` can never be skipped by a late offset lookup.
fn assign_at_end(consumer: &BaseConsumer, topic: &str) -> Result<(), KafkaError> {
    let timeout = Duration::from_secs(10);
    let md = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        let offset = match consumer.fetch_watermarks(topic, p, timeout) {
            Ok((_, high)) => Offset::Offset(high),
            Err(e) => {
                tracing::warn!("demo: end of {topic}/{p}: {e}; reading from the logical end");
                Offset::End
            }
        };
        tpl.add_partition_offset(topic, p, offset)?;
    }
    consumer.assign(&tpl)
}

/// A command record as the demo plant understands it.
#[derive(Debug, Clone, PartialEq)]
struct Command {
    asset: String,
    command: String,
    args: Value,
    correlation_id: String,
}

/// Why a command record is refused, and the correlation id to answer to, if any.
#[derive(Debug, Clone, PartialEq)]
struct Invalid {
    asset: Option<String>,
    command: String,
    correlation_id: Option<String>,
    reason: String,
}

/// Parses a command record: key = asset id, value = `{"ts", "command", "args", "by",
/// "correlation_id"}`. `command` and `correlation_id` must be non-empty strings and `args`,
/// when present and not null, an object; `ts` and `by` are informational.
fn parse_command(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Command, Invalid> {
    let asset = key
        .and_then(|k| std::str::from_utf8(k).ok())
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let mut bad = Invalid {
        asset: asset.clone(),
        command: String::new(),
        correlation_id: None,
        reason: String::new(),
    };
    let reject = |mut bad: Invalid, reason: String| {
        bad.reason = reason;
        Err(bad)
    };
    let Some(value) = value else {
        return reject(bad, "empty command record".into());
    };
    let obj = match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return reject(bad, "command is not a JSON object".into()),
        Err(e) => return reject(bad, format!("command is not valid JSON: {e}")),
    };
    bad.correlation_id = obj
        .get("correlation_id")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    if let Some(c) = obj.get("command").and_then(Value::as_str) {
        c.clone_into(&mut bad.command);
    }
    let Some(correlation_id) = bad.correlation_id.clone() else {
        return reject(bad, "missing or empty 'correlation_id'".into());
    };
    let Some(asset) = asset else {
        return reject(bad, "missing or empty key (asset id)".into());
    };
    let command = match obj.get("command") {
        Some(Value::String(c)) if !c.is_empty() => c.clone(),
        None => return reject(bad, "missing 'command'".into()),
        Some(_) => return reject(bad, "'command' must be a non-empty string".into()),
    };
    let args = match obj.get("args") {
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return reject(bad, "'args' must be an object".into()),
    };
    Ok(Command {
        asset,
        command,
        args,
        correlation_id,
    })
}

/// Applies one command record to the plant; returns the records to produce (always a
/// `command_result` when the record can be answered).
fn handle_command(sim: &mut PlantSim, now: i64, msg: &BorrowedMessage<'_>) -> Vec<OutRecord> {
    match parse_command(msg.key(), msg.payload()) {
        Ok(c) => {
            tracing::info!(
                "demo: command {} for {} ({})",
                c.command,
                c.asset,
                c.correlation_id
            );
            sim.apply_command(now, &c.asset, &c.command, &c.args, &c.correlation_id)
        }
        Err(Invalid {
            asset: Some(asset),
            command,
            correlation_id: Some(correlation_id),
            reason,
        }) => {
            tracing::info!("demo: rejected command {correlation_id} for {asset}: {reason}");
            vec![rejected(now, &asset, &command, &correlation_id, &reason)]
        }
        Err(bad) => {
            tracing::warn!(
                "demo: skipped command record at {}/{}@{}: {}",
                msg.topic(),
                msg.partition(),
                msg.offset(),
                bad.reason
            );
            Vec::new()
        }
    }
}

/// A `command_result` refusing a malformed command, shaped like the simulator's own.
fn rejected(ts: i64, asset: &str, command: &str, correlation_id: &str, reason: &str) -> OutRecord {
    let payload = serde_json::json!({
        "ts": ts,
        "type": "command_result",
        "correlation_id": correlation_id,
        "command": command,
        "status": "rejected",
        "message": format!("invalid command: {reason}"),
    });
    OutRecord {
        role: TopicKind::Events,
        key: asset.to_owned(),
        payload: Some(payload.to_string()),
        ts,
    }
}

/// Operators of the demo's past shifts: most alarms in the backfilled history were
/// acknowledged a few minutes after they were raised, as in a real control room. Alarms of
/// the last 10 minutes are left for the user to handle.
struct BackfillAcks {
    rng: fastrand::Rng,
    now: i64,
    pending: Vec<OutRecord>,
}

impl BackfillAcks {
    fn new(seed: u64, now: i64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed ^ 0xACC),
            now,
            pending: Vec::new(),
        }
    }

    fn observe(&mut self, r: &OutRecord) {
        if r.role != TopicKind::Events {
            return;
        }
        let Some(v) = r
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        else {
            return;
        };
        if v["type"] != "alarm" || v["state"] != "active" || self.rng.f32() > 0.85 {
            return;
        }
        let at = r.ts + self.rng.i64(45_000..480_000);
        if at > self.now - 600_000 {
            return;
        }
        let shift = if self.rng.bool() {
            "night-shift"
        } else {
            "a.ortiz"
        };
        let payload = serde_json::json!({
            "ts": at, "type": "alarm", "code": v["code"], "severity": v["severity"],
            "state": "acked", "by": shift, "comment": "seen, monitoring",
        });
        self.pending.push(OutRecord {
            role: TopicKind::Events,
            key: r.key.clone(),
            payload: Some(payload.to_string()),
            ts: at,
        });
    }

    fn due(&mut self, t: i64) -> Vec<OutRecord> {
        let (due, keep): (Vec<OutRecord>, Vec<OutRecord>) =
            self.pending.drain(..).partition(|r| r.ts <= t);
        self.pending = keep;
        due
    }
}

/// Produces one record, waiting while librdkafka's queue is full; telemetry and events are
/// encoded in Avro when `avro` is set (a record that does not fit its schema goes out as JSON,
/// and is logged).
fn produce_as(
    producer: &BaseProducer,
    topics: &Topics,
    r: &OutRecord,
    stop: &AtomicBool,
    avro: Option<&crate::schema::encode::AvroPlant>,
) {
    let topic = match r.role {
        TopicKind::Telemetry => &topics.telemetry,
        TopicKind::Events => &topics.events,
        TopicKind::Assets => &topics.assets,
    };
    if topic.is_empty() {
        return;
    }
    let encoded = match (avro, &r.payload, r.role) {
        (Some(a), Some(json), TopicKind::Telemetry) => Some(a.telemetry(json)),
        (Some(a), Some(json), TopicKind::Events) => Some(a.event(json)),
        _ => None,
    }
    .and_then(|e| {
        e.inspect_err(|e| tracing::warn!("demo: record does not fit its Avro schema: {e}"))
            .ok()
    });
    let payload = encoded
        .as_deref()
        .or_else(|| r.payload.as_deref().map(str::as_bytes));
    loop {
        let mut rec: BaseRecord<'_, str, [u8]> =
            BaseRecord::to(topic).key(r.key.as_str()).timestamp(r.ts);
        if let Some(p) = payload {
            rec = rec.payload(p);
        }
        match producer.send(rec) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(10));
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
            Err((e, _)) => {
                tracing::warn!("demo produce to {topic}: {e}");
                return;
            }
        }
    }
}

/// A loopback TCP forwarder, so the mock cluster (which binds random ports) can be reached
/// at a fixed bootstrap address. Only bootstrap goes through it: metadata then points
/// clients at the brokers' own loopback ports.
struct Proxy {
    /// The address it listens on (the port actually bound, also when asked for port 0).
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(port: u16, bootstrap: &str) -> Result<Self, KafkaLayerError> {
        let targets: Vec<SocketAddr> = bootstrap
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if targets.is_empty() {
            return Err(KafkaLayerError::Demo(format!(
                "no broker address in {bootstrap:?}"
            )));
        }
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            KafkaLayerError::Demo(format!("cannot listen on 127.0.0.1:{port}: {e}"))
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| KafkaLayerError::Demo(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| KafkaLayerError::Demo(e.to_string()))?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("demo-proxy".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("demo proxy runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let mut next = 0usize;
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            acc = listener.accept() => {
                                let Ok((mut inbound, _)) = acc else { continue };
                                let target = targets[next % targets.len()];
                                next += 1;
                                tokio::spawn(async move {
                                    if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                                    }
                                });
                            }
                        }
                    }
                });
            })
            .map_err(|e| KafkaLayerError::Demo(format!("cannot start proxy: {e}")))?;
        Ok(Self {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("proxy thread panicked");
        }
    }
}

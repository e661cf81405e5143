//! The ingest thread: owns one rdkafka consumer, assigns every partition of the twin topics
//! itself (no group, no commits, so it never disturbs other consumers), decodes records off
//! the UI thread and hands batches over a bounded channel.
//!
//! When the receiver lags, `send` blocks, the consumer stops polling and librdkafka stops
//! fetching: backpressure instead of unbounded memory or silent drops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, bounded};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::KafkaLayerError;
use super::client::ClientSettings;
use super::seek::{TimeIndex, offset_for_time};
use crate::schema::provenance::{self, ClusterIndex};
use crate::schema::{self as schemas, RegistrySettings, SchemaError};
use crate::twin::decode::{
    BadRecord, DecodeError, Decoded, Interner, Origin, Rec, Role, decode_value_with, decode_with,
};
use crate::twin::mapping::Mapping;

/// Why one record could not be decoded: the twin contract, or its schema in the registry.
/// Becomes the reason of its bad record.
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// Why finding the twin's partitions and where to start reading them failed. Each is shown
/// as the reason the cluster is down, and discovery is retried with backoff.
#[derive(Debug, thiserror::Error)]
enum DiscoverError {
    #[error("cannot reach {brokers}: {source}")]
    Metadata { brokers: String, source: KafkaError },
    #[error("cannot read offsets of {topic}/{partition}: {source}")]
    Watermarks {
        topic: String,
        partition: i32,
        source: KafkaError,
    },
    #[error("cannot seek {topic}/{partition}: {source}")]
    Seek {
        topic: String,
        partition: i32,
        source: KafkaError,
    },
    #[error("cannot assign partitions: {0}")]
    Assign(KafkaError),
}

/// Called after each send so the UI wakes up (`egui::Context::request_repaint` in the app).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Records behind the head below which the view counts as live.
pub const CAUGHT_UP_LAG: i64 = 2_000;

/// Batches in flight between ingest and the thread applying them.
const CHANNEL_CAPACITY: usize = 16;
/// Most records per batch.
const BATCH_MAX: usize = 8192;
/// How often progress (percentage, rate, lag) is reported while catching up: a catch-up of a
/// few hundred thousand records takes a fraction of a second, and at 250 ms the bar showed
/// 0% until it was done.
const PROGRESS_EVERY_CATCHING_UP: Duration = Duration::from_millis(100);
/// ... and once caught up, when each report also wakes the window.
const PROGRESS_EVERY_LIVE: Duration = Duration::from_millis(250);
/// Longest a batch is held before it is sent.
const BATCH_LINGER: Duration = Duration::from_millis(10);
/// Records between two looks at the clock for [`BATCH_LINGER`]: reading it for every record
/// was 3% of a catch-up's time, and a few dozen records take well under a millisecond.
const LINGER_CHECK_EVERY: u32 = 32;
/// The most `receive.message.max.bytes` is raised to when a fetch response does not fit
/// (librdkafka's own maximum is 2 GiB).
const RECEIVE_MAX_CAP: usize = 1 << 30;

/// The own time index of every partition: `(topic, partition) -> index`.
pub type TimeIndexes = HashMap<(String, i32), TimeIndex>;

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The start of retention.
    Beginning,
    /// The first record with Kafka time ≥ this (epoch ms).
    Since(i64),
}

/// What to read and how.
#[derive(Debug, Clone)]
pub struct IngestSpec {
    /// Time indexes from an earlier read of the same topics, tried first when seeking for
    /// [`StartAt::Since`].
    pub index: Option<Arc<TimeIndexes>>,
    pub client: ClientSettings,
    /// Topic per role; roles without a topic are not read.
    pub topics: Vec<(Role, String)>,
    pub start: StartAt,
    /// For bounded reads (`snapshot --at T`): stop each partition at its end as of the start,
    /// or once its Kafka time passes `T + lateness`.
    pub stop_at: Option<(i64, i64)>,
    pub mapping: Mapping,
    /// Memory allowed for records in flight: librdkafka's prefetch queue gets half, the
    /// decoded batches waiting in the channel the other half. Scaled with the history budget
    /// (see [`in_flight_bytes`]) so a flood cannot grow memory past it outside the store.
    pub in_flight_bytes: usize,
    /// The schema registry for records in the Confluent wire format (Avro, Protobuf, JSON
    /// Schema); without one such records are bad records that say so.
    pub schema_registry: Option<RegistrySettings>,
}

/// The in-flight allowance for a history budget: an eighth of it, between 8 MiB and 512 MiB.
#[must_use]
pub fn in_flight_bytes(budget_mb: usize) -> usize {
    (budget_mb.saturating_mul(1 << 20) / 8).clamp(8 << 20, 512 << 20)
}

/// Rough heap size of a decoded record from its payload size: property names and values are
/// owned allocations, several times the JSON they came from.
fn decoded_size(payload: usize) -> usize {
    payload * 6 + 128
}

/// Connection state, for the status bar and banners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Disconnected {
        reason: String,
        retry_in_s: u64,
    },
    /// Connected, but some topics do not exist (yet); they are picked up when created.
    WaitingForTopics(Vec<String>),
    /// The brokers answered but refused us: wrong credentials, or a TLS certificate that does
    /// not verify. Retried like a disconnect (the operator may fix it on the cluster side), but
    /// told apart so nobody waits for a network problem that is not there.
    Rejected {
        reason: String,
        retry_in_s: u64,
    },
}

/// Lag and progress of one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicProgress {
    pub role: Role,
    pub topic: String,
    pub partitions: usize,
    /// Records between our position and the head.
    pub lag: i64,
    /// Records deleted by retention while we were behind (the log start moved past us).
    pub skipped: i64,
    /// Offsets missing inside the log (removed by compaction, or transaction markers).
    pub compacted: i64,
    /// The latest event time up to which this topic's history may be incomplete in Kafka:
    /// records at or before it were deleted by retention or removed by compaction, so an
    /// answer "as of T" for T at or before it cannot be proven exact from the log.
    pub incomplete_through: Option<i64>,
    /// The most any record read so far was behind the newest event time before it in its
    /// partition (ms): how late data has actually been. A re-read bounded by this much past
    /// its end misses nothing the live read has seen.
    pub max_lateness: i64,
}

/// Progress of the read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Progress {
    /// True once every partition reached the head it had when reading started. Exact; what a
    /// headless read waits for.
    pub reached_start_head: bool,
    /// True once reading keeps up with the head: the start head was reached and fewer than
    /// [`CAUGHT_UP_LAG`] records are behind the current head. While producers are writing a
    /// backlog (as the demo does at start), this stays false and the progress bar stays up.
    pub caught_up: bool,
    /// Share of the catch-up done, 0..=1, against the current head.
    pub fraction: f32,
    pub msgs_per_s: f64,
    pub consumed: u64,
    pub topics: Vec<TopicProgress>,
    /// Set while the schema registry is unreachable: what is wrong and what happens to the
    /// records that need it (shown as a banner).
    pub schema_registry: Option<String>,
}

/// Messages from the ingest thread.
#[derive(Debug)]
pub enum IngestEvent {
    Batch {
        recs: Batch,
        bad: Vec<BadRecord>,
    },
    Status(Conn),
    Progress(Progress),
    /// A bounded read has read everything it needs.
    Finished,
    /// Something the operator should know about the read itself (not about a record), e.g. a
    /// client limit raised to get past an oversized record.
    Notice(String),
}

/// The decoded records of one batch, as a slice for [`Store::apply_lent`]. Dropped, it goes
/// back to the ingest thread that decoded it, which drops the records there and reuses their
/// memory (see [`crate::twin::decode::Interner::reclaim`]); if that thread is gone or has
/// enough back already, it is dropped where it is.
///
/// [`Store::apply_lent`]: crate::twin::store::Store::apply_lent
#[derive(Debug)]
pub struct Batch {
    recs: Vec<Rec>,
    home: Option<Sender<Vec<Rec>>>,
}

impl Batch {
    /// The records, kept by the caller: they do not go back to the ingest thread.
    #[must_use]
    pub fn into_vec(mut self) -> Vec<Rec> {
        self.home = None;
        std::mem::take(&mut self.recs)
    }
}

impl std::ops::Deref for Batch {
    type Target = [Rec];

    fn deref(&self) -> &[Rec] {
        &self.recs
    }
}

impl std::ops::DerefMut for Batch {
    fn deref_mut(&mut self) -> &mut [Rec] {
        &mut self.recs
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            let _ = home.try_send(std::mem::take(&mut self.recs));
        }
    }
}

/// Handle to a running ingest thread. Dropping it stops and joins the thread.
pub struct Ingest {
    rx: Receiver<IngestEvent>,
    /// A copy of the partitions' time indexes, refreshed by the thread every few seconds.
    indexes: Arc<Mutex<Arc<TimeIndexes>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the thread. Connection problems are reported as [`IngestEvent::Status`] and
    /// retried; only an invalid client configuration fails here.
    ///
    /// # Errors
    /// When librdkafka rejects the configuration (e.g. an unknown `-X` property).
    pub fn spawn(spec: IngestSpec, waker: Waker) -> Result<Self, KafkaLayerError> {
        let ctx = IngestContext {
            last_error: Arc::new(Mutex::new(None)),
            rejected: Arc::new(Mutex::new(None)),
            view: Arc::new(Mutex::new(None)),
            response_too_large: Arc::new(AtomicUsize::new(0)),
        };
        let errors = ctx.last_error.clone();
        let rejected = ctx.rejected.clone();
        let view = ctx.view.clone();
        let response_too_large = ctx.response_too_large.clone();
        let consumer = create_consumer(&spec.client, ctx, spec.in_flight_bytes, None)?;
        let (tx, rx) = bounded(CHANNEL_CAPACITY);
        // Room for every batch that can be out at once: queued, being built, being applied.
        let (returned_tx, returned) = bounded(CHANNEL_CAPACITY + 2);
        let indexes = Arc::new(Mutex::new(Arc::new(TimeIndexes::new())));
        let stop = Arc::new(AtomicBool::new(false));
        let schemas = std::cell::RefCell::new(schemas::Decoder::new(spec.schema_registry.clone()));
        let provenance = provenance::for_cluster(&spec.client.brokers);
        let worker = Worker {
            schemas,
            provenance,
            spec,
            consumer,
            errors,
            rejected,
            view,
            tx,
            returned_tx,
            returned,
            waker,
            stop: stop.clone(),
            response_too_large,
            receive_max: None,
            parts: Vec::new(),
            consumed: 0,
            rate: RateMeter::default(),
            indexes: indexes.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("kafka-ingest".into())
            .spawn(move || worker.run())
            .map_err(|source| KafkaLayerError::Thread {
                name: "kafka-ingest",
                source,
            })?;
        Ok(Self {
            rx,
            indexes,
            stop,
            thread: Some(thread),
        })
    }

    /// The latest copy of the own time index of every partition read so far.
    #[must_use]
    pub fn time_indexes(&self) -> Arc<TimeIndexes> {
        self.indexes.lock().map(|i| i.clone()).unwrap_or_default()
    }

    /// The next event, if one is waiting.
    #[must_use]
    pub fn try_recv(&self) -> Option<IngestEvent> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event. `Err(true)` means the thread has ended.
    ///
    /// # Errors
    /// `Err(false)` on timeout, `Err(true)` when the thread is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<IngestEvent, bool> {
        self.rx
            .recv_timeout(timeout)
            .map_err(|e| matches!(e, RecvTimeoutError::Disconnected))
    }

    /// Events waiting in the channel.
    #[must_use]
    pub fn backlog(&self) -> usize {
        self.rx.len()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // Unblock a pending send by draining; the thread checks `stop` at least every 100 ms.
            while !t.is_finished() {
                while self.rx.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.join().is_err() {
                tracing::error!("ingest thread panicked");
            }
        }
    }
}

/// What librdkafka's statistics say about the cluster, refreshed every second without any
/// blocking request from the ingest thread.
#[derive(Debug, Default)]
struct ClusterView {
    brokers_up: usize,
    /// `(topic, partition) -> (log start, head)` as last seen in fetch responses.
    heads: HashMap<(String, i32), (i64, i64)>,
}

/// The viewer's consumer, with `receive.message.max.bytes` raised when `receive_max` says so.
fn create_consumer(
    client: &ClientSettings,
    ctx: IngestContext,
    in_flight_bytes: usize,
    receive_max: Option<usize>,
) -> Result<BaseConsumer<IngestContext>, KafkaError> {
    let mut config = client.consumer_config("viewer");
    config.set("statistics.interval.ms", "1000");
    // librdkafka's prefetch queue and its fetch responses are the other big buffers: half the
    // allowance for the queue, and responses small enough that one per broker fits in it.
    // Explicit `-X` settings win.
    let user_set = |key: &str| client.props.iter().any(|(k, _)| k == key);
    let half = in_flight_bytes / 2;
    if !user_set("queued.max.messages.kbytes") {
        config.set(
            "queued.max.messages.kbytes",
            (half / 1024).max(1024).to_string(),
        );
    }
    if !user_set("fetch.max.bytes") {
        let fetch = (half / 4).clamp(1 << 20, 64 << 20);
        config.set("fetch.max.bytes", fetch.to_string());
        if !user_set("fetch.message.max.bytes") {
            config.set(
                "fetch.message.max.bytes",
                (fetch / 4).max(256 << 10).to_string(),
            );
        }
    }
    // `fetch.queue.backoff.ms` is short in every consumer config: with a queue sized to a
    // small budget the default 1 s left the consumer idle most of the time (a 500k-record
    // flood at 128 MB took 17 s at 67% CPU instead of 6 s).
    if let Some(n) = receive_max {
        config.set("receive.message.max.bytes", n.to_string());
    }
    config.create_with_context(ctx)
}

/// The size librdkafka names when a fetch response is larger than `receive.message.max.bytes`
/// ("Invalid response size 300640 (0..66048)"). The connection is then dropped and the same
/// fetch retried forever, so every partition on that broker would stall.
fn oversized_response(reason: &str) -> Option<usize> {
    let rest = reason.split("Invalid response size ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The operator's wording of a refusal by the cluster, if `error` is one: librdkafka reports
/// a failed SASL handshake as `Authentication` and a certificate that does not verify as
/// `SSL`, then keeps retrying, which from the outside looks like an unreachable cluster.
fn refusal(error: &KafkaError, reason: &str) -> Option<String> {
    let code = error.rdkafka_error_code()?;
    let reason = reason.trim();
    match code {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => Some(
            format!("authentication failed (check sasl.username and sasl.password): {reason}"),
        ),
        RDKafkaErrorCode::SSL => Some(format!(
            "TLS handshake failed (check ssl.ca.location and the broker's certificate): {reason}"
        )),
        _ => None,
    }
}

/// Receives librdkafka's global errors (all brokers down, authentication failures, ...) and
/// its statistics.
struct IngestContext {
    last_error: Arc<Mutex<Option<(Instant, String)>>>,
    /// The latest refusal by the cluster (authentication, TLS), worded for the operator.
    rejected: Arc<Mutex<Option<String>>>,
    view: Arc<Mutex<Option<ClusterView>>>,
    /// The largest fetch response that did not fit, in bytes (0: none).
    response_too_large: Arc<AtomicUsize>,
}

impl ClientContext for IngestContext {
    fn stats(&self, s: rdkafka::Statistics) {
        let brokers_up = s
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0 && b.state == "UP")
            .count();
        let heads = s
            .topics
            .values()
            .flat_map(|t| {
                t.partitions
                    .values()
                    .filter(|p| p.partition >= 0 && p.hi_offset >= 0)
                    .map(move |p| ((t.topic.clone(), p.partition), (p.lo_offset, p.hi_offset)))
            })
            .collect();
        if let Ok(mut v) = self.view.lock() {
            *v = Some(ClusterView { brokers_up, heads });
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(why) = refusal(&error, reason)
            && let Ok(mut r) = self.rejected.lock()
        {
            *r = Some(why);
        }
        if let Some(n) = oversized_response(reason) {
            self.response_too_large.fetch_max(n, Ordering::Relaxed);
        }
        if let Ok(mut e) = self.last_error.lock() {
            // librdkafka repeats the same error on every retry; log each distinct one once.
            if e.as_ref().is_none_or(|(_, last)| last != reason) {
                tracing::warn!("kafka: {error}: {reason}");
            }
            *e = Some((Instant::now(), reason.to_owned()));
        }
    }
}

impl ConsumerContext for IngestContext {}

fn build_lookup(parts: &[Part]) -> Vec<(Arc<str>, Vec<Option<usize>>)> {
    let mut out: Vec<(Arc<str>, Vec<Option<usize>>)> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let Ok(pid) = usize::try_from(p.partition) else {
            continue;
        };
        let slot = match out.iter().position(|(t, _)| *t == p.topic) {
            Some(s) => s,
            None => {
                out.push((p.topic.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let v = &mut out[slot].1;
        if v.len() <= pid {
            v.resize(pid + 1, None);
        }
        v[pid] = Some(i);
    }
    out
}

struct Part {
    role: Role,
    topic: Arc<str>,
    partition: i32,
    /// Next offset to read.
    next: i64,
    start: i64,
    /// Head when reading started: catching up means reaching it.
    target: i64,
    /// Latest known head.
    high: i64,
    skipped: i64,
    /// Offsets missing inside the log (compaction, transaction markers).
    compacted: i64,
    /// Log start as last known; records before it are gone from Kafka.
    low: i64,
    /// Offset ranges found missing while reading, `(from, to, when)`, not yet told apart: the
    /// log start in the statistics lags up to a couple of seconds behind the broker, so a gap
    /// is judged only once statistics newer than it have come in (see `refresh_heads`).
    unjudged: Vec<(i64, i64, Instant)>,
    /// Set when records of this partition are found missing (deleted before we read them, or
    /// removed from inside the log), until the next record is read: that record bounds them.
    gapped: bool,
    /// The latest event time of a record read right after missing ones. The missing records
    /// came before it in the log, so each was at most this partition's lateness older than
    /// the newest record before it: their event times are at most this plus the lateness
    /// (which is measured on every record read, so the bound follows it as it grows).
    after_gap: Option<i64>,
    /// Set once records are missing from inside the log (compaction, or a log start the
    /// statistics do not show yet): compacted records were superseded by later ones of their
    /// key, anywhere later in the log, so from then on nothing proves that a record's key did
    /// not hold another value just before it, and only the head is exact.
    superseded: bool,
    /// History at or before this event time may be incomplete in Kafka (see
    /// [`TopicProgress::incomplete_through`]).
    lost_through: Option<i64>,
    /// See [`TopicProgress::max_lateness`].
    lateness: i64,
    done: bool,
    index: TimeIndex,
    events: EventTimeIndex,
}

impl Part {
    fn lose_through(&mut self, t: i64) {
        self.lost_through = Some(self.lost_through.map_or(t, |l| l.max(t)));
    }
}

/// Sparse offset → latest event time so far, so that when retention deletes records we have
/// already read, the latest event time among them is known (from above, to within a stride of
/// records) without keeping them.
#[derive(Debug, Default)]
struct EventTimeIndex {
    /// `(offset, max event time of all records up to and including it)`, one per stride.
    entries: Vec<(i64, i64)>,
    /// The same, for every record since the last entry: the log start usually lands among the
    /// newest records of a partition read to its head, where a stride would be the whole tail.
    recent: Vec<(i64, i64)>,
    max: Option<i64>,
}

impl EventTimeIndex {
    fn observe(&mut self, offset: i64, event_time: i64) {
        let max = self.max.map_or(event_time, |m| m.max(event_time));
        self.max = Some(max);
        if self
            .entries
            .last()
            .is_none_or(|&(o, _)| offset >= o + EVENT_INDEX_STRIDE)
        {
            self.entries.push((offset, max));
            self.recent.clear();
        } else {
            self.recent.push((offset, max));
        }
    }

    /// An upper bound of the event times of the records before `offset`: the running maximum
    /// at the first entry at or past `offset - 1`.
    fn max_before(&self, offset: i64) -> Option<i64> {
        // Nothing read lies before the first record observed.
        if self.entries.first().is_none_or(|&(o, _)| offset <= o) {
            return None;
        }
        let i = self.entries.partition_point(|&(o, _)| o < offset - 1);
        if let Some(&(_, m)) = self.entries.get(i) {
            return Some(m);
        }
        let i = self.recent.partition_point(|&(o, _)| o < offset - 1);
        self.recent.get(i).map(|&(_, m)| m).or(self.max)
    }
}

/// Records between event-time index entries.
const EVENT_INDEX_STRIDE: i64 = 64;

/// Records read per second over the last [`RATE_SPAN_S`], updated every [`RATE_WINDOW_S`].
/// A fleet whose devices report once a second arrives in bursts: a rate over a quarter of a
/// second alone read "0 msg/s" between them most of the time.
#[derive(Default)]
struct RateMeter {
    window_start: Option<Instant>,
    count: u64,
    /// The last closed windows, oldest first: (start, records).
    closed: std::collections::VecDeque<(Instant, u64)>,
    rate: f64,
}

/// How often the rate is updated (as often as progress is reported, so a catch-up shorter
/// than a second still shows one).
const RATE_WINDOW_S: f64 = 0.25;
/// The span the rate is averaged over once the read has run that long.
const RATE_SPAN_S: f64 = 2.0;

impl RateMeter {
    fn add(&mut self, n: u64) {
        self.add_at(Instant::now(), n);
    }

    fn add_at(&mut self, now: Instant, n: u64) {
        let start = *self.window_start.get_or_insert(now);
        self.count += n;
        if now.duration_since(start).as_secs_f64() < RATE_WINDOW_S {
            return;
        }
        self.closed.push_back((start, self.count));
        // The window just closed always stays: after a stall longer than the span (a full
        // channel) it alone says what the rate was, instead of the one before the stall.
        while self.closed.len() > 1
            && self
                .closed
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t).as_secs_f64() > RATE_SPAN_S)
        {
            self.closed.pop_front();
        }
        if let Some((oldest, _)) = self.closed.front() {
            let span = now.duration_since(*oldest).as_secs_f64();
            let total: u64 = self.closed.iter().map(|(_, c)| c).sum();
            self.rate = total as f64 / span;
        }
        self.count = 0;
        self.window_start = Some(now);
    }
}

struct Worker {
    spec: IngestSpec,
    consumer: BaseConsumer<IngestContext>,
    errors: Arc<Mutex<Option<(Instant, String)>>>,
    rejected: Arc<Mutex<Option<String>>>,
    view: Arc<Mutex<Option<ClusterView>>>,
    tx: Sender<IngestEvent>,
    /// Where applied batches come back to be dropped on this thread (see [`Batch`]).
    returned_tx: Sender<Vec<Rec>>,
    returned: Receiver<Vec<Rec>>,
    waker: Waker,
    stop: Arc<AtomicBool>,
    /// Set by the client context when a fetch response exceeded `receive.message.max.bytes`.
    response_too_large: Arc<AtomicUsize>,
    /// `receive.message.max.bytes` as raised by us, if it was.
    receive_max: Option<usize>,
    parts: Vec<Part>,
    consumed: u64,
    rate: RateMeter,
    indexes: Arc<Mutex<Arc<TimeIndexes>>>,
    /// Decodes records in the Confluent wire format, with the registry's schemas cached by id.
    /// In a cell: it is used while a polled record borrows the consumer.
    schemas: std::cell::RefCell<schemas::Decoder>,
    /// Which schema each framed record was written with, for provenance.
    provenance: Arc<Mutex<ClusterIndex>>,
}

enum Flow {
    Continue,
    Stop,
}

impl Worker {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The status for a failed connection: a refusal by the cluster when librdkafka reported
    /// one since the last success, else a disconnect with `reason`.
    fn down(&self, reason: String, retry_in_s: u64) -> Conn {
        // librdkafka hands its errors to the client context only from `poll`; before
        // partitions are assigned nothing else polls, so a refused handshake would go unheard.
        // No partition is assigned here, so no record can be taken by this poll.
        // One poll dispatches at most one error, and logs and statistics share the queue
        // (thousands of events at `debug=all`), so it polls for a moment or until a refusal.
        if self.parts.is_empty() {
            let until = Instant::now() + Duration::from_millis(250);
            while Instant::now() < until && self.rejected.lock().is_ok_and(|r| r.is_none()) {
                let _ = self.consumer.poll(Duration::from_millis(5));
            }
        }
        match self.rejected.lock().ok().and_then(|r| r.clone()) {
            Some(reason) => Conn::Rejected { reason, retry_in_s },
            None => Conn::Disconnected { reason, retry_in_s },
        }
    }

    /// Sends an event, blocking while the UI is behind, but never past a stop request.
    fn send(&self, mut ev: IngestEvent) -> Flow {
        loop {
            match self.tx.send_timeout(ev, Duration::from_millis(100)) {
                Ok(()) => {
                    (self.waker)();
                    return Flow::Continue;
                }
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.stopped() {
                        return Flow::Stop;
                    }
                    ev = back;
                }
                Err(SendTimeoutError::Disconnected(_)) => return Flow::Stop,
            }
        }
    }

    /// Sleeps in small steps so a stop request is honoured quickly.
    fn sleep(&self, d: Duration) -> Flow {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stopped() {
                return Flow::Stop;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Flow::Continue
    }

    fn run(mut self) {
        let _ = self.send(IngestEvent::Status(Conn::Connecting));
        let mut backoff = 1u64;
        let mut waiting_for_topics;
        // Connect and assign, retrying with backoff until it works.
        loop {
            if self.stopped() {
                return;
            }
            match self.discover() {
                Ok(missing) => {
                    waiting_for_topics = !missing.is_empty();
                    let status = if missing.is_empty() {
                        Conn::Connected
                    } else {
                        Conn::WaitingForTopics(missing)
                    };
                    if let Flow::Stop = self.send(IngestEvent::Status(status)) {
                        return;
                    }
                    if !self.parts.is_empty() {
                        break;
                    }
                    if let Flow::Stop = self.sleep(Duration::from_secs(2)) {
                        return;
                    }
                }
                Err(e) => {
                    let ev = IngestEvent::Status(self.down(e.to_string(), backoff));
                    if let Flow::Stop = self.send(ev) {
                        return;
                    }
                    if let Flow::Stop = self.sleep(Duration::from_secs(backoff)) {
                        return;
                    }
                    backoff = (backoff * 2).min(30);
                }
            }
        }
        self.consume(waiting_for_topics);
    }

    /// Reads metadata and watermarks and (re)assigns partitions. Returns missing topics.
    fn discover(&mut self) -> Result<Vec<String>, DiscoverError> {
        let md = self
            .consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .map_err(|source| DiscoverError::Metadata {
                brokers: self.spec.client.brokers.clone(),
                source,
            })?;
        let mut missing = Vec::new();
        let mut added = false;
        for (role, topic) in self.spec.topics.clone() {
            let Some(t) = md
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            else {
                missing.push(topic);
                continue;
            };
            let name: Arc<str> = Arc::from(topic.as_str());
            for p in t.partitions() {
                let id = p.id();
                if self
                    .parts
                    .iter()
                    .any(|x| *x.topic == *topic && x.partition == id)
                {
                    continue;
                }
                let (low, high) = self
                    .consumer
                    .fetch_watermarks(&topic, id, Duration::from_secs(5))
                    .map_err(|source| DiscoverError::Watermarks {
                        topic: topic.clone(),
                        partition: id,
                        source,
                    })?;
                let start = match self.spec.start {
                    // The assets topic is small and defines the tree: always read it whole.
                    StartAt::Since(t) if role != Role::Assets => {
                        offset_for_time(
                            &self.spec.client,
                            &topic,
                            id,
                            t,
                            (low, high),
                            self.spec
                                .index
                                .as_ref()
                                .and_then(|ix| ix.get(&(topic.clone(), id))),
                            Duration::from_secs(5),
                        )
                        .map_err(|source| DiscoverError::Seek {
                            topic: topic.clone(),
                            partition: id,
                            source,
                        })?
                        .0
                    }
                    _ => low,
                };
                self.parts.push(Part {
                    role,
                    topic: name.clone(),
                    partition: id,
                    next: start,
                    start,
                    target: high,
                    high,
                    skipped: 0,
                    compacted: 0,
                    unjudged: Vec::new(),
                    low,
                    // Reading from the log start of a log that once began earlier: whatever
                    // was before it is gone.
                    gapped: start == low && low > 0,
                    after_gap: None,
                    superseded: false,
                    lost_through: None,
                    lateness: 0,
                    done: self.spec.stop_at.is_some() && start >= high,
                    index: TimeIndex::default(),
                    events: EventTimeIndex::default(),
                });
                added = true;
            }
        }
        if added {
            self.assign().map_err(DiscoverError::Assign)?;
        }
        Ok(missing)
    }

    fn assign(&self) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for p in self.parts.iter().filter(|p| !p.done) {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next))?;
        }
        self.consumer.assign(&tpl)
    }

    /// The main loop; `waiting_for_topics` says whether some topics were missing at start.
    fn consume(&mut self, waiting_for_topics: bool) {
        let mut waiting_for_topics = waiting_for_topics;
        // Asset ids, property names and states, shared by every record of this session.
        let mut names = Interner::new();
        let mut recs = Vec::with_capacity(256);
        let mut bad = Vec::new();
        let mut last_progress = Instant::now();
        let mut last_refresh = Instant::now();
        let mut connected = true;
        // Per topic, partition id -> index in `parts`; a few string compares per message
        // instead of hashing or allocating.
        let mut lookup: Vec<(Arc<str>, Vec<Option<usize>>)> = Vec::new();
        let mut lookup_parts = 0;
        let mut caught_up_sent = false;
        let mut last_discover = Instant::now();
        // Batches waiting in the channel plus the one being built and the one being applied
        // share half the in-flight allowance.
        let batch_bytes_max = self.spec.in_flight_bytes / 2 / (CHANNEL_CAPACITY + 2);
        loop {
            if self.stopped() {
                return;
            }
            if let Flow::Stop = self.fit_oversized_responses() {
                return;
            }
            let batch_start = Instant::now();
            let mut batch_bytes = 0;
            let mut polled = 0u32;
            // Gather a batch: block briefly for the first record, then take what is queued.
            while recs.len() + bad.len() < BATCH_MAX
                && batch_bytes < batch_bytes_max
                && (!polled.is_multiple_of(LINGER_CHECK_EVERY)
                    || batch_start.elapsed() < BATCH_LINGER)
            {
                polled = polled.wrapping_add(1);
                let timeout = if recs.is_empty() && bad.is_empty() {
                    Duration::from_millis(100)
                } else {
                    Duration::ZERO
                };
                let Some(res) = self.consumer.poll(timeout) else {
                    break;
                };
                match res {
                    Ok(m) => {
                        if lookup_parts != self.parts.len() {
                            lookup = build_lookup(&self.parts);
                            lookup_parts = self.parts.len();
                        }
                        let Some(pi) =
                            lookup
                                .iter()
                                .find(|(t, _)| **t == *m.topic())
                                .and_then(|(_, v)| {
                                    v.get(usize::try_from(m.partition()).ok()?)
                                        .copied()
                                        .flatten()
                                })
                        else {
                            continue;
                        };
                        let part = &mut self.parts[pi];
                        if part.done {
                            continue;
                        }
                        if m.offset() > part.next {
                            if m.offset() <= part.low {
                                // Retention deleted records we had not read yet: the next
                                // record bounds them.
                                part.skipped += m.offset() - part.next;
                                part.gapped = true;
                            } else {
                                // Retention (the statistics may not show the new log start
                                // yet) or compaction: counted once they do. Until then it
                                // may be compaction, and a bounded read may end first, so
                                // it is taken as compaction now (see `superseded`).
                                part.unjudged.push((part.next, m.offset(), Instant::now()));
                                part.superseded = true;
                            }
                        }
                        part.next = m.offset() + 1;
                        batch_bytes += decoded_size(m.payload_len());
                        let kafka_ts = m.timestamp().to_millis().unwrap_or(0);
                        part.index.observe(m.offset(), kafka_ts);
                        if self.spec.stop_at.is_some() && part.next >= part.target {
                            part.done = true;
                        }
                        let origin = Origin {
                            role: part.role,
                            partition: m.partition(),
                            offset: m.offset(),
                            kafka_ts,
                        };
                        // One byte tells a record in the Confluent wire format from JSON; the
                        // JSON path pays nothing else.
                        let decoded = if m.payload().is_some_and(schemas::wire::is_framed) {
                            let topic = part.topic.clone();
                            self.decode_framed(&mut names, origin, &topic, m.key(), m.payload())
                        } else {
                            decode_with(
                                &mut names,
                                &self.spec.mapping,
                                origin,
                                m.key(),
                                m.payload(),
                            )
                            .map_err(RecordError::from)
                        };
                        let part = &mut self.parts[pi];
                        match decoded {
                            Ok(body) => {
                                let et = body.event_time();
                                if let Some(newest) = part.events.max {
                                    part.lateness = part.lateness.max(newest - et);
                                }
                                part.events.observe(m.offset(), et);
                                if part.gapped {
                                    part.gapped = false;
                                    part.after_gap = Some(part.after_gap.map_or(et, |g| g.max(et)));
                                }
                                if part.superseded {
                                    part.lose_through(et.saturating_sub(1));
                                }
                                if let Some(g) = part.after_gap {
                                    // What the missing records said is unknown up to the
                                    // latest time they can have had (see `after_gap`).
                                    part.lose_through(g.saturating_add(part.lateness));
                                }
                                // A bounded read stops a partition at its event-time watermark:
                                // once a record is later than T by more than the allowed
                                // lateness, nothing at or before T is expected after it. The
                                // assets topic defines the tree and is always read whole.
                                if let Some((t, late)) = self.spec.stop_at
                                    && part.role != Role::Assets
                                    && et > t.saturating_add(late)
                                {
                                    part.done = true;
                                }
                                recs.push(Rec { origin, body });
                            }
                            Err(e) => bad.push(BadRecord {
                                topic: part.topic.clone(),
                                partition: m.partition(),
                                offset: m.offset(),
                                reason: e.to_string(),
                            }),
                        }
                        self.consumed += 1;
                    }
                    Err(e) => {
                        if let Some(reason) = self.partition_error(&e) {
                            bad.push(reason);
                        } else {
                            tracing::warn!("kafka consume error: {e}");
                        }
                    }
                }
            }
            let n = (recs.len() + bad.len()) as u64;
            self.rate.add(n);
            if n > 0 {
                // The next batch is sized like this one: a fixed BATCH_MAX capacity would hold
                // megabytes of empty slots per queued batch when records are large and the
                // byte cap ends batches early.
                let next = self.next_batch(&mut names, recs.len().clamp(16, BATCH_MAX));
                let ev = IngestEvent::Batch {
                    recs: Batch {
                        recs: std::mem::replace(&mut recs, next),
                        home: Some(self.returned_tx.clone()),
                    },
                    bad: std::mem::take(&mut bad),
                };
                if let Flow::Stop = self.send(ev) {
                    return;
                }
            }
            if self.spec.stop_at.is_some() {
                let done_now: Vec<usize> = (0..self.parts.len())
                    .filter(|&i| self.parts[i].done)
                    .collect();
                if done_now.len() == self.parts.len() {
                    let _ = self.send(IngestEvent::Progress(self.progress()));
                    let _ = self.send(IngestEvent::Finished);
                    return;
                }
            }
            if !connected && n > 0 {
                // Records flow again: the brokers are back, whatever the last check said.
                connected = true;
                if let Flow::Stop = self.send(IngestEvent::Status(Conn::Connected)) {
                    return;
                }
            }
            if last_refresh.elapsed() >= Duration::from_secs(2) {
                let was = connected;
                connected = self.refresh_heads();
                if !connected {
                    let reason = self
                        .errors
                        .lock()
                        .ok()
                        .and_then(|e| e.as_ref().map(|(_, r)| r.clone()))
                        .unwrap_or_else(|| "brokers are not answering".into());
                    let ev = self.down(reason, 2);
                    if let Flow::Stop = self.send(IngestEvent::Status(ev)) {
                        return;
                    }
                } else if !was
                    || waiting_for_topics
                    || last_discover.elapsed() >= Duration::from_secs(10)
                {
                    // New topics and partitions are looked for every 10 s, or every 2 s while
                    // some are missing; the heads come from statistics, not from requests.
                    last_discover = Instant::now();
                    let parts_before = self.parts.len();
                    match self.discover() {
                        Ok(missing) => {
                            let status = if missing.is_empty() {
                                Conn::Connected
                            } else {
                                Conn::WaitingForTopics(missing)
                            };
                            let now_waiting = matches!(status, Conn::WaitingForTopics(_));
                            let changed = !was
                                || self.parts.len() != parts_before
                                || now_waiting != waiting_for_topics;
                            waiting_for_topics = now_waiting;
                            if changed && let Flow::Stop = self.send(IngestEvent::Status(status)) {
                                return;
                            }
                        }
                        Err(e) => {
                            connected = false;
                            let ev = self.down(e.to_string(), 2);
                            if let Flow::Stop = self.send(IngestEvent::Status(ev)) {
                                return;
                            }
                        }
                    }
                }
                self.publish_indexes();
                // Measured from the end of the check, so slow brokers never make checks run
                // back to back.
                last_refresh = Instant::now();
            }
            let every = if caught_up_sent {
                PROGRESS_EVERY_LIVE
            } else {
                PROGRESS_EVERY_CATCHING_UP
            };
            if last_progress.elapsed() >= every || (!caught_up_sent && self.caught_up()) {
                last_progress = Instant::now();
                caught_up_sent |= self.caught_up();
                if let Flow::Stop = self.send(IngestEvent::Progress(self.progress())) {
                    return;
                }
            }
        }
    }

    /// An empty batch with room for `want` records. Takes back the batches applied since the
    /// last call (their records are dropped here, see [`Batch`]) and reuses one of them when
    /// its room is close to `want`: far more would hold megabytes of empty slots per queued
    /// batch when records are large and the byte cap ends batches early.
    fn next_batch(&self, names: &mut Interner, want: usize) -> Vec<Rec> {
        let mut next = None;
        while let Ok(mut back) = self.returned.try_recv() {
            names.reclaim(&mut back);
            if next.is_none() && (want..=want * 4).contains(&back.capacity()) {
                next = Some(back);
            }
        }
        next.unwrap_or_else(|| Vec::with_capacity(want))
    }

    /// When a fetch response did not fit `receive.message.max.bytes`, recreates the consumer
    /// with room for it and resumes every partition at its next offset. The records in it are
    /// then judged by the mapping's `max_value_bytes` like any other, so an oversized value is
    /// listed as a bad record with its exact place instead of stalling its broker's partitions.
    fn fit_oversized_responses(&mut self) -> Flow {
        let needed = self.response_too_large.swap(0, Ordering::Relaxed);
        if needed == 0 {
            return Flow::Continue;
        }
        let current = self.receive_max.unwrap_or_else(|| {
            self.spec
                .client
                .consumer_config("viewer")
                .get("receive.message.max.bytes")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        });
        if needed <= current || current >= RECEIVE_MAX_CAP {
            return Flow::Continue;
        }
        let raised = needed
            .saturating_add(needed / 4)
            .clamp(current, RECEIVE_MAX_CAP);
        let ctx = IngestContext {
            last_error: self.errors.clone(),
            rejected: self.rejected.clone(),
            view: self.view.clone(),
            response_too_large: self.response_too_large.clone(),
        };
        let note = match create_consumer(
            &self.spec.client,
            ctx,
            self.spec.in_flight_bytes,
            Some(raised),
        ) {
            Ok(consumer) => {
                self.consumer = consumer;
                self.receive_max = Some(raised);
                match self.assign() {
                    Ok(()) => format!(
                        "A fetch response of {needed} bytes exceeded receive.message.max.bytes \
                         ({current}); raised it to {raised} for this session so no partition \
                         stalls. Records above the value limit are listed as bad."
                    ),
                    Err(e) => {
                        format!("cannot re-assign partitions after raising fetch limits: {e}")
                    }
                }
            }
            Err(e) => format!("cannot raise receive.message.max.bytes to {raised}: {e}"),
        };
        tracing::warn!("{note}");
        self.send(IngestEvent::Notice(note))
    }

    /// Turns a per-message error into a bad-record report where it names one.
    fn partition_error(&self, e: &KafkaError) -> Option<BadRecord> {
        match e {
            KafkaError::MessageConsumption(RDKafkaErrorCode::MessageSizeTooLarge) => {
                Some(BadRecord {
                    topic: Arc::from("?"),
                    partition: -1,
                    offset: -1,
                    reason:
                        "record larger than the consumer's fetch limit (fetch.message.max.bytes)"
                            .into(),
                })
            }
            _ => None,
        }
    }

    /// Updates the head of every partition from the latest statistics, without a request.
    /// False when no broker is up.
    fn refresh_heads(&mut self) -> bool {
        let Ok(guard) = self.view.lock() else {
            return true;
        };
        // No statistics yet (the first second): nothing says we are disconnected.
        let Some(view) = guard.as_ref() else {
            return true;
        };
        for p in &mut self.parts {
            if let Some(&(low, high)) = view.heads.get(&(p.topic.to_string(), p.partition)) {
                p.high = p.high.max(high);
                // A gap is retention's when the log now starts at or past its end, else it is
                // inside the log: compaction removed superseded records (or they were
                // transaction markers). Statistics refresh every second; a gap seen in the
                // last 1.5 s waits for the next look.
                let low_now = low.max(p.low);
                p.unjudged.retain(|&(from, to, seen)| {
                    if low_now >= to {
                        p.skipped += to - from;
                    } else if seen.elapsed() >= Duration::from_millis(1_500) {
                        p.compacted += to - from;
                    } else {
                        return true;
                    }
                    false
                });
                if low > p.low {
                    if let Some(t) = p.events.max_before(low.min(p.next)) {
                        // Retention deleted records we had read: what they said is no
                        // longer in Kafka.
                        p.lose_through(t);
                    }
                    p.low = low;
                }
                if low >= 0 && p.next < low {
                    // We will be moved to the new log start; count what retention removed.
                    p.skipped += low - p.next;
                    p.next = low;
                    p.gapped = true;
                }
            }
        }
        let up = view.brokers_up > 0;
        drop(guard);
        if up {
            if let Ok(mut e) = self.errors.lock() {
                *e = None;
            }
            if let Ok(mut r) = self.rejected.lock() {
                *r = None;
            }
        }
        up
    }

    /// Shares a copy of the time indexes (sparse: one entry per 512 records).
    fn publish_indexes(&self) {
        let copy: TimeIndexes = self
            .parts
            .iter()
            .map(|p| ((p.topic.to_string(), p.partition), p.index.clone()))
            .collect();
        if let Ok(mut i) = self.indexes.lock() {
            *i = Arc::new(copy);
        }
    }

    fn caught_up(&self) -> bool {
        self.parts.iter().all(|p| p.done || p.next >= p.target)
    }

    /// Decodes a record in the Confluent wire format with its own schema id. While the
    /// registry is unreachable the record waits (the banner says so) with backoff for up to
    /// the configured retry window, then becomes a bad record; the ingest never stalls for
    /// longer, and records whose schema is cached are not affected at all.
    fn decode_framed(
        &self,
        names: &mut Interner,
        origin: Origin,
        topic: &Arc<str>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Decoded, RecordError> {
        let value = value.unwrap_or_default();
        let limit = self.spec.mapping.limits.max_value_bytes;
        if value.len() > limit {
            return Err(DecodeError::TooLarge {
                bytes: value.len(),
                limit,
            }
            .into());
        }
        loop {
            let decoded = self.schemas.borrow_mut().decode(value);
            let err = match decoded {
                Ok((json, tag)) => {
                    if let Ok(mut index) = self.provenance.lock() {
                        index.note(topic, origin.partition, origin.offset, &tag);
                    }
                    return Ok(decode_value_with(
                        names,
                        &self.spec.mapping,
                        origin,
                        key,
                        json,
                    )?);
                }
                Err(e) => e,
            };
            let wait = match err {
                SchemaError::Unreachable(_) => self.schemas.borrow().retry_in(),
                _ => None,
            };
            let Some(wait) = wait else {
                return Err(err.into());
            };
            if let Flow::Stop = self.send(IngestEvent::Progress(self.progress())) {
                return Err(err.into());
            }
            let until = Instant::now() + wait.max(Duration::from_millis(10));
            while Instant::now() < until {
                if self.stopped() {
                    return Err(err.into());
                }
                std::thread::sleep(
                    until
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(50)),
                );
            }
        }
    }

    fn progress(&self) -> Progress {
        let (mut done, mut lag_total) = (0i64, 0i64);
        let mut topics: Vec<TopicProgress> = Vec::new();
        for p in &self.parts {
            done += (p.next - p.start).max(0);
            let lag = if p.done {
                0
            } else {
                (p.high.max(p.target) - p.next).max(0)
            };
            lag_total += lag;
            match topics.iter_mut().find(|t| t.topic == *p.topic) {
                Some(t) => {
                    t.partitions += 1;
                    t.lag += lag;
                    t.skipped += p.skipped;
                    t.compacted += p.compacted;
                    t.incomplete_through = t.incomplete_through.max(p.lost_through);
                    t.max_lateness = t.max_lateness.max(p.lateness);
                }
                None => topics.push(TopicProgress {
                    role: p.role,
                    topic: p.topic.to_string(),
                    partitions: 1,
                    lag,
                    skipped: p.skipped,
                    compacted: p.compacted,
                    incomplete_through: p.lost_through,
                    max_lateness: p.lateness,
                }),
            }
        }
        let reached = self.caught_up();
        Progress {
            reached_start_head: reached,
            caught_up: reached && lag_total < CAUGHT_UP_LAG,
            fraction: if done + lag_total == 0 {
                1.0
            } else {
                (done as f64 / (done + lag_total) as f64) as f32
            },
            msgs_per_s: self.rate.rate,
            consumed: self.consumed,
            topics,
            schema_registry: self.schemas.borrow().problem(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_of_a_fleet_reporting_once_a_second_never_reads_zero() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        let mut rates = Vec::new();
        // 100 records at the start of every second, empty polls every 10 ms between.
        for tick in 0..1_000u64 {
            let n = if tick % 100 == 0 { 100 } else { 0 };
            m.add_at(t0 + Duration::from_millis(tick * 10), n);
            if tick >= 300 {
                rates.push(m.rate);
            }
        }
        let (lo, hi) = rates
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        // Over 2 s, two or three bursts: 100 msg/s give or take a burst.
        assert!(lo >= 40.0 && hi <= 160.0, "rate swung {lo}..{hi}");
    }

    #[test]
    fn the_rate_follows_a_steady_read_and_its_end() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        for tick in 0..300u64 {
            m.add_at(t0 + Duration::from_millis(tick * 10), 50);
        }
        // 50 records every 10 ms.
        assert!((m.rate - 5_000.0).abs() < 300.0, "{}", m.rate);
        for tick in 300..600u64 {
            m.add_at(t0 + Duration::from_millis(tick * 10), 0);
        }
        assert!(
            m.rate < 1.0,
            "still {} msg/s 3 s after the read stopped",
            m.rate
        );
    }

    #[test]
    fn a_stall_longer_than_the_span_gives_the_rate_over_the_stall() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        for tick in 0..300u64 {
            m.add_at(t0 + Duration::from_millis(tick * 10), 50);
        }
        // No poll for 5 s (the ingest waited on a full channel), then 100 records.
        m.add_at(t0 + Duration::from_millis(3_000), 0);
        m.add_at(t0 + Duration::from_millis(8_000), 100);
        assert!(m.rate < 100.0, "{} msg/s after a 5 s stall", m.rate);
    }

    #[test]
    fn event_time_bound_covers_every_deleted_record_and_stays_within_a_stride() {
        let mut rng = fastrand::Rng::with_seed(5);
        let times: Vec<i64> = (0..1_000).map(|i| i * 100 - rng.i64(0..5_000)).collect();
        let mut ix = EventTimeIndex::default();
        for (o, &t) in times.iter().enumerate() {
            ix.observe(o as i64, t);
        }
        for low in 1..=1_000usize {
            let bound = ix.max_before(low as i64).unwrap();
            let exact = *times[..low].iter().max().unwrap();
            assert!(bound >= exact, "log start {low}: {bound} < {exact}");
            let slack = *times[..(low + EVENT_INDEX_STRIDE as usize).min(1_000)]
                .iter()
                .max()
                .unwrap();
            assert!(bound <= slack, "log start {low}: {bound} > {slack}");
        }
    }

    #[test]
    fn oversized_response_size_is_read_from_librdkafkas_message() {
        let reason = "127.0.0.1:42515/1: Receive failed: Invalid response size 300640 \
                      (0..66048): increase receive.message.max.bytes (after 2ms in state UP)";
        assert_eq!(oversized_response(reason), Some(300_640));
        assert_eq!(oversized_response("Connection refused"), None);
        assert_eq!(oversized_response("Invalid response size x"), None);
    }
}

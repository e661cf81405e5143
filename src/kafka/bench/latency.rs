//! The live latency benchmark: the ingest thread follows the head while a producer writes at a
//! fixed rate; per record, the time from its Kafka (create) timestamp to when the batch
//! holding it was applied to the store. Any [`TelemetrySource`] can be produced, so the fleet
//! benchmark measures its own records at its own rate with the same code.
//!
//! Each run writes one record into every partition and waits for it before the timed run: on
//! a real broker the first writes to a fresh topic took a second or more (a 10k msg/s run
//! measured p50 3.2 s right after the broker started, 15 ms once primed), which a fleet's
//! long-lived topic never pays.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::cluster::{Target, create_topic, delete_topic, send_retrying};
use super::{BenchError, BenchOptions, now_ms_f};
use crate::config::{ClientProps, Config};
use crate::headless::{HeadlessError, spec_for};
use crate::kafka::client::ClientSettings;
use crate::kafka::ingest::{Ingest, IngestEvent, StartAt};
use crate::testkit::{Pcts, T0, TelemetrySource, Workload};
use crate::twin::Store;

/// Live latency with the ingest workload's records (3 numbers and a state each) at
/// `opts.rate` records/s for `opts.seconds`, round robin over `opts.assets`.
pub(super) fn latency(opts: &BenchOptions) -> Result<(), BenchError> {
    let target = live_target(opts.brokers.as_deref(), opts.partitions)?;
    let w = Workload {
        records: (opts.rate * opts.seconds) as usize,
        assets: opts.assets,
        start: T0,
        span_ms: 1,
        state: true,
    };
    let res = live(&target, opts.partitions, opts.rate, opts.seconds, w);
    drop_live_target(&target);
    let live = res?;
    println!(
        "\n== live latency: {} records/s for {} s into {} partitions; produced {} in {:.1} s \
         ({:.0}/s), applied {}",
        opts.rate,
        opts.seconds,
        opts.partitions,
        live.sent,
        live.produce_time.as_secs_f64(),
        live.sent as f64 / live.produce_time.as_secs_f64(),
        live.applied
    );
    println!(
        "  cluster: {}; topic {}",
        target.describe(),
        target.topics.telemetry
    );
    println!(
        "  produce -> applied (after 1 s warm-up): {}  (goal p99 <= 100 ms)",
        live.latency
    );
    Ok(())
}

/// Where a live run produces: a fresh MockCluster, or on a real cluster at `brokers` a fresh
/// topic (so the ingest reaches the head at once), which [`drop_live_target`] deletes.
pub(super) fn live_target(brokers: Option<&str>, partitions: i32) -> Result<Target, BenchError> {
    match brokers {
        None => Target::mock(partitions),
        Some(brokers) => {
            let name = format!("twinscope-bench.live-{}", now_ms_f() as u64);
            create_topic(brokers, &name, partitions)?;
            Target::real(brokers, &name)
        }
    }
}

/// Deletes a real cluster's live topic (the mock cluster goes away with the target).
pub(super) fn drop_live_target(target: &Target) {
    if target.demo.is_none()
        && let Err(e) = delete_topic(&target.bootstrap, &target.topics.telemetry)
    {
        println!("  could not delete {}: {e}", target.topics.telemetry);
    }
}

/// What a live run measured.
pub(super) struct Live {
    /// Records produced, and how long producing them took.
    pub(super) sent: u64,
    pub(super) produce_time: Duration,
    /// Records applied to the store.
    pub(super) applied: u64,
    /// Produce → applied, ms, of the records produced after the first second.
    pub(super) latency: Pcts,
}

/// A producer thread writing a [`TelemetrySource`]'s records at a fixed rate, each stamped
/// with the wall clock (its Kafka time and, for sources that carry one, its event time), so a
/// consumer can tell how long each took to reach it.
pub(super) struct Producing {
    /// Records sent so far.
    sent: Arc<AtomicU64>,
    /// Set once every record is sent and flushed.
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Duration>,
}

impl Producing {
    /// One record into each of `partitions` (`src`'s first `partitions` records, one a partition,
    /// sent before the timed run): a real broker's first writes to a fresh topic were slow
    /// for a second or more (partition leaders being learnt, logs opened), which is not what
    /// a fleet's long-lived topic does; [`Self::start`] is called once these were read.
    pub(super) fn prime<S: TelemetrySource>(
        target: &Target,
        partitions: i32,
        src: &S,
    ) -> Result<u64, BenchError> {
        let producer: BaseProducer = ClientSettings::plain(&target.bootstrap)
            .producer_config("bench-live-prime")
            .create()?;
        for p in 0..partitions.max(1) {
            let i = usize::try_from(p).unwrap_or(0);
            let (key, payload) = (src.key(i), src.value_at(i, crate::timeline::now_ms()));
            let rec = BaseRecord::to(&target.topics.telemetry)
                .key(&key)
                .payload(&payload)
                .partition(p);
            send_retrying(&producer, rec)?;
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(u64::try_from(partitions.max(1)).unwrap_or(1))
    }

    /// Starts producing `src`'s records `0..rate·seconds` at `rate` records/s into
    /// `target`'s telemetry topic of `partitions` partitions.
    pub(super) fn start<S: TelemetrySource + Send + 'static>(
        target: &Target,
        partitions: i32,
        rate: u64,
        seconds: u64,
        src: S,
    ) -> Result<Self, BenchError> {
        let total = rate * seconds;
        let sent = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let producer: BaseProducer = ClientSettings::plain(&target.bootstrap)
            .producer_config("bench-live")
            .create()?;
        let (s2, d2, topic) = (sent.clone(), done.clone(), target.topics.telemetry.clone());
        let thread = std::thread::Builder::new()
            .name("bench-live-producer".into())
            .spawn(move || {
                let start = Instant::now();
                let mut i = 0u64;
                // A send that fails for good (the queue being full is retried) ends the run
                // with what was sent: retrying it every millisecond kept the thread, and the
                // `join` waiting for it, alive for ever.
                'produce: while i < total {
                    let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
                    while i < due {
                        let ts = crate::timeline::now_ms();
                        let key = src.key(i as usize);
                        let payload = src.value_at(i as usize, ts);
                        let rec = BaseRecord::to(&topic)
                            .key(&key)
                            .payload(&payload)
                            .timestamp(ts)
                            .partition(src.partition_of(i as usize, partitions));
                        if let Err(e) = send_retrying(&producer, rec) {
                            tracing::warn!("live producer: {e}");
                            s2.store(i, Ordering::Relaxed);
                            break 'produce;
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
        Ok(Self { sent, done, thread })
    }

    /// Records sent so far.
    pub(super) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Whether every record was sent and flushed.
    pub(super) fn done(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits for the thread; how long producing took.
    pub(super) fn join(self) -> Result<Duration, BenchError> {
        self.thread
            .join()
            .map_err(|_| BenchError::Failed("producer thread panicked".into()))
    }
}

/// How long the pipeline may take to deliver the priming records.
pub(super) const PRIME_LIMIT: Duration = Duration::from_secs(30);

/// Produces `src`'s records `0..rate·seconds` (stamped with the wall clock) at `rate`
/// records/s into `target`'s telemetry topic of `partitions` partitions, while the ingest
/// thread follows the head and the batches are applied here, as the UI thread would.
pub(super) fn live<S: TelemetrySource + Send + 'static>(
    target: &Target,
    partitions: i32,
    rate: u64,
    seconds: u64,
    src: S,
) -> Result<Live, BenchError> {
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
            Ok(IngestEvent::Batch { mut recs, bad }) => store.apply_lent(&mut recs, bad),
            Err(true) => return Err(HeadlessError::Ended.into()),
            _ => {}
        }
    }
    let primed = store.stats().records + Producing::prime(target, partitions, &src)?;
    let ready = Instant::now();
    while store.stats().records < primed {
        if ready.elapsed() > PRIME_LIMIT {
            return Err(BenchError::Failed(
                "the priming records did not arrive".into(),
            ));
        }
        match ingest.recv_timeout(Duration::from_millis(100)) {
            Ok(IngestEvent::Batch { mut recs, bad }) => store.apply_lent(&mut recs, bad),
            Err(true) => return Err(HeadlessError::Ended.into()),
            _ => {}
        }
    }
    let total = rate * seconds;
    let producing = Producing::start(target, partitions, rate, seconds, src)?;
    let base = store.stats().records;
    let started = Instant::now();
    let warmup_until = crate::timeline::now_ms() + 1000;
    let mut lat = Vec::with_capacity(total as usize);
    let limit = Duration::from_secs(seconds + 30);
    while started.elapsed() < limit {
        if producing.done() && store.stats().records - base >= producing.sent() {
            break;
        }
        match ingest.recv_timeout(Duration::from_millis(100)) {
            Ok(IngestEvent::Batch { mut recs, bad }) => {
                let stamps: Vec<i64> = recs.iter().map(|r| r.origin.kafka_ts).collect();
                store.apply_lent(&mut recs, bad);
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
    let sent = producing.sent();
    let produce_time = producing.join()?;
    drop(ingest);
    Ok(Live {
        sent,
        produce_time,
        applied: store.stats().records - base,
        latency: Pcts::of(lat),
    })
}

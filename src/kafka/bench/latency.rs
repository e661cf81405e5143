//! The live latency benchmark: the ingest thread follows the head while a producer writes at a
//! fixed rate; per record, the time from its Kafka (create) timestamp to when the batch
//! holding it was applied to the store. Any [`TelemetrySource`] can be produced, so the fleet
//! benchmark measures its own records at its own rate with the same code.

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
            Ok(IngestEvent::Batch { recs, bad }) => store.apply_batch(recs, bad),
            Err(true) => return Err(HeadlessError::Ended.into()),
            _ => {}
        }
    }
    let total = rate * seconds;
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producer: BaseProducer = ClientSettings::plain(&bootstrap)
        .producer_config("bench-live")
        .create()?;
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
                    let key = src.key(i as usize);
                    let payload = src.value_at(i as usize, ts);
                    let rec = BaseRecord::to(&topic)
                        .key(&key)
                        .payload(&payload)
                        .timestamp(ts)
                        .partition(src.partition_of(i as usize, partitions));
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
    let limit = Duration::from_secs(seconds + 30);
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
    drop(ingest);
    Ok(Live {
        sent: sent.load(Ordering::Relaxed),
        produce_time,
        applied: store.stats().records - base,
        latency: Pcts::of(lat),
    })
}

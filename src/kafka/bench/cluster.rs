//! The topics, fills and clients every benchmark shares: where the topics live (an embedded
//! MockCluster or a real cluster), creating and deleting them, producing a workload into one,
//! and reading one from the start.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::BenchError;
use crate::config::Topics;
use crate::kafka::client::ClientSettings;
use crate::kafka::demo::{DemoBroker, DemoOptions};
use crate::schema::encode::WireEncoder;
use crate::testkit::TelemetrySource;

/// Produces the workload to `topic` with the project's producer settings, each asset to one
/// partition: as JSON, or with `encoder` as its records in the wire format. Returns
/// `(partition, log start, head)` of every partition afterwards.
///
/// # Errors
/// When producing fails, a record does not fit the schema, or the topic cannot be read back.
pub fn fill(
    bootstrap: &str,
    topic: &str,
    w: &impl TelemetrySource,
    partitions: i32,
    encoder: Option<&WireEncoder>,
) -> Result<Vec<(i32, i64, i64)>, BenchError> {
    let producer: BaseProducer = ClientSettings::plain(bootstrap)
        .producer_config("bench-fill")
        .create()?;
    for i in 0..w.count() {
        let key = w.key(i);
        let payload = encoded(w, i, encoder)?;
        send_retrying(
            &producer,
            BaseRecord::to(topic)
                .key(&key)
                .payload(&payload)
                .timestamp(w.event_time(i))
                .partition(w.partition_of(i, partitions)),
        )?;
    }
    producer.flush(Duration::from_secs(300))?;
    partitions_of(bootstrap, topic)
}

/// Record `i`'s value: its JSON, or that JSON encoded by `encoder`.
pub(super) fn encoded(
    w: &impl TelemetrySource,
    i: usize,
    encoder: Option<&WireEncoder>,
) -> Result<Vec<u8>, BenchError> {
    let json = w.value_at(i, w.event_time(i));
    let Some(enc) = encoder else {
        return Ok(json.into_bytes());
    };
    let v: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| BenchError::Failed(e.to_string()))?;
    enc.encode(&v).map_err(BenchError::Failed)
}

/// Sends, waiting while the producer queue is full.
pub(super) fn send_retrying<P: rdkafka::message::ToBytes + ?Sized>(
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

/// Where the benchmark's topics live: an embedded MockCluster (dropped with this), or a real
/// cluster given with `--brokers`.
pub(super) struct Target {
    pub(super) demo: Option<DemoBroker>,
    pub(super) bootstrap: String,
    pub(super) topics: Topics,
}

impl Target {
    /// A MockCluster with the default topics, telemetry in `partitions` partitions.
    pub(super) fn mock(partitions: i32) -> Result<Self, BenchError> {
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
    pub(super) fn real(bootstrap: &str, telemetry: &str) -> Result<Self, BenchError> {
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
    pub(super) fn describe(&self) -> String {
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

/// Every topic name on the cluster.
pub(super) fn topic_names(bootstrap: &str) -> Result<Vec<String>, BenchError> {
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
pub(super) fn create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
) -> Result<bool, BenchError> {
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
pub(super) fn delete_topic(bootstrap: &str, name: &str) -> Result<(), BenchError> {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let admin = admin(bootstrap)?;
    for r in block_on(admin.delete_topics(&[name], &opts))?? {
        if let Err((t, code)) = r {
            return Err(BenchError::Failed(format!("deleting topic {t}: {code}")));
        }
    }
    Ok(())
}

/// A consumer with the project's settings, assigned to every partition of `topic` from the
/// beginning (no group: nothing is committed).
pub(super) fn reader_from_start(
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

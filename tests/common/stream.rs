//! A steady, checkable stream of records and the log read back: an idempotent producer that
//! remembers what it sent, a paced stream of telemetry (one unique value per record) and
//! events, the log as a plain consumer sees it, and the assertion that a store holds exactly
//! that log. Used by the broker-fault tests on the mock cluster and on real Kafka.

use std::collections::BTreeMap;
use std::sync::mpsc;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value as Json;
use twinscope::kafka::client::ClientSettings;
use twinscope::twin::Store;

use super::{Recorder, Reports};

use super::T0;
pub const TELEMETRY: &str = "twin.telemetry";
pub const EVENTS: &str = "twin.events";
pub const ASSETS: &str = "twin.assets";

// ---------------------------------------------------------------------------------------------
// Producing.

/// One record as sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sent {
    pub topic: String,
    pub partition: i32,
    pub key: String,
    pub payload: String,
}

/// An idempotent producer (so broker outages cannot write a record twice into the log) that
/// remembers what it sent. A `BaseProducer` is `Send`: it is created on the test thread and
/// may be moved to a producer thread.
pub struct Feed {
    producer: BaseProducer<Recorder>,
    reports: Reports,
    sent: Vec<Sent>,
}

impl Feed {
    pub fn new(bootstrap: &str) -> Self {
        let (producer, reports) = Recorder::producer(
            ClientSettings::plain(bootstrap)
                .producer_config("faults")
                .set("enable.idempotence", "true")
                .set("linger.ms", "5")
                // Longer than any outage here: records wait in the producer, not dropped.
                .set("message.timeout.ms", "180000"),
        );
        Self {
            producer,
            reports,
            sent: Vec::new(),
        }
    }

    pub fn send(&mut self, topic: &str, partition: i32, key: &str, payload: &Json, kafka_ts: i64) {
        let id = self.sent.len();
        let body = payload.to_string();
        let rec: BaseRecord<'_, str, str, usize> = BaseRecord::with_opaque_to(topic, id)
            .partition(partition)
            .key(key)
            .payload(body.as_str())
            .timestamp(kafka_ts);
        super::send_waiting(&self.producer, rec);
        self.producer.poll(Duration::ZERO);
        self.sent.push(Sent {
            topic: topic.to_owned(),
            partition,
            key: key.to_owned(),
            payload: body,
        });
    }

    /// Waits for every delivery report and checks that all records were written.
    pub fn finish(self, timeout: Duration) -> Vec<Sent> {
        self.producer
            .flush(timeout)
            .unwrap_or_else(|e| panic!("flush within {timeout:?}: {e}"));
        let reports = self.reports.lock().unwrap().clone();
        assert_eq!(reports.len(), self.sent.len(), "delivery reports");
        for (id, r) in &reports {
            assert!(r.is_ok(), "record {id} not delivered: {r:?}");
        }
        self.sent
    }
}

/// A steady stream of telemetry: round `i` writes one record to every telemetry partition
/// (asset `{prefix}/p{partition}`, property `v`, a value unique in the test) and, every
/// `events_every` rounds, one plain event (asset `{prefix}/ev`, code `E{i}`).
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    pub prefix: &'static str,
    pub partitions: i32,
    /// Records per second over all telemetry partitions.
    pub rate: f64,
    pub events_every: Option<u64>,
}

impl Stream {
    pub fn value(p: i32, i: u64) -> i64 {
        i64::from(p) * 1_000_000 + i as i64
    }

    /// Rounds `from..to`, paced to `rate`.
    pub fn produce(&self, feed: &mut Feed, from: u64, to: u64) {
        let start = Instant::now();
        let round = Duration::from_secs_f64(f64::from(self.partitions) / self.rate);
        for i in from..to {
            let due = start + round * u32::try_from(i - from).unwrap();
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let ts = T0 + i as i64 * 10;
            for p in 0..self.partitions {
                let key = format!("{}/p{p}", self.prefix);
                let payload = serde_json::json!({"ts": ts, "v": Self::value(p, i)});
                feed.send(TELEMETRY, p, &key, &payload, ts + 5);
            }
            if self.events_every.is_some_and(|k| i % k == 0) {
                let key = format!("{}/ev", self.prefix);
                let payload = serde_json::json!({"ts": ts, "type": "maintenance", "code": format!("E{i}"), "message": "m"});
                feed.send(EVENTS, 0, &key, &payload, ts + 5);
            }
        }
    }
}

/// Starts a producer thread: rounds `0..first`, then (after `gate` fires or is dropped) rounds
/// `first..first + second`, then a flush.
pub fn spawn_stream(
    bootstrap: &str,
    stream: Stream,
    first: u64,
    gate: Option<mpsc::Receiver<()>>,
    second: u64,
) -> JoinHandle<Vec<Sent>> {
    let mut feed = Feed::new(bootstrap);
    std::thread::Builder::new()
        .name("faults-producer".into())
        .spawn(move || {
            stream.produce(&mut feed, 0, first);
            if let Some(g) = gate {
                let _ = g.recv();
            }
            stream.produce(&mut feed, first, first + second);
            feed.finish(Duration::from_secs(180))
        })
        .expect("producer thread")
}

// ---------------------------------------------------------------------------------------------
// The log as it is, read back with a plain consumer.

/// (topic, partition) -> records in offset order: (offset, key, payload).
pub type Log = BTreeMap<(String, i32), Vec<(i64, String, String)>>;

pub fn read_log(bootstrap: &str, topics: &[(&str, i32)]) -> Log {
    let consumer: BaseConsumer = ClientSettings::plain(bootstrap)
        .consumer_config("faults-check")
        .create()
        .expect("check consumer");
    let mut tpl = TopicPartitionList::new();
    let mut high: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for &(topic, n) in topics {
        for p in 0..n {
            let (_, h) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            high.insert((topic.to_owned(), p), h);
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&tpl).unwrap();
    let mut log: Log = high.keys().map(|k| (k.clone(), Vec::new())).collect();
    let done = |log: &Log| {
        log.iter()
            .all(|(k, v)| v.last().map_or(0, |(o, _, _)| o + 1) >= high[k])
    };
    let started = Instant::now();
    while !done(&log) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "log read-back timed out"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
                let payload = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
                log.get_mut(&(m.topic().to_owned(), m.partition()))
                    .unwrap()
                    .push((m.offset(), key, payload));
            }
            Some(Err(e)) => eprintln!("check consumer: {e}"),
            None => {}
        }
    }
    log
}

/// Asserts that the log holds every produced record exactly once, and nothing else (so any
/// mismatch later is twinscope's, not the producer's).
pub fn assert_log_matches_produced(log: &Log, sent: &[Sent]) {
    let copies = assert_log_holds_every_produced_record(log, sent);
    assert_eq!(
        copies, 0,
        "test setup: the log does not hold each produced record once"
    );
}

/// Asserts that the log holds every produced record and nothing else, allowing the producer
/// to have written some twice. A real cluster that loses every node at once can make even an
/// idempotent producer do that (a batch acknowledged by the log but not to the producer is
/// retried under a new epoch). Returns how many extra copies the log holds.
pub fn assert_log_holds_every_produced_record(log: &Log, sent: &[Sent]) -> usize {
    let mut in_log: Vec<Sent> = log
        .iter()
        .flat_map(|((topic, partition), recs)| {
            recs.iter().map(|(_, key, payload)| Sent {
                topic: topic.clone(),
                partition: *partition,
                key: key.clone(),
                payload: payload.clone(),
            })
        })
        .collect();
    in_log.sort();
    let copies = in_log.len();
    in_log.dedup();
    let mut produced = sent.to_vec();
    produced.sort();
    assert!(
        in_log == produced,
        "test setup: the log's distinct records differ from what was produced ({} vs {})",
        in_log.len(),
        produced.len()
    );
    copies - in_log.len()
}

/// Asserts that the store holds exactly the log's records of `stream`: per telemetry
/// partition the same (partition, offset, value) samples, with equal counts and checksums,
/// the same events, and nothing applied twice.
/// `other` counts the records of the store that are not part of `stream`.
pub fn assert_store_is_log(store: &Store, log: &Log, stream: &Stream, other: u64) {
    let mut total = other;
    let mut copies = 0u64;
    let v = store.prop_by_name("v").expect("property v");
    for p in 0..stream.partitions {
        let mut seen = std::collections::HashSet::new();
        let all: Vec<(i32, i64, i64)> = log[&(TELEMETRY.to_owned(), p)]
            .iter()
            .map(|(off, _, payload)| {
                let j: Json = serde_json::from_str(payload).unwrap();
                (p, *off, j["v"].as_i64().unwrap())
            })
            .collect();
        // A record the producer wrote twice (same content) is applied once, at its first
        // offset, and listed as a duplicate.
        let expected: Vec<(i32, i64, i64)> =
            all.iter().copied().filter(|r| seen.insert(r.2)).collect();
        copies += (all.len() - expected.len()) as u64;
        total += expected.len() as u64;
        let id = format!("{}/p{p}", stream.prefix);
        let a = store
            .asset_by_id(&id)
            .unwrap_or_else(|| panic!("asset {id} missing"));
        let series = store.series(a, v).expect("series v");
        let mut got: Vec<(i32, i64, i64)> = (0..series.len())
            .map(|i| {
                let s = series.sample(i).unwrap();
                let (part, off) = twinscope::twin::seq_parts(s.seq);
                (part, off, series.num(i).unwrap() as i64)
            })
            .collect();
        got.sort_unstable();
        let sum = |x: &[(i32, i64, i64)]| -> (usize, i64, i64) {
            (
                x.len(),
                x.iter().map(|r| r.2).sum(),
                x.iter().map(|r| r.1).sum(),
            )
        };
        // (count, sum of values, sum of offsets): quick to read when it fails.
        assert_eq!(sum(&got), sum(&expected), "partition {p}: count/checksums");
        let missing = expected.iter().filter(|r| !got.contains(r)).count();
        let extra = got.iter().filter(|r| !expected.contains(r)).count();
        assert!(
            missing == 0 && extra == 0,
            "partition {p}: {missing} records lost, {extra} unexpected"
        );
        assert_eq!(got, expected, "partition {p}: exact samples");
    }
    if stream.events_every.is_some() {
        let mut expected: Vec<String> = log[&(EVENTS.to_owned(), 0)]
            .iter()
            .map(|(_, _, payload)| {
                let j: Json = serde_json::from_str(payload).unwrap();
                j["code"].as_str().unwrap().to_owned()
            })
            .collect();
        total += expected.len() as u64;
        let id = format!("{}/ev", stream.prefix);
        let a = store
            .asset_by_id(&id)
            .unwrap_or_else(|| panic!("asset {id} missing"));
        let mut got: Vec<String> = store
            .notes()
            .iter()
            .filter(|n| n.asset == a)
            .map(|n| n.code.clone())
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(
            got, expected,
            "events: exact notes (plain events are not deduplicated)"
        );
    }
    let stats = store.stats();
    assert_eq!(stats.duplicates, 0, "records applied twice");
    // Exactly the log's repeated telemetry records are listed, as duplicates of the first.
    assert_eq!(stats.bad, copies, "bad records: {:?}", store.bad_records());
    assert!(
        store
            .bad_records()
            .iter()
            .all(|b| b.reason.starts_with("duplicate of partition")),
        "bad records: {:?}",
        store.bad_records()
    );
    assert_eq!(stats.records, total, "records applied");
}

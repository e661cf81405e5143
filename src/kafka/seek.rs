//! Finding the offset where a time starts in a partition.
//!
//! Three ways, cheapest first: twinscope's own sparse index built while consuming; the
//! broker's `ListOffsets` by timestamp (`offsets_for_times`), which a real Kafka answers but
//! librdkafka's MockCluster does not (it returns End); and, failing both, a bisection over
//! offsets that fetches single records.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::client::ClientSettings;

/// Sparse time → offset index for one partition, on the Kafka record timestamp.
///
/// Stores the running maximum of timestamps, so lookups stay correct when producers set
/// slightly out-of-order timestamps: the answer is never after the first record with ts ≥ T.
#[derive(Debug, Clone, Default)]
pub struct TimeIndex {
    /// `(offset, max timestamp of all records up to and including offset)`, increasing.
    entries: Vec<(i64, i64)>,
    max_ts: i64,
}

/// Records between index entries.
const INDEX_STRIDE: i64 = 512;

impl TimeIndex {
    /// Notes a consumed record.
    pub fn observe(&mut self, offset: i64, ts: i64) {
        self.max_ts = if self.entries.is_empty() {
            ts
        } else {
            self.max_ts.max(ts)
        };
        if self
            .entries
            .last()
            .is_none_or(|&(o, _)| offset >= o + INDEX_STRIDE)
        {
            self.entries.push((offset, self.max_ts));
        }
    }

    /// An offset at or before the first record with timestamp ≥ `t`, if the index covers `t`.
    #[must_use]
    pub fn lookup(&self, t: i64) -> Option<i64> {
        if self.entries.is_empty() || t > self.max_ts {
            return None;
        }
        let i = self.entries.partition_point(|&(_, m)| m < t);
        Some(if i == 0 {
            self.entries[0].0
        } else {
            self.entries[i - 1].0
        })
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was indexed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How an offset was found, for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekMethod {
    OwnIndex,
    Broker,
    Bisection { probes: u32 },
    Trivial,
}

/// Finds the first offset in `[low, high)` whose record timestamp is ≥ `t` (or `high`).
///
/// # Errors
/// When the brokers cannot be reached.
pub fn offset_for_time(
    settings: &ClientSettings,
    topic: &str,
    partition: i32,
    t: i64,
    (low, high): (i64, i64),
    index: Option<&TimeIndex>,
    timeout: Duration,
) -> Result<(i64, SeekMethod), KafkaError> {
    if high <= low {
        return Ok((low, SeekMethod::Trivial));
    }
    if let Some(o) = index.and_then(|ix| ix.lookup(t)) {
        return Ok((o.clamp(low, high), SeekMethod::OwnIndex));
    }
    let probe = Probe::new(settings, topic, partition, timeout)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(t))?;
    let answered = probe.consumer.offsets_for_times(tpl, timeout)?;
    let broker = answered
        .elements()
        .first()
        .map(|e| e.offset())
        .unwrap_or(Offset::End);
    if let Offset::Offset(o) = broker {
        return Ok((o.clamp(low, high), SeekMethod::Broker));
    }
    // End means "no record at or after t" from a real broker, but is also all the mock ever
    // says. The last record tells which: if it is older than t, End is the truth.
    if probe.record_ts(high - 1)?.is_none_or(|ts| ts < t) {
        return Ok((high, SeekMethod::Broker));
    }
    probe.bisect(t, (low, high))
}

/// The bisection alone, for clusters that cannot answer by time (and for tests that check it
/// against the broker's own answer): the first offset in `[low, high)` whose timestamp is
/// ≥ `t`, assuming timestamps do not decrease along the log, found with O(log n) single-record
/// fetches.
///
/// # Errors
/// When the brokers cannot be reached.
pub fn offset_by_bisection(
    settings: &ClientSettings,
    topic: &str,
    partition: i32,
    t: i64,
    (low, high): (i64, i64),
    timeout: Duration,
) -> Result<(i64, SeekMethod), KafkaError> {
    if high <= low {
        return Ok((low, SeekMethod::Trivial));
    }
    let probe = Probe::new(settings, topic, partition, timeout)?;
    if probe.record_ts(high - 1)?.is_none_or(|ts| ts < t) {
        return Ok((high, SeekMethod::Bisection { probes: 1 }));
    }
    probe.bisect(t, (low, high))
}

/// A consumer that fetches single records of one partition, each within `timeout`: what the
/// broker's answer is checked with and what the bisection reads.
struct Probe<'a> {
    consumer: BaseConsumer,
    topic: &'a str,
    partition: i32,
    timeout: Duration,
}

impl<'a> Probe<'a> {
    fn new(
        settings: &ClientSettings,
        topic: &'a str,
        partition: i32,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            consumer: settings.consumer_config("probe").create()?,
            topic,
            partition,
            timeout,
        })
    }

    /// The first offset in `[low, high)` whose timestamp is ≥ `t`, given that the last record's
    /// is (one probe already spent on it).
    fn bisect(&self, t: i64, (low, high): (i64, i64)) -> Result<(i64, SeekMethod), KafkaError> {
        let (mut lo, mut hi, mut probes) = (low, high - 1, 1u32);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            probes += 1;
            match self.record_ts(mid)? {
                Some(ts) if ts >= t => hi = mid,
                Some(_) => lo = mid + 1,
                // The range was deleted by retention meanwhile: start at what is left.
                None => lo = mid + 1,
            }
        }
        Ok((lo, SeekMethod::Bisection { probes }))
    }

    /// The timestamp of the record at `offset` (or the next existing one).
    fn record_ts(&self, offset: i64) -> Result<Option<i64>, KafkaError> {
        let (topic, partition) = (self.topic, self.partition);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
        self.consumer.assign(&tpl)?;
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m))
                    if m.partition() == partition && m.topic() == topic && m.offset() >= offset =>
                {
                    return Ok(m.timestamp().to_millis());
                }
                Some(Err(e)) => return Err(e),
                _ => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_never_points_past_the_first_record_at_t() {
        let mut ix = TimeIndex::default();
        // Mostly increasing timestamps with a little jitter.
        let ts = |o: i64| o * 10 + if o % 3 == 0 { -15 } else { 0 };
        for o in 0..10_000 {
            ix.observe(o, ts(o));
        }
        assert!(ix.len() > 10 && ix.len() < 100);
        for t in [0, 5, 1_000, 50_000, 99_000] {
            let o = ix.lookup(t).unwrap();
            let first = (0..10_000).find(|&o| ts(o) >= t).unwrap();
            assert!(o <= first, "t={t}: {o} > {first}");
            assert!(first - o <= INDEX_STRIDE * 2, "t={t}: too far back");
        }
        assert_eq!(ix.lookup(1_000_000), None);
    }
}

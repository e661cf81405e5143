//! Synthetic histories for tests and benchmarks: a telemetry [`Workload`] to produce to Kafka
//! (or decode in-process), and a [`SyntheticFleet`] loaded straight into a store for the scrub
//! and frame benchmarks. Both are deterministic: the same parameters give the same records.

use crate::twin::alarms::Priority;
use crate::twin::decode::{AlarmAction, Interner, decode_with};
use crate::twin::mapping::Mapping;
use crate::twin::{Rec, Role, Store};

use super::records::{LogOffsets, alarm, num, origin, telemetry, text};

/// Records per batch, as the ingest thread sends them (its `BATCH_MAX`).
pub const BATCH: usize = 8192;

/// A synthetic telemetry workload: `records` records round-robin over `assets` assets, event
/// times evenly spread over `span_ms` from `start`. With `state`, each record carries 3
/// numbers and a state string (about 110 B with its key, like the demo plant's records);
/// without, 4 numbers.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub records: usize,
    pub assets: usize,
    pub start: i64,
    pub span_ms: i64,
    pub state: bool,
}

impl Workload {
    /// The id of asset `a`: 10 plants × 10 lines × 100 machines per 10k assets.
    #[must_use]
    pub fn asset_id(a: usize) -> String {
        format!("plant-{:02}/line-{}/m-{a:05}", a / 1000, (a / 100) % 10)
    }

    /// The asset of record `i`.
    #[must_use]
    pub fn asset(&self, i: usize) -> usize {
        i % self.assets.max(1)
    }

    /// The event time of record `i`.
    #[must_use]
    pub fn ts(&self, i: usize) -> i64 {
        let off = i as i128 * i128::from(self.span_ms) / self.records.max(1) as i128;
        self.start + off as i64
    }

    /// The last event time.
    #[must_use]
    pub fn end(&self) -> i64 {
        self.start + self.span_ms
    }

    /// Each asset lives in one partition, so per-asset order is the produce order.
    #[must_use]
    pub fn partition(&self, i: usize, partitions: i32) -> i32 {
        (self.asset(i) % partitions.max(1) as usize) as i32
    }

    /// The JSON value of record `i`.
    #[must_use]
    pub fn payload(&self, i: usize) -> String {
        self.payload_at(i, self.ts(i))
    }

    /// The JSON value of record `i` with event time `ts`.
    #[must_use]
    pub fn payload_at(&self, i: usize, ts: i64) -> String {
        let h = mix(i as u64);
        let nums = format!(
            "\"temperature\":{:.2},\"vibration\":{:.3},\"power_kw\":{:.2}",
            60.0 + (h % 2000) as f64 / 100.0,
            1.0 + ((h >> 16) % 5000) as f64 / 1000.0,
            10.0 + ((h >> 32) % 1500) as f64 / 100.0,
        );
        if self.state {
            let state = ["RUN", "RUN", "RUN", "IDLE"][(h >> 62) as usize];
            format!("{{\"ts\":{ts},{nums},\"state\":\"{state}\"}}")
        } else {
            format!("{{\"ts\":{ts},{nums},\"rpm\":{}}}", 1400 + (h >> 48) % 200)
        }
    }

    /// Records `range` decoded by the real decoder, as the ingest thread would hand them over
    /// from a topic of `partitions` partitions (offsets counted per partition from `offsets`).
    #[must_use]
    pub fn decode_range(&self, range: std::ops::Range<usize>, offsets: &mut [i64]) -> Vec<Rec> {
        self.decode_range_with(&mut Interner::new(), range, offsets)
    }

    /// [`Self::decode_range`] with the names shared across calls, as one ingest session
    /// shares them.
    fn decode_range_with(
        &self,
        names: &mut Interner,
        range: std::ops::Range<usize>,
        offsets: &mut [i64],
    ) -> Vec<Rec> {
        let mapping = Mapping::default();
        let partitions = offsets.len().max(1) as i32;
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let key = Self::asset_id(self.asset(i));
            let p = self.partition(i, partitions);
            let Some(o) = offsets.get_mut(p as usize) else {
                continue;
            };
            let origin = origin(Role::Telemetry, p, *o, self.ts(i));
            *o += 1;
            let payload = self.payload(i);
            if let Ok(body) = decode_with(
                names,
                &mapping,
                origin,
                Some(key.as_bytes()),
                Some(payload.as_bytes()),
            ) {
                out.push(Rec { origin, body });
            }
        }
        out
    }

    /// Every record, decoded, in batches of [`BATCH`].
    #[must_use]
    pub fn decoded_batches(&self, partitions: i32) -> Vec<Vec<Rec>> {
        let mut offsets = vec![0i64; partitions.max(1) as usize];
        let mut names = Interner::new();
        (0..self.records)
            .step_by(BATCH)
            .map(|s| {
                self.decode_range_with(&mut names, s..(s + BATCH).min(self.records), &mut offsets)
            })
            .collect()
    }
}

/// Telemetry records a benchmark produces to Kafka, record by record: the live latency and
/// the fills take any of the workloads through this, so that each is produced the same way.
pub trait TelemetrySource {
    /// Records in the history.
    fn count(&self) -> usize;
    /// The key of record `i`: its asset id.
    fn key(&self, i: usize) -> String;
    /// The event time of record `i` in the history.
    fn event_time(&self, i: usize) -> i64;
    /// The JSON value of record `i` with event time `ts` (live records carry the wall clock).
    fn value_at(&self, i: usize, ts: i64) -> String;
    /// The partition of record `i`: each asset lives in one, so per-asset order is the
    /// produce order.
    fn partition_of(&self, i: usize, partitions: i32) -> i32;
}

impl TelemetrySource for Workload {
    fn count(&self) -> usize {
        self.records
    }

    fn key(&self, i: usize) -> String {
        Self::asset_id(self.asset(i))
    }

    fn event_time(&self, i: usize) -> i64 {
        self.ts(i)
    }

    fn value_at(&self, i: usize, ts: i64) -> String {
        self.payload_at(i, ts)
    }

    fn partition_of(&self, i: usize, partitions: i32) -> i32 {
        self.partition(i, partitions)
    }
}

/// Property names of a [`SyntheticFleet`] record; the last one is a state string, the rest
/// numbers.
pub const FLEET_PROPS: [&str; 10] = [
    "temperature",
    "vibration",
    "power_kw",
    "spindle_rpm",
    "pressure",
    "flow",
    "current",
    "voltage",
    "good_count",
    "state",
];

/// A synthetic fleet's history for the scrub and frame benchmarks, built as decoded records
/// (decoding is measured elsewhere): every asset reports all [`FLEET_PROPS`] every
/// `period_ms` (phases staggered) over `span_ms`, and `alarms` assets raise an alarm, a third
/// of which clear again 10 minutes later (so all of them are still listed at the end:
/// returned unacked).
#[derive(Debug, Clone, Copy)]
pub struct SyntheticFleet {
    pub assets: usize,
    pub period_ms: i64,
    pub start: i64,
    pub span_ms: i64,
    pub alarms: usize,
}

impl SyntheticFleet {
    /// Applies the history to `store` in log order (time order), in ingest-sized batches.
    pub fn load(&self, store: &mut Store) {
        let mut offsets = LogOffsets::new(64);
        let ids: Vec<String> = (0..self.assets).map(Workload::asset_id).collect();
        let mut batch = Vec::with_capacity(BATCH);
        let period = self.period_ms.max(1);
        let rounds = self.span_ms / period;
        for r in 0..=rounds {
            for (a, id) in ids.iter().enumerate() {
                let ts = self.start + r * period + (a as i64 * period) / self.assets.max(1) as i64;
                if ts > self.end() {
                    continue;
                }
                let h = mix(((a as u64) << 32) ^ r as u64);
                let props = FLEET_PROPS
                    .iter()
                    .enumerate()
                    .map(|(k, name)| {
                        if k + 1 == FLEET_PROPS.len() {
                            text(name, if h.is_multiple_of(7) { "IDLE" } else { "RUN" })
                        } else {
                            num(name, ((h >> (k * 6)) % 10_000) as f64 / 100.0)
                        }
                    })
                    .collect();
                let origin = offsets.next(Role::Telemetry, a, ts);
                batch.push(telemetry(origin, id, ts, props));
                if batch.len() == BATCH {
                    store.apply_batch(std::mem::take(&mut batch), Vec::new());
                }
            }
        }
        for k in 0..self.alarms {
            let a = k * self.assets.max(1) / self.alarms.max(1);
            let h = mix(k as u64 ^ 0xA1A2);
            let at = self.start + (h % (self.span_ms.max(1) as u64)) as i64;
            let priority = [
                Priority::Critical,
                Priority::High,
                Priority::Medium,
                Priority::Low,
            ][(h >> 60) as usize & 3];
            let mut actions = vec![(at, AlarmAction::Active)];
            if k % 3 == 0 {
                actions.push((at + 600_000, AlarmAction::Cleared));
            }
            let id = ids.get(a).cloned().unwrap_or_default();
            for (ts, action) in actions {
                let origin = offsets.next(Role::Events, a, ts);
                let code = format!("ALM-{}", k % 5);
                let message = Some(format!("alarm {k}"));
                batch.push(alarm(origin, &id, ts, &code, priority, action, message));
            }
        }
        store.apply_batch(batch, Vec::new());
    }

    /// The last event time.
    #[must_use]
    pub fn end(&self) -> i64 {
        self.start + self.span_ms
    }
}

/// A dense series for plotting benchmarks: `n` samples of `prop` on `asset`, evenly over
/// `span_ms` before `end`, in partition `partition` (one no fleet record uses, so offsets
/// never collide), applied in ingest-sized batches.
pub fn load_dense_series(
    store: &mut Store,
    asset: &str,
    prop: &str,
    (n, span_ms, end): (usize, i64, i64),
    partition: i32,
) {
    let start = end - span_ms;
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..n {
        let ts = start + (i as i128 * i128::from(span_ms) / n.max(1) as i128) as i64;
        let v = 4.0 + (i as f64 / 5_000.0).sin() * 2.0 + ((i * 7919) % 100) as f64 / 200.0;
        let origin = origin(Role::Telemetry, partition, i as i64, ts);
        batch.push(telemetry(origin, asset, ts, vec![num(prop, v)]));
        if batch.len() == BATCH {
            store.apply_batch(std::mem::take(&mut batch), Vec::new());
        }
    }
    store.apply_batch(batch, Vec::new());
}

/// A noisy series for forecasting: `n` samples about 1 s apart from `start` (jittered
/// ±300 ms), value `base + slope_per_s·t_s + season + noise`, with `season` = (amplitude,
/// period in s) and noise uniform in ±`noise`.
#[derive(Debug, Clone, Copy)]
pub struct NoisySeries {
    pub n: usize,
    pub start: i64,
    pub base: f64,
    pub slope_per_s: f64,
    pub noise: f64,
    pub season: Option<(f64, f64)>,
}

impl NoisySeries {
    /// The sample times and values; the same `seed` gives the same series.
    #[must_use]
    pub fn generate(&self, seed: u64) -> (Vec<i64>, Vec<f64>) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let times: Vec<i64> = (0..self.n)
            .map(|i| self.start + i as i64 * 1000 + rng.i64(-300..=300))
            .collect();
        let values = times
            .iter()
            .map(|&t| {
                let s = (t - self.start) as f64 / 1000.0;
                let seasonal = self
                    .season
                    .map_or(0.0, |(a, p)| a * (std::f64::consts::TAU * s / p).sin());
                self.base + self.slope_per_s * s + seasonal + self.noise * (2.0 * rng.f64() - 1.0)
            })
            .collect();
        (times, values)
    }
}

/// splitmix64: cheap deterministic pseudo-random values from a record index.
#[must_use]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testkit::{T0, ui_scrub};

    #[test]
    fn workload_records_are_about_110_bytes_and_decode() {
        let w = Workload {
            records: 100,
            assets: 10_000,
            start: T0,
            span_ms: 3_600_000,
            state: true,
        };
        let len = w.payload(7).len() + Workload::asset_id(w.asset(7)).len();
        assert!((95..=125).contains(&len), "{len}");
        let batches = w.decoded_batches(4);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 100);
        let mut s = Store::new("/", 0);
        for b in batches {
            s.apply_batch(b, Vec::new());
        }
        assert_eq!(s.stats().samples, 400);
    }

    #[test]
    fn fleet_lists_every_alarm_at_the_end() {
        let f = SyntheticFleet {
            assets: 30,
            period_ms: 60_000,
            start: T0,
            span_ms: 600_000,
            alarms: 6,
        };
        let mut s = Store::new("/", 0);
        f.load(&mut s);
        assert_eq!(s.assets().len(), 30);
        assert_eq!(s.alarms_at(f.end() + 3_600_000).len(), 6);
        let a = s.asset_by_id(&Workload::asset_id(3)).unwrap();
        assert_eq!(s.props_at(a, f.end()).len(), FLEET_PROPS.len());
        let cold = ui_scrub(&s, f.end(), a, None);
        assert!(cold > 30);
        let mut shapes = crate::app::TreeView::default();
        assert_eq!(ui_scrub(&s, f.end(), a, Some(&mut shapes)), cold);
        assert_eq!(ui_scrub(&s, f.end(), a, Some(&mut shapes)), cold);
    }

    #[test]
    fn a_dense_series_has_every_sample_in_its_span() {
        let mut s = Store::new("/", 0);
        load_dense_series(&mut s, "a/b", "v", (BATCH + 5, 60_000, T0), 100);
        assert_eq!(s.stats().samples, (BATCH + 5) as u64);
        let a = s.asset_by_id("a/b").unwrap();
        assert!(s.props_at(a, T0 - 60_001).is_empty());
        assert_eq!(s.props_at(a, T0).len(), 1);
    }
}

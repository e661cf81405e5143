//! The end-to-end benchmarks behind `twinscope-bench` (built only with the `testkit`
//! feature, so the product carries none of it): ingest against `kcat` and against a bare
//! rdkafka poll loop, scrubbing against a naive replay of the log, memory per stored sample,
//! live produce-to-applied latency, and a fleet of cars at 1 Hz measured end to end. Prints
//! figures and ratios and never fails on timing.
//!
//! Every figure comes from the code the app runs (the ingest thread, the decoder,
//! [`Store::apply_batch`](crate::twin::Store::apply_batch),
//! [`Store::snapshot`](crate::twin::Store::snapshot), the app's tree cache, the app itself
//! for the fleet's GUI path) against a MockCluster started here or, with
//! [`BenchOptions::brokers`], a real cluster: there the workload goes to a topic created for
//! it (or reused when one with the same workload is already complete). Peers are measured in
//! the same process and run, interleaved, so ratios compare like with like. The workloads
//! come from [`crate::testkit`], as the criterion benches' do.
//!
//! With [`BenchOptions::format`] Avro or Protobuf, the ingest workload is the same records
//! encoded in the Confluent wire format under a schema registered at
//! [`BenchOptions::schema_registry`], and twinscope reads them through that registry, so the
//! msg/s of every format come from the same records, topic layout and code path.
//!
//! One module per benchmark (`ingest` with its scrub, `memory`, `latency`, `fleet`), and
//! `cluster` for the topics, fills and clients they share.

mod cluster;
mod fleet;
mod ingest;
mod latency;
mod memory;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::error::KafkaError;

use super::KafkaLayerError;
use crate::headless::HeadlessError;
use crate::schema::SchemaError;
use crate::schema::encode::{MACHINE_AVRO, MACHINE_PROTO, WireFormat};

pub use cluster::{fill, partitions_of};
pub use ingest::naive_state_at;

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

fn held(parts: &[(i32, i64, i64)]) -> u64 {
    parts
        .iter()
        .map(|(_, lo, hi)| (hi - lo).max(0) as u64)
        .sum()
}

/// `(partition, log start, head)` of every partition of a topic.
type Partitions = Vec<(i32, i64, i64)>;

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
    /// Numeric properties per car (fleet).
    pub props: usize,
    /// Minutes of 1 Hz history per car (fleet). Each minute of a 100k × 8 fleet is 48M
    /// samples, which the store holds in about 1.8 GB, so the default is 1.
    pub minutes: u64,
    /// The fleet's history budget (`history.budget_mb`); `None` sizes it to hold every sample,
    /// so that nothing is evicted and bytes per sample mean what they say.
    pub budget_mb: Option<usize>,
    /// Frames measured in the fleet's GUI path once it caught up.
    pub frames: usize,
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
            props: 8,
            minutes: 1,
            budget_mb: None,
            frames: 100,
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
    /// A fleet of cars at 1 Hz: memory, headless and GUI catch-up, frames with the fleet
    /// table open, scrub and live latency on one workload. Not part of `All`: it measures
    /// peak RSS, which is per process, so it runs on its own.
    Fleet,
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
    // Alone, and memory first: peak RSS is per process, so nothing else may have run
    // before it.
    if which == Which::Fleet {
        return fleet::fleet(opts);
    }
    if matches!(which, Which::All | Which::Memory) {
        memory::memory(opts);
    }
    if matches!(which, Which::All | Which::Ingest) {
        ingest::ingest_and_scrub(opts)?;
    }
    if matches!(which, Which::All | Which::Latency) {
        latency::latency(opts)?;
    }
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

/// CPU time (user + system) used so far by this process's threads and by its children that
/// have been waited for, from `/proc/self/stat`; `None` where that is not readable. Lets the
/// ingest bench say how much of a peer's wall time was work and how much was waiting.
#[must_use]
pub fn cpu_times() -> Option<CpuTimes> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The CPU times in a `/proc/PID/stat` line.
fn parse_stat(s: &str) -> Option<CpuTimes> {
    // The command name may hold spaces and parentheses: fields are counted after its end.
    let rest = s.get(s.rfind(')')? + 1..)?;
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // `/proc` counts in USER_HZ, which Linux fixes at 100 per second for user space.
    let ticks = |t: u64| Duration::from_millis(t * 10);
    match f[..] {
        [utime, stime, cutime, cstime] => Some(CpuTimes {
            own: ticks(utime + stime),
            children: ticks(cutime + cstime),
        }),
        _ => None,
    }
}

/// CPU time at one moment: see [`cpu_times`].
#[derive(Clone, Copy, Debug)]
pub struct CpuTimes {
    /// This process's threads (on the embedded mock cluster, its broker threads too).
    pub own: Duration,
    /// Children already waited for (`kcat`).
    pub children: Duration,
}

impl CpuTimes {
    /// What was used between `earlier` and this.
    #[must_use]
    pub fn since(self, earlier: Self) -> Self {
        Self {
            own: self.own.saturating_sub(earlier.own),
            children: self.children.saturating_sub(earlier.children),
        }
    }
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS, so a phase's peak can be read
/// after it. False when the kernel does not allow it (then the peak is the whole run's).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn now_ms_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_are_read_after_a_command_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime ...
        let line = "4242 (tb (x) y) R 1 2 3 4 5 6 7 8 9 10 123 45 600 7 20 0 1 0";
        let t = parse_stat(line).expect("parsed");
        assert_eq!(t.own, Duration::from_millis(1680));
        assert_eq!(t.children, Duration::from_millis(6070));
        assert!(parse_stat("4242 (tb) R 1 2").is_none());
        let own = cpu_times().expect("/proc/self/stat on Linux");
        let later = CpuTimes {
            own: own.own + Duration::from_millis(10),
            children: own.children,
        };
        assert_eq!(later.since(own).own, Duration::from_millis(10));
        assert_eq!(own.since(later).own, Duration::ZERO);
    }
}

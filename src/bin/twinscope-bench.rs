//! `twinscope-bench`: the end-to-end benchmarks (ingest against kcat and a bare consumer,
//! scrub against a naive replay, memory per sample, live latency, a fleet of cars end to end),
//! kept out of the product. Built only with the `testkit` feature: `cargo run --release
//! --features testkit --bin twinscope-bench -- [all|ingest|memory|latency|fleet]`;
//! `ingest --format avro|protobuf --schema-registry URL` measures the same workload in the
//! Confluent wire format; `fleet --assets 100000 --props 8 --minutes 1` a fleet at 1 Hz.

use anyhow::Result;
use clap::Parser;

use twinscope::kafka::bench::{BenchFormat, BenchOptions, Which, run};

/// Benchmarks: ingest vs kcat and a bare consumer, scrub vs a naive replay, memory per sample,
/// live latency; and (on its own, not in `all`) `fleet`: N cars x P numbers at 1 Hz for M
/// minutes, with peak RSS, RSS per sample, headless and GUI catch-up, frames with the fleet
/// table open, scrub and live latency at 1 Hz per car. On an embedded mock cluster, or with --brokers on that cluster (the workload
/// topic is created there, or reused when already complete). Prints figures and ratios; never
/// fails on timing. Build with --release for meaningful figures.
#[derive(Parser, Debug)]
#[command(name = "twinscope-bench", version)]
struct BenchArgs {
    /// Which benchmark to run.
    #[arg(value_enum, default_value_t = BenchWhich::All)]
    which: BenchWhich,
    /// Bootstrap servers of a cluster to run on. Without them, an embedded mock cluster.
    #[arg(long, short = 'b')]
    brokers: Option<String>,
    /// Telemetry records in the topic (ingest, scrub).
    #[arg(long, default_value_t = 2_000_000)]
    records: usize,
    /// Distinct assets (fleet: cars).
    #[arg(long, default_value_t = 10_000)]
    assets: usize,
    /// Telemetry partitions (the mock keeps at most 5 MB each; fleet raises it on the mock to
    /// hold the whole history).
    #[arg(long, default_value_t = 64)]
    partitions: i32,
    /// Repetitions of each ingest run; the median is reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Do not run kcat.
    #[arg(long)]
    no_kcat: bool,
    /// Random times for the scrub percentiles [default: 1000; fleet: 100].
    #[arg(long)]
    scrub_times: Option<usize>,
    /// Naive replays (each reads the whole topic).
    #[arg(long, default_value_t = 3)]
    naive_times: usize,
    /// Numeric samples for the memory measurement.
    #[arg(long, default_value_t = 10_000_000)]
    samples: usize,
    /// Live produce rate, records/s.
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Live produce duration, seconds (fleet: at --assets records/s, 1 Hz per car).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Value format of the ingest workload (the same records in each); avro and protobuf are
    /// produced in the Confluent wire format and need --schema-registry.
    #[arg(long, value_enum, default_value_t = BenchFormatArg::Json)]
    format: BenchFormatArg,
    /// Confluent-compatible schema registry URL the avro/protobuf schemas are registered at
    /// and read from, e.g. Apicurio's http://127.0.0.1:8080/apis/ccompat/v7.
    #[arg(long)]
    schema_registry: Option<String>,
    /// Numeric properties per car (fleet).
    #[arg(long, default_value_t = 8)]
    props: usize,
    /// Minutes of 1 Hz history per car (fleet). Small by default: the store holds ~37 B per
    /// sample, so 100k cars x 8 props x 1 min (48M samples) is ~1.8 GB, and the embedded
    /// cluster holds the log (~1.2 GB) beside it.
    #[arg(long, default_value_t = 1)]
    minutes: u64,
    /// History budget (history.budget_mb) of the fleet's stores [default: sized to hold every
    /// sample, so nothing is evicted].
    #[arg(long)]
    budget_mb: Option<usize>,
    /// Frames measured with the fleet table open, once caught up (fleet).
    #[arg(long, default_value_t = 100)]
    frames: usize,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum BenchFormatArg {
    Json,
    Avro,
    Protobuf,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum BenchWhich {
    All,
    Ingest,
    Memory,
    Latency,
    Fleet,
}

fn main() -> Result<()> {
    let b = BenchArgs::parse();
    let opts = BenchOptions {
        records: b.records,
        assets: b.assets,
        partitions: b.partitions,
        reps: b.reps,
        kcat: !b.no_kcat,
        scrub_times: b.scrub_times.unwrap_or(match b.which {
            BenchWhich::Fleet => 100,
            _ => 1000,
        }),
        naive_times: b.naive_times,
        samples: b.samples,
        rate: b.rate,
        seconds: b.seconds,
        brokers: b.brokers,
        format: match b.format {
            BenchFormatArg::Json => BenchFormat::Json,
            BenchFormatArg::Avro => BenchFormat::Avro,
            BenchFormatArg::Protobuf => BenchFormat::Protobuf,
        },
        schema_registry: b.schema_registry,
        props: b.props,
        minutes: b.minutes,
        budget_mb: b.budget_mb,
        frames: b.frames,
    };
    let which = match b.which {
        BenchWhich::All => Which::All,
        BenchWhich::Ingest => Which::Ingest,
        BenchWhich::Memory => Which::Memory,
        BenchWhich::Latency => Which::Latency,
        BenchWhich::Fleet => Which::Fleet,
    };
    run(&opts, which)?;
    Ok(())
}

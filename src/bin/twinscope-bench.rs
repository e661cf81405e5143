//! `twinscope-bench`: the end-to-end benchmarks (ingest against kcat and a bare consumer,
//! scrub against a naive replay, memory per sample, live latency), kept out of the product.
//! Built only with the `testkit` feature:
//! `cargo run --release --features testkit --bin twinscope-bench -- [all|ingest|memory|latency]`;
//! `ingest --format avro|protobuf --schema-registry URL` measures the same workload in the
//! Confluent wire format.

use anyhow::Result;
use clap::Parser;

use twinscope::kafka::bench::{BenchFormat, BenchOptions, Which, run};

/// Benchmarks: ingest vs kcat and a bare consumer, scrub vs a naive replay, memory per sample,
/// live latency. On an embedded mock cluster, or with --brokers on that cluster (the workload
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
    /// Distinct assets.
    #[arg(long, default_value_t = 10_000)]
    assets: usize,
    /// Telemetry partitions (the mock keeps at most 5 MB each).
    #[arg(long, default_value_t = 64)]
    partitions: i32,
    /// Repetitions of each ingest run; the median is reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Do not run kcat.
    #[arg(long)]
    no_kcat: bool,
    /// Random times for the scrub percentiles.
    #[arg(long, default_value_t = 1000)]
    scrub_times: usize,
    /// Naive replays (each reads the whole topic).
    #[arg(long, default_value_t = 3)]
    naive_times: usize,
    /// Numeric samples for the memory measurement.
    #[arg(long, default_value_t = 10_000_000)]
    samples: usize,
    /// Live produce rate, records/s.
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Live produce duration, seconds.
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
}

fn main() -> Result<()> {
    let b = BenchArgs::parse();
    let opts = BenchOptions {
        records: b.records,
        assets: b.assets,
        partitions: b.partitions,
        reps: b.reps,
        kcat: !b.no_kcat,
        scrub_times: b.scrub_times,
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
    };
    let which = match b.which {
        BenchWhich::All => Which::All,
        BenchWhich::Ingest => Which::Ingest,
        BenchWhich::Memory => Which::Memory,
        BenchWhich::Latency => Which::Latency,
    };
    run(&opts, which)?;
    Ok(())
}

//! The `twinscope` command line: the GUI (default), `snapshot`, `incident` and the `demo`
//! subcommands.
//! (The benchmarks are a separate tool, `twinscope-bench`, outside the product.)
//! Loads the config once and wires the layers together.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

use twinscope::app::{AppOptions, PERSIST_KEY, Persisted, TwinApp};
use twinscope::config::{ClientProps, Config};
use twinscope::headless::{read_to_store_with_rules, spec_for};
use twinscope::kafka::client::ClientSettings;
use twinscope::kafka::demo::{DemoBroker, DemoOptions, ensure_topics, simulate_with_commands};
use twinscope::kafka::ingest::StartAt;
use twinscope::schema::encode::AvroPlant;
use twinscope::timeline::{now_ms, parse_duration, parse_time_input};

#[derive(Parser, Debug)]
#[command(
    name = "twinscope",
    version,
    about = "A live viewer and time machine for digital twins on Apache Kafka"
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    /// Look back only this far (e.g. 2h) instead of reading all retained history.
    #[arg(long, global = true)]
    since: Option<String>,
    /// Enable write-back (acknowledgements and commands). Off by default.
    #[arg(long, global = true)]
    allow_write: bool,
    /// Schema registry for Avro, Protobuf and JSON Schema records in the Confluent wire
    /// format (overrides `[schema_registry] url`), e.g. http://registry:8081.
    #[arg(long, global = true, value_name = "URL")]
    schema_registry: Option<String>,
    /// Save incident bundles (File → Export incident…) into this folder, without asking for
    /// one each time: one sub-folder per incident, named after its alarm and onset.
    #[arg(long, value_name = "DIR")]
    export_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Args, Debug, Clone)]
struct ConnArgs {
    /// Bootstrap servers. Without them, an embedded demo broker is started.
    #[arg(long, short = 'b', global = true)]
    brokers: Option<String>,
    /// A TOML config file (topics, mapping, client settings).
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    /// librdkafka property, as with kcat (repeatable), e.g. -X security.protocol=SASL_SSL.
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    props: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the state of the fleet at a time as JSON, then exit.
    Snapshot {
        /// RFC 3339, epoch ms, or relative such as -5m.
        #[arg(long, allow_hyphen_values = true)]
        at: String,
        /// Also print what changed from --at to this time, under "diff".
        #[arg(long, allow_hyphen_values = true)]
        diff: Option<String>,
        /// Give up connecting after this many seconds.
        #[arg(long, default_value_t = 20)]
        timeout_s: u64,
        /// Assume no record is later than this behind its partition's newest (e.g. 60s), and
        /// stop each partition there instead of at its end. Faster on long logs; the output
        /// states the assumption. Default: read to the end, exact for any lateness.
        #[arg(long)]
        max_lateness: Option<String>,
    },
    /// Write the incident bundle of an alarm (its onset, what changed before it, the series
    /// around it and the Kafka record of every value) into a folder, then exit.
    Incident {
        /// The alarm's asset id.
        #[arg(long)]
        asset: String,
        /// The alarm's code.
        #[arg(long)]
        code: String,
        /// The onset at or before this time (RFC 3339, epoch ms, or relative such as -5m);
        /// default: the newest onset.
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        /// The folder to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// How far before the onset "what changed" looks (e.g. 15m).
        #[arg(long, default_value = "15m")]
        lookback: String,
        /// What "what changed" looks at: asset, parent, site or fleet.
        #[arg(long, default_value = "asset")]
        scope: String,
        /// Give up connecting after this many seconds.
        #[arg(long, default_value_t = 20)]
        timeout_s: u64,
    },
    /// Run the demo plant.
    #[command(subcommand)]
    Demo(DemoCmd),
}

#[derive(Subcommand, Debug)]
enum DemoCmd {
    /// Run the mock Kafka cluster (with the plant simulator unless --no-sim) until Ctrl-C.
    Broker {
        /// Bootstrap port on 127.0.0.1 (the brokers themselves use random loopback ports).
        #[arg(long)]
        port: Option<u16>,
        /// Do not run the simulator: an empty cluster for your own producers.
        #[arg(long)]
        no_sim: bool,
        /// Partitions of the telemetry topic.
        #[arg(long, default_value_t = 16)]
        partitions: i32,
        /// Produce telemetry and events in Avro (Confluent wire format), registering the
        /// plant's schemas at --schema-registry.
        #[arg(long)]
        avro: bool,
    },
    /// Run the plant simulator into any cluster (given with --brokers).
    Produce {
        /// Seconds of backfilled history to produce first.
        #[arg(long, default_value_t = 7200)]
        backfill_s: i64,
        /// Partitions of the telemetry topic, when it has to be created.
        #[arg(long, default_value_t = 16)]
        partitions: i32,
        /// Produce telemetry and events in Avro (Confluent wire format), registering the
        /// plant's schemas at --schema-registry.
        #[arg(long)]
        avro: bool,
    },
}

fn main() -> std::process::ExitCode {
    // librdkafka's own log repeats every failed connect; twinscope reports connection state
    // itself (banner, status bar, one log line per change), so it is off unless asked for.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,librdkafka=off,rdkafka=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twinscope: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let mut config = match &cli.conn.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(url) = &cli.schema_registry {
        config.schema_registry.url = Some(url.clone());
    }
    // An unresolvable registry password is refused here, not per record.
    config.schema_registry.resolve(None)?;
    let props = ClientProps::resolve(&config.kafka.properties, &cli.conn.props)?;
    let brokers = cli
        .conn
        .brokers
        .clone()
        .or_else(|| config.kafka.brokers.clone());
    let since = match cli.since.as_ref().or(config.kafka.since.as_ref()) {
        Some(s) => Some(
            now_ms()
                - parse_duration(s)
                    .with_context(|| format!("invalid --since {s:?} (use e.g. 30m, 2h)"))?,
        ),
        None => None,
    };
    match cli.command {
        None => run_gui(AppOptions {
            config,
            config_path: cli.conn.config.clone(),
            brokers,
            props,
            since,
            allow_write: cli.allow_write,
            demo: DemoOptions::default(),
            export_dir: cli.export_dir.clone(),
        }),
        Some(Cmd::Snapshot {
            at,
            diff,
            timeout_s,
            max_lateness,
        }) => {
            let lateness =
                match max_lateness {
                    Some(s) => Some(parse_duration(&s).with_context(|| {
                        format!("invalid --max-lateness {s:?} (use e.g. 60s, 5m)")
                    })?),
                    None => config.kafka.max_lateness_s.map(|s| s as i64 * 1000),
                };
            snapshot(
                &config,
                brokers,
                props,
                &at,
                diff.as_deref(),
                timeout_s,
                lateness,
            )
        }
        Some(Cmd::Incident {
            asset,
            code,
            at,
            out,
            lookback,
            scope,
            timeout_s,
        }) => {
            let Some(brokers) = brokers else {
                bail!("incident needs --brokers (or kafka.brokers in the config)");
            };
            let req = twinscope::headless::IncidentRequest {
                asset,
                code,
                at: at.map(|a| parse_time_input(&a, now_ms())).transpose()?,
                lookback_ms: parse_duration(&lookback)
                    .with_context(|| format!("invalid --lookback {lookback:?} (use e.g. 15m)"))?,
                scope: twinscope::twin::incident::Scope::parse(&scope).with_context(|| {
                    format!("invalid --scope {scope:?} (asset, parent, site or fleet)")
                })?,
            };
            let (onset, files) = twinscope::headless::incident_bundle(
                &config,
                &brokers,
                props,
                &req,
                &out,
                Duration::from_secs(timeout_s),
            )?;
            eprintln!(
                "{} {} on {} raised at {}: {} files in {}",
                onset.severity,
                onset.code,
                onset.asset,
                onset.at,
                files.len(),
                out.display()
            );
            Ok(())
        }
        Some(Cmd::Demo(DemoCmd::Broker {
            port,
            no_sim,
            partitions,
            avro,
        })) => demo_broker(
            &config,
            port,
            no_sim,
            partitions,
            avro_plant(&config, avro)?,
        ),
        Some(Cmd::Demo(DemoCmd::Produce {
            backfill_s,
            partitions,
            avro,
        })) => {
            let Some(b) = brokers else {
                bail!("demo produce needs --brokers")
            };
            let avro = avro_plant(&config, avro)?;
            demo_produce(&config, &b, props, backfill_s, partitions, avro)
        }
    }
}

fn run_gui(opts: AppOptions) -> Result<()> {
    let icon = eframe::icon_data::from_png_bytes(include_bytes!("../icons/twinscope.png"))
        .context("app icon")?;
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("twinscope")
            .with_app_id("twinscope")
            .with_inner_size([1600.0, 1000.0])
            .with_min_inner_size([900.0, 600.0])
            .with_icon(icon),
        persist_window: true,
        ..Default::default()
    };
    eframe::run_native(
        "twinscope",
        native,
        Box::new(move |cc| {
            let persisted: Persisted = cc
                .storage
                .and_then(|s| eframe::get_value(s, PERSIST_KEY))
                .unwrap_or_default();
            Ok(Box::new(TwinApp::new(&cc.egui_ctx, opts, persisted)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

fn snapshot(
    config: &Config,
    brokers: Option<String>,
    props: ClientProps,
    at: &str,
    diff: Option<&str>,
    timeout_s: u64,
    max_lateness_ms: Option<i64>,
) -> Result<()> {
    let now = now_ms();
    let t = parse_time_input(at, now)?;
    let t2 = diff.map(|d| parse_time_input(d, now)).transpose()?;
    let Some(brokers) = brokers else {
        bail!("snapshot needs --brokers (or kafka.brokers in the config)");
    };
    let until = t2.map_or(t, |t2| t.max(t2));
    let mut spec = spec_for(config, &brokers, props, StartAt::Beginning);
    // Exact by default: every partition is read to its end as of the start, so a record
    // however late in event time is seen. A stated lateness bound stops earlier.
    spec.stop_at = Some((until, max_lateness_ms.unwrap_or(i64::MAX)));
    let store = read_to_store_with_rules(
        spec,
        config.rules.clone(),
        config.history.budget_mb,
        t2.map_or(t, |t2| t.min(t2)),
        Duration::from_secs(timeout_s),
        Duration::from_secs(timeout_s.max(600)),
    )?;
    // Never print a state the log cannot prove: retention or compaction took what it rested on.
    for time in [Some(t), t2].into_iter().flatten() {
        store
            .exact_at(time)
            .map_err(|e| anyhow::anyhow!("--at {time}: {e}"))?;
    }
    let mut out = store.snapshot(t);
    if let serde_json::Value::Object(m) = &mut out {
        m.insert(
            "read".into(),
            match max_lateness_ms {
                None => serde_json::json!({"to": "end offsets at start", "exact": true}),
                Some(ms) => serde_json::json!({
                    "to": "event-time watermark",
                    "exact": false,
                    "assumed_max_lateness_ms": ms,
                }),
            },
        );
    }
    if let Some(t2) = t2
        && let serde_json::Value::Object(m) = &mut out
    {
        let d = twinscope::twin::diff::diff(&store, t, t2, None);
        m.insert("diff".into(), serde_json::to_value(d)?);
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

/// With `--avro`: the plant's Avro schemas, registered at the configured registry.
fn avro_plant(config: &Config, avro: bool) -> Result<Option<Arc<AvroPlant>>> {
    if !avro {
        return Ok(None);
    }
    let Some(settings) = config.schema_registry.resolve(None)? else {
        bail!("--avro needs --schema-registry URL (or [schema_registry] url)");
    };
    let plant = AvroPlant::register(&settings, &config.topics.telemetry, &config.topics.events)
        .with_context(|| format!("registering the demo's Avro schemas at {}", settings.url))?;
    eprintln!(
        "producing telemetry and events in Avro; schemas registered at {}",
        settings.url
    );
    Ok(Some(Arc::new(plant)))
}

fn demo_broker(
    config: &Config,
    port: Option<u16>,
    no_sim: bool,
    partitions: i32,
    avro: Option<Arc<AvroPlant>>,
) -> Result<()> {
    let opts = DemoOptions {
        partitions,
        simulate: !no_sim,
        port,
        avro,
        ..DemoOptions::default()
    };
    let demo = DemoBroker::start(&opts, &config.topics)?;
    println!("{}", demo.bootstrap());
    eprintln!(
        "twinscope demo broker: bootstrap {} ({} telemetry partitions{}). Ctrl-C to stop.",
        demo.bootstrap(),
        partitions,
        if no_sim {
            ", no simulator"
        } else {
            ", simulator running"
        }
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
    drop(demo);
    Ok(())
}

fn demo_produce(
    config: &Config,
    brokers: &str,
    props: ClientProps,
    backfill_s: i64,
    partitions: i32,
    avro: Option<Arc<AvroPlant>>,
) -> Result<()> {
    let settings = ClientSettings {
        brokers: brokers.to_owned(),
        props,
    };
    let created = ensure_topics(&settings, &config.topics, partitions)?;
    if !created.is_empty() {
        eprintln!("created topics: {}", created.join(", "));
    }
    // Idempotent: a retried batch must not land after a newer one (records out of time
    // order, shown as late data) nor twice.
    let producer: rdkafka::producer::BaseProducer = settings
        .producer_config("demo-produce")
        .set("enable.idempotence", "true")
        .create()?;
    let commands: rdkafka::consumer::BaseConsumer =
        settings.consumer_config("demo-sim-commands").create()?;
    let opts = DemoOptions {
        backfill_s,
        avro,
        ..DemoOptions::default()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let _ = rt.block_on(tokio::signal::ctrl_c());
            s.store(true, std::sync::atomic::Ordering::Relaxed);
        })?;
    eprintln!("producing the demo plant into {brokers}; Ctrl-C to stop");
    simulate_with_commands(
        &producer,
        Some(&commands),
        &config.topics,
        &opts,
        &stop,
        &std::sync::atomic::AtomicBool::new(false),
    );
    Ok(())
}

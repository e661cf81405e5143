//! The ingest benchmark: twinscope's headless read against `kcat` and a bare rdkafka poll
//! loop on the same topic, then scrubbing the store it built against a naive replay of the
//! log. The headless read and the scrub paths are shared with the fleet benchmark.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::message::Message;

use super::cluster::{
    Target, create_topic, encoded, fill, partitions_of, reader_from_start, topic_names,
};
use super::{
    BenchError, BenchFormat, BenchOptions, CpuTimes, Partitions, cpu_times, held, median, ms,
    now_ms_f,
};
use crate::app::TreeView;
use crate::config::SchemaRegistryConfig;
use crate::config::{ClientProps, Config, Topics};
use crate::headless::{read_to_store_with_rules, spec_for};
use crate::kafka::ingest::StartAt;
use crate::schema::encode::WireEncoder;
use crate::testkit::{Pcts, T0, Workload, ui_scrub};
use crate::twin::Store;

/// Ingest vs kcat vs the bare loop, then scrub vs naive replay on the store it produced.
pub(super) fn ingest_and_scrub(opts: &BenchOptions) -> Result<(), BenchError> {
    let w = Workload {
        records: opts.records,
        assets: opts.assets,
        start: T0,
        span_ms: 3_600_000,
        state: true,
    };
    let registry = match (opts.format.schema(), &opts.schema_registry) {
        (None, _) => None,
        (Some(_), Some(url)) => Some(SchemaRegistryConfig {
            url: Some(url.clone()),
            ..SchemaRegistryConfig::default()
        }),
        (Some(_), None) => {
            return Err(BenchError::Failed(format!(
                "--format {} needs --schema-registry URL",
                opts.format.name()
            )));
        }
    };
    let started = Instant::now();
    let mut target = match &opts.brokers {
        None => Target::mock(opts.partitions)?,
        Some(brokers) => Target::real(brokers, &ingest_topic_stem(opts, &w))?,
    };
    let encoder = match (opts.format.schema(), &registry) {
        (Some((format, text)), Some(reg)) => {
            let settings = reg
                .resolve(None)
                .map_err(|e| BenchError::Failed(e.to_string()))?
                .ok_or_else(|| BenchError::Failed("no registry".into()))?;
            // The topic-name strategy's subject; the real cluster's topic name carries the
            // format, so each format has its own subject there.
            let subject = format!("{}-value", target.topics.telemetry);
            Some(WireEncoder::register(&settings, &subject, format, text)?)
        }
        _ => None,
    };
    let bytes: usize = (0..w.records.min(10_000))
        .map(|i| {
            encoded(&w, i, encoder.as_ref()).map_or(0, |v| v.len())
                + Workload::asset_id(w.asset(i)).len()
        })
        .sum();
    let (parts, how) = match &opts.brokers {
        None => {
            let parts = fill(
                &target.bootstrap,
                &target.topics.telemetry,
                &w,
                opts.partitions,
                encoder.as_ref(),
            )?;
            (parts, "filled".to_owned())
        }
        Some(brokers) => {
            let (t, parts, how) = ingest_topic_on(brokers, opts, &w, encoder.as_ref())?;
            target = t;
            (parts, how)
        }
    };
    let (bootstrap, topics) = (target.bootstrap.as_str(), &target.topics);
    let n = held(&parts);
    println!(
        "\n== ingest ({}): {} records (~{} B key+value), {} assets, {} partitions; filled in \
         {:.1} s; topic holds {n} (log start > 0 on {} partitions)",
        opts.format.name(),
        w.records,
        bytes / w.records.clamp(1, 10_000),
        w.assets,
        opts.partitions,
        started.elapsed().as_secs_f64(),
        parts.iter().filter(|p| p.1 > 0).count(),
    );
    println!(
        "  cluster: {}; topic {} {how}",
        target.describe(),
        topics.telemetry
    );
    let mut kcat = Vec::new();
    let mut bare = Vec::new();
    let mut twin = Vec::new();
    // CPU per run (kcat: its own, as a child; the others: this process's).
    let (mut kcat_cpu, mut bare_cpu, mut twin_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut store = None;
    let mut kcat_ok = opts.kcat;
    // Interleaved, so drift (thermal, other load) hits every contender alike.
    for rep in 0..opts.reps.max(1) {
        if kcat_ok {
            match run_kcat(bootstrap, &topics.telemetry, rep == 0 && n <= 5_000_000)? {
                Some((d, count, cpu)) => {
                    if let Some(c) = count
                        && c != n
                    {
                        println!("  kcat read {c} records, expected {n}");
                    }
                    kcat.push(d);
                    kcat_cpu.extend(cpu);
                }
                None => {
                    println!(
                        "  kcat not found: apt-get install -y kcat (benches/ingest_vs_kcat.sh)"
                    );
                    kcat_ok = false;
                }
            }
        }
        let before = cpu_times();
        bare.push(run_bare(bootstrap, &topics.telemetry, &parts)?);
        bare_cpu.extend(spent(before).map(|c| c.own));
        let before = cpu_times();
        let (d, s) = run_twinscope(bootstrap, topics, registry.clone(), w.end())?;
        twin_cpu.extend(spent(before).map(|c| c.own));
        if s.stats().records != n {
            println!(
                "  twinscope applied {} records, expected {n}",
                s.stats().records
            );
        }
        twin.push(d);
        store = Some(s);
    }
    let rate = |v: &[Duration]| median(v.iter().map(|d| n as f64 / d.as_secs_f64()).collect());
    let show = |name: &str, v: &[Duration]| {
        let secs: Vec<String> = v
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect();
        println!(
            "  {name:<34} {:>12.0} msg/s  (median of runs: {} s)",
            rate(v),
            secs.join(", ")
        );
    };
    show("twinscope headless (snapshot --at end)", &twin);
    show("bare rdkafka BaseConsumer loop", &bare);
    if !kcat.is_empty() {
        show("kcat -C -e -q -o beginning", &kcat);
        println!(
            "  ratio twinscope / kcat        = {:.2}x  (goal >= 3x)",
            rate(&twin) / rate(&kcat)
        );
    }
    println!(
        "  ratio twinscope / bare loop   = {:.2}x  (goal >= 0.5x)",
        rate(&twin) / rate(&bare)
    );
    show_cpu(
        n,
        opts.brokers.is_none(),
        &[
            ("twinscope", &twin, &twin_cpu),
            ("bare loop", &bare, &bare_cpu),
            ("kcat", &kcat, &kcat_cpu),
        ],
    );
    match store {
        // The naive replay parses JSON values only.
        Some(store) if opts.format == BenchFormat::Json => {
            scrub_vs_naive(opts, bootstrap, &topics.telemetry, &parts, &store, &w)?;
        }
        _ => println!("  (scrub vs naive replay: with --format json only)"),
    }
    Ok(())
}

/// The telemetry topic for workload `w` on the real cluster at `brokers`: a complete one from
/// an earlier run (same name stem, partitions and record count) is reused; otherwise a new
/// topic is created, with a unique suffix if the plain name is taken, and filled.
fn ingest_topic_on(
    brokers: &str,
    opts: &BenchOptions,
    w: &Workload,
    encoder: Option<&WireEncoder>,
) -> Result<(Target, Partitions, String), BenchError> {
    let stem = ingest_topic_stem(opts, w);
    let want = w.records as u64;
    let existing = topic_names(brokers)?;
    for name in existing
        .iter()
        .filter(|t| *t == &stem || t.starts_with(&format!("{stem}-")))
    {
        let parts = partitions_of(brokers, name)?;
        if parts.len() == opts.partitions.max(1) as usize && held(&parts) == want {
            let target = Target::real(brokers, name)?;
            return Ok((
                target,
                parts,
                format!("reused (already held the {want} records; not produced again)"),
            ));
        }
    }
    let name = if existing.contains(&stem) {
        format!("{stem}-{}", now_ms_f() as u64)
    } else {
        stem
    };
    create_topic(brokers, &name, opts.partitions)?;
    let target = Target::real(brokers, &name)?;
    let parts = fill(brokers, &name, w, opts.partitions, encoder)?;
    Ok((
        target,
        parts,
        "created (replication 1, retention unlimited) and filled; kept for reuse".to_owned(),
    ))
}

/// The name (stem) of the ingest workload's topic on a real cluster: JSON keeps the name it
/// always had; other formats add theirs (a reused topic must hold the same encoding).
fn ingest_topic_stem(opts: &BenchOptions, w: &Workload) -> String {
    let stem = format!(
        "twinscope-bench.telemetry-{}r-{}a-{}p",
        w.records, w.assets, opts.partitions
    );
    match opts.format {
        BenchFormat::Json => stem,
        f => format!("{stem}-{}", f.name()),
    }
}

/// CPU used since `before`, when both readings exist.
fn spent(before: Option<CpuTimes>) -> Option<CpuTimes> {
    Some(cpu_times()?.since(before?))
}

/// Each contender's CPU per record and its CPU time as a share of its wall time (medians of
/// the runs). A reader that is busy for only part of its wall time is waiting on the
/// broker's fetches the rest of it, so its msg/s follows fetch timing rather than work: that
/// is why kcat's figure swings several-fold between runs here.
fn show_cpu(n: u64, mock: bool, runs: &[(&str, &[Duration], &[Duration])]) {
    let mut parts = Vec::new();
    for (name, wall, cpu) in runs {
        if cpu.is_empty() || cpu.len() != wall.len() {
            continue;
        }
        let per = median(
            cpu.iter()
                .map(|c| c.as_secs_f64() * 1e6 / n as f64)
                .collect(),
        );
        let busy = median(
            wall.iter()
                .zip(cpu.iter())
                .map(|(w, c)| 100.0 * c.as_secs_f64() / w.as_secs_f64())
                .collect(),
        );
        parts.push(format!(
            "{name} {per:.2} us/record, busy {busy:.0}% of wall"
        ));
    }
    if parts.is_empty() {
        println!("  CPU: /proc/self/stat not readable, not measured");
        return;
    }
    println!(
        "  CPU (user+sys, medians; 100% = one core): {}{}",
        parts.join("; "),
        if mock {
            " (on the embedded mock, twinscope's and the bare loop's include the cluster's threads)"
        } else {
            ""
        }
    );
}

/// Runs `kcat` over the whole topic to /dev/null: its wall time, and its CPU time where
/// `/proc` tells it. `None` when kcat is not installed. With `verify`, first runs it once
/// (untimed) with one byte per record, to count them.
fn run_kcat(bootstrap: &str, topic: &str, verify: bool) -> Result<Option<KcatRun>, BenchError> {
    let args = [
        "-b",
        bootstrap,
        "-C",
        "-t",
        topic,
        "-e",
        "-q",
        "-o",
        "beginning",
    ];
    let mut count = None;
    if verify {
        match Command::new("kcat")
            .args(args)
            .args(["-f", "x"])
            .stderr(Stdio::null())
            .output()
        {
            Ok(o) => count = Some(o.stdout.len() as u64),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    let before = cpu_times();
    let start = Instant::now();
    let status = match Command::new("kcat")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let d = start.elapsed();
    if !status.success() {
        return Err(BenchError::Failed(format!("kcat exited with {status}")));
    }
    Ok(Some((d, count, spent(before).map(|c| c.children))))
}

/// One kcat run: wall time, records counted (when verified), CPU time.
type KcatRun = (Duration, Option<u64>, Option<Duration>);

/// A bare consumer with the same settings as the ingest thread, assigned to every partition
/// from the beginning, touching only each payload's length: the client's own limit.
fn run_bare(
    bootstrap: &str,
    topic: &str,
    parts: &[(i32, i64, i64)],
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let c = reader_from_start(bootstrap, topic, parts, "bench-bare")?;
    let want = held(parts);
    let (mut n, mut bytes) = (0u64, 0usize);
    while n < want {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(BenchError::Failed(format!("bare loop read {n} of {want}")));
        }
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                n += 1;
                bytes += m.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(e)) => tracing::warn!("bare loop: {e}"),
            None => {}
        }
    }
    std::hint::black_box(bytes);
    Ok(start.elapsed())
}

/// What `twinscope snapshot --at END` does: the headless ingest (decode, store, time index)
/// bounded at the end of the data, then the snapshot JSON.
fn run_twinscope(
    bootstrap: &str,
    topics: &Topics,
    registry: Option<SchemaRegistryConfig>,
    end: i64,
) -> Result<(Duration, Store), BenchError> {
    let start = Instant::now();
    let budget_mb = Config::default().history.budget_mb;
    let store = read_headless(bootstrap, topics, registry, end, budget_mb)?;
    let json = serde_json::to_string(&store.snapshot(end))
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    std::hint::black_box(json.len());
    Ok((start.elapsed(), store))
}

/// The read of `twinscope snapshot --at END` (without the snapshot): the headless ingest
/// bounded at `end`, into a store with a `history.budget_mb` of `budget_mb`.
pub(super) fn read_headless(
    bootstrap: &str,
    topics: &Topics,
    registry: Option<SchemaRegistryConfig>,
    end: i64,
    budget_mb: usize,
) -> Result<Store, BenchError> {
    let mut config = Config {
        topics: topics.clone(),
        schema_registry: registry.unwrap_or_default(),
        ..Config::default()
    };
    config.history.budget_mb = budget_mb;
    let mut spec = spec_for(
        &config,
        bootstrap,
        ClientProps::default(),
        StartAt::Beginning,
    );
    spec.stop_at = Some((end, i64::MAX));
    Ok(read_to_store_with_rules(
        spec,
        config.rules.clone(),
        config.history.budget_mb,
        end,
        Duration::from_secs(20),
        Duration::from_secs(600),
    )?)
}

/// The state of the fleet at `t` as a kcat user gets it: read the whole topic from the
/// earliest offset and keep, per (asset, property), the value with the latest
/// `(event time, partition, offset)` at or before `t`. Returns the number of values.
///
/// # Errors
/// When the consumer fails or the topic cannot be read within 10 minutes.
pub fn naive_state_at(
    bootstrap: &str,
    topic: &str,
    parts: &[(i32, i64, i64)],
    t: i64,
) -> Result<usize, BenchError> {
    type Key = (String, String);
    let c = reader_from_start(bootstrap, topic, parts, "bench-naive")?;
    let want = held(parts);
    let start = Instant::now();
    let mut state: HashMap<Key, ((i64, i32, i64), serde_json::Value)> = HashMap::new();
    let mut n = 0u64;
    while n < want {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(BenchError::Failed(format!(
                "naive replay read {n} of {want}"
            )));
        }
        let Some(res) = c.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = res?;
        n += 1;
        let (Some(k), Some(v)) = (m.key(), m.payload()) else {
            continue;
        };
        let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(v) else {
            continue;
        };
        let Some(ts) = obj.get("ts").and_then(serde_json::Value::as_i64) else {
            continue;
        };
        if ts > t {
            continue;
        }
        let order = (ts, m.partition(), m.offset());
        let asset = String::from_utf8_lossy(k).into_owned();
        for (prop, val) in obj {
            if prop == "ts" {
                continue;
            }
            let e = state
                .entry((asset.clone(), prop))
                .or_insert((order, serde_json::Value::Null));
            if e.0 <= order {
                *e = (order, val);
            }
        }
    }
    Ok(state.len())
}

/// Scrub on the store the ingest built, then the same state from a naive replay of the log.
fn scrub_vs_naive(
    opts: &BenchOptions,
    bootstrap: &str,
    topic: &str,
    parts: &[(i32, i64, i64)],
    store: &Store,
    w: &Workload,
) -> Result<(), BenchError> {
    let times = random_times(opts.scrub_times, w.start, w.end());
    let selected = store
        .asset_by_id(&Workload::asset_id(w.assets / 2))
        .unwrap_or(0);
    let Scrub { ui, cold, snap } = scrub(store, &times, selected);
    println!(
        "\n== scrub: state at {} random T, {} assets, {} samples held",
        times.len(),
        store.assets().len(),
        store.stats().samples
    );
    println!("  UI path (the app's TreeView + alarms_at + props_at) {ui}");
    println!("  same, tree rebuilt every time (Tree::build)        {cold}");
    println!("  full fleet (Store::snapshot)                 {snap}");
    let mut naive = Vec::new();
    for &t in times.iter().take(opts.naive_times.max(1)) {
        let s = Instant::now();
        let values = naive_state_at(bootstrap, topic, parts, t)?;
        naive.push(ms(s.elapsed()));
        std::hint::black_box(values);
    }
    let naive = Pcts::of(naive);
    println!("  naive replay from the earliest offset        {naive}");
    println!(
        "  ratio naive / snapshot: p50 {:.0}x, naive p50 / snapshot p99 {:.0}x  (goal >= 100x)",
        naive.p50 / snap.p50,
        naive.p50 / snap.p99
    );
    Ok(())
}

/// `n` (at least one) random times in `start..=end`, the same on every run.
pub(super) fn random_times(n: usize, start: i64, end: i64) -> Vec<i64> {
    let mut rng = fastrand::Rng::with_seed(5);
    (0..n.max(1)).map(|_| rng.i64(start..=end)).collect()
}

/// What moving the cursor to each of a set of times costs, per path (ms).
pub(super) struct Scrub {
    /// What a frame recomputes, through the app's own tree cache.
    pub(super) ui: Pcts,
    /// The same with the tree built from scratch every time.
    pub(super) cold: Pcts,
    /// The whole fleet's state ([`Store::snapshot`]).
    pub(super) snap: Pcts,
}

/// The state at each of `times`, with `selected` as the selected asset, by each path.
pub(super) fn scrub(store: &Store, times: &[i64], selected: u32) -> Scrub {
    let mut snap = Vec::new();
    let mut ui = Vec::new();
    let mut cold = Vec::new();
    let mut shapes = TreeView::default();
    // One loop per path, so that each runs as it would across frames.
    for &t in times {
        let s = Instant::now();
        std::hint::black_box(ui_scrub(store, t, selected, Some(&mut shapes)));
        ui.push(ms(s.elapsed()));
    }
    for &t in times {
        let s = Instant::now();
        let j = store.snapshot(t);
        snap.push(ms(s.elapsed()));
        std::hint::black_box(j);
        let s = Instant::now();
        std::hint::black_box(ui_scrub(store, t, selected, None));
        cold.push(ms(s.elapsed()));
    }
    Scrub {
        ui: Pcts::of(ui),
        cold: Pcts::of(cold),
        snap: Pcts::of(snap),
    }
}

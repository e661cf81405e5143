//! A flood far above the history budget: the viewer's memory stays within the budget plus 20%,
//! the oldest history is evicted, and the state at the end is still exact.
//!
//! The broker (`twinscope demo broker`) and the viewer (`twinscope snapshot`) are separate
//! processes, so the viewer's peak RSS is measured alone, from `/proc/<pid>/status`. The fixed
//! cost of the process (code, librdkafka, allocator) is measured with a tiny topic in the same
//! run and subtracted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{T0, TestProducer, start_broker_process};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_twinscope");
const PARTITIONS: i32 = 64;
const BUDGET_MB: u64 = 128;
const PROPS: usize = 20;
/// Fewest `/proc/<pid>/status` readings that count as a measurement. Even the small snapshot
/// runs for hundreds of ms (process start, metadata, reading), i.e. dozens of 10 ms polls.
const MIN_SAMPLES: usize = 5;

/// `n` records of `assets` assets with PROPS numeric properties each, round-robin over the
/// partitions; returns the last value written per asset (the `seq` property).
fn flood(bootstrap: &str, topic: &str, partitions: i32, n: usize, assets: usize) {
    let mut p = TestProducer::new(bootstrap);
    for i in 0..n {
        let asset = i % assets;
        let ts = T0 + i as i64;
        let mut body = format!(r#"{{"ts": {ts}, "seq": {i}"#);
        for k in 1..PROPS {
            body.push_str(&format!(r#", "p{k:02}": {}.{}"#, i % 997, k));
        }
        body.push('}');
        let part = i32::try_from(i).unwrap() % partitions;
        p.send_str(topic, part, &format!("fleet/a{asset:05}"), &body, ts);
    }
    p.flush();
}

/// Runs `twinscope snapshot --at end` with the budget and returns (peak RSS in kB, snapshot).
fn snapshot_peak_rss(bootstrap: &str, topic: &str) -> (u64, Value) {
    let dir = std::env::temp_dir().join(format!("twinscope-flood-{}-{topic}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("flood.toml");
    let mut f = std::fs::File::create(&config).unwrap();
    writeln!(
        f,
        "[topics]\ntelemetry = \"{topic}\"\nevents = \"\"\nassets = \"\"\n\n[history]\nbudget_mb = {BUDGET_MB}"
    )
    .unwrap();
    drop(f);
    // Output goes to files: a pipe would fill up and block the child while we poll it.
    let out_path = dir.join("snapshot.json");
    let err_path = dir.join("stderr.txt");
    let mut child = Command::new(BIN)
        .args([
            "snapshot",
            "--at",
            "2030-01-01T00:00:00Z",
            "--brokers",
            bootstrap,
        ])
        .arg("--config")
        .arg(&config)
        .args(["--timeout-s", "120"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let proc_status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let mut samples = 0;
    let started = Instant::now();
    // VmHWM is the kernel's own peak; the last read before exit is the process's peak up to
    // then, and reading every 10 ms leaves only the final JSON output unobserved.
    while let Ok(text) = std::fs::read_to_string(&proc_status) {
        if let Some(kb) = text
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
            samples += 1;
        }
        if text.contains("State:\tZ") || started.elapsed() > Duration::from_secs(180) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = child.wait().unwrap();
    eprintln!(
        "snapshot of {topic} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "snapshot failed: {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    // Without readings the peak stays 0 and every bound below holds: that is no measurement.
    assert!(
        samples >= MIN_SAMPLES && peak > 0,
        "peak RSS of the {topic} snapshot not measured: {samples} VmHWM readings from {proc_status} \
         (at least {MIN_SAMPLES} needed), peak {peak} kB"
    );
    let snap: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (peak, snap)
}

#[test]
fn a_flood_far_above_the_budget_stays_within_budget_plus_20_percent() {
    let (_broker, bootstrap) = start_broker_process(&["--partitions", &PARTITIONS.to_string()]);
    const ASSETS: usize = 2_000;
    const RECORDS: usize = 500_000;
    // Each record holds PROPS samples: RECORDS * PROPS * 32 B of history, over twice the budget.
    let history_mb = (RECORDS * PROPS * 32) as f64 / f64::from(1 << 20);
    assert!(history_mb > 2.0 * BUDGET_MB as f64, "{history_mb} MB");
    // The demo broker's topics: the events topic (4 partitions) carries the small baseline,
    // the telemetry topic (PARTITIONS) the flood; the config maps either as telemetry.
    let t = Instant::now();
    flood(&bootstrap, "twin.events", 4, 2 * ASSETS, ASSETS);
    flood(&bootstrap, "twin.telemetry", PARTITIONS, RECORDS, ASSETS);
    eprintln!("produced in {:.1} s", t.elapsed().as_secs_f64());

    let (base_kb, small) = snapshot_peak_rss(&bootstrap, "twin.events");
    let (flood_kb, snap) = snapshot_peak_rss(&bootstrap, "twin.telemetry");
    let grew_mb = flood_kb.saturating_sub(base_kb) as f64 / 1024.0;
    eprintln!(
        "peak RSS: {base_kb} kB for {} records, {flood_kb} kB for {RECORDS} records \
         ({history_mb:.0} MB of history); growth {grew_mb:.1} MB, budget {BUDGET_MB} MB",
        2 * ASSETS
    );
    assert_eq!(small["assets"].as_object().unwrap().len(), ASSETS);
    assert!(
        grew_mb <= 1.2 * BUDGET_MB as f64,
        "peak RSS grew by {grew_mb:.1} MB over the baseline, budget {BUDGET_MB} MB"
    );

    // Nothing lost at the end: every asset holds its last record's values.
    let assets = snap["assets"].as_object().unwrap();
    assert_eq!(assets.len(), ASSETS);
    for a in 0..ASSETS {
        let last = RECORDS - ASSETS + a;
        let got = &assets[&format!("fleet/a{a:05}")];
        assert_eq!(got["seq"].as_f64(), Some(last as f64), "asset {a}");
        let p07 = got["p07"].as_f64().unwrap();
        assert!(
            (p07 - ((last % 997) as f64 + 0.7)).abs() < 1e-9,
            "asset {a}: {p07}"
        );
    }
}

//! The command line end to end: a standalone `twinscope demo broker --no-sim`, filled by an
//! outside tool (kcat) with a non-default payload shape, read back with
//! `twinscope snapshot --at T` and a mapping config, and compared with an independent fold of
//! the same records. Needs `kcat` (Debian package `kcat`; `.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod common;

use common::{free_port, start_broker_process};

const BIN: &str = env!("CARGO_BIN_EXE_twinscope");
const BASE_S: i64 = 1_700_000_000;
const VINS: i64 = 24;
const STEPS: i64 = 30;

fn kcat_produce(bootstrap: &str, topic: &str, lines: &[String]) {
    let mut kcat = Command::new("kcat")
        .args(["-b", bootstrap, "-P", "-t", topic, "-K", "|"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat is required for this test: apt-get install kcat");
    let mut stdin = kcat.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    assert!(kcat.wait().unwrap().success(), "kcat failed");
}

/// One telemetry record of the fleet: key and value as produced.
struct Rec {
    vin: String,
    t_ms: i64,
    region: &'static str,
    fleet: String,
    speed: f64,
}

fn records() -> Vec<Rec> {
    let mut out = Vec::new();
    // Produced in event-time order, so every partition is in event-time order too.
    for k in 0..STEPS {
        for v in 0..VINS {
            // Vehicles join the fleet at different times.
            if k < v % 7 {
                continue;
            }
            out.push(Rec {
                vin: format!("V{v:03}"),
                t_ms: (BASE_S + k * 10) * 1000 + v * 7,
                region: if v % 2 == 0 { "eu" } else { "us" },
                fleet: format!("f{}", v % 3),
                speed: 40.25 + k as f64 + v as f64 * 0.5,
            });
        }
    }
    out
}

/// The independent fold: for every vehicle, its last record at or before T.
fn expected_assets(recs: &[Rec], t: i64) -> Value {
    let mut m: BTreeMap<String, Value> = BTreeMap::new();
    for r in recs.iter().filter(|r| r.t_ms <= t) {
        m.insert(
            r.vin.clone(),
            json!({"region": r.region, "fleet": r.fleet, "speed": r.speed}),
        );
    }
    json!(m)
}

fn snapshot(bootstrap: &str, config: &std::path::Path, at: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["snapshot", "--at", at, "--brokers", bootstrap, "--config"])
        .arg(config)
        .args(["--timeout-s", "20"])
        .output()
        .unwrap()
}

#[test]
fn snapshot_of_a_kcat_filled_broker_equals_an_independent_fold() {
    let (_broker, bootstrap) = start_broker_process(&[]);
    let recs = records();
    let lines: Vec<String> = recs
        .iter()
        .map(|r| {
            let v = json!({"vin": r.vin, "t": r.t_ms as f64 / 1000.0, "region": r.region, "fleet": r.fleet, "speed": r.speed});
            format!("gw-{}|{v}", &r.vin[1..])
        })
        .collect();
    kcat_produce(&bootstrap, "twin.telemetry", &lines);
    let alarm_t = (BASE_S + 95) * 1000;
    let alarm = json!({"vin": "V003", "t": alarm_t as f64 / 1000.0, "type": "alarm", "code": "LOW_TIRE", "sev": 2, "state": "active", "message": "tyre pressure low"});
    kcat_produce(&bootstrap, "twin.events", &[format!("gw-003|{alarm}")]);

    let dir = std::env::temp_dir().join(format!("twinscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("fleet.toml");
    std::fs::write(&config, common::CAR_MAPPING).unwrap();

    let first = recs.iter().map(|r| r.t_ms).min().unwrap();
    let last = recs.iter().map(|r| r.t_ms).max().unwrap();
    let mut times = vec![
        first - 1,
        first,
        first + 1,
        alarm_t - 1,
        alarm_t,
        last,
        last + 60_000,
    ];
    times.extend((1..9).map(|i| first + (last - first) * i / 9 + i * 13));
    for t in times {
        let out = snapshot(&bootstrap, &config, &t.to_string());
        assert!(
            out.status.success(),
            "snapshot at {t} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["at"], json!(t));
        assert_eq!(got["assets"], expected_assets(&recs, t), "assets at {t}");
        let alarms = if t >= alarm_t {
            json!([{"asset": "V003", "code": "LOW_TIRE", "severity": "high", "state": "unack_active", "since": alarm_t}])
        } else {
            json!([])
        };
        assert_eq!(got["alarms"], alarms, "alarms at {t}");
    }
    // --diff: what changed between two times, in the diff panel's JSON shape.
    let (a, b) = (first + 5_000, alarm_t);
    let config_arg = config.to_string_lossy();
    let diff = ["--diff", &b.to_string(), "--config", &config_arg];
    let got = common::snapshot_json(&bootstrap, a, &diff);
    let (ea, eb) = (expected_assets(&recs, a), expected_assets(&recs, b));
    let added: Vec<&String> = eb
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| ea.get(*k).is_none())
        .collect();
    assert_eq!(got["diff"]["added"], json!(added));
    assert_eq!(
        got["diff"]["raised"],
        json!([{"asset": "V003", "code": "LOW_TIRE", "severity": "high", "at": alarm_t}])
    );
    let speed_changes = got["diff"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["property"] == "speed")
        .count();
    let expected_changes = eb
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| ea.get(*k).map(|o| &o["speed"]) != Some(&v["speed"]))
        .count();
    assert_eq!(speed_changes, expected_changes);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn snapshot_fails_clearly_on_bad_time_and_unreachable_brokers() {
    let args = [
        "snapshot",
        "--at",
        "yesterday-ish",
        "--brokers",
        "127.0.0.1:9",
    ];
    let err = common::failure_message(&common::twinscope(&args));
    assert!(err.contains("not a time"), "{err}");

    let unreachable = format!("127.0.0.1:{}", free_port());
    let args = [
        "snapshot",
        "--at",
        "-5m",
        "--brokers",
        &unreachable,
        "--timeout-s",
        "3",
    ];
    let out = common::twinscope(&args);
    let err = common::failure_message(&out);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `--since` is a global flag (src/main.rs parses it before any subcommand, for the window's
/// look-back; `ui_claims.rs` tests what the window does with it): a value that is not a
/// duration is refused with a message, whatever the subcommand.
#[test]
fn a_bad_since_is_refused_by_every_subcommand() {
    for args in [
        &["snapshot", "--at", "-5m", "--brokers", "127.0.0.1:9"][..],
        &["demo", "produce", "--brokers", "127.0.0.1:9"][..],
    ] {
        let out = common::twinscope(&[args, &["--since", "2 fortnights"]].concat());
        let err = common::failure_message(&out);
        assert!(
            err.contains("invalid --since \"2 fortnights\""),
            "{args:?}: {err}"
        );
    }
}

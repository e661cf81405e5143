//! The incident bundle read back: `twinscope incident` (the process, reading a MockCluster)
//! writes a folder, and every file is checked against what was produced: the states against
//! the reference fold, each value's partition, offset and Kafka time against the record that
//! set it, the ranking, the journal with its operator and comment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::fold::Produced;
use common::incident_plant::{
    ACK_COMMENT, CODE, FIRST_ONSET, MIN, ONSET, PRESS, ROBOT, produce_plant, winner,
};
use serde_json::{Value as Json, json};

fn read_json(dir: &Path, name: &str) -> Json {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Rows of a CSV the bundle wrote (no field in these tests holds a quoted comma except the
/// last, `kcat`, which is never quoted either).
fn read_csv(dir: &Path, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>())
        .inspect(|r| assert_eq!(r.len(), header.len(), "{name}: {r:?}"))
        .collect();
    (header, rows)
}

fn incident(bootstrap: &str, out: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_twinscope"))
        .args([
            "incident", "-b", bootstrap, "--asset", ROBOT, "--code", CODE, "--out",
        ])
        .arg(out)
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success(), "twinscope incident failed: {status}");
}

/// Checks one `source` object of `changes.json` against the produced record.
fn check_source(src: &Json, produced: &Produced, asset: &str, prop: &str, t: i64, bootstrap: &str) {
    let ((partition, offset, kafka_ts), _) = winner(produced, asset, prop, t).unwrap();
    assert_eq!(src["topic"], "twin.telemetry");
    assert_eq!(src["partition"], partition, "{asset}.{prop} at {t}");
    assert_eq!(src["offset"], offset, "{asset}.{prop} at {t}");
    assert_eq!(src["kafka_ts_ms"], kafka_ts);
    assert_eq!(
        src["kcat"],
        format!("kcat -C -b {bootstrap} -t twin.telemetry -p {partition} -o {offset} -c 1")
    );
}

#[test]
fn incident_bundle_matches_what_was_produced() {
    let (cluster, produced) = produce_plant();
    let bootstrap = cluster.bootstrap_servers();
    let tmp = std::env::temp_dir().join(format!("twinscope-incident-{}", std::process::id()));
    let out = tmp.join("newest");
    incident(&bootstrap, &out, &["--scope", "parent"]);

    let inc = read_json(&out, "incident.json");
    assert_eq!(inc["asset"], ROBOT);
    assert_eq!(inc["code"], CODE);
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["onset"], ONSET);
    assert_eq!(inc["before"], ONSET - 15 * MIN);
    assert_eq!(inc["scope_path"], "plant/line1");
    assert_eq!(
        inc["window"],
        json!({"from": ONSET - 15 * MIN, "to": ONSET + 5 * MIN})
    );
    for f in inc["files"].as_array().unwrap() {
        assert!(
            out.join(f.as_str().unwrap()).is_file(),
            "{f} listed but missing"
        );
    }

    // The states are the reference fold's, at the onset and at onset − N.
    let at_onset = read_json(&out, "state-at-onset.json");
    assert_eq!(at_onset["at"], ONSET);
    assert_eq!(at_onset["assets"], produced.state_at(ONSET));
    let before = read_json(&out, "state-before.json");
    assert_eq!(before["assets"], produced.state_at(ONSET - 15 * MIN));

    // The diff and its ranking: mode (a state change) first, then torque, far outside its
    // normal range; the press is in another line, so outside the parent scope.
    let diff = read_json(&out, "diff.json");
    assert!(
        diff["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["asset"] == ROBOT
                && c["property"] == "mode"
                && c["old"] == "AUTO"
                && c["new"] == "MANUAL")
    );
    let changes = read_json(&out, "changes.json");
    let changes = changes.as_array().unwrap();
    let top: Vec<(&str, &str)> = changes
        .iter()
        .take(2)
        .map(|c| {
            (
                c["asset"].as_str().unwrap(),
                c["property"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(top, vec![(ROBOT, "mode"), (ROBOT, "torque")]);
    assert_eq!(changes[0]["kind"], "state");
    assert_eq!(changes[1]["new"], 55.0);
    assert_eq!(changes[1]["normal_range"], json!([10.0, 12.0]));
    assert!(changes.iter().all(|c| c["asset"] != PRESS));
    for c in changes {
        let (asset, prop) = (
            c["asset"].as_str().unwrap(),
            c["property"].as_str().unwrap(),
        );
        check_source(&c["new_source"], &produced, asset, prop, ONSET, &bootstrap);
        check_source(
            &c["old_source"],
            &produced,
            asset,
            prop,
            ONSET - 15 * MIN,
            &bootstrap,
        );
        assert_eq!(
            Some(&c["new"]),
            winner(&produced, asset, prop, ONSET).map(|w| w.1).as_ref()
        );
    }

    // The journal, with the operator and the comment; the other alarm raised meanwhile.
    let alarms = read_json(&out, "alarms.json");
    let journal = alarms["journal"].as_array().unwrap();
    let causes: Vec<(&str, i64)> = journal
        .iter()
        .map(|t| (t["cause"].as_str().unwrap(), t["ts"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        causes,
        vec![
            ("activated", FIRST_ONSET),
            ("acked", FIRST_ONSET + 2 * MIN),
            ("cleared", FIRST_ONSET + 5 * MIN),
            ("activated", ONSET)
        ]
    );
    assert_eq!(journal[1]["by"], "alice");
    assert_eq!(journal[1]["comment"], ACK_COMMENT);
    assert_eq!(
        alarms["raised"],
        json!([{"asset": PRESS, "code": "HOT", "severity": "medium", "at": ONSET - 4 * MIN}])
    );

    // Every sample of the plotted series in the window, each with its record.
    let (header, rows) = read_csv(&out, "series.csv");
    assert_eq!(
        header[..5],
        ["time_ms", "time_rfc3339", "asset", "property", "value"]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut seen = Vec::new();
    for r in &rows {
        let (ts, prop): (i64, &str) = (r[0].parse().unwrap(), &r[3]);
        assert_eq!(r[2], ROBOT);
        let ((partition, offset, kafka_ts), value) = winner(&produced, ROBOT, prop, ts).unwrap();
        assert_eq!(r[col("partition")], partition.to_string());
        assert_eq!(r[col("offset")], offset.to_string());
        assert_eq!(r[col("kafka_ts_ms")], kafka_ts.to_string());
        assert_eq!(
            r[col("value")].parse::<f64>().unwrap(),
            value.as_f64().unwrap()
        );
        assert_eq!(
            r[col("kcat")],
            format!("kcat -C -b {bootstrap} -t twin.telemetry -p {partition} -o {offset} -c 1")
        );
        seen.push((prop.to_owned(), ts));
    }
    // Numeric properties only (mode is text), one row per produced sample in the window.
    let mut expected: Vec<(String, i64)> = produced
        .tele
        .iter()
        .filter(|r| r.key == ROBOT && r.ts >= ONSET - 15 * MIN && r.ts <= ONSET + 5 * MIN)
        .flat_map(|r| {
            r.props
                .iter()
                .filter(|(_, v)| v.is_number())
                .map(|(k, _)| (k.clone(), r.ts))
        })
        .collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);

    // Every value in the scope at both times, with its record.
    let (header, rows) = read_csv(&out, "values.csv");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert!(
        rows.iter()
            .any(|r| r[col("asset")] == ROBOT && r[col("property")] == "mode")
    );
    for r in &rows {
        let t: i64 = r[col("time_ms")].parse().unwrap();
        let ((partition, offset, _), value) =
            winner(&produced, &r[col("asset")], &r[col("property")], t).unwrap();
        assert_eq!(
            (
                r[col("partition")].parse::<i32>().unwrap(),
                r[col("offset")].parse::<i64>().unwrap()
            ),
            (partition, offset)
        );
        let expected = match value {
            Json::String(s) => s,
            v => v.to_string(),
        };
        assert_eq!(r[col("value")], expected);
    }
    assert!(
        std::fs::read_to_string(out.join("README.md"))
            .unwrap()
            .contains("series.csv")
    );

    // --at picks the earlier onset, which was acknowledged and cleared.
    let earlier = tmp.join("earlier");
    let at = (FIRST_ONSET + 10 * MIN).to_string();
    incident(&bootstrap, &earlier, &["--at", &at, "--lookback", "5m"]);
    let inc = read_json(&earlier, "incident.json");
    assert_eq!(inc["onset"], FIRST_ONSET);
    assert_eq!(inc["lookback_ms"], 5 * MIN);
    assert_eq!(
        read_json(&earlier, "state-at-onset.json")["assets"],
        produced.state_at(FIRST_ONSET)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn incident_for_an_unknown_alarm_fails_with_a_message() {
    let (cluster, _) = produce_plant();
    let out = std::env::temp_dir().join(format!("twinscope-incident-none-{}", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_twinscope"))
        .args([
            "incident",
            "-b",
            &cluster.bootstrap_servers(),
            "--asset",
            PRESS,
            "--code",
            CODE,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has no alarm"), "{err}");
    assert!(!out.join("incident.json").exists());
}

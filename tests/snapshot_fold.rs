//! The store's answer "as of T", read through the real ingest thread from out-of-order
//! records on several partitions, against a plain reference fold computed here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value as Json, json};
use twinscope::config::Config;
use twinscope::twin::seq_parts;

use common::read_all;

use common::T0;
const PARTITIONS: i32 = 6;
const RECORDS: usize = 3000;
const ASSETS: usize = 24;
/// Assets known only from `twin.assets` (no telemetry at all).
const DEF_ONLY: std::ops::Range<usize> = 20..24;

fn asset_id(a: usize) -> String {
    format!("site/l{}/m{a}", a % 4)
}

/// A telemetry record as produced.
struct Tele {
    asset: usize,
    partition: i32,
    offset: i64,
    ts: i64,
    props: Vec<(String, Json)>,
}

/// A `twin.assets` record as produced; `alive` is false for a tombstone.
struct Def {
    asset: usize,
    offset: i64,
    ts: i64,
    alive: bool,
}

/// Properties of one telemetry payload; at least one, some nested, one that switches type.
fn random_props(rng: &mut fastrand::Rng) -> Vec<(String, Json)> {
    loop {
        let mut props = Vec::new();
        if rng.bool() {
            props.push(("x".to_owned(), json!(f64::from(rng.i32(-4000..4000)) / 8.0)));
        }
        if rng.u8(0..3) == 0 {
            props.push(("y".to_owned(), json!(f64::from(rng.i32(0..100)))));
        }
        if rng.u8(0..3) == 0 {
            let s = ["RUN", "IDLE", "STOP", "FAULT"][rng.usize(0..4)];
            props.push(("s".to_owned(), json!(s)));
        }
        if rng.u8(0..4) == 0 {
            props.push(("b".to_owned(), json!(rng.bool())));
        }
        if rng.u8(0..4) == 0 {
            props.push(("n.z".to_owned(), json!(f64::from(rng.i32(0..1000)) / 4.0)));
        }
        if rng.u8(0..5) == 0 {
            // Mostly numbers, sometimes text: the series must switch columns losslessly.
            let v = if rng.u8(0..3) == 0 {
                json!(format!("v{}", rng.u8(0..10)))
            } else {
                json!(f64::from(rng.i32(0..50)) / 2.0)
            };
            props.push(("m".to_owned(), v));
        }
        if !props.is_empty() {
            return props;
        }
    }
}

fn payload(ts: i64, props: &[(String, Json)]) -> String {
    let mut obj = Map::new();
    obj.insert("ts".to_owned(), json!(ts));
    for (name, v) in props {
        match name.split_once('.') {
            Some((outer, inner)) => {
                obj.insert(outer.to_owned(), json!({ inner: v }));
            }
            None => {
                obj.insert(name.clone(), v.clone());
            }
        }
    }
    Json::Object(obj).to_string()
}

/// (asset, property) -> (partition, offset) of the record that set the value.
type Origins = BTreeMap<(usize, String), (i32, i64)>;

/// The reference: each asset existing at `t` with, per property, the value of the record with
/// the greatest (ts, partition, offset) among those with ts <= t.
fn reference(tele: &[Tele], defs: &[Def], t: i64) -> (Json, Origins) {
    let mut assets = Map::new();
    let mut origin = BTreeMap::new();
    for a in 0..ASSETS {
        let latest_def = defs
            .iter()
            .filter(|d| d.asset == a && d.ts <= t)
            .max_by_key(|d| (d.ts, d.offset));
        let exists = match latest_def {
            Some(d) => d.alive,
            None => tele.iter().any(|r| r.asset == a && r.ts <= t),
        };
        if !exists {
            continue;
        }
        let mut props: BTreeMap<String, (i64, i32, i64, Json)> = BTreeMap::new();
        for r in tele.iter().filter(|r| r.asset == a && r.ts <= t) {
            for (name, v) in &r.props {
                let key = (r.ts, r.partition, r.offset);
                let better = props
                    .get(name)
                    .is_none_or(|(ts, p, o, _)| key > (*ts, *p, *o));
                if better {
                    props.insert(name.clone(), (r.ts, r.partition, r.offset, v.clone()));
                }
            }
        }
        let mut obj = Map::new();
        for (name, (_, p, o, v)) in props {
            origin.insert((a, name.clone()), (p, o));
            obj.insert(name, v);
        }
        assets.insert(asset_id(a), Json::Object(obj));
    }
    (Json::Object(assets), origin)
}

#[test]
fn state_at_matches_reference_fold_for_random_times() {
    let mut rng = fastrand::Rng::with_seed(0x7717_5c09e);
    let (_cluster, bootstrap, mut p) =
        common::producer_into(common::twin_cluster(3, PARTITIONS, 1));

    // Telemetry: event times in whole seconds over ten minutes (so ties are common), in
    // random order across and within partitions; the Kafka time is the event time.
    // A record equal to an earlier one in asset, time and values is a producer's retry,
    // which the store lists as a duplicate (tests/hostile.rs); this fold is about distinct
    // records, so none are generated.
    let mut tele = Vec::with_capacity(RECORDS);
    let mut seen = std::collections::HashSet::new();
    while tele.len() < RECORDS {
        let asset = rng.usize(0..DEF_ONLY.start);
        let partition = rng.i32(0..PARTITIONS);
        let ts = T0 + rng.i64(0..600) * 1000;
        let props = random_props(&mut rng);
        let key = asset_id(asset);
        let body = payload(ts, &props);
        if !seen.insert((asset, body.clone())) {
            continue;
        }
        let offset = p.send_str("twin.telemetry", partition, &key, &body, ts);
        tele.push(Tele {
            asset,
            partition,
            offset,
            ts,
            props,
        });
    }

    // Asset definitions: some assets appear only later (with or without earlier telemetry),
    // some are removed, some removed and added again; one definition and tombstone share a
    // time, where the later offset wins.
    let mut plan: Vec<(usize, i64, bool)> = Vec::new();
    for a in 0..6 {
        plan.push((a, T0 + rng.i64(100..500) * 1000, false));
    }
    for a in 3..6 {
        plan.push((a, T0 + rng.i64(500..600) * 1000, true));
    }
    for a in 6..10 {
        plan.push((a, T0 + rng.i64(200..400) * 1000, true));
    }
    for a in DEF_ONLY {
        plan.push((a, T0 + rng.i64(0..600) * 1000, true));
        if a % 2 == 0 {
            plan.push((a, T0 + rng.i64(0..600) * 1000, false));
        }
    }
    plan.push((10, T0 + 400_000, true));
    plan.push((10, T0 + 400_000, false));
    plan.push((11, T0 + 450_000, false));
    plan.push((11, T0 + 450_000, true));
    let same_time_tail = plan.split_off(plan.len() - 4);
    rng.shuffle(&mut plan);
    plan.extend(same_time_tail);
    let mut defs = Vec::new();
    for (asset, ts, alive) in plan {
        let key = asset_id(asset);
        let offset = if alive {
            let body =
                json!({"ts": ts, "kind": "machine", "name": format!("M{asset}")}).to_string();
            p.send_str("twin.assets", 0, &key, &body, ts)
        } else {
            p.send("twin.assets", 0, Some(key.as_bytes()), None, ts)
        };
        defs.push(Def {
            asset,
            offset,
            ts,
            alive,
        });
    }
    p.flush();

    let store = read_all(&Config::default(), &bootstrap);
    assert_eq!(store.bad_records(), &[]);
    let stats = store.stats();
    assert_eq!(stats.records, (RECORDS + defs.len()) as u64);
    assert_eq!(stats.bad, 0);
    assert_eq!(stats.duplicates, 0);
    let samples: usize = tele.iter().map(|r| r.props.len()).sum();
    assert_eq!(stats.samples, samples as u64);
    assert_eq!(store.assets().len(), ASSETS);

    // Times: uniform over the range and a little beyond, and exactly at record times (where
    // ties and "ts <= T" boundaries matter), and one millisecond before them.
    let mut times: Vec<i64> = Vec::new();
    for i in 0..200 {
        let t = match i % 4 {
            0 | 1 => T0 + rng.i64(-2_000..602_000),
            2 => tele[rng.usize(0..tele.len())].ts,
            _ => {
                if rng.bool() {
                    defs[rng.usize(0..defs.len())].ts
                } else {
                    tele[rng.usize(0..tele.len())].ts - 1
                }
            }
        };
        times.push(t);
    }
    times.extend([
        T0 - 1,
        T0,
        T0 + 400_000,
        T0 + 450_000,
        T0 + 599_000,
        T0 + 10_000_000,
    ]);

    let mut nonempty = 0;
    for &t in &times {
        let (expected, origin) = reference(&tele, &defs, t);
        let snap = store.snapshot(t);
        assert_eq!(snap["at"], json!(t));
        assert_eq!(snap["assets"], expected, "snapshot at T0{:+}", t - T0);
        // Provenance of every value: the winning record's partition and offset.
        for ((a, name), want) in &origin {
            let idx = store.asset_by_id(&asset_id(*a)).unwrap();
            let pv = store
                .props_at(idx, t)
                .into_iter()
                .find(|pv| &*pv.name == name)
                .unwrap();
            assert_eq!(
                seq_parts(pv.sample.seq),
                *want,
                "{} {name} at T0{:+}",
                asset_id(*a),
                t - T0
            );
        }
        nonempty += usize::from(!origin.is_empty());
    }
    // The times exercised real state, not only empty snapshots.
    assert!(nonempty > 150, "only {nonempty} non-empty snapshots");
    // Before any record nothing exists.
    assert_eq!(store.snapshot(T0 - 1)["assets"], json!({}));

    // The `snapshot --at T` path: every partition read to its end offset as of the start
    // (exact for any lateness; event times here are shuffled across the whole range), then
    // the state at T.
    for &t in &times {
        let read = common::read_bounded(
            &Config::default(),
            &bootstrap,
            t,
            i64::MAX,
            Duration::from_secs(20),
        )
        .unwrap();
        let (expected, _) = reference(&tele, &defs, t);
        assert_eq!(
            read.snapshot(t)["assets"],
            expected,
            "snapshot read at T0{:+}",
            t - T0
        );
    }
    // With an assumed lateness (`--max-lateness`) a read stops early: far less than the log for
    // an early T, and, as this log breaks the assumption, a different answer.
    let t = T0 + 60_000;
    let bounded = common::read_bounded(
        &Config::default(),
        &bootstrap,
        t,
        1_000,
        Duration::from_secs(20),
    )
    .unwrap();
    let (expected, _) = reference(&tele, &defs, t);
    assert!(
        bounded.stats().records < (RECORDS / 2) as u64,
        "the bounded read stopped early: {} records",
        bounded.stats().records
    );
    assert_ne!(bounded.snapshot(t)["assets"], expected);
}

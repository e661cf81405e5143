//! twinscope's promises on a real Apache Kafka (one KRaft node, `tests/common/real_kafka.rs`),
//! where librdkafka's mock cluster cannot stand in: exact state at T through `snapshot` and
//! the store, the broker's `ListOffsets` by time, no consumer group and no writes, compaction
//! of `twin.assets`, time retention, and `demo produce` creating its topics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value as Json, json};
use twinscope::app::{AppOptions, Persisted};
use twinscope::config::{ClientProps, Config};
use twinscope::headless::{read_to_store, spec_for};
use twinscope::kafka::client::ClientSettings;
use twinscope::kafka::ingest::StartAt;
use twinscope::kafka::seek::{SeekMethod, TimeIndex, offset_by_bisection, offset_for_time};
use twinscope::twin::store::NotExact;

use common::TestProducer;
use common::fold::{Fleet, produce_fleet};
use common::real_kafka::{KafkaOptions, RealKafka, twin_kafka};

const BIN: &str = env!("CARGO_BIN_EXE_twinscope");
/// 2024-03-01T00:00:00Z: data no other test uses.
const T0: i64 = 1_709_251_200_000;

/// `twinscope snapshot --at T --brokers B` with `extra` arguments.
fn snapshot_cli(bootstrap: &str, at: i64, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["snapshot", "--at", &at.to_string(), "--brokers", bootstrap])
        .args(["--timeout-s", "30"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn snapshot_and_store_equal_the_fold_on_a_real_broker() {
    let (_kafka, bootstrap, mut p, mut rng) = common::producing(twin_kafka(4), 0x5eed_4ea1);
    let fleet = Fleet {
        cars: 30,
        records: 3_000,
        partitions: 4,
        t0: T0,
        span_ms: 20 * 60_000,
        jitter_ms: 90_000,
    };
    let produced = produce_fleet(&mut p, &mut rng, fleet);
    p.flush();

    // The store, read by the real ingest thread.
    let store = common::read_all(&Config::default(), &bootstrap);
    assert_eq!(store.bad_records(), &[]);
    assert_eq!(
        store.stats().records,
        (produced.tele.len() + produced.defs.len()) as u64
    );
    let times = produced.probe_times(&mut rng, 120);
    let mut nonempty = 0;
    for &t in &times {
        nonempty += usize::from(!produced.assets_at(t).is_empty());
        produced.assert_folds(&store.snapshot(t), t, T0, "store");
        assert!(
            store.exact_at(t).is_ok(),
            "nothing deleted or compacted yet"
        );
    }
    assert!(nonempty > 100, "only {nonempty} non-empty states");

    // The command line, a fresh process each time, at a spread of times including the edges.
    let mut cli_times: Vec<i64> = times.iter().step_by(15).copied().collect();
    cli_times.extend([
        T0 - 1,
        T0,
        T0 + fleet.span_ms / 2,
        T0 + fleet.span_ms + 5_000,
    ]);
    for &t in &cli_times {
        let out = common::success_json(&snapshot_cli(&bootstrap, t, &[]));
        produced.assert_folds(&out, t, T0, "snapshot --at");
        assert_eq!(out["read"]["exact"], json!(true));
    }
}

/// A plain consumer for checks: watermarks, the log as it is, group lists.
fn checker(bootstrap: &str) -> BaseConsumer {
    ClientSettings::plain(bootstrap)
        .consumer_config("check")
        .create()
        .unwrap()
}

/// Every record of `topic`/`partition` as it is in the log now: `(offset, kafka ts)`.
fn log_of(bootstrap: &str, topic: &str, partition: i32) -> Vec<(i64, i64)> {
    let c = checker(bootstrap);
    let (low, high) = c
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(low))
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    while out.last().map_or(low, |&(o, _)| o + 1) < high {
        assert!(started.elapsed() < Duration::from_secs(30), "log read-back");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            out.push((m.offset(), m.timestamp().to_millis().unwrap()));
        }
    }
    out
}

#[test]
fn seek_by_time_uses_the_broker_and_agrees_with_the_index_and_bisection() {
    let kafka = RealKafka::start(KafkaOptions::default());
    kafka.create_topic("seek.t", 1, 1, &[]);
    let (_kafka, bootstrap, mut p, mut rng) = common::producing(kafka, 17);
    // Non-decreasing Kafka times with runs of equal ones, as batching producers write them.
    let mut ts = T0;
    for i in 0..4_000 {
        ts += rng.i64(0..3) * 250;
        p.send_str("seek.t", 0, "k", &format!(r#"{{"i": {i}}}"#), ts);
    }
    p.flush();
    let log = log_of(&bootstrap, "seek.t", 0);
    assert_eq!(log.len(), 4_000);
    let scan = |t: i64| {
        log.iter()
            .find(|&&(_, ts)| ts >= t)
            .map_or(4_000, |&(o, _)| o)
    };
    let mut index = TimeIndex::default();
    for &(o, ts) in &log {
        index.observe(o, ts);
    }
    let settings = ClientSettings::plain(&bootstrap);
    let wait = Duration::from_secs(10);
    let mut times: Vec<i64> = (0..40).map(|_| log[rng.usize(0..log.len())].1).collect();
    times.extend((0..20).map(|_| rng.i64(T0 - 1_000..ts + 1_000)));
    times.extend([T0 - 1, log[0].1, ts, ts + 1]);
    for t in times {
        let want = scan(t);
        // No own index: the broker answers ListOffsets by time, exactly.
        let (o, how) = offset_for_time(&settings, "seek.t", 0, t, (0, 4_000), None, wait).unwrap();
        assert_eq!(
            (o, how),
            (want, SeekMethod::Broker),
            "broker at T0{:+}",
            t - T0
        );
        // The fallback for clusters that cannot: the same offset.
        let (o, how) = offset_by_bisection(&settings, "seek.t", 0, t, (0, 4_000), wait).unwrap();
        assert_eq!(o, want, "bisection at T0{:+}", t - T0);
        assert!(
            matches!(how, SeekMethod::Bisection { probes } if probes <= 14),
            "{how:?}"
        );
        // The own index (sparse): at or before it, with nothing at or after T in between, so
        // a read from there holds the same records from T on.
        let (o, how) =
            offset_for_time(&settings, "seek.t", 0, t, (0, 4_000), Some(&index), wait).unwrap();
        if t <= ts {
            assert_eq!(how, SeekMethod::OwnIndex);
            assert!(o <= want, "index past the answer at T0{:+}", t - T0);
            assert!(log[o as usize..want as usize].iter().all(|&(_, x)| x < t));
        }
    }
    // Through the ingest: `--since T` starts exactly where the broker says.
    let t = log[1_234].1;
    let config =
        Config::parse("[topics]\ntelemetry = \"seek.t\"\nevents = \"\"\nassets = \"\"\n").unwrap();
    let spec = spec_for(
        &config,
        &bootstrap,
        ClientProps::default(),
        StartAt::Since(t),
    );
    let store = read_to_store(spec, 0, wait, Duration::from_secs(60)).unwrap();
    assert_eq!(store.stats().records, (4_000 - scan(t)) as u64);
}

#[test]
fn a_read_only_session_creates_no_group_commits_nothing_and_writes_nothing() {
    let kafka = twin_kafka(2);
    kafka.create_topic("twin.commands", 1, 1, &[]);
    let (_kafka, bootstrap, mut p, mut rng) = common::producing(kafka, 99);
    let fleet = Fleet {
        cars: 10,
        records: 400,
        t0: T0,
        span_ms: 600_000,
        jitter_ms: 5_000,
        ..Fleet::default()
    };
    produce_fleet(&mut p, &mut rng, fleet);
    p.flush();
    let topics = [
        ("twin.telemetry", 2),
        ("twin.events", 1),
        ("twin.assets", 1),
        ("twin.commands", 1),
    ];
    let c = checker(&bootstrap);
    let ends = || -> Vec<(i64, i64)> {
        topics
            .iter()
            .flat_map(|&(t, n)| (0..n).map(move |p| (t, p)))
            .map(|(t, p)| c.fetch_watermarks(t, p, Duration::from_secs(10)).unwrap())
            .collect()
    };
    let groups = || -> Vec<String> {
        let list = c.fetch_group_list(None, Duration::from_secs(10)).unwrap();
        let mut names: Vec<String> = list.groups().iter().map(|g| g.name().to_owned()).collect();
        names.sort();
        names
    };
    let (ends_before, groups_before) = (ends(), groups());

    // Everything twinscope reads with: the window (read-only, as it starts by default), the
    // headless read, `snapshot` in its own process, and a seek by time.
    let opts = AppOptions {
        brokers: Some(bootstrap.clone()),
        since: Some(T0 + 60_000),
        ..AppOptions::default()
    };
    let mut h = common::app_harness(opts, Persisted::default());
    // Caught up, and at least 5 s of frames (a read-only window must not write meanwhile).
    let started = Instant::now();
    common::step_until(
        &mut h,
        Duration::from_secs(30),
        "the window to catch up",
        |h| h.state().caught_up() && started.elapsed() >= Duration::from_secs(5),
    );
    h.get_by_label("read-only");
    drop(h);
    common::read_all(&Config::default(), &bootstrap);
    common::success_json(&snapshot_cli(&bootstrap, T0 + 300_000, &[]));
    offset_for_time(
        &ClientSettings::plain(&bootstrap),
        "twin.telemetry",
        0,
        T0 + 1,
        (0, 200),
        None,
        Duration::from_secs(10),
    )
    .unwrap();

    assert_eq!(
        ends(),
        ends_before,
        "end offsets moved: something was written"
    );
    assert_eq!(groups(), groups_before, "a consumer group appeared");

    // The check can fail: a consumer that subscribes and commits is listed.
    let control: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "control-group")
        .create()
        .unwrap();
    control.subscribe(&["twin.events"]).unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("twin.events", 0, Offset::Offset(0))
        .unwrap();
    control
        .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    assert!(groups().contains(&"control-group".to_owned()));
}

#[test]
fn compaction_keeps_the_head_exact_and_flags_the_history_it_removed() {
    // The cleaner looks every 200 ms, and segments roll every 300 ms so it has work.
    let kafka = RealKafka::start(KafkaOptions {
        extra: vec![("log.cleaner.backoff.ms".into(), "200".into())],
        ..KafkaOptions::default()
    });
    kafka.create_topic("twin.telemetry", 2, 1, &[]);
    kafka.create_topic("twin.events", 1, 1, &[]);
    let compacted = [
        ("cleanup.policy", "compact"),
        ("segment.ms", "300"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("min.compaction.lag.ms", "0"),
    ];
    kafka.create_topic("twin.assets", 1, 1, &compacted);
    let (_kafka, bootstrap, mut p, mut rng) = common::producing(kafka, 0xc0);
    // 20 cars, 600 records on two partitions over 30 minutes.
    let fleet = Fleet {
        t0: T0,
        ..Fleet::default()
    };
    let mut produced = produce_fleet(&mut p, &mut rng, fleet);
    p.flush();
    // Later versions of some definitions, one segment roll apart, so the earlier ones are
    // superseded in closed segments the cleaner may remove.
    for round in 1..=3 {
        std::thread::sleep(Duration::from_millis(700));
        for car in (0..fleet.cars).filter(|c| c % 5 == 0 || c % 5 == 4) {
            let ts = T0 + fleet.span_ms + round * 60_000;
            produced.send_def(
                &mut p,
                &common::fold::car_id(car),
                ts,
                car % 3 != 0 || round < 3,
            );
        }
        p.flush();
    }
    let produced_defs = produced.defs.len();
    let started = Instant::now();
    let left = loop {
        let n = log_of(&bootstrap, "twin.assets", 0).len();
        if n < produced_defs {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the cleaner did not run"
        );
        std::thread::sleep(Duration::from_millis(500));
        // Another append rolls the active segment, so the cleaner gets a closed one.
        produced.send_def(&mut p, "eu/roll", T0 + fleet.span_ms + 300_000, true);
        p.flush();
    };
    eprintln!(
        "compaction left {left} of {} asset records",
        produced.defs.len()
    );

    let store = common::read_all(&Config::default(), &bootstrap);
    let head = i64::MAX;
    // The tree at the live head is the one before compaction.
    assert_eq!(
        store.snapshot(head)["assets"],
        produced.state_at(head),
        "state at the head"
    );
    assert!(store.exact_at(head).is_ok());
    let through = store
        .incomplete_through(twinscope::twin::Role::Assets)
        .expect("compaction was noticed");
    // Never a wrong tree: at every time, either the store says the asset history is
    // incomplete there, or its answer is the one from before compaction.
    let (mut flagged, mut exact) = (0, 0);
    for t in produced.probe_times(&mut rng, 150) {
        match store.exact_at(t) {
            Err(e) => {
                assert!(matches!(e, NotExact::Compacted { .. }), "{e}");
                flagged += 1;
            }
            Ok(()) => {
                produced.assert_folds(&store.snapshot(t), t, T0, "store");
                exact += 1;
            }
        }
    }
    eprintln!(
        "incomplete through T0{:+}: {flagged} times flagged, {exact} exact",
        through - T0
    );
    assert!(
        flagged > 50 && exact > 0,
        "flagged {flagged}, exact {exact}"
    );
    // The command line refuses the same times and answers the others.
    let early = snapshot_cli(&bootstrap, T0 + 60_000, &[]);
    assert!(!early.status.success());
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(err.contains("asset history incomplete"), "{err}");
    let late = common::success_json(&snapshot_cli(&bootstrap, through + 1, &[]));
    assert_eq!(late["assets"], produced.state_at(through + 1));
}

#[test]
fn retention_moves_the_earliest_time_forward_and_older_times_are_not_retained() {
    let kafka = RealKafka::start(KafkaOptions {
        extra: vec![("log.retention.check.interval.ms".into(), "500".into())],
        ..KafkaOptions::default()
    });
    // Kafka's smallest segment; old records are padded so they fill three of them.
    let small_segments = [("segment.bytes", "1048576"), ("retention.ms", "-1")];
    kafka.create_topic("twin.telemetry", 1, 1, &small_segments);
    kafka.create_topic("twin.events", 1, 1, &[]);
    kafka.create_topic("twin.assets", 1, 1, &[]);
    let bootstrap = kafka.bootstrap();
    let now = twinscope::timeline::now_ms();
    let old = now - 3 * 3_600_000;
    let recent = now - 60_000;
    let mut produced = common::fold::Produced::default();
    let mut p = TestProducer::new(&bootstrap);
    // Three hours ago: 1,000 records of ten cars. A minute ago: every car, every property.
    for i in 0..1_000 {
        let car = common::fold::car_id(i % 10);
        let props = vec![
            ("speed".into(), json!(i as f64)),
            ("pad".into(), json!("x".repeat(3_000))),
        ];
        produced.send_tele(&mut p, 0, &car, old + i as i64 * 1_000, props);
    }
    for i in 0..10 {
        let car = common::fold::car_id(i);
        produced.send_tele(
            &mut p,
            0,
            &car,
            recent + i as i64,
            vec![
                ("speed".into(), json!(-(i as f64))),
                ("pad".into(), json!("")),
            ],
        );
    }
    p.flush();

    let mut h = common::window_on(&bootstrap, Config::default(), ClientProps::default());
    common::step_until(
        &mut h,
        Duration::from_secs(30),
        "the window did not read it all",
        |h| h.state().store().stats().records >= 1_010,
    );
    assert_eq!(h.state().store().retained_from(), None);

    // Retention of one hour, while the window runs: the old segments go.
    kafka.alter_topic(
        "twin.telemetry",
        &[("segment.bytes", "1048576"), ("retention.ms", "3600000")],
    );
    let c = checker(&bootstrap);
    let started = Instant::now();
    let retained_from = loop {
        h.step();
        if let Some(r) = h.state().store().retained_from() {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "retention was not noticed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (low, _) = c
        .fetch_watermarks("twin.telemetry", 0, Duration::from_secs(10))
        .unwrap();
    assert!(low > 0, "records were deleted");
    let deleted_max = produced.tele[..low as usize]
        .iter()
        .map(|r| r.ts)
        .max()
        .unwrap();
    eprintln!(
        "log start {low}; retained from {} s after the last deleted record",
        (retained_from - deleted_max) / 1000
    );
    // Nothing deleted is claimed as exact, and the bound is not far past the log start.
    assert!(retained_from > deleted_max);
    assert!(retained_from <= produced.tele[(low as usize + 300).min(1_009)].ts + 1);
    // The status bar says so, and Home stops there.
    h.run_steps(2);
    h.get_by_label_contains("retained from");
    h.key_press(egui::Key::Home);
    h.run_steps(2);
    assert!(h.state().timeline().at(i64::MAX) >= retained_from);
    drop(h);

    // A fresh `snapshot` before it says "not retained"; after it, answers.
    let before = snapshot_cli(&bootstrap, deleted_max, &[]);
    assert!(!before.status.success());
    let err = String::from_utf8_lossy(&before.stderr);
    assert!(err.contains("not retained"), "{err}");
    let after = common::success_json(&snapshot_cli(&bootstrap, recent + 100, &[]));
    assert_eq!(after["assets"], produced.state_at(recent + 100));
    // A fresh read starts at the log start and never sees what was deleted: the first record
    // it reads bounds the deleted ones (they came before it, and this log is in time order),
    // so a time between the log start and the head answers, and exactly: every car has a
    // record in the 20 s kept after the log start.
    let between = old + (low + 20) * 1_000;
    assert!(between < recent);
    let mid = common::success_json(&snapshot_cli(&bootstrap, between, &[]));
    assert_eq!(mid["assets"], produced.state_at(between));
}

#[test]
fn demo_produce_creates_its_topics_on_a_real_cluster() {
    let kafka = RealKafka::start(KafkaOptions::default());
    let bootstrap = kafka.bootstrap();
    let mut child = common::demo_produce(&bootstrap, 600, std::process::Stdio::piped());
    let c = checker(&bootstrap);
    let started = Instant::now();
    // The backfill: 10 minutes of the plant's 36 machines, at least one record a second each.
    let every = Duration::from_millis(500);
    let ready = common::poll(started, Duration::from_secs(60), every, || {
        let md = c.fetch_metadata(None, Duration::from_secs(5)).unwrap();
        let records: i64 = md
            .topics()
            .iter()
            .filter(|t| t.name() == "twin.telemetry")
            .flat_map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
            // Right after the topic is created its leaders may still be moving: not ready yet.
            .map(|p| {
                c.fetch_watermarks("twin.telemetry", p, Duration::from_secs(5))
                    .map_or(0, |w| w.1)
            })
            .sum();
        if records >= 36 * 600 {
            Ok(md)
        } else {
            Err(format!("demo produce wrote {records} records"))
        }
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("created topics: twin.telemetry, twin.events, twin.assets, twin.commands"),
        "{stderr}"
    );
    let partitions = |name: &str| {
        ready
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.partitions().len())
    };
    assert_eq!(partitions("twin.telemetry"), Some(16));
    assert_eq!(partitions("twin.events"), Some(4));
    assert_eq!(partitions("twin.assets"), Some(1));
    assert_eq!(partitions("twin.commands"), Some(2));
    assert_eq!(
        kafka
            .topic_config("twin.assets")
            .get("cleanup.policy")
            .map(String::as_str),
        Some("compact")
    );
    assert_eq!(
        kafka
            .topic_config("twin.telemetry")
            .get("cleanup.policy")
            .map(String::as_str),
        Some("delete")
    );
    // What it wrote is the demo plant.
    let snap = common::success_json(&snapshot_cli(
        &bootstrap,
        twinscope::timeline::now_ms(),
        &[],
    ));
    // 2 sites and 6 lines defined in twin.assets, and their 36 machines.
    let assets = snap["assets"].as_object().unwrap();
    let machines: Vec<&Json> = assets
        .iter()
        .filter(|(id, _)| id.matches('/').count() == 2)
        .map(|(_, props)| props)
        .collect();
    assert_eq!(
        (assets.len(), machines.len()),
        (44, 36),
        "{:?}",
        assets.keys().collect::<Vec<_>>()
    );
    assert!(
        machines
            .iter()
            .all(|m| m.get("temperature").is_some_and(Json::is_number))
    );
}

#[test]
fn late_uploads_are_exact_on_a_real_broker() {
    use common::fold::{Outage, Upload, outage_times, produce_with_outages};
    const MIN: i64 = 60_000;
    let outages = [
        Outage {
            car: 1,
            from: 60 * MIN,
            to: 61 * MIN,
        },
        Outage {
            car: 2,
            from: 120 * MIN,
            to: 150 * MIN,
        },
        Outage {
            car: 3,
            from: 30 * MIN,
            to: 390 * MIN,
        },
    ];
    let (_kafka, bootstrap, mut p, mut rng) = common::producing(twin_kafka(4), 0x1a7e);
    let produced = produce_with_outages(
        &mut p,
        &mut rng,
        (10, 4),
        (T0, 420 * MIN),
        &outages,
        Upload::AtOnce,
    );
    p.flush();
    let store = common::read_all(&Config::default(), &bootstrap);
    let times = outage_times(&produced, &mut rng, T0, &outages);
    produced.assert_store_folds(&store, &times, T0);
    for o in &outages {
        let t = T0 + (o.from + o.to) / 2;
        let out = common::success_json(&snapshot_cli(&bootstrap, t, &[]));
        produced.assert_folds(&out, t, T0, "snapshot");
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The demo plant is a closed loop: its simulator reads operator commands from the commands
//! topic of the embedded (real Kafka-protocol) broker and answers them on the events topic,
//! and the plant's telemetry and alarms follow. Everything goes through Kafka: commands are
//! produced with a plain rdkafka producer and the outcome is read back with the real ingest.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;
use twinscope::config::{Config, Topics};
use twinscope::headless::read_to_store;
use twinscope::kafka::client::ClientSettings;
use twinscope::kafka::demo::{DemoBroker, DemoOptions};
use twinscope::kafka::ingest::{Ingest, IngestEvent};
use twinscope::timeline::now_ms;
use twinscope::twin::alarms::AlarmState;
use twinscope::twin::{Store, Value};

/// How long a command may take to be answered and take effect.
const COMMAND_DEADLINE: Duration = Duration::from_secs(10);

fn start_demo() -> DemoBroker {
    let demo = DemoBroker::start(
        &DemoOptions {
            backfill_s: 30,
            partitions: 4,
            ..DemoOptions::default()
        },
        &Topics::default(),
    )
    .expect("demo broker starts");
    let t0 = Instant::now();
    while !demo.backfilled() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "demo backfill took over 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    demo
}

/// The twin as of now, read from the beginning up to the head.
fn read_now(demo: &DemoBroker) -> Store {
    read_to_store(
        common::spec(&Config::default(), demo.bootstrap()),
        0,
        Duration::from_secs(10),
        Duration::from_secs(30),
    )
    .expect("headless read")
}

/// A live view of the twin: the real ingest tailing every topic, applied to a store.
struct Watcher {
    ingest: Ingest,
    store: Store,
}

impl Watcher {
    fn start(bootstrap: &str) -> Self {
        let spec = common::spec(&Config::default(), bootstrap);
        let store = Store::new(spec.mapping.separator(), 0);
        let ingest = Ingest::spawn(spec, Arc::new(|| {})).expect("ingest starts");
        Self { ingest, store }
    }

    /// Applies what arrives until `done` holds (returns true) or `timeout` passes (false).
    fn until(&mut self, timeout: Duration, mut done: impl FnMut(&Store) -> bool) -> bool {
        let t0 = Instant::now();
        loop {
            if done(&self.store) {
                return true;
            }
            if t0.elapsed() > timeout {
                return false;
            }
            match self.ingest.recv_timeout(Duration::from_millis(20)) {
                Ok(IngestEvent::Batch { mut recs, bad }) => self.store.apply_lent(&mut recs, bad),
                Ok(_) | Err(false) => {}
                Err(true) => panic!("ingest thread ended"),
            }
        }
    }

    /// The command result for `cid` (see [`result_for`]), once it arrives; fails the test if
    /// it does not within [`COMMAND_DEADLINE`].
    fn result(&mut self, cid: &str) -> (String, String, i64, String) {
        assert!(
            self.until(COMMAND_DEADLINE, |s| result_for(s, cid).is_some()),
            "no command_result for {cid} within 10 s"
        );
        result_for(&self.store, cid).unwrap()
    }
}

/// A producer to the commands topic, created once, before anything is timed.
struct Commands {
    producer: BaseProducer,
    topic: String,
}

impl Commands {
    fn new(bootstrap: &str) -> Self {
        let producer: BaseProducer = ClientSettings::plain(bootstrap)
            .producer_config("test")
            .create()
            .expect("producer");
        // Connected (metadata known) before the first timed send.
        producer
            .client()
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        Self {
            producer,
            topic: Topics::default().commands,
        }
    }

    /// Produces one record and waits for its delivery.
    fn send(&self, key: Option<&str>, value: &str) {
        let mut rec: BaseRecord<'_, str, str> = BaseRecord::to(&self.topic).payload(value);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        self.producer.send(rec).map_err(|(e, _)| e).expect("send");
        self.producer
            .flush(Duration::from_secs(10))
            .expect("delivered");
    }
}

/// Produces one record to the commands topic and waits for its delivery.
fn send_command(bootstrap: &str, key: Option<&str>, value: &str) {
    Commands::new(bootstrap).send(key, value);
}

/// Drives a machine into IDLE and keeps it there: `stop` is accepted only from RUN, and a
/// stopped machine stays IDLE until `start` (the simulator's random faults, maintenance and
/// idle spells only begin in RUN). Machines seen in RUN are tried in turn, since any of them
/// may have changed state since. Returns the machine, IDLE in the watcher's store.
fn hold_idle(demo: &DemoBroker, watch: &mut Watcher, commands: &Commands) -> String {
    let candidates = machines_in(&read_now(demo), "RUN");
    for machine in candidates.iter().take(10) {
        let cid = unique_id("hold");
        commands.send(Some(machine), &command_json("stop", &cid));
        let (_, status, at, message) = watch.result(&cid);
        if status != "accepted" {
            eprintln!("{machine} could not be stopped ({message}); trying another");
            continue;
        }
        assert!(
            watch.until(COMMAND_DEADLINE, |s| state_of(s, machine)
                .is_some_and(|(st, ts)| st == "IDLE" && ts >= at)),
            "{machine} after stop: {:?}",
            state_of(&watch.store, machine)
        );
        return machine.clone();
    }
    panic!("no machine could be stopped: {candidates:?}");
}

/// The demo plant, a watcher on it, a commands producer, and a machine held IDLE (see
/// [`hold_idle`]).
fn plant_with_idle_machine() -> (DemoBroker, Watcher, Commands, String) {
    let demo = start_demo();
    let mut watch = Watcher::start(demo.bootstrap());
    let commands = Commands::new(demo.bootstrap());
    let machine = hold_idle(&demo, &mut watch, &commands);
    (demo, watch, commands, machine)
}

/// The record as the app sends it (`WriteBack::command`).
fn command_json(command: &str, correlation_id: &str) -> String {
    twinscope::kafka::writeback::command_record(
        command,
        &json!({}),
        "test-operator",
        correlation_id,
        now_ms(),
    )
    .to_string()
}

fn unique_id(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), now_ms())
}

/// The latest `state` of an asset and its event time.
fn state_of(store: &Store, asset: &str) -> Option<(String, i64)> {
    let a = store.asset_by_id(asset)?;
    let p = store.prop_by_name("state")?;
    let s = store.series(a, p)?.at(i64::MAX)?;
    match s.value {
        Value::Str(v) => Some((v.to_string(), s.ts)),
        _ => None,
    }
}

/// Machines (assets with a `state`) currently in `state`.
fn machines_in(store: &Store, state: &str) -> Vec<String> {
    let mut v: Vec<String> = store
        .assets()
        .iter()
        .filter(|a| state_of(store, &a.id).is_some_and(|(s, _)| s == state))
        .map(|a| a.id.to_string())
        .collect();
    v.sort();
    v
}

/// The command result note for `correlation_id`: (asset, status, event time, message).
fn result_for(store: &Store, correlation_id: &str) -> Option<(String, String, i64, String)> {
    let needle = format!("({correlation_id})");
    store.notes().iter().find_map(|n| {
        let msg = n.message.as_deref()?;
        if !msg.contains(&needle) {
            return None;
        }
        let status = msg.split(' ').next().unwrap_or_default().to_owned();
        let asset = store.asset(n.asset).map(|a| a.id.to_string())?;
        Some((asset, status, n.ts, msg.to_owned()))
    })
}

/// Active (unacknowledged or acknowledged) alarms of an asset, by code.
fn active_alarms(store: &Store, asset: &str) -> Vec<(String, i64)> {
    let Some(a) = store.asset_by_id(asset) else {
        return Vec::new();
    };
    store
        .alarms_at(i64::MAX)
        .into_iter()
        .filter(|v| v.asset == a)
        .filter(|v| {
            matches!(
                v.status.state,
                AlarmState::UnackActive | AlarmState::AckedActive
            )
        })
        .map(|v| (v.code.to_string(), v.status.last_activated.unwrap_or(0)))
        .collect()
}

/// The newest telemetry time of any machine.
fn newest_telemetry(store: &Store) -> i64 {
    store
        .assets()
        .iter()
        .filter_map(|a| state_of(store, &a.id).map(|(_, ts)| ts))
        .max()
        .unwrap_or(i64::MIN)
}

#[test]
fn reset_fault_clears_the_fault_and_the_machine_runs_again() {
    let demo = start_demo();
    let before = read_now(&demo);
    let faulted = machines_in(&before, "FAULT");
    assert!(
        !faulted.is_empty(),
        "the simulator guarantees a long-lived fault"
    );
    // The guaranteed fault is the oldest one: raised at the first step and never self-clearing.
    let (machine, fault_code) = faulted
        .iter()
        .flat_map(|m| {
            active_alarms(&before, m)
                .into_iter()
                .filter(|(c, _)| c.starts_with("FAULT_"))
                .map(move |(c, since)| (since, m.clone(), c))
        })
        .min()
        .map(|(_, m, c)| (m, c))
        .expect("a FAULT machine has an active FAULT_* alarm");

    let mut watch = Watcher::start(demo.bootstrap());
    assert!(
        watch.until(COMMAND_DEADLINE, |s| state_of(s, &machine)
            .is_some_and(|(st, _)| st == "FAULT")),
        "watcher sees {machine} in FAULT"
    );

    let commands = Commands::new(demo.bootstrap());
    let cid = unique_id("reset");
    let command = command_json("reset_fault", &cid);
    // Timed from the send itself: creating and connecting the producer is not the plant's.
    let sent_at = now_ms();
    let t0 = Instant::now();
    commands.send(Some(&machine), &command);
    let answered = watch.until(COMMAND_DEADLINE, |s| result_for(s, &cid).is_some());
    let seen_after = t0.elapsed();
    assert!(answered, "no command_result for {cid} within 10 s");
    let (asset, status, result_ts, message) = result_for(&watch.store, &cid).unwrap();
    assert_eq!(asset, machine);
    assert_eq!(status, "accepted", "{message}");
    eprintln!(
        "reset_fault {cid}: result stamped {} ms after the command, seen by the ingest {} ms after send",
        result_ts - sent_at,
        seen_after.as_millis()
    );
    assert!(
        result_ts - sent_at < 1000,
        "simulator answered {} ms after the command",
        result_ts - sent_at
    );

    let effect = watch.until(COMMAND_DEADLINE, |s| {
        let running = state_of(s, &machine).is_some_and(|(st, ts)| st == "RUN" && ts > result_ts);
        let cleared = !active_alarms(s, &machine)
            .iter()
            .any(|(c, _)| *c == fault_code);
        running && cleared
    });
    assert!(
        effect,
        "{machine} after reset: state {:?}, active alarms {:?}",
        state_of(&watch.store, &machine),
        active_alarms(&watch.store, &machine)
    );
}

#[test]
fn reset_fault_of_a_machine_not_in_fault_is_rejected() {
    // IDLE, held: it cannot fault on its own meanwhile.
    let (_demo, mut watch, commands, machine) = plant_with_idle_machine();
    let cid = unique_id("not-faulted");
    let t0 = Instant::now();
    commands.send(Some(&machine), &command_json("reset_fault", &cid));
    let (asset, status, _, message) = watch.result(&cid);
    eprintln!(
        "rejected reset seen {} ms after send: {message}",
        t0.elapsed().as_millis()
    );
    assert_eq!(asset, machine);
    assert_eq!(status, "rejected", "{message}");
    assert!(message.contains("machine is IDLE, not FAULT"), "{message}");
}

#[test]
fn malformed_commands_are_rejected_or_skipped_and_the_plant_keeps_running() {
    // IDLE, held until `start`: whatever the random plant does meanwhile, this machine waits.
    let (demo, mut watch, commands, machine) = plant_with_idle_machine();

    // Not JSON, and no correlation id to answer to: skipped.
    send_command(demo.bootstrap(), Some(&machine), "{not json");
    // No value at all.
    let producer: BaseProducer = ClientSettings::plain(demo.bootstrap())
        .producer_config("test")
        .create()
        .unwrap();
    let topic = Topics::default().commands;
    producer
        .send(BaseRecord::<'_, str, str>::to(&topic).key(machine.as_str()))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    // A correlation id but a non-string command: rejected.
    send_command(
        demo.bootstrap(),
        Some(&machine),
        r#"{"command": 5, "correlation_id": "bad-1"}"#,
    );
    // Valid but without a key (asset id): cannot be attributed, skipped.
    send_command(demo.bootstrap(), None, &command_json("stop", "bad-2"));
    // Bad args: rejected.
    send_command(
        demo.bootstrap(),
        Some(&machine),
        r#"{"command": "start_maintenance", "args": [1], "correlation_id": "bad-3"}"#,
    );

    assert!(
        watch.until(COMMAND_DEADLINE, |s| result_for(s, "bad-1").is_some()
            && result_for(s, "bad-3").is_some()),
        "no command_result for bad-1 / bad-3 within 10 s"
    );
    let (asset, status, answered_at, message) = result_for(&watch.store, "bad-1").unwrap();
    assert_eq!(asset, machine);
    assert_eq!(status, "rejected", "{message}");
    assert!(message.contains("command"), "{message}");
    let (_, status, _, message) = result_for(&watch.store, "bad-3").unwrap();
    assert_eq!(status, "rejected", "{message}");
    assert!(message.contains("args"), "{message}");

    // The simulator is still alive: telemetry keeps coming at 1 Hz...
    assert!(
        watch.until(COMMAND_DEADLINE, |s| newest_telemetry(s)
            >= answered_at + 2000),
        "telemetry stopped after the malformed commands (newest {} vs answer {answered_at})",
        newest_telemetry(&watch.store)
    );
    // ... and it still obeys well-formed commands.
    let cid = unique_id("start");
    commands.send(Some(&machine), &command_json("start", &cid));
    let (_, status, started_at, message) = watch.result(&cid);
    assert_eq!(status, "accepted", "{message}");
    assert!(
        watch.until(COMMAND_DEADLINE, |s| state_of(s, &machine)
            .is_some_and(|(st, ts)| st == "RUN" && ts > started_at)),
        "{machine} after start: {:?}",
        state_of(&watch.store, &machine)
    );
    // The unattributable command was not applied to anything.
    assert!(result_for(&watch.store, "bad-2").is_none());
}

/// README: "`twinscope demo produce --brokers B`: the simulator into any cluster". A separate
/// `twinscope demo produce` process writes into an in-process mock cluster (topics created
/// beforehand; creating them is tested on a real broker in `real_kafka.rs`): the backfill's
/// telemetry of all 36 machines arrives, then live records, and the plant answers a command.
#[test]
fn demo_produce_writes_the_simulator_into_a_cluster() {
    let cluster = common::command_cluster(4, 4, 2);
    let bootstrap = cluster.bootstrap_servers();
    let _child = common::ChildProcess(common::demo_produce(
        &bootstrap,
        60,
        std::process::Stdio::null(),
    ));
    let mut watch = Watcher::start(&bootstrap);
    let started = now_ms();
    // 36 machines with a state, telemetry from the backfill (a minute back) ...
    assert!(
        watch.until(Duration::from_secs(60), |s| {
            machines_in(s, "RUN").len()
                + machines_in(s, "IDLE").len()
                + machines_in(s, "FAULT").len()
                + machines_in(s, "MAINT").len()
                == 36
                && s.time_range().is_some_and(|(lo, _)| lo <= started - 55_000)
        }),
        "the backfill did not arrive: {} assets, range {:?}",
        watch.store.assets().len(),
        watch.store.time_range()
    );
    // ... then live records at 1 Hz ...
    assert!(
        watch.until(Duration::from_secs(30), |s| newest_telemetry(s)
            >= started + 2_000),
        "no live telemetry (newest {})",
        newest_telemetry(&watch.store)
    );
    // ... and the plant it runs obeys commands through this cluster.
    let commands = Commands::new(&bootstrap);
    let machine = machines_in(&watch.store, "FAULT")
        .first()
        .cloned()
        .expect("the simulator keeps a machine in FAULT");
    let cid = unique_id("produce-reset");
    commands.send(Some(&machine), &command_json("reset_fault", &cid));
    let (asset, _, _, _) = watch.result(&cid);
    assert_eq!(asset, machine);
}

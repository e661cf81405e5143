#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Write-back across instances: an acknowledgement, shelve and unshelve written by one
//! twinscope (its `WriteBack`) reach every other twinscope on the cluster through the events
//! topic, with operator and comment, and the past stays visible by time travel.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use twinscope::config::Config;
use twinscope::kafka::client::ClientSettings;
use twinscope::kafka::ingest::{Ingest, IngestEvent};
use twinscope::kafka::writeback::{OperatorAction, WriteBack, WriteBackError};
use twinscope::twin::Store;
use twinscope::twin::alarms::{AlarmState, AlarmStatus};

use common::TestProducer;

const ASSET: &str = "p/l/m1";
const CODE: &str = "HOT";
const SEVERITY: &str = "high";

/// How long a write-back action may take to show up in every instance.
const PROPAGATION: Duration = Duration::from_secs(10);
/// How long the first (connecting) read may take.
const CONNECT: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// One twinscope: its own live ingest thread and its own store, fed on the test thread as the
/// app feeds its store on the UI thread.
struct Instance {
    name: &'static str,
    ingest: Ingest,
    store: Store,
}

impl Instance {
    fn start(name: &'static str, config: &Config, bootstrap: &str) -> Self {
        let ingest = Ingest::spawn(common::spec(config, bootstrap), Arc::new(|| {})).unwrap();
        Self {
            name,
            ingest,
            store: Store::new(config.mapping.separator(), 0),
        }
    }

    /// Applies every batch waiting in the channel.
    fn pump(&mut self) {
        while let Some(ev) = self.ingest.try_recv() {
            if let IngestEvent::Batch { mut recs, bad } = ev {
                self.store.apply_lent(&mut recs, bad);
            }
        }
    }

    /// The HOT alarm of the asset as of `t`, if the store knows it.
    fn hot_at(&self, t: i64) -> Option<AlarmStatus> {
        let a = self.store.asset_by_id(ASSET)?;
        let i = *self.store.asset(a)?.alarm_ids().first()?;
        let v = self.store.alarm_at(i, t)?;
        assert_eq!(&*v.code, CODE);
        Some(v.status)
    }

    /// The alarm's index in this store.
    fn hot_index(&self) -> u32 {
        let a = self.store.asset_by_id(ASSET).unwrap();
        self.store.asset(a).unwrap().alarm_ids()[0]
    }
}

/// Pumps both instances until `done` holds for the alarm status of each as of the current
/// wall-clock time; returns how long each took. Panics with both statuses after `timeout`.
fn wait_both(
    what: &str,
    insts: &mut [&mut Instance; 2],
    timeout: Duration,
    done: impl Fn(&AlarmStatus) -> bool,
) -> [Duration; 2] {
    let started = Instant::now();
    let mut took: [Option<Duration>; 2] = [None, None];
    loop {
        for (inst, took) in insts.iter_mut().zip(took.iter_mut()) {
            inst.pump();
            if took.is_none() && inst.hot_at(now_ms()).as_ref().is_some_and(&done) {
                *took = Some(started.elapsed());
            }
        }
        if let [Some(a), Some(b)] = took {
            return [a, b];
        }
        if started.elapsed() > timeout {
            let t = now_ms();
            panic!(
                "{what}: not seen by every instance within {timeout:?}\n{}: {:#?}\n{}: {:#?}",
                insts[0].name,
                insts[0].hot_at(t),
                insts[1].name,
                insts[1].hot_at(t),
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ack_by_one_instance_is_seen_by_another_with_operator_and_comment() {
    let config = Config::default();
    let topics = &config.topics;
    let cluster = common::command_cluster(2, 2, 1);
    let bootstrap = cluster.bootstrap_servers();
    let settings = ClientSettings::plain(&bootstrap);

    // Read-only: no producer can be built, so a viewer without write-back cannot produce.
    let ro = WriteBack::new(&settings, topics, "mallory".into(), false);
    assert!(
        matches!(ro, Err(WriteBackError::ReadOnly)),
        "write-back built while disabled: {ro:?}"
    );

    // The alarm went active a minute ago (a known event time).
    let t_active = now_ms() - 60_000;
    let mut p = TestProducer::new(&bootstrap);
    p.send_str(
        &topics.events,
        0,
        ASSET,
        &format!(
            r#"{{"ts": {t_active}, "type": "alarm", "code": "{CODE}", "severity": "{SEVERITY}", "state": "active", "message": "too hot"}}"#
        ),
        t_active,
    );
    p.flush();

    // Two independent twinscopes, both live.
    let mut a = Instance::start("A", &config, &bootstrap);
    let mut b = Instance::start("B", &config, &bootstrap);
    wait_both("activation", &mut [&mut a, &mut b], CONNECT, |s| {
        s.state == AlarmState::UnackActive
    });
    for inst in [&a, &b] {
        let s = inst.hot_at(now_ms()).unwrap();
        assert_eq!(s.last_activated, Some(t_active), "{}", inst.name);
        assert_eq!(s.message.as_deref(), Some("too hot"), "{}", inst.name);
        assert_eq!(s.acked_by, None, "{}", inst.name);
    }

    // A acknowledges with a comment.
    let wb_a = WriteBack::new(&settings, topics, "alice".into(), true).unwrap();
    assert_eq!(wb_a.operator(), "alice");
    let t_ack = now_ms();
    wb_a.alarm(
        ASSET,
        CODE,
        SEVERITY,
        &OperatorAction::Ack {
            comment: Some("checked on site".into()),
        },
        t_ack,
    )
    .unwrap();
    let acked_by_alice = |s: &AlarmStatus| {
        s.state == AlarmState::AckedActive
            && s.active
            && s.acked
            && s.acked_by.as_deref() == Some("alice")
            && s.ack_comment.as_deref() == Some("checked on site")
            && s.acked_at == Some(t_ack)
            && s.shelved_until.is_none()
    };
    let latency = wait_both("ack", &mut [&mut a, &mut b], PROPAGATION, acked_by_alice);
    eprintln!(
        "ack propagation: A {} ms, B {} ms",
        latency[0].as_millis(),
        latency[1].as_millis()
    );

    // B shelves it for 15 minutes.
    let wb_b = WriteBack::new(&settings, topics, "bob".into(), true).unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let t_shelve = now_ms();
    assert!(t_shelve > t_ack);
    wb_b.alarm(
        ASSET,
        CODE,
        SEVERITY,
        &OperatorAction::Shelve { minutes: 15 },
        t_shelve,
    )
    .unwrap();
    let latency = wait_both("shelve", &mut [&mut a, &mut b], PROPAGATION, |s| {
        s.state == AlarmState::Shelved
    });
    eprintln!(
        "shelve propagation: A {} ms, B {} ms",
        latency[0].as_millis(),
        latency[1].as_millis()
    );
    let fifteen_min_from_now = now_ms() + 15 * 60_000;
    for inst in [&a, &b] {
        let s = inst.hot_at(now_ms()).unwrap();
        let until = s.shelved_until.expect("shelved without an expiry");
        assert!(
            (until - fifteen_min_from_now).abs() <= 5_000,
            "{}: shelved until {until}, expected about {fifteen_min_from_now}",
            inst.name
        );
        assert_eq!(until, t_shelve + 15 * 60_000, "{}", inst.name);
        // The underlying acknowledgement is kept while shelved.
        assert!(s.active && s.acked, "{}: {s:?}", inst.name);
        assert_eq!(s.acked_by.as_deref(), Some("alice"), "{}", inst.name);

        // Time travel: just before the shelve it is still alice's acknowledgement, and before
        // the ack it was unacknowledged.
        let i = inst.hot_index();
        let before = inst.store.alarm_at(i, t_shelve - 1).unwrap().status;
        assert!(acked_by_alice(&before), "{}: {before:?}", inst.name);
        assert_eq!(before.since, t_ack, "{}", inst.name);
        let unacked = inst.store.alarm_at(i, t_ack - 1).unwrap().status;
        assert_eq!(unacked.state, AlarmState::UnackActive, "{}", inst.name);
        assert_eq!(unacked.acked_by, None, "{}", inst.name);
        assert_eq!(unacked.ack_comment, None, "{}", inst.name);
        // At the shelve itself it is shelved.
        let at = inst.store.alarm_at(i, t_shelve).unwrap().status;
        assert_eq!(at.state, AlarmState::Shelved, "{}", inst.name);
        assert_eq!(at.since, t_shelve, "{}", inst.name);
    }

    // B unshelves: both are back to alice's acknowledgement.
    std::thread::sleep(Duration::from_millis(2));
    let t_unshelve = now_ms();
    assert!(t_unshelve > t_shelve);
    wb_b.alarm(ASSET, CODE, SEVERITY, &OperatorAction::Unshelve, t_unshelve)
        .unwrap();
    let latency = wait_both(
        "unshelve",
        &mut [&mut a, &mut b],
        PROPAGATION,
        acked_by_alice,
    );
    eprintln!(
        "unshelve propagation: A {} ms, B {} ms",
        latency[0].as_millis(),
        latency[1].as_millis()
    );
    for inst in [&a, &b] {
        let i = inst.hot_index();
        let s = inst.hot_at(now_ms()).unwrap();
        assert_eq!(s.since, t_unshelve, "{}", inst.name);
        // The shelved period is still there in the past.
        let during = inst.store.alarm_at(i, t_unshelve - 1).unwrap().status;
        assert_eq!(during.state, AlarmState::Shelved, "{}", inst.name);
        assert_eq!(
            during.shelved_until,
            Some(t_shelve + 15 * 60_000),
            "{}",
            inst.name
        );
        // One alarm, seen the same way by both instances.
        assert_eq!(inst.store.alarms().len(), 1, "{}", inst.name);
        assert_eq!(inst.store.stats().bad, 0, "{}", inst.name);
    }
    assert_eq!(a.hot_at(now_ms()), b.hot_at(now_ms()));
}

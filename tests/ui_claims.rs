//! README claims about the window that had no test: each one here drives the real app, fed by
//! the real ingest from a MockCluster, through egui_kittest by accessible label, and checks
//! what an operator would see (or, where nothing is visible to accessibility, the data the
//! panel draws from).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::plant::{
    self, App, Fixture, TOPICS, alarm, cluster, options, overheat_fixture, produce, producer,
    select, step_until, telemetry, watermarks,
};
use common::{T0, app_harness};
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use rdkafka::producer::Producer as _;
use twinscope::app::{AppOptions, Export, PERSIST_KEY, Persisted};
use twinscope::config::CommandDef;
use twinscope::kafka::client::ClientSettings;
use twinscope::ui::PlotKey;

/// Write-back on, as operator "tester", with one command, "Ping".
fn writer_with_ping(o: &mut AppOptions) {
    o.allow_write = true;
    o.config.operator.name = Some("tester".into());
    o.config.commands = vec![CommandDef {
        name: "ping".into(),
        label: Some("Ping".into()),
        kinds: vec![],
        args: Default::default(),
    }];
}

fn plain_fixture() -> Fixture {
    overheat_fixture(|_| {}, Persisted::default(), |_| {})
}

/// The labels of every node whose label contains `part` (a `Role::Label` keeps its text in
/// its value, as kittest's own label queries know).
fn labels(h: &App, part: &str) -> Vec<String> {
    h.query_all_by_label_contains(part)
        .filter_map(|n| {
            let n = n.accesskit_node();
            if n.role() == egui::accesskit::Role::Label {
                n.value()
            } else {
                n.label()
            }
        })
        .collect()
}

/// Hovers the node labelled `label` (the first, when several are) until its tooltip shows a
/// label containing `tooltip_part`; returns that tooltip label, or `None` after a few frames.
fn hover_tooltip(h: &mut App, label: &str, tooltip_part: &str) -> Option<String> {
    h.get_all_by_label(label).next().unwrap().hover();
    // A tooltip waits for the pointer to rest (0.5 s; a harness frame is 0.25 s).
    for _ in 0..8 {
        h.step();
        if let Some(t) = labels(h, tooltip_part).into_iter().next() {
            return Some(t);
        }
    }
    None
}

/// Reads `style::count` back ("123", "40k", "1.2M"), as the lowest and highest value it may
/// stand for.
fn count_range(s: &str) -> (f64, f64) {
    if let Some(m) = s.strip_suffix('M') {
        let v: f64 = m.parse().unwrap();
        ((v - 0.05) * 1e6, (v + 0.05) * 1e6)
    } else if let Some(k) = s.strip_suffix('k') {
        let v: f64 = k.parse().unwrap();
        ((v - 0.5) * 1e3, (v + 0.5) * 1e3)
    } else {
        let v: f64 = s.parse().unwrap();
        (v - 0.5, v + 0.5)
    }
}

// ---------------------------------------------------------------------------------------------
// Status bar: catch-up percentage, msg/s, lag; retention; the disconnect banner.

/// README (status bar): "catch-up progress with percentage, msg/s, records, lag per topic".
/// While catching up on 300,000 records the bar shows a percentage that never runs ahead of
/// what the window has applied, a lag that never understates what is left, and a rate above
/// zero; once caught up the bar goes, every topic's lag is 0 and the rate falls to 0 msg/s.
#[test]
fn catch_up_shows_a_truthful_percentage_rate_and_lag() {
    // Enough that catching up takes many frames and several progress reports (every 100 ms
    // while catching up): 150k records took 0.25-0.4 s once ingest got faster. Spread over 8
    // partitions, so the mock's 5 MB per partition keeps all of it.
    const N: i64 = 300_000;
    const PARTS: i32 = 8;
    let topics = TOPICS.map(|t| (t, if t == TOPICS[0] { PARTS } else { 1 }));
    let cluster = common::mock_cluster(1, &topics);
    let bootstrap = cluster.bootstrap_servers();
    let p = producer(&bootstrap);
    for i in 0..N {
        let ts = T0 + i * 100;
        let key = format!("m/x{}", i % 20);
        let v = format!(r#"{{"ts": {ts}, "v": {i}}}"#);
        let partition = i32::try_from(i % i64::from(PARTS)).unwrap();
        plant::produce_to(&p, ("twin.telemetry", partition), &key, ts, &v);
    }
    p.flush(Duration::from_secs(60)).unwrap();
    {
        use rdkafka::consumer::{BaseConsumer, Consumer as _};
        let c: BaseConsumer = ClientSettings::plain(&bootstrap)
            .consumer_config("wm")
            .create()
            .unwrap();
        let held: i64 = (0..PARTS)
            .map(|part| {
                let (lo, hi) = c
                    .fetch_watermarks("twin.telemetry", part, Duration::from_secs(5))
                    .unwrap();
                assert_eq!(lo, 0, "the mock dropped records of partition {part}");
                hi
            })
            .sum();
        assert_eq!(held, N);
    }
    let mut h = app_harness(options(&bootstrap), Persisted::default());
    let total = N as f64;
    let (mut percents, mut rates, mut lags) = (Vec::new(), Vec::new(), Vec::new());
    let start = Instant::now();
    while !h.state().caught_up() {
        assert!(start.elapsed() < Duration::from_secs(90), "no catch-up");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
        let applied = h.state().store().stats().records as f64;
        for l in labels(&h, "catching up ") {
            let p: f64 = l
                .trim_start_matches("catching up ")
                .trim_end_matches('%')
                .parse()
                .unwrap();
            // Rounded to a whole percent by the label.
            assert!(
                p <= 100.0 * applied / total + 0.5,
                "{l} with {applied} of {total} records applied"
            );
            percents.push(p);
        }
        for l in labels(&h, " msg/s") {
            let (lo, _) = count_range(l.trim_end_matches(" msg/s"));
            // Averaged over at least 250 ms: never more than the whole topic in 250 ms.
            assert!(
                lo * 0.25 <= total,
                "{l}: more than the topic holds, in a 250 ms window"
            );
            rates.push(lo);
        }
        if let Some(l) = labels(&h, "twin.telemetry: lag ").into_iter().next() {
            let (_, hi) = count_range(l.trim_start_matches("twin.telemetry: lag "));
            assert!(
                hi >= total - applied,
                "{l} with {} records still to apply",
                total - applied
            );
            lags.push(hi);
        }
    }
    eprintln!(
        "catch-up in {:?}: {} frames with a percentage ({:?} … {:?}), rates {:?}",
        start.elapsed(),
        percents.len(),
        percents.first(),
        percents.last(),
        rates
            .iter()
            .filter(|r| **r > 0.0)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(
        percents.iter().any(|p| *p > 0.0 && *p < 100.0),
        "no percentage between 0 and 100 shown: {percents:?}"
    );
    assert!(
        percents.windows(2).all(|w| w[1] >= w[0]),
        "the percentage went backwards on a log nobody writes to: {percents:?}"
    );
    assert!(rates.iter().any(|r| *r > 0.0), "no msg/s above 0 shown");
    assert!(lags.iter().any(|l| *l > 0.0), "no lag above 0 shown");

    step_until(&mut h, Duration::from_secs(30), "every record", |h| {
        h.state().store().stats().records == N as u64
            && h.query_by_label("twin.telemetry: lag 0").is_some()
    });
    h.run_steps(2);
    assert!(h.query_by_label_contains("catching up").is_none());
    h.get_by_label("twin.telemetry: lag 0");
    h.get_by_label("twin.events: lag 0");
    h.get_by_label("twin.assets: lag 0");
    h.get_by_label("300k records");
    // Nothing arrives any more: the rate is measured over one-second windows.
    step_until(&mut h, Duration::from_secs(5), "0 msg/s", |h| {
        h.query_by_label("0 msg/s").is_some()
    });
}

/// README (Reliability, truthful status): "records deleted by retention before they could be
/// read are counted per topic" (status bar, hover on the topic's lag). The mock keeps at most
/// 5 MB per partition, dropping the oldest producer batches like a size-based retention.
/// While the window is not drawing (a frame is where it applies what the ingest read, so the
/// ingest waits), 20 MB more are written: retention deletes most of it before it is read. The
/// count in the hover is exact: what the log held minus what was read.
/// Returns the lag's hover of the telemetry topic and how many records retention deleted.
fn retention_scenario() -> (String, u64) {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let p = producer(&bootstrap);
    telemetry(&p, "r/first", T0, r#""v": 0"#);
    p.flush(Duration::from_secs(10)).unwrap();
    let mut opts = options(&bootstrap);
    // The smallest in-flight allowance: librdkafka prefetches a few MB at most.
    opts.config.history.budget_mb = 1;
    let mut h = app_harness(opts, Persisted::default());
    step_until(&mut h, Duration::from_secs(30), "the first record", |h| {
        h.state().caught_up() && h.state().store().stats().records == 1
    });
    assert!(
        hover_tooltip(&mut h, "twin.telemetry: lag 0", "deleted by retention").is_none(),
        "nothing deleted yet"
    );

    // 2,000 records of 10 kB while no frame runs.
    let pad = "x".repeat(10_000);
    for i in 1..=2_000i64 {
        let ts = T0 + i * 1000;
        produce(
            &p,
            "twin.telemetry",
            &format!("r/{}", i % 10),
            ts,
            &format!(r#"{{"ts": {ts}, "v": {i}, "pad": "{pad}"}}"#),
        );
    }
    p.flush(Duration::from_secs(60)).unwrap();
    let high = watermarks(&bootstrap)[0];
    assert_eq!(high, 2_001);

    // The status shown before the frames resume is the old one (caught up, lag 0): wait for
    // the newest record, then for the report that follows it.
    step_until(&mut h, Duration::from_secs(60), "the newest record", |h| {
        h.state().store().time_range().map(|r| r.1) == Some(T0 + 2_000_000)
    });
    let newest = Instant::now();
    step_until(
        &mut h,
        Duration::from_secs(10),
        "a progress report after it",
        |h| {
            newest.elapsed() > Duration::from_millis(600)
                && h.state().caught_up()
                && h.query_by_label("twin.telemetry: lag 0").is_some()
        },
    );
    let read = h.state().store().stats().records + h.state().store().stats().bad;
    let deleted = u64::try_from(high).unwrap() - read;
    eprintln!("read {read} of {high} records; {deleted} deleted by retention before read");
    assert!(
        deleted > 0,
        "retention deleted nothing the window had not read"
    );
    // A gap is judged (retention or compaction) once librdkafka's statistics show the log
    // start after it: within a few seconds.
    let started = Instant::now();
    let tip = loop {
        let tip = hover_tooltip(&mut h, "twin.telemetry: lag 0", "records behind the head")
            .expect("the lag's hover");
        if tip.lines().count() > 1 || started.elapsed() > Duration::from_secs(10) {
            break tip;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("hover: {tip:?}");
    // Per topic: the events topic lost nothing.
    let events = hover_tooltip(&mut h, "twin.events: lag 0", "records behind the head")
        .expect("the events lag's hover");
    assert_eq!(events, "1 partitions, 0 records behind the head");
    (tip, deleted)
}

/// The records the log lost before the window read them are counted exactly, for the topic
/// that lost them.
#[test]
fn records_deleted_before_they_were_read_are_counted_exactly_per_topic() {
    let (tip, deleted) = retention_scenario();
    let missing: u64 = tip
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(missing, deleted, "{tip}");
}

/// ... and attributed to retention, as README says, not to compaction: a gap is judged only
/// once librdkafka's statistics show where the log starts now.
#[test]
fn records_deleted_by_retention_before_they_were_read_are_attributed_to_retention() {
    let (tip, deleted) = retention_scenario();
    assert_eq!(
        tip,
        format!(
            "1 partitions, 0 records behind the head\n\
             {deleted} records were deleted by retention before they could be read"
        )
    );
}

/// README (Reliability): "a broker outage shows a red *Disconnected* banner within about
/// 1.5 s, the window keeps responding, and ingest resumes by itself". Measured end to end, from
/// the brokers going down to the banner being on screen. The ingest checks the brokers every
/// 2 s from statistics refreshed every second, so the bound is 3 s plus a frame.
#[test]
fn broker_outage_shows_the_disconnected_banner_and_the_window_keeps_responding() {
    let cluster = common::replicated_cluster(3, 3, &TOPICS.map(|t| (t, 1)));
    let bootstrap = cluster.bootstrap_servers();
    let p = producer(&bootstrap);
    telemetry(&p, "a/b/c", T0, r#""temp": 1"#);
    p.flush(Duration::from_secs(10)).unwrap();
    let mut h = app_harness(options(&bootstrap), Persisted::default());
    step_until(&mut h, Duration::from_secs(30), "catch-up", |h| {
        h.state().caught_up() && h.query_by_label("Connected").is_some()
    });
    // Past librdkafka's first statistics, so the ingest has seen the brokers up.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(1500) {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.query_by_label_contains("Disconnected").is_none());

    let down_at = Instant::now();
    for b in 1..=3 {
        cluster.broker_down(b).unwrap();
    }
    let mut slowest = Duration::ZERO;
    let every = Duration::from_millis(10);
    let banner = common::poll(down_at, Duration::from_secs(10), every, || {
        let f = Instant::now();
        h.step();
        slowest = slowest.max(f.elapsed());
        labels(&h, "⚠ Disconnected from")
            .into_iter()
            .next()
            .ok_or_else(|| "no Disconnected banner 10 s after the outage began".to_owned())
    });
    let shown_after = down_at.elapsed();
    eprintln!(
        "Disconnected banner {shown_after:?} after the outage began; slowest frame {slowest:?}: {banner}"
    );
    assert!(
        shown_after <= Duration::from_millis(3500),
        "banner shown {shown_after:?} after the outage began"
    );
    // Once connected, a lost connection is checked every 2 s; librdkafka reconnects by itself.
    assert!(banner.contains("Retrying every 2 s"), "{banner}");
    h.get_by_label("Disconnected");
    assert!(
        slowest < Duration::from_millis(500),
        "a frame took {slowest:?}"
    );

    for b in 1..=3 {
        cluster.broker_up(b).unwrap();
    }
    step_until(&mut h, Duration::from_secs(20), "the banner to go", |h| {
        h.query_by_label_contains("⚠ Disconnected from").is_none()
    });
    // Ingest resumed by itself: a record produced now is shown.
    produce(
        &p,
        "twin.telemetry",
        "a/b/c",
        T0 + 1000,
        &format!(r#"{{"ts": {}, "temp": 2}}"#, T0 + 1000),
    );
    p.flush(Duration::from_secs(20)).unwrap();
    step_until(&mut h, Duration::from_secs(20), "the new record", |h| {
        h.state().store().stats().records == 2
    });
}

// ---------------------------------------------------------------------------------------------
// Write-back only while live.

/// README: "Time travel is read-only: commands and acks are only offered while live". With
/// write-back on, scrubbed to a time where OVERHEAT is active and unacknowledged: no Ack, the
/// command button is disabled (with the reason on hover) and clicking it opens nothing. Live
/// again, both are back.
#[test]
fn acks_and_commands_are_offered_only_while_live() {
    let mut f = overheat_fixture(writer_with_ping, Persisted::default(), |_| {});
    let bootstrap = f.cluster.bootstrap_servers();
    let before = watermarks(&bootstrap);
    let h = &mut f.harness;
    h.get_by_label("OVERHEAT").click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("a/b/d"));
    // Live: offered.
    h.get_by_label("Ack OVERHEAT on a/b/d");
    assert!(!h.get_by_label("Ping").accesskit_node().is_disabled());

    // In the past, with the alarm active and unacknowledged then.
    common::go_to(h, T0 + 45_000);
    h.get_by_label_contains("HISTORY");
    h.get_by_label("OVERHEAT");
    assert!(
        h.query_by_label("Ack OVERHEAT on a/b/d").is_none(),
        "Ack offered while scrubbed into the past"
    );
    assert!(
        h.query_by_label("⋯").is_none(),
        "shelve menu offered in the past"
    );
    let ping = h.get_by_label("Ping");
    assert!(
        ping.accesskit_node().is_disabled(),
        "command offered in the past"
    );
    ping.click();
    h.run_steps(3);
    assert!(
        !h.state().dialog_open(),
        "a command dialog opened in the past"
    );
    assert!(
        hover_tooltip(h, "Ping", "Time travel is read-only").is_some(),
        "the disabled button says why"
    );
    assert_eq!(watermarks(&bootstrap), before, "something was produced");

    // Live again: offered again.
    h.key_press(egui::Key::End);
    h.run_steps(2);
    h.get_by_label("Ack OVERHEAT on a/b/d");
    assert!(!h.get_by_label("Ping").accesskit_node().is_disabled());
}

// ---------------------------------------------------------------------------------------------
// Alarm list filters and plot shading.

/// Three alarms besides OVERHEAT: ACKED (low, on a/b/c, acknowledged), SHELVED (medium, on
/// site-x/unit-y, shelved until 10 min after it was raised).
fn alarms_fixture() -> Fixture {
    overheat_fixture(
        |_| {},
        Persisted::default(),
        |p| {
            alarm(p, "a/b/c", T0 + 31_000, "ACKED", "low", "active");
            alarm(p, "a/b/c", T0 + 32_000, "ACKED", "low", "acked");
            alarm(
                p,
                "site-x/unit-y",
                T0 + 33_000,
                "SHELVED",
                "medium",
                "active",
            );
            alarm(
                p,
                "site-x/unit-y",
                T0 + 34_000,
                "SHELVED",
                "medium",
                "shelved",
            );
        },
    )
}

fn shown(h: &App) -> Vec<String> {
    let mut v: Vec<String> = ["OVERHEAT", "ACKED", "SHELVED"]
        .into_iter()
        .filter(|c| h.query_by_label(c).is_some())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// README: "The alarm list filters by priority, unacknowledged, subtree and shelved". At
/// T0 + 40 s (in the past, inside the shelve): shelved alarms are hidden unless asked for,
/// "Unacked" hides the acknowledged one, "Selected subtree" keeps the selected group's.
#[test]
fn alarm_list_filters_unacknowledged_subtree_and_shelved() {
    let mut f = alarms_fixture();
    let h = &mut f.harness;
    common::go_to(h, T0 + 40_000);
    h.get_by_label("2 shown");
    assert_eq!(shown(h), ["ACKED", "OVERHEAT"], "shelved hidden by default");

    h.get_by_label("Shelved").click();
    h.run_steps(2);
    h.get_by_label("3 shown");
    assert_eq!(shown(h), ["ACKED", "OVERHEAT", "SHELVED"]);

    h.get_by_label("Unacked").click();
    h.run_steps(2);
    h.get_by_label("2 shown");
    assert_eq!(shown(h), ["OVERHEAT", "SHELVED"], "only unacknowledged");
    h.get_by_label("Unacked").click();
    h.run_steps(2);

    h.get_by_label("Selected subtree").click();
    h.run_steps(2);
    h.get_by_label("site-x").click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("site-x"));
    h.get_by_label("1 shown");
    assert_eq!(shown(h), ["SHELVED"]);
    h.get_by_label("a").click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("a"));
    h.get_by_label("2 shown");
    assert_eq!(shown(h), ["ACKED", "OVERHEAT"]);
}

/// A shelved alarm stays out of the live list until its shelve expires. It did not: live, the
/// app folded alarms at `i64::MAX` (the "end of time"), where every shelve has expired; now it
/// folds them at the newest data or the wall clock, whichever is later.
#[test]
fn shelved_alarm_stays_hidden_while_live() {
    let now = twinscope::timeline::now_ms();
    let mut f = overheat_fixture(
        |_| {},
        Persisted::default(),
        |p| {
            produce(
                p,
                "twin.events",
                "site-x/unit-y",
                now - 60_000,
                &format!(
                    r#"{{"ts": {}, "type": "alarm", "code": "SHELVED", "severity": "medium", "state": "active"}}"#,
                    now - 60_000
                ),
            );
            produce(
                p,
                "twin.events",
                "site-x/unit-y",
                now - 30_000,
                &format!(
                    r#"{{"ts": {}, "type": "alarm", "code": "SHELVED", "severity": "medium", "state": "shelved", "until": {}}}"#,
                    now - 30_000,
                    now + 3_600_000
                ),
            );
        },
    );
    let h = &mut f.harness;
    assert!(h.state().timeline().is_live());
    assert!(
        h.query_by_label("SHELVED").is_none(),
        "shelved for another hour, yet listed live"
    );
}

/// README: "Plots shade the periods in which the plotted assets' alarms were active, in the
/// priority colour." Each shaded period is a named plot item, listed in the plot's legend as
/// "<asset> <code>"; the colour is not visible to accessibility. Shaded: OVERHEAT while a/b/d
/// is plotted and the alarm was active in the window up to the cursor; not before it was
/// raised, and not for an asset that is not plotted.
#[test]
fn plots_shade_the_alarm_periods_of_plotted_assets() {
    let plotted = |asset: &str, prop: &str| Persisted {
        plotted: vec![PlotKey {
            asset: asset.into(),
            prop: prop.into(),
        }],
        ..Persisted::default()
    };
    let shading = |h: &App| {
        h.query_by_role_and_label(egui::accesskit::Role::CheckBox, "b/d OVERHEAT")
            .is_some()
    };
    let mut f = overheat_fixture(|_| {}, plotted("a/b/d", "rpm"), |_| {});
    let h = &mut f.harness;
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "b/d · rpm");
    assert!(shading(h), "OVERHEAT not shaded live");
    common::go_to(h, T0 + 45_000);
    assert!(shading(h), "OVERHEAT not shaded at T0 + 45 s");
    common::go_to(h, T0 + 10_000);
    assert!(!shading(h), "shaded before the alarm was raised");

    let mut f = overheat_fixture(|_| {}, plotted("a/b/c", "temp"), |_| {});
    let h = &mut f.harness;
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "b/c · temp");
    assert!(!shading(h), "another asset's alarm shaded");
}

// ---------------------------------------------------------------------------------------------
// Properties: stale age, kcat.

/// README: "age (orange when older than `ui.stale_after_s`)". The colour is not visible to
/// accessibility; the age's hover says "stale: older than N s" exactly when it is drawn
/// orange (same condition in `asset_detail.rs`). At T0 + 50 s temp is 50 s old: stale with
/// the default 30 s, not with 60 s.
#[test]
fn property_age_is_stale_after_ui_stale_after_s() {
    for (stale_after_s, stale) in [(30u64, true), (60, false)] {
        let mut f = overheat_fixture(
            |o| o.config.ui.stale_after_s = stale_after_s,
            Persisted {
                selected: Some("a/b/c".into()),
                ..Persisted::default()
            },
            |_| {},
        );
        let h = &mut f.harness;
        common::go_to(h, T0 + 50_000);
        h.get_by_label("20.25");
        let tip = hover_tooltip(h, "50 s", "event time ").expect("the age's hover");
        assert_eq!(
            tip.starts_with(&format!("stale: older than {stale_after_s} s")),
            stale,
            "stale_after_s = {stale_after_s}: {tip}"
        );
        // 10 s later temp is only 0 s old again (set at T0 + 60 s): never stale.
        common::go_to(h, T0 + 60_000);
        let tip = hover_tooltip(h, "0 s", "event time ").expect("the age's hover");
        assert!(!tip.starts_with("stale"), "{tip}");
    }
}

/// README: "click to copy the `kcat` command that fetches exactly that record". The click puts
/// the command on the clipboard (egui's `OutputCommand::CopyText`), and that command, run,
/// prints exactly the record that set the value.
#[test]
fn clicking_a_provenance_cell_copies_the_kcat_command_for_that_record() {
    let mut f = overheat_fixture(
        |_| {},
        Persisted {
            selected: Some("a/b/c".into()),
            ..Persisted::default()
        },
        |_| {},
    );
    let bootstrap = f.cluster.bootstrap_servers();
    let h = &mut f.harness;
    h.get_by_label("21.5");
    // temp and state were both set by partition 0, offset 1.
    h.get_all_by_label("p0 @1").next().unwrap().click();
    h.step();
    let copied: Vec<String> = h
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|c| match c {
            egui::OutputCommand::CopyText(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    let expected =
        format!("kcat -b {bootstrap} -C -t twin.telemetry -p 0 -o 1 -c 1 -e -f '%k %s\\n'");
    assert_eq!(copied, std::slice::from_ref(&expected));
    // The toast's area is measured on its first frame and shown on the next.
    h.run_steps(2);
    h.get_by_label("Copied kcat command to the clipboard");
    let out = std::process::Command::new("sh")
        .args(["-c", &expected])
        .output()
        .expect("kcat is required for this test: apt-get install kcat");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "a/b/c {{\"ts\": {}, \"temp\": 21.5, \"state\": \"FAULT\"}}\n",
            T0 + 60_000
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Keyboard.

/// README: "**Space** play/pause". Live → paused at the head; paused at the head → playing
/// from a minute back; playing → paused where it got to.
#[test]
fn space_pauses_plays_and_pauses_again() {
    let mut f = plain_fixture();
    let h = &mut f.harness;
    let head = T0 + 60_000;
    assert!(h.state().timeline().is_live());
    h.get_by_label("▶ Play");

    h.key_press(egui::Key::Space);
    h.run_steps(2);
    assert_eq!(
        h.state().timeline().state(),
        twinscope::timeline::PlayState::Paused
    );
    assert_eq!(h.state().timeline().at(i64::MAX), head);

    h.key_press(egui::Key::Space);
    h.run_steps(2);
    assert!(
        matches!(
            h.state().timeline().state(),
            twinscope::timeline::PlayState::Playing { .. }
        ),
        "{:?}",
        h.state().timeline().state()
    );
    h.get_by_label("⏸ Pause");
    let from = h.state().timeline().at(i64::MAX);
    assert!((head - 60_000..head).contains(&from), "playing from {from}");

    h.key_press(egui::Key::Space);
    h.run_steps(2);
    assert_eq!(
        h.state().timeline().state(),
        twinscope::timeline::PlayState::Paused
    );
    h.get_by_label("▶ Play");
    let at = h.state().timeline().at(i64::MAX);
    assert!((from..head).contains(&at), "paused at {at}");
}

/// README: "**←/→** previous/next event of the selected asset (or of any alarm when nothing is
/// selected)". With nothing selected, ← from live steps through the alarm events of every
/// asset (SECOND on a/b/c at T0 + 45 s, OVERHEAT on a/b/d at T0 + 30 s), never to telemetry
/// times (T0, T0 + 60 s).
#[test]
fn arrows_without_a_selection_step_through_every_assets_alarm_events() {
    let mut f = overheat_fixture(
        |_| {},
        Persisted::default(),
        |p| alarm(p, "a/b/c", T0 + 45_000, "SECOND", "low", "active"),
    );
    let h = &mut f.harness;
    assert_eq!(h.state().selected(), None);
    let at = |h: &App| h.state().timeline().at(i64::MAX);
    use egui::Key::{ArrowLeft, ArrowRight};
    // Where each press leaves the cursor. With no earlier alarm event the cursor stays (T0 has
    // telemetry only), and with no later one too.
    let steps = [
        (ArrowLeft, 45_000),
        (ArrowLeft, 30_000),
        (ArrowLeft, 30_000),
        (ArrowRight, 45_000),
        (ArrowRight, 45_000),
    ];
    for (n, (key, want)) in steps.into_iter().enumerate() {
        h.key_press(key);
        h.run_steps(2);
        assert_eq!(at(h), T0 + want, "after press {n} ({key:?})");
    }
    assert_eq!(h.state().selected(), None);
}

// ---------------------------------------------------------------------------------------------
// Anomaly episodes.

/// README: "the tree shows `⚠ n` on assets with n anomalous episodes ... (a run of consecutive
/// anomalous samples, such as a level shift after a stop, counts once)". A series that steps
/// up by 5 after 150 quiet samples: several consecutive samples are flagged, the badge says 1.
#[test]
fn an_anomalous_level_shift_counts_as_one_episode_in_the_tree() {
    let values: Vec<f64> = (0..200i64)
        .map(|i| 10.0 + ((i * 7919) % 100) as f64 / 100.0 + if i >= 150 { 5.0 } else { 0.0 })
        .collect();
    // The data is what it says: one run of several flagged samples.
    let flagged = twinscope::twin::anomaly::ewma_anomalies(
        &values,
        &twinscope::twin::anomaly::EwmaParams::default(),
    );
    assert!(flagged.len() >= 3, "{flagged:?}");
    assert!(
        flagged.windows(2).all(|w| w[1] == w[0] + 1),
        "not one run: {flagged:?}"
    );
    let mut f = overheat_fixture(
        |_| {},
        Persisted {
            plotted: vec![PlotKey {
                asset: "m/shift".into(),
                prop: "level".into(),
            }],
            ..Persisted::default()
        },
        |p| {
            for (i, v) in values.iter().enumerate() {
                let ts = T0 + i as i64 * 1000;
                produce(
                    p,
                    "twin.telemetry",
                    "m/shift",
                    ts,
                    &format!(r#"{{"ts": {ts}, "level": {v}}}"#),
                );
            }
        },
    );
    let h = &mut f.harness;
    step_until(h, Duration::from_secs(30), "the predictions", |h| {
        let p = h.state().predictions();
        p.fleet()
            .is_some_and(|f| f.anomalies.contains_key("m/shift"))
            && p.outcome("m/shift", "level").is_some()
    });
    h.run_steps(2);
    let o = h.state().predictions().outcome("m/shift", "level").unwrap();
    assert_eq!(
        o.anomalies.len(),
        flagged.len(),
        "samples circled on the plot"
    );
    assert_eq!(o.anomaly_events, 1);
    let fleet = h.state().predictions().fleet().unwrap();
    assert_eq!(fleet.anomalies.get("m/shift").copied(), Some(1));
    h.get_by_label("Expand m").click();
    h.run_steps(2);
    h.get_by_label("anomalous: m/shift (1)");
}

// ---------------------------------------------------------------------------------------------
// Persistence, exports, --since.

/// README: "Window layout, the last config, the selection and the plotted series survive a
/// restart (eframe persistence)". What twinscope saves through `eframe::App::save` and reads
/// back at start: the plotted series, the selection and the expanded tree (its part of the
/// layout; the window and panel sizes are eframe's and egui's own).
#[test]
fn plotted_series_selection_and_tree_survive_a_restart() {
    let mut f = plain_fixture();
    let h = &mut f.harness;
    select(h, &["a", "b", "c"]);
    h.get_by_label("temp").click();
    h.run_steps(2);
    // An alarm row selects its asset and plots that asset's numbers in place of what was
    // plotted (the operator goes to the alarm, the plot follows).
    h.get_by_label("OVERHEAT").click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("a/b/d"));
    // a/b/d's only number is rpm.
    assert_eq!(
        plant::plotted(h),
        vec![("a/b/d".to_owned(), "rpm".to_owned())]
    );
    select(h, &["a", "b", "c"]);
    h.get_by_label("temp").click();
    h.run_steps(2);
    select(h, &["a", "b", "d"]);
    let plotted = h.state().plotted().to_vec();
    assert_eq!(plotted.len(), 2, "{plotted:?}");
    let mut storage = common::MemStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let saved = storage.0.get(PERSIST_KEY).cloned().unwrap();
    assert!(!saved.contains("1200"), "twin data persisted: {saved}");

    // A new window, from what was saved.
    let persisted: Persisted = eframe::get_value(&storage, PERSIST_KEY).unwrap();
    let bootstrap = f.cluster.bootstrap_servers();
    let mut h = app_harness(options(&bootstrap), persisted);
    step_until(&mut h, Duration::from_secs(30), "catch-up", |h| {
        h.state().caught_up() && h.state().store().stats().records >= 4
    });
    h.run_steps(2);
    assert_eq!(h.state().plotted(), plotted.as_slice());
    assert_eq!(h.state().selected(), Some("a/b/d"));
    h.get_by_label("1200");
    h.get_by_label("Remove temp");
    h.get_by_label("Remove rpm");
    // The tree opens as it was left: c and d are visible without expanding anything.
    h.get_by_label("Collapse a");
    h.get_by_label("Collapse b");
    h.get_by_label("c");
}

/// README: "**Diff A→B** ...; Export JSON…". What the export writes (the file dialog itself
/// cannot be driven): the diff shown, as JSON. Nothing while no diff is open.
#[test]
fn diff_export_writes_the_open_diff_as_json() {
    let mut f = plain_fixture();
    let h = &mut f.harness;
    let head = T0 + 60_000;
    assert_eq!(h.state().export_text(Export::Diff, head), None);
    plant::diff_earliest_to_live(h);
    h.get_by_label("20.25 → 21.5");
    let text = h.state().export_text(Export::Diff, head).expect("a diff");
    let got: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "a": T0,
            "b": head,
            "scope": null,
            "changed": [
                {"asset": "a/b/c", "property": "state", "old": "RUN", "new": "FAULT"},
                {"asset": "a/b/c", "property": "temp", "old": 20.25, "new": 21.5},
            ],
            "added": [],
            "removed": [],
            "raised": [{"asset": "a/b/d", "code": "OVERHEAT", "severity": "high", "at": T0 + 30_000}],
            "cleared": [],
        })
    );
}

/// README: "Export plotted series as CSV…". The format: a header, then one line per sample of
/// each plotted series in the plot window before the cursor, `time_ms,time,asset,property,
/// value` with the time in RFC 3339 UTC, and asset ids quoted as CSV requires.
#[test]
fn csv_export_lists_every_plotted_sample_in_the_window() {
    let odd = "a/b,\"q\"";
    let mut f = overheat_fixture(
        |_| {},
        Persisted {
            plotted: vec![
                PlotKey {
                    asset: "a/b/c".into(),
                    prop: "temp".into(),
                },
                PlotKey {
                    asset: odd.into(),
                    prop: "v".into(),
                },
            ],
            ..Persisted::default()
        },
        |p| {
            produce(
                p,
                "twin.telemetry",
                odd,
                T0 + 1500,
                &format!(r#"{{"ts": {}, "v": -0.5}}"#, T0 + 1500),
            );
        },
    );
    let h = &mut f.harness;
    let head = T0 + 60_000;
    let csv = h.state().export_text(Export::Csv, head).unwrap();
    assert_eq!(
        csv,
        format!(
            "time_ms,time,asset,property,value\n\
             {T0},2023-11-14T22:13:20.000Z,a/b/c,temp,20.25\n\
             {},2023-11-14T22:14:20.000Z,a/b/c,temp,21.5\n\
             {},2023-11-14T22:13:21.500Z,\"a/b,\"\"q\"\"\",v,-0.5\n",
            T0 + 60_000,
            T0 + 1500
        )
    );
    // The window ends at the cursor: in the past, later samples are left out.
    common::go_to(h, T0 + 30_000);
    let csv = h.state().export_text(Export::Csv, head).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(!csv.contains(",21.5\n"), "{csv}");
}

/// README: "It reads from the start of retention (or `--since`)". `--since` reaches the window
/// as `AppOptions::since` (src/main.rs computes now − the duration): ten records a second
/// apart, since the sixth, and the window holds the last five; Home stops at the sixth.
#[test]
fn since_reads_only_the_look_back_in_the_window() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap_servers();
    let p = producer(&bootstrap);
    for i in 0..10i64 {
        let ts = T0 + i * 1000;
        produce(
            &p,
            "twin.telemetry",
            "s/one",
            ts,
            &format!(r#"{{"ts": {ts}, "v": {i}}}"#),
        );
    }
    p.flush(Duration::from_secs(10)).unwrap();
    let mut opts = options(&bootstrap);
    opts.since = Some(T0 + 5_000);
    let mut h = app_harness(opts, Persisted::default());
    step_until(&mut h, Duration::from_secs(30), "catch-up", |h| {
        h.state().caught_up() && h.state().store().stats().records >= 5
    });
    h.run_steps(2);
    assert_eq!(h.state().store().stats().records, 5);
    assert_eq!(
        h.state().store().time_range(),
        Some((T0 + 5_000, T0 + 9_000))
    );
    h.key_press(egui::Key::Home);
    h.run_steps(2);
    assert_eq!(h.state().timeline().at(i64::MAX), T0 + 5_000);
}

/// A sent command shows its outcome: the record the window sends is read back from the
/// commands topic as a device gateway would, answered on the events topic, and the asset panel
/// says `→ accepted` or `→ rejected`; one that nobody answers says `→ timed out` after 30 s.
#[test]
fn sent_commands_show_accepted_rejected_and_timed_out() {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::message::Message as _;
    use rdkafka::{Offset, TopicPartitionList};

    let mut f = overheat_fixture(writer_with_ping, Persisted::default(), |_| {});
    let bootstrap = f.cluster.bootstrap_servers();
    let gateway: BaseConsumer = ClientSettings::plain(&bootstrap)
        .consumer_config("gateway")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("twin.commands", 0, Offset::Beginning)
        .unwrap();
    gateway.assign(&tpl).unwrap();
    let p = producer(&bootstrap);
    let h = &mut f.harness;
    h.get_by_label("OVERHEAT").click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("a/b/d"));

    // Sends one ping through the confirmation dialog and returns the record as received.
    let send = |h: &mut App| -> serde_json::Value {
        h.get_by_label("Ping").click();
        step_until(h, Duration::from_secs(5), "the confirmation dialog", |h| {
            h.query_by_label("Send command").is_some()
        });
        h.get_by_label("Send command").click();
        h.run_steps(2);
        let start = Instant::now();
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no command record"
            );
            h.step();
            if let Some(Ok(m)) = gateway.poll(Duration::from_millis(50)) {
                assert_eq!(m.key(), Some("a/b/d".as_bytes()));
                return serde_json::from_slice(m.payload().unwrap()).unwrap();
            }
        }
    };
    let answer = |cid: &str, status: &str| {
        let body = serde_json::json!({
            "ts": twinscope::timeline::now_ms(),
            "type": "command_result",
            "correlation_id": cid,
            "status": status,
        });
        produce(
            &p,
            "twin.events",
            "a/b/d",
            twinscope::timeline::now_ms(),
            &body.to_string(),
        );
    };
    for status in ["accepted", "rejected"] {
        let rec = send(h);
        assert_eq!(rec["command"], "ping");
        assert_eq!(rec["by"], "tester");
        let cid = rec["correlation_id"].as_str().unwrap().to_owned();
        answer(&cid, status);
        let want = format!("→ {status}");
        step_until(h, Duration::from_secs(10), &want, |h| {
            h.query_by_label(&want).is_some()
        });
    }
    // Nobody answers the third.
    send(h);
    h.get_by_label("→ sent");
    step_until(h, Duration::from_secs(40), "→ timed out", |h| {
        h.query_by_label("→ timed out").is_some()
    });
    // The answered ones kept their outcome.
    h.get_by_label("→ accepted");
    h.get_by_label("→ rejected");
}

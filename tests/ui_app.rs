//! UI tests: the real app, fed by the real ingest from a MockCluster, driven like a user
//! through egui_kittest and queried by accessible label.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::plant::{self, App, Fixture, produce, telemetry, watermarks};
use common::{T0, app_harness};
use egui_kittest::kittest::Queryable as _;
use rdkafka::producer::Producer as _;
use twinscope::app::{AppOptions, Persisted};
use twinscope::config::Config;
use twinscope::ui::PlotKey;

/// The small plant of `common::plant`, with OVERHEAT raised on a/b/d at T0 + 30 s
/// ([`plant::overheat_fixture`]).
fn fixture() -> Fixture {
    fixture_with(|_| {})
}

fn fixture_with(adjust: impl FnOnce(&mut AppOptions)) -> Fixture {
    fixture_persisted(adjust, Persisted::default())
}

fn fixture_persisted(adjust: impl FnOnce(&mut AppOptions), persisted: Persisted) -> Fixture {
    plant::overheat_fixture(adjust, persisted, |_| {})
}

#[test]
fn select_asset_in_tree_shows_its_properties_and_plot_adds_series() {
    let mut f = fixture();
    let h = &mut f.harness;
    plant::select(h, &["a", "b", "c"]);
    assert_eq!(h.state().selected(), Some("a/b/c"));
    // The latest values of the selected asset are shown.
    h.get_by_label("21.5");
    h.get_by_label("FAULT");
    assert!(
        h.query_by_label("1200").is_none(),
        "another asset's property is not shown"
    );
    // Clicking a numeric property plots it.
    h.get_by_label("temp").click();
    h.run_steps(2);
    assert_eq!(
        h.state().plotted(),
        &[PlotKey {
            asset: "a/b/c".into(),
            prop: "temp".into()
        }]
    );
    h.get_by_label("Remove temp");
}

#[test]
fn alarm_in_list_selects_its_asset_and_plots_it_when_clicked() {
    let mut f = fixture();
    let h = &mut f.harness;
    h.get_by_label("OVERHEAT message");
    h.get_by_label("OVERHEAT").click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("a/b/d"));
    h.get_by_label("1200");
    // The plot follows the alarm: its asset's numbers, nothing of another asset.
    assert_eq!(
        plant::plotted(h),
        vec![("a/b/d".to_owned(), "rpm".to_owned())]
    );
    h.get_by_label("Remove rpm");
}

/// A counter and a small number on one asset: on a shared axis the small one is a flat line.
/// The plot says so and offers to scale each series to its own range, which keeps the real
/// values in the legend.
#[test]
fn series_of_very_different_ranges_can_each_be_scaled_to_their_own() {
    let mut f = plant::overheat_fixture(
        |_| {},
        Persisted::default(),
        |p| {
            for (i, (small, count)) in [(1.5, 1_000_000), (2.5, 2_000_000)].iter().enumerate() {
                let ts = T0 + 20_000 + i as i64 * 5_000;
                telemetry(
                    p,
                    "a/b/e",
                    ts,
                    &format!(r#""small": {small}, "count": {count}"#),
                );
            }
        },
    );
    let h = &mut f.harness;
    plant::select(h, &["a", "b", "e"]);
    h.get_by_label("small").click();
    h.run_steps(1);
    h.get_by_label("count").click();
    h.run_steps(2);
    assert_eq!(plant::plotted(h).len(), 2);
    h.get_by_label_contains("ranges differ by over 100×");
    h.key_press(egui::Key::N);
    h.run_steps(2);
    assert!(h.state().plot_scaled());
    assert!(h.query_by_label_contains("ranges differ").is_none());
    h.get_by_label_contains("count [1000000 – 2000000]");
    h.get_by_label_contains("small [1.500 – 2.500]");
    // And back to one axis with the button.
    h.get_by_label("Scale each (N)").click();
    h.run_steps(2);
    assert!(!h.state().plot_scaled());
    h.get_by_label_contains("ranges differ by over 100×");
}

#[test]
fn read_only_produces_nothing_and_offers_no_write_actions() {
    let mut f = fixture();
    let bootstrap = f.cluster.bootstrap_servers();
    let before = watermarks(&bootstrap);
    assert_eq!(before, vec![3, 1, 0, 0]);
    let h = &mut f.harness;
    h.get_by_label("read-only");
    h.get_by_label("OVERHEAT").click();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("Ack ").is_none(),
        "no Ack button when read-only"
    );
    h.key_press(egui::Key::Home);
    h.run_steps(2);
    h.key_press(egui::Key::End);
    h.run_steps(2);
    assert_eq!(
        watermarks(&bootstrap),
        before,
        "a read-only viewer produced to a topic"
    );
}

fn step_until(h: &mut App, what: &str, done: impl FnMut(&App) -> bool) {
    plant::step_until(h, Duration::from_secs(15), what, done);
}

/// Steps until the re-read of evicted history has finished.
fn wait_for_reread(h: &mut App) {
    plant::step_until(h, Duration::from_secs(60), "the re-read", |h| {
        !h.state().replaying()
    });
    h.run_steps(2);
}

/// Steps until the fleet prediction lists the three rising series.
fn wait_for_fleet(h: &mut App) {
    step_until(h, "the fleet prediction", |h| {
        h.state()
            .predictions()
            .fleet()
            .is_some_and(|f| f.rows.len() == 3)
    });
    h.run_steps(2);
}

#[test]
fn ack_from_the_alarm_list_goes_through_kafka() {
    let mut f = fixture_with(|o| {
        o.allow_write = true;
        o.config.operator.name = Some("tester".into());
    });
    let h = &mut f.harness;
    h.get_by_label("write-back ON");
    h.get_by_label("Ack OVERHEAT on a/b/d").click();
    h.run_steps(2);
    // The ack comes back through the events topic, like any other instance's would.
    step_until(h, "the ack to come back from Kafka", |h| {
        let s = h.state().store();
        s.alarms_at(i64::MAX)
            .iter()
            .any(|a| a.status.acked && a.status.acked_by.as_deref() == Some("tester"))
    });
    h.run_steps(2);
    h.get_by_label_contains("ack tester");
    assert!(h.query_by_label("Ack OVERHEAT on a/b/d").is_none());
}

#[test]
fn commands_need_confirmation_naming_asset_and_payload() {
    let mut f = fixture_with(|o| {
        o.allow_write = true;
        o.config.operator.name = Some("tester".into());
        o.config.commands = vec![twinscope::config::CommandDef {
            name: "ping".into(),
            label: Some("Ping".into()),
            kinds: vec![],
            args: [("n".to_owned(), serde_json::json!(3))].into(),
        }];
    });
    let bootstrap = f.cluster.bootstrap_servers();
    let h = &mut f.harness;
    h.get_by_label("OVERHEAT").click();
    h.run_steps(2);
    h.get_by_label("Ping").click();
    // One frame applies the click, the next lays the new dialog out invisibly, then it shows.
    h.run_steps(4);
    // Nothing is sent before confirming.
    assert_eq!(watermarks(&bootstrap)[3], 0);
    assert!(h.state().dialog_open());
    h.get_by_label("Send \"Ping\"?");
    h.get_by_label("to asset a/b/d");
    h.get_by_label(r#"{"args":{"n":3},"by":"tester","command":"ping"}"#);
    h.get_by_label("Send command").click();
    h.run_steps(2);
    let sent = h.state().sent_commands();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].asset.as_str(), sent[0].name.as_str()),
        ("a/b/d", "ping")
    );
    step_until(h, "the command record", |_| watermarks(&bootstrap)[3] == 1);
    h.get_by_label("→ sent");
}

#[test]
fn home_end_arrows_and_alarm_markers_travel_in_time() {
    let mut f = fixture();
    let h = &mut f.harness;
    plant::select(h, &["a", "b", "c"]);
    h.get_by_label("21.5");
    assert!(
        h.query_by_label_contains("HISTORY").is_none(),
        "live at start"
    );

    // Home: the earliest retained time shows the historical values, flagged as history.
    h.key_press(egui::Key::Home);
    h.run_steps(2);
    assert_eq!(h.state().timeline().at(i64::MAX), T0);
    h.get_by_label("20.25");
    h.get_by_label("RUN");
    assert!(h.query_by_label("21.5").is_none());
    h.get_by_label_contains("HISTORY");

    // →: the next event of the selected asset (its second telemetry record).
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(h.state().timeline().at(i64::MAX), T0 + 60_000);
    h.get_by_label("21.5");

    // Shift+←: ten seconds back, still history.
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowLeft);
    h.run_steps(2);
    assert_eq!(h.state().timeline().at(i64::MAX), T0 + 50_000);
    h.get_by_label("20.25");

    // End: live again.
    h.key_press(egui::Key::End);
    h.run_steps(2);
    assert!(h.state().timeline().is_live());
    h.get_by_label("21.5");
    assert!(h.query_by_label_contains("HISTORY").is_none());

    // Clicking the alarm marker on the timeline moves the cursor to the alarm.
    h.get_by_label_contains("high alarm at").click();
    h.run_steps(2);
    assert!(!h.state().timeline().is_live());
    assert_eq!(h.state().timeline().at(i64::MAX), T0 + 30_000);
}

#[test]
fn diff_between_markers_lists_changed_properties_and_alarms() {
    let mut f = fixture();
    let h = &mut f.harness;
    plant::diff_earliest_to_live(h);
    // From T0 to the head: temp and state of c changed, d's rpm stayed, OVERHEAT was raised.
    h.get_by_label_contains(
        "2 properties changed, 0 assets added, 0 removed, 1 alarms raised, 0 cleared",
    );
    h.get_by_label("20.25 → 21.5");
    h.get_by_label("\"RUN\" → \"FAULT\"");
}

/// History beyond a tiny memory budget is evicted; scrubbing back re-reads it from Kafka, with
/// a visible progress banner, and then shows exactly what a read without eviction shows.
#[test]
fn evicted_history_is_reread_from_kafka_and_identical() {
    let cluster = common::twin_cluster(1, 4, 1);
    let bootstrap = cluster.bootstrap_servers();
    let p = plant::producer(&bootstrap);
    // 60k records of a counter on m/x (partition 0), and beside it three assets of random
    // numbers on partitions 1-3: the counter compresses to almost nothing, random mantissas
    // do not (about 8 B a sample), so the history is well over the 1 MB budget while no
    // partition passes the mock's 5 MB.
    let mut rng = fastrand::Rng::with_seed(7);
    for i in 0..60_000i64 {
        let ts = T0 + i * 1000;
        telemetry(&p, "m/x", ts, &format!(r#""v": {}"#, 1_000_000 + i));
        if i % 2 == 0 {
            for k in 1..=3 {
                let nums: Vec<String> = ["a", "b", "c", "d"]
                    .iter()
                    .map(|n| format!(r#""{n}": {}"#, rng.f64()))
                    .collect();
                let body = format!(r#"{{"ts": {ts}, {}}}"#, nums.join(", "));
                plant::produce_to(&p, ("twin.telemetry", k), &format!("n/{k}"), ts, &body);
            }
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();

    let mut config = Config::default();
    config.history.budget_mb = 1;
    let full = twinscope::headless::read_to_store(
        common::spec(&Config::default(), &bootstrap),
        0,
        Duration::from_secs(20),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(full.history_start(), None);

    let opts = AppOptions {
        config,
        ..plant::options(&bootstrap)
    };
    let mut h = app_harness(
        opts,
        Persisted {
            selected: Some("m/x".into()),
            ..Persisted::default()
        },
    );
    plant::step_until(&mut h, Duration::from_secs(60), "catch-up", |h| {
        h.state().caught_up() && h.state().store().stats().records == 150_000
    });
    h.run_steps(2);
    let evicted_before = h
        .state()
        .store()
        .history_start()
        .expect("the tiny budget evicted history");
    assert!(
        evicted_before > T0 + 10_000_000,
        "most of the hour is evicted"
    );
    h.get_by_label("1059999");

    // Home goes to the earliest retained time, deep in the evicted range.
    h.key_press(egui::Key::Home);
    h.step();
    assert!(
        h.state().replaying(),
        "scrubbing into evicted history starts a re-read"
    );
    h.get_by_label_contains("Re-reading history");
    wait_for_reread(&mut h);
    assert!(h.query_by_label_contains("Re-reading history").is_none());
    h.get_by_label("1000000");
    assert_eq!(h.state().snapshot_at_cursor(), full.snapshot(T0));
    // A little later, still inside the re-read range, stays exact without another read.
    h.key_press(egui::Key::ArrowRight);
    h.step();
    assert!(!h.state().replaying());
    assert_eq!(h.state().snapshot_at_cursor(), full.snapshot(T0 + 1000));
    // No checkpoint before T0: read from the beginning, up to the event-time watermark of
    // the re-read range: cursor + 10 min + the lateness the live read observed (none here: one
    // record a second in order) + 1 s, i.e. offsets 0..=602 of m/x's partition and, of each
    // noise partition (a record every 2 s), offsets 0..=301: 603 + 3 × 302.
    assert_eq!(h.state().replay_records(), Some(603 + 3 * 302));

    // Later evicted times start from the eviction checkpoint before them and seek there (own
    // index first), so only a small part of the log is read again; the result is still exact.
    let t = T0 + 20_000_500;
    assert!(t < evicted_before);
    // The click frame moves the cursor; the next one starts the re-read.
    common::go_to(&mut h, t);
    assert!(h.state().replaying());
    wait_for_reread(&mut h);
    assert_eq!(h.state().timeline().at(i64::MAX), t);
    assert_eq!(h.state().snapshot_at_cursor(), full.snapshot(t));
    h.get_by_label("1020000");
    let reread = h.state().replay_records().unwrap();
    eprintln!("re-read from the checkpoint: {reread} records");
    // A read from the beginning would take 20,662 records of m/x and half as many of each
    // noise asset (51,655); from the checkpoint it is a few thousand (2,000 s to the cursor,
    // the 11-minute window, and one index stride), times 2.5 for the noise.
    assert!(
        reread < 12_500,
        "re-read {reread} records, expected a seek near the checkpoint"
    );
}

#[test]
fn last_config_and_selection_are_reopened_from_persisted_state() {
    let path = std::env::temp_dir().join(format!("twinscope-persist-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[write]\nenabled = true\n[operator]\nname = \"persisted-op\"\n",
    )
    .unwrap();
    let persisted = Persisted {
        config_path: Some(path.clone()),
        selected: Some("a/b/c".into()),
        ..Persisted::default()
    };
    let f = fixture_persisted(|_| {}, persisted);
    // The config from the last session is in force (write-back on), and the selection is back.
    f.harness.get_by_label("write-back ON");
    assert_eq!(f.harness.state().selected(), Some("a/b/c"));
    f.harness.get_by_label("21.5");
    let saved = f.harness.state().persisted();
    assert_eq!(saved.config_path.as_deref(), Some(path.as_path()));
    std::fs::remove_file(path).ok();
}

#[test]
fn alarm_filters_journal_and_flood_indicator() {
    let mut f = plant::overheat_fixture(
        |_| {},
        Persisted::default(),
        |p| {
            // Eleven more alarms within ten minutes: an ISA-18.2 flood.
            for i in 0..11 {
                let ts = T0 + 31_000 + i * 1000;
                let v = format!(
                    r#"{{"ts": {ts}, "type": "alarm", "code": "F{i}", "severity": "low", "state": "active"}}"#
                );
                produce(p, "twin.events", "a/b/c", ts, &v);
            }
        },
    );
    let h = &mut f.harness;
    step_until(h, "all alarms", |h| h.state().store().alarms().len() == 12);
    h.run_steps(2);
    h.get_by_label("12 shown");
    h.get_by_label_contains("FLOOD: 12 new in 10 min");
    // Hide low-priority alarms: only OVERHEAT (high) is left.
    h.get_by_label("low").click();
    h.run_steps(2);

    h.get_by_label("1 shown");
    h.get_by_label("OVERHEAT");
    // The journal lists the transitions with their states.
    h.get_by_label("⏵ Journal").click();
    h.run_steps(2);
    assert_eq!(h.get_all_by_label("Normal → Unacknowledged").count(), 12);
}

/// Three rising series against a `vib > 6` limit (values in 1/64 steps, so every fit is exact),
/// and a noisy one with a single spike.
fn prediction_fixture() -> Fixture {
    plant::overheat_fixture(
        |o| {
            o.config.limits = vec![twinscope::config::LimitDef {
                property: "vib".into(),
                threshold: twinscope::twin::forecast::Threshold::above(6.0),
                kinds: vec![],
                pattern: None,
            }];
        },
        Persisted::default(),
        |p| {
            for i in 0..=200i64 {
                let ts = T0 + i * 1000;
                let x = i as f64;
                let kink = if i <= 100 {
                    2.0 + x / 64.0
                } else {
                    2.0 + 100.0 / 64.0 + (x - 100.0) / 32.0
                };
                let spike = if i == 180 { 50.0 } else { 0.0 };
                let noise = 10.0 + ((i * 7919) % 100) as f64 / 100.0 + spike;
                for (key, v) in [
                    ("m/fast", 2.0 + x / 64.0),
                    ("m/slow", 2.0 + x / 128.0),
                    ("m/kink", kink),
                    ("m/spiky", noise),
                ] {
                    let prop = if key == "m/spiky" { "noise" } else { "vib" };
                    produce(
                        p,
                        "twin.telemetry",
                        key,
                        ts,
                        &format!(r#"{{"ts": {ts}, "{prop}": {v}}}"#),
                    );
                }
            }
        },
    )
}

#[test]
fn at_risk_lists_the_fleet_soonest_first_and_selects_on_click() {
    let mut f = prediction_fixture();
    let h = &mut f.harness;
    wait_for_fleet(h);
    let fleet = h.state().predictions().fleet().unwrap();
    // Live: predicted from the head, T0 + 200 s.
    assert_eq!(fleet.at, T0 + 200_000);
    let order: Vec<&str> = fleet.rows.iter().map(|r| r.asset.as_ref()).collect();
    assert_eq!(order, ["m/kink", "m/fast", "m/slow"]);
    // 2 + t/64 reaches 6 at 256 s, 2 + t/128 at 512 s; the kink is above 6 already.
    h.get_by_label("vib > 6 beyond the limit now");
    h.get_by_label("vib > 6 in 56 s");
    h.get_by_label("vib > 6 in 5 min");
    // The spike is the only anomaly in the fleet, and the tree badges its asset.
    assert_eq!(fleet.anomalies.get("m/spiky").copied(), Some(1));
    assert_eq!(fleet.anomalies.len(), 1);
    h.get_by_label("Expand m").click();
    h.run_steps(2);
    h.get_by_label("anomalous: m/spiky (1)");
    assert!(h.query_by_label_contains("anomalous: m/fast").is_none());

    h.get_by_label("At risk: m/fast · vib").click();
    h.run_steps(3);
    assert_eq!(h.state().selected(), Some("m/fast"));
    // The detail panel shows the same estimate for the selected asset.
    step_until(h, "the detail estimate", |h| {
        h.query_all_by_label("vib > 6 in 56 s").count() == 2
    });

    // F turns predictions off, and the panel says so.
    h.key_press(egui::Key::F);
    h.run_steps(2);
    assert!(!h.state().predictions().enabled);
    h.get_by_label("Predictions are off (F turns them on).");
    assert!(h.query_by_label("At risk: m/fast · vib").is_none());
    h.get_by_label("Forecast (F)").click();
    h.run_steps(2);
    assert!(h.state().predictions().enabled);
}

#[test]
fn backtest_at_a_past_cursor_reports_mae_and_the_actual_crossing() {
    let mut f = prediction_fixture();
    let h = &mut f.harness;
    wait_for_fleet(h);
    h.get_by_label("At risk: m/kink · vib").click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("m/kink"));
    // Live, the kink is beyond its limit.
    step_until(h, "the live estimate", |h| {
        h.query_all_by_label("vib > 6 beyond the limit now").count() == 2
    });

    // Back to T0 + 100 s, before the slope doubled.
    let t = T0 + 100_000;
    common::go_to(h, t);
    step_until(h, "the backtest", |h| {
        h.state()
            .predictions()
            .outcome("m/kink", "vib")
            .is_some_and(|o| {
                o.prediction.as_ref().is_some_and(|p| p.at == t) && o.backtest.is_some()
            })
    });
    h.run_steps(2);
    // From data up to T only: 2 + t/64 reaches 6 at 256 s, 156 s after the cursor.
    let o = h.state().predictions().outcome("m/kink", "vib").unwrap();
    let b = o.backtest.unwrap();
    assert_eq!(b.predicted_crossing, Some(T0 + 256_000));
    // What happened: 2 + 100/64 + (t - 100)/32 first exceeds 6 at 179 s.
    assert_eq!(b.actual_crossing, Some(T0 + 179_000));
    // The error grows as (t - 100 s)/64: the mean over 101..=200 s is 50.5/64.
    assert_eq!(b.overlap, 100);
    assert!((b.mae.unwrap() - 50.5 / 64.0).abs() < 1e-9, "{:?}", b.mae);
    let time = twinscope::ui::style::time;
    h.get_by_label(&format!(
        "Backtest from {}: MAE 0.789 over 100 samples; crossing predicted {}, happened {} (77 s earlier)",
        time(t),
        time(T0 + 256_000),
        time(T0 + 179_000)
    ));
    // The fleet list is predicted at the cursor too: at 100 s nothing is beyond 6 yet.
    step_until(h, "the fleet at the cursor", |h| {
        h.state().predictions().fleet().is_some_and(|f| f.at == t)
    });
    h.run_steps(2);
    // 156 s to go for the kink and the fast series (listed), and the kink's detail line.
    assert_eq!(h.query_all_by_label("vib > 6 in 2 min").count(), 3);
    let fleet = h.state().predictions().fleet().unwrap();
    assert!(
        fleet
            .rows
            .iter()
            .all(|r| matches!(r.rul, twinscope::twin::forecast::Rul::Crossing { .. })),
        "{:?}",
        fleet.rows
    );
}

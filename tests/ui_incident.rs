//! The one-minute task, as an operator does it, by accessible label: find the worst
//! unacknowledged alarm, go to its onset, read what changed before it, export the bundle, in
//! at most six interactions, on a plant with a known incident (tests/common/incident_plant.rs)
//! read through the real ingest from a MockCluster. Asserts on what happened: the cursor, the
//! selection, the plotted series and their window, the ranking and the files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::app_harness;
use common::incident_plant::{CONV, MIN, ONSET, ROBOT, produce_plant};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use twinscope::app::{AppOptions, Persisted, TwinApp};
use twinscope::ui::PlotKey;

type App = Harness<'static, TwinApp>;

/// The app on `bootstrap`, with `conv · speed` plotted from the last run (the series the
/// issue's operator saw stay on the plot), stepped until caught up with every alarm read.
fn app(bootstrap: &str) -> App {
    let persisted = Persisted {
        plotted: vec![PlotKey {
            asset: CONV.into(),
            prop: "speed".into(),
        }],
        ..Persisted::default()
    };
    let opts = AppOptions {
        brokers: Some(bootstrap.to_owned()),
        ..AppOptions::default()
    };
    let mut h = app_harness(opts, persisted);
    let start = Instant::now();
    while !(h.state().caught_up() && h.state().store().alarms().len() == 3) {
        assert!(start.elapsed() < Duration::from_secs(30), "catch-up");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.run_steps(2);
    h
}

/// The labels of the "go to onset" buttons, in the order the alarm list shows them.
fn onset_buttons(h: &App) -> Vec<String> {
    h.query_all_by_label_contains("Go to onset of ")
        .filter_map(|n| n.accesskit_node().label())
        .collect()
}

#[test]
fn worst_unacked_alarm_to_onset_to_cause_to_bundle_in_six_interactions() {
    let (cluster, produced) = produce_plant();
    let mut h = app(&cluster.bootstrap_servers());
    let mut interactions = 0;

    // 1. Only unacknowledged alarms: E_STOP (critical, acknowledged) drops out and the worst
    //    left, on top, is the robot's collision.
    assert_eq!(
        onset_buttons(&h).first().map(String::as_str),
        Some("Go to onset of E_STOP on plant/line1/conv")
    );
    h.get_by_label("Unacked").click();
    interactions += 1;
    h.run_steps(2);
    let worst = onset_buttons(&h);
    assert_eq!(
        worst.first().map(String::as_str),
        Some("Go to onset of FAULT_COLLISION on plant/line1/robot"),
        "{worst:?}"
    );

    // 2. Go to its onset.
    h.get_by_label(&worst[0]).click();
    interactions += 1;
    h.run_steps(3);
    let app = h.state();
    assert_eq!(app.timeline().at(i64::MAX), ONSET, "cursor at the onset");
    assert_eq!(app.selected(), Some(ROBOT));
    let plotted: Vec<(&str, &str)> = app
        .plotted()
        .iter()
        .map(|k| (k.asset.as_str(), k.prop.as_str()))
        .collect();
    assert_eq!(
        plotted,
        vec![(ROBOT, "temp"), (ROBOT, "torque")],
        "the robot's series replace the conveyor's"
    );
    assert_eq!(app.plot_focus(), Some((ONSET - 15 * MIN, ONSET + 5 * MIN)));

    // 3. Read what changed before it: the incident view ranks the mode change first, then
    //    the torque jump (no interaction: it is on screen).
    h.get_by_label(&format!("#1 {ROBOT} · mode"));
    h.get_by_label(&format!("#2 {ROBOT} · torque"));
    let a = h.state().incident().and_then(|i| i.analysis()).unwrap();
    assert_eq!(a.ranked[0].old, Some(serde_json::json!("AUTO")));
    assert_eq!(a.ranked[0].new, Some(serde_json::json!("MANUAL")));
    assert_eq!(a.raised.len(), 1, "HOT on the press, 4 min before");

    // 4. Clicking a row selects its asset and plots that property.
    h.get_by_label(&format!("#2 {ROBOT} · torque")).click();
    interactions += 1;
    h.run_steps(2);
    assert_eq!(
        h.state().plotted(),
        &[PlotKey {
            asset: ROBOT.into(),
            prop: "torque".into()
        }]
    );

    // 5. Export the bundle (the folder given as the menu's command would receive it).
    let dir = std::env::temp_dir().join(format!("twinscope-ui-incident-{}", std::process::id()));
    let files = h.state_mut().export_incident_to(&dir).unwrap();
    interactions += 1;
    assert!(interactions <= 6);
    for f in &files {
        assert!(f.is_file(), "{}", f.display());
    }
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    assert_eq!(read("incident.json")["onset"], ONSET);
    assert_eq!(
        read("state-at-onset.json")["assets"],
        produced.state_at(ONSET)
    );
    assert_eq!(read("changes.json")[0]["property"], "mode");
    let series = std::fs::read_to_string(dir.join("series.csv")).unwrap();
    assert!(
        series
            .lines()
            .skip(1)
            .all(|l| l.contains(",plant/line1/robot,torque,"))
    );
    assert_eq!(
        series.lines().count() - 1,
        21,
        "torque once a minute over 20 minutes, both ends"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn key_o_and_a_timeline_marker_open_the_incident_view() {
    let (cluster, _) = produce_plant();
    let mut h = app(&cluster.bootstrap_servers());
    // O with nothing open: the worst unacknowledged alarm.
    h.key_press(egui::Key::O);
    h.run_steps(3);
    assert_eq!(h.state().timeline().at(i64::MAX), ONSET);
    assert_eq!(
        h.state().incident().map(|i| i.onset.code.as_str()),
        Some("FAULT_COLLISION")
    );
    // A double-click on the HOT marker opens that alarm's incident instead.
    let marker = h
        .query_all_by_label_contains("medium alarm at")
        .next()
        .unwrap()
        .accesskit_node()
        .label()
        .unwrap();
    // The harness steps 0.25 s per event, so two clicks span 0.75 s: allow that much.
    h.ctx
        .options_mut(|o| o.input_options.max_double_click_delay = 1.0);
    h.get_by_label(&marker).click();
    h.get_by_label(&marker).click();
    h.run_steps(3);
    let i = h.state().incident().unwrap();
    assert_eq!(
        (i.onset.asset.as_str(), i.onset.code.as_str()),
        ("plant/line2/press", "HOT")
    );
    assert_eq!(h.state().timeline().at(i64::MAX), ONSET - 4 * MIN);
    assert_eq!(h.state().selected(), Some("plant/line2/press"));
}

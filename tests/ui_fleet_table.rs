//! The fleet table, driven like a user through egui_kittest by accessible label: the real app
//! reading a MockCluster. Selecting a group shows its assets with the store's values at the
//! cursor; headers sort; the filter language filters; a row click selects the asset; the
//! table follows the cursor; CSV holds the rows shown.
//!
//! A large table is read and ordered over several frames, so every check first runs frames
//! until the table says it is current (a bounded number). One test makes the small fixture
//! behave as a 100k-row table does (two assets read per frame, ordered on the worker thread)
//! and checks that meanwhile the previous rows stay up, marked as updating.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::plant::{self, App, produce, step_until, telemetry};
use common::{Cluster, app_harness};
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use rdkafka::producer::Producer as _;
use twinscope::app::{Export, Persisted};
use twinscope::testkit::T0;

/// Speeds of fleet/car-1..6 at T0 and at T0 + 60 s.
const EARLY: [f64; 6] = [50.0, 150.0, 90.0, 120.0, 30.0, 200.0];
const LATE: [f64; 6] = [130.0, 80.0, 110.0, 20.0, 160.0, 95.0];

struct Fixture {
    _cluster: Cluster,
    h: App,
}

fn car(i: usize) -> String {
    format!("fleet/car-{}", i + 1)
}

/// Six cars under `fleet`, a truck elsewhere, and an alarm on car-6; the app caught up.
fn fixture() -> Fixture {
    let cluster = plant::cluster();
    let bootstrap = cluster.bootstrap_servers();
    let p = plant::producer(&bootstrap);
    for (ts, speeds) in [(T0, EARLY), (T0 + 60_000, LATE)] {
        for (i, v) in speeds.iter().enumerate() {
            let state = if *v > 150.0 { "FAULT" } else { "RUN" };
            let soc = (i as f64) / 10.0;
            let fields =
                format!(r#""speed": {v}, "state": "{state}", "battery": {{"soc": {soc}}}"#);
            telemetry(&p, &car(i), ts, &fields);
        }
    }
    telemetry(&p, "depot/truck-1", T0, r#""speed": 500"#);
    let ts = T0 + 10_000;
    produce(
        &p,
        "twin.events",
        &car(5),
        ts,
        &format!(
            r#"{{"ts": {ts}, "type": "alarm", "code": "OVERSPEED", "severity": "high", "state": "active"}}"#
        ),
    );
    p.flush(Duration::from_secs(10)).unwrap();
    let mut h = app_harness(plant::options(&bootstrap), Persisted::default());
    step_until(&mut h, Duration::from_secs(30), "catch-up", |h| {
        h.state().caught_up() && h.state().store().stats().records >= 14
    });
    h.run_steps(2);
    Fixture {
        _cluster: cluster,
        h,
    }
}

/// The rows the table shows, top to bottom (by their accessible names and positions).
fn rows_shown(h: &App) -> Vec<String> {
    let mut rows: Vec<(f32, String)> = h
        .query_all_by_label_contains("Fleet row ")
        .map(|n| {
            let name = n.accesskit_node().label().unwrap_or_default();
            (
                n.rect().top(),
                name.trim_start_matches("Fleet row ").to_owned(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows.into_iter().map(|(_, id)| id).collect()
}

/// The speed the store holds for `id` at `t`, as the table prints it.
fn store_speed(h: &App, id: &str, t: i64) -> String {
    let store = h.state().store();
    let a = store.asset_by_id(id).unwrap();
    store
        .props_at(a, t)
        .into_iter()
        .find(|p| p.name.as_ref() == "speed")
        .unwrap()
        .sample
        .value
        .to_string()
}

/// Cars whose produced speed passes `keep`, in car order.
fn cars_where(speeds: &[f64; 6], keep: impl Fn(f64) -> bool) -> Vec<String> {
    (0..6).filter(|&i| keep(speeds[i])).map(car).collect()
}

/// Runs frames until the fleet table shown is the one asked for (at least one, at most 500,
/// with a pause for the order thread between them); panics if it never is.
fn settle(h: &mut App) {
    // A change made in the last frame's panels is seen by the next frame's refresh.
    h.step();
    for _ in 0..500 {
        if !h.state().fleet_table_status().updating {
            return;
        }
        h.step();
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("the fleet table is still updating after 500 frames");
}

/// Clicks the widget labelled `label` and waits until the table shows the answer.
fn click_settled(h: &mut App, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(3);
    settle(h);
}

/// Replaces the filter box's text.
fn set_filter(h: &mut App, text: &str) {
    h.get_by_label("Fleet filter").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Fleet filter").type_text(text);
    h.run_steps(3);
    settle(h);
}

#[test]
fn a_group_shows_its_assets_sorted_filtered_and_as_of_the_cursor() {
    let mut f = fixture();
    let h = &mut f.h;
    click_settled(h, "fleet");
    assert_eq!(h.state().selected(), Some("fleet"));

    // One row per asset of the group (not the truck), with the store's values: live, the
    // latest ones, which are what was produced last.
    let mut all: Vec<String> = (0..6).map(car).collect();
    let mut shown = rows_shown(h);
    shown.sort();
    all.sort();
    assert_eq!(shown, all);
    for (i, produced) in LATE.iter().enumerate() {
        let v = store_speed(h, &car(i), i64::MAX);
        assert_eq!(v, produced.to_string());
        h.get_by_label(&format!("{} speed = {v}", car(i)));
    }
    // The worst alarm of car-6.
    h.get_by_label("● high");

    // Sorting by speed, then the other way.
    click_settled(h, "Sort by speed");
    let mut by_speed: Vec<usize> = (0..6).collect();
    by_speed.sort_by(|&a, &b| LATE[a].total_cmp(&LATE[b]));
    let ascending: Vec<String> = by_speed.iter().map(|&i| car(i)).collect();
    assert_eq!(rows_shown(h), ascending);
    click_settled(h, "Sort by speed");
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    assert_eq!(rows_shown(h), descending);

    // `speed > 100` leaves exactly the cars produced with more than 100, still sorted.
    set_filter(h, "speed > 100");
    let mut fast = cars_where(&LATE, |v| v > 100.0);
    fast.sort_by(|a, b| {
        descending
            .iter()
            .position(|x| x == a)
            .cmp(&descending.iter().position(|x| x == b))
    });
    assert_eq!(rows_shown(h), fast);
    assert!(fast.len() >= 2 && fast.len() < 6);

    // A dotted property and `and`; a pseudo-field.
    set_filter(h, "battery.soc < 0.25 and speed > 50");
    let want: Vec<String> = descending
        .iter()
        .filter(|c| {
            let i = (0..6).find(|&i| car(i) == **c).unwrap();
            (i as f64) / 10.0 < 0.25 && LATE[i] > 50.0
        })
        .cloned()
        .collect();
    assert_eq!(rows_shown(h), want);
    set_filter(h, r#"alarm == "high""#);
    assert_eq!(rows_shown(h), vec![car(5)]);

    // A filter that does not parse says where, and filters nothing.
    set_filter(h, "speed > 100 and");
    h.get_by_label_contains("column 16: expected a comparison at the end");
    assert_eq!(rows_shown(h).len(), 6);

    // Back to `speed > 100`, then scrub to T0 + 30 s: the values and the matches are those
    // produced at T0.
    set_filter(h, "speed > 100");
    common::go_to(h, T0 + 30_000);
    h.run_steps(3);
    settle(h);
    let mut early_fast = cars_where(&EARLY, |v| v > 100.0);
    early_fast.sort_by(|a, b| {
        let s = |c: &String| EARLY[(0..6).find(|&i| car(i) == *c).unwrap()];
        s(b).total_cmp(&s(a))
    });
    assert_eq!(rows_shown(h), early_fast);
    assert_ne!(early_fast, fast, "the fixture must change the matches");
    for c in &early_fast {
        let v = store_speed(h, c, T0 + 30_000);
        let i = (0..6).find(|&i| car(i) == *c).unwrap();
        assert_eq!(v, EARLY[i].to_string());
        h.get_by_label(&format!("{c} speed = {v}"));
    }

    // The CSV holds the rows shown, in that order, with the values at the cursor.
    let csv = h.state().export_text(Export::FleetTable, i64::MAX).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("asset,"), "{}", lines[0]);
    let speed_col = lines[0].split(',').position(|c| c == "speed").unwrap();
    assert_eq!(lines.len(), early_fast.len() + 1);
    for (line, c) in lines[1..].iter().zip(&early_fast) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], c);
        assert_eq!(cells[speed_col], store_speed(h, c, T0 + 30_000));
    }

    // A click on a row selects its asset, whose properties are then shown.
    let target = early_fast[1].clone();
    h.get_by_label(&format!("Fleet row {target}")).click();
    h.run_steps(3);
    assert_eq!(h.state().selected(), Some(target.as_str()));
    assert!(h.state().fleet_table().is_none());
    let v = store_speed(h, &target, T0 + 30_000);
    assert!(
        h.get_all_by_label(&v).next().is_some(),
        "its speed {v} is shown"
    );
}

#[test]
fn the_operator_chooses_the_columns() {
    let mut f = fixture();
    let h = &mut f.h;
    click_settled(h, "fleet");
    h.get_by_label(&format!("{} state = RUN", car(0)));
    h.get_by_label("Columns…").click();
    h.run_steps(2);
    click_settled(h, "state");
    // state is gone, speed stays; the filter may still read state.
    assert!(
        h.query_by_label(&format!("{} state = RUN", car(0)))
            .is_none()
    );
    h.get_by_label(&format!("{} speed = {}", car(0), LATE[0]));
    assert_eq!(
        h.state().persisted().table_columns,
        Some(vec!["battery.soc".to_owned(), "speed".to_owned()])
    );
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    set_filter(h, r#"state == "FAULT""#);
    assert_eq!(rows_shown(h), cars_where(&LATE, |v| v > 150.0));
}

/// The speeds each row shows, top to bottom, found by the cells' accessible names among the
/// produced speeds ("?" for a row showing none of them).
fn speeds_shown(h: &App) -> Vec<String> {
    rows_shown(h)
        .iter()
        .map(|c| {
            EARLY
                .iter()
                .chain(&LATE)
                .map(ToString::to_string)
                .find(|v| h.query_by_label(&format!("{c} speed = {v}")).is_some())
                .unwrap_or_else(|| "?".to_owned())
        })
        .collect()
}

#[test]
fn a_table_read_over_frames_keeps_the_old_rows_up_and_says_so() {
    let mut f = fixture();
    let h = &mut f.h;
    // Two assets a frame and the order from the worker thread, as for 100k rows.
    h.state_mut().fleet_table_async(2);
    h.get_by_label("fleet").click();
    // The click's frame selects the group; the next one starts reading it.
    h.run_steps(2);
    // Nothing read yet: no rows, and no claim that the group is empty.
    assert!(
        h.query_by_label_contains("reading the group's assets")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("No assets in this group")
            .is_none()
    );
    assert!(rows_shown(h).is_empty());
    settle(h);
    let late: Vec<String> = (0..6).map(|i| LATE[i].to_string()).collect();
    assert_eq!(rows_shown(h), (0..6).map(car).collect::<Vec<_>>());
    assert_eq!(speeds_shown(h), late);
    assert!(h.query_by_label_contains("updating").is_none());

    // Sorted by the worker thread.
    h.get_by_label("Sort by speed").click();
    h.run_steps(1);
    settle(h);
    let mut by_speed: Vec<usize> = (0..6).collect();
    by_speed.sort_by(|&a, &b| LATE[a].total_cmp(&LATE[b]));
    assert_eq!(
        rows_shown(h),
        by_speed.iter().map(|&i| car(i)).collect::<Vec<_>>()
    );

    // To T0 + 30 s: reading the rows there takes frames; meanwhile the live rows stay up, in
    // their order, and the header says they are being updated.
    common::go_to(h, T0 + 30_000);
    assert!(
        h.query_by_label_contains("updating… showing the live rows")
            .is_some(),
        "the old rows are marked"
    );
    assert_eq!(
        rows_shown(h),
        by_speed.iter().map(|&i| car(i)).collect::<Vec<_>>()
    );
    let mut sorted_late: Vec<String> = late.clone();
    sorted_late.sort_by(|a, b| a.parse::<f64>().unwrap().total_cmp(&b.parse().unwrap()));
    assert_eq!(speeds_shown(h), sorted_late);
    settle(h);
    // Then the rows at T0 + 30 s, sorted, and no mark.
    assert!(h.query_by_label_contains("updating").is_none());
    let mut by_early: Vec<usize> = (0..6).collect();
    by_early.sort_by(|&a, &b| EARLY[a].total_cmp(&EARLY[b]));
    assert_eq!(
        rows_shown(h),
        by_early.iter().map(|&i| car(i)).collect::<Vec<_>>()
    );
    let early: Vec<String> = by_early.iter().map(|&i| EARLY[i].to_string()).collect();
    assert_eq!(speeds_shown(h), early);

    // And a step back while the next read runs: the rows as of T0 + 30 s stay, marked with
    // their time.
    common::go_to(h, T0 + 60_000);
    assert!(
        h.query_by_label_contains("updating… as of").is_some(),
        "the old rows are marked with their time"
    );
    assert_eq!(speeds_shown(h), early);
    settle(h);
    assert_eq!(speeds_shown(h), sorted_late);
}

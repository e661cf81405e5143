//! Persistence per cluster: the selection, the plotted series and the fleet table's columns
//! come back only on the cluster (brokers and topics) they were chosen on, and references
//! that do not exist there are dropped quietly. Two MockClusters with different plants; the
//! state goes through serde between runs, as eframe stores it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::plant::{self, App, click, select, step_until, telemetry};
use common::{Cluster, app_harness};
use egui_kittest::kittest::Queryable as _;
use rdkafka::producer::Producer as _;
use twinscope::app::Persisted;
use twinscope::testkit::T0;
use twinscope::ui::PlotKey;

/// A cluster holding one asset with these telemetry fields.
fn cluster(asset: &str, fields: &str) -> Cluster {
    let cluster = plant::cluster();
    let p = plant::producer(&cluster.bootstrap_servers());
    telemetry(&p, asset, T0, fields);
    p.flush(Duration::from_secs(10)).unwrap();
    cluster
}

/// The app on `bootstrap`, started with `persisted`, once it has caught up.
fn open(bootstrap: &str, persisted: Persisted) -> App {
    let mut h = app_harness(plant::options(bootstrap), persisted);
    step_until(&mut h, Duration::from_secs(30), "catch-up", |h| {
        h.state().caught_up() && h.state().store().stats().records >= 1
    });
    h.run_steps(3);
    h
}

/// What eframe would store and hand back on the next start.
fn saved(h: &App) -> Persisted {
    let text = serde_json::to_string(&h.state().persisted()).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn selection_plots_and_columns_come_back_only_on_their_cluster() {
    let a = cluster("a/b/c", r#""temp": 20.5, "state": "RUN""#);
    let b = cluster("x/y", r#""rpm": 1200"#);
    let (a_brokers, b_brokers) = (a.bootstrap_servers(), b.bootstrap_servers());
    let temp = PlotKey {
        asset: "a/b/c".into(),
        prop: "temp".into(),
    };

    // On A, like an operator: the group's table, only the temp column, the asset, its plot.
    let mut h = open(&a_brokers, Persisted::default());
    h.get_by_label("a").click();
    h.run_steps(3);
    click(&mut h, "Columns…");
    click(&mut h, "state");
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    select(&mut h, &["a", "b", "c"]);
    click(&mut h, "temp");
    assert_eq!(h.state().selected(), Some("a/b/c"));
    assert_eq!(h.state().plotted(), std::slice::from_ref(&temp));
    let on_a = saved(&h);
    assert_eq!(on_a.table_columns, Some(vec!["temp".to_owned()]));
    drop(h);

    // On B nothing of A comes back: no selection, no plot of an asset B does not have, the
    // default columns.
    let h = open(&b_brokers, on_a.clone());
    assert_eq!(h.state().selected(), None);
    assert!(h.state().plotted().is_empty());
    assert!(h.query_by_label("Remove temp").is_none());
    let on_b = saved(&h);
    assert_eq!(on_b.table_columns, None);
    assert_eq!(on_b.selected, None);
    drop(h);

    // Back on A (after B), everything of A is there again.
    let h = open(&a_brokers, on_b);
    assert_eq!(h.state().selected(), Some("a/b/c"));
    assert_eq!(h.state().plotted(), std::slice::from_ref(&temp));
    h.get_by_label("Remove temp");
    assert_eq!(saved(&h).table_columns, Some(vec!["temp".to_owned()]));
}

#[test]
fn references_that_do_not_exist_on_the_cluster_are_dropped_quietly() {
    let a = cluster("a/b/c", r#""temp": 20.5, "state": "RUN""#);
    let brokers = a.bootstrap_servers();
    let on_a = saved(&open(&brokers, Persisted::default()));
    let real = PlotKey {
        asset: "a/b/c".into(),
        prop: "temp".into(),
    };
    // State of this cluster that names things it no longer has (a plot of a gone asset, a
    // property the asset never had, a column nobody has) next to things it has.
    let mut stale = on_a.clone();
    stale.selected = Some("ghost/x".into());
    stale.plotted = vec![
        PlotKey {
            asset: "ghost/x".into(),
            prop: "temp".into(),
        },
        real.clone(),
        PlotKey {
            asset: "a/b/c".into(),
            prop: "pressure".into(),
        },
    ];
    stale.table_columns = Some(vec!["pressure".into(), "temp".into()]);
    let h = open(&brokers, stale);
    assert_eq!(h.state().selected(), None);
    assert_eq!(h.state().plotted(), std::slice::from_ref(&real));
    assert_eq!(saved(&h).table_columns, Some(vec!["temp".to_owned()]));

    // A group that exists is kept.
    let mut group = on_a;
    group.selected = Some("a/b".into());
    let h = open(&brokers, group);
    assert_eq!(h.state().selected(), Some("a/b"));
    assert!(h.state().fleet_table().is_some());
}

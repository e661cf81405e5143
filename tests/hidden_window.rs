//! A hidden window keeps reading. While the window is minimized or occluded, eframe 0.37 runs
//! no ui pass at all: it only calls `App::logic`, through `egui::Context::run_logic`, at most
//! every 100 ms and only when a repaint was asked for. This drives exactly that path, and
//! nothing else, against a mock cluster holding well over twice what the ingest channel and
//! librdkafka's prefetch queue hold together. Every record must reach the store, and the
//! predictions must arrive too. If the records were applied only by frames, or the apply
//! thread could not get at the store while no frame is drawn, the channel would fill, the
//! ingest thread would wait on it, and the store would stay short of the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use rdkafka::config::FromClientConfig as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _, DefaultConsumerContext};
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer as _};
use twinscope::app::{AppOptions, Persisted, TwinApp};
use twinscope::config::{ClientProps, Config};
use twinscope::kafka::client::ClientSettings;
use twinscope::ui::PlotKey;

use common::T0;
const ASSET: &str = "plant/m1";
/// Records produced (the mock cluster keeps the newest ~22,000 of them). The channel and
/// librdkafka's prefetch queue together hold well under half of that (see below).
const RECORDS: usize = 30_000;
/// How often eframe runs the logic of a hidden window that keeps asking for repaints.
const HIDDEN_INTERVAL: Duration = Duration::from_millis(100);

/// Produces `RECORDS` telemetry records, 100 ms apart, to one partition.
fn produce(bootstrap: &str) {
    let p: BaseProducer<DefaultProducerContext> = ClientSettings::plain(bootstrap)
        .producer_config("hidden-window-test")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    // Padding makes each record big enough that the channel's byte budget, not its slot
    // count, is what fills it.
    let pad = "x".repeat(150);
    for i in 0..RECORDS {
        let ts = T0 + i as i64 * 100;
        let payload = format!(
            r#"{{"ts": {ts}, "temp": {}, "note": "{pad}"}}"#,
            20.0 + (i % 50) as f64 / 10.0
        );
        let rec = BaseRecord::to("twin.telemetry")
            .partition(0)
            .key(ASSET)
            .payload(&payload)
            .timestamp(ts);
        // Waits while the local queue is full, letting deliveries go out.
        common::send_waiting(&p, rec);
    }
    p.flush(Duration::from_secs(60)).unwrap();
}

/// The input eframe gives `logic` while the window is minimized.
fn minimized() -> egui::RawInput {
    let mut raw = egui::RawInput::default();
    raw.viewports.insert(
        egui::ViewportId::ROOT,
        egui::ViewportInfo {
            minimized: Some(true),
            ..Default::default()
        },
    );
    raw
}

#[test]
fn a_minimized_window_keeps_ingesting_and_predicting() {
    let cluster = common::twin_cluster(1, 1, 1);
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap);
    // The mock cluster keeps only so many bytes per partition and deletes the oldest records
    // beyond that: the app must read every record still in the log.
    let (low, high) = BaseConsumer::<DefaultConsumerContext>::from_config(
        &ClientSettings::plain(&bootstrap).consumer_config("hidden-window-test"),
    )
    .unwrap()
    .fetch_watermarks("twin.telemetry", 0, Duration::from_secs(10))
    .unwrap();
    assert_eq!(high, RECORDS as i64);
    let in_log = u64::try_from(high - low).unwrap();
    assert!(
        in_log > 15_000,
        "only {in_log} records retained: too few to fill the channel"
    );

    // The smallest prefetch queue librdkafka is given (1 MiB, ~5,000 of these records).
    let props = ClientProps::resolve(
        &[("queued.max.messages.kbytes".to_owned(), "1024".to_owned())]
            .into_iter()
            .collect(),
        &[],
    )
    .unwrap();
    // A small history budget gives the smallest in-flight allowance (8 MiB): the channel's
    // 16 batches then hold about 2,500 of these records.
    let mut config = Config::default();
    config.history.budget_mb = 64;
    let opts = AppOptions {
        config,
        brokers: Some(bootstrap),
        props,
        ..AppOptions::default()
    };
    // A selection and a plot, so there is a focus prediction to ask for.
    let persisted = Persisted {
        selected: Some(ASSET.to_owned()),
        plotted: vec![PlotKey {
            asset: ASSET.to_owned(),
            prop: "temp".to_owned(),
        }],
        ..Persisted::default()
    };
    let ctx = egui::Context::default();
    let mut app = TwinApp::new(&ctx, opts, persisted);
    let mut frame = eframe::Frame::_new_kittest();

    // Only what eframe runs for a hidden window: no egui pass, just the logic.
    let started = Instant::now();
    let mut runs = 0;
    loop {
        let _ = ctx.run_logic(&minimized(), |ctx| {
            eframe::App::logic(&mut app, ctx, &mut frame);
        });
        runs += 1;
        let done = app.caught_up()
            && app.store().stats().records == in_log
            && app.predictions().outcome(ASSET, "temp").is_some()
            && app.predictions().fleet().is_some();
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "after {runs} hidden runs: {} of {in_log} records, caught up {}, focus {}, fleet {}",
            app.store().stats().records,
            app.caught_up(),
            app.predictions().outcome(ASSET, "temp").is_some(),
            app.predictions().fleet().is_some(),
        );
        std::thread::sleep(HIDDEN_INTERVAL);
    }
    eprintln!(
        "{in_log} records and predictions in {:?} over {runs} hidden runs",
        started.elapsed()
    );
    assert_eq!(ctx.cumulative_pass_nr(), 0, "an egui pass ran");
    let store = app.store();
    let a = store.asset_by_id(ASSET).unwrap();
    let p = store.prop_by_name("temp").unwrap();
    assert_eq!(store.series(a, p).unwrap().len() as u64, in_log);
}

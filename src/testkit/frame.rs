//! Whole frames of the real app on the CPU, headless (`egui::Context::run_ui` with the app's
//! own `frame`, then tessellation), for the frame benchmarks: one harness, so that every
//! benchmark's frame costs the same work and their numbers compare.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::app::TwinApp;
use crate::config::Topics;
use crate::kafka::KafkaLayerError;
use crate::kafka::demo::{DemoBroker, DemoOptions};

/// True under `cargo bench`; false in CI's smoke run under `cargo test`, where the benchmarks
/// use tiny sizes and nothing depends on timing.
#[must_use]
pub fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// An empty cluster with the twin topics: the demo broker without its simulator, so the app's
/// ingest thread runs as usual while its store is loaded directly (a benchmark's millions of
/// records through Kafka would dominate the run).
///
/// # Errors
/// When the mock cluster or its topics cannot be created.
pub fn empty_cluster() -> Result<DemoBroker, KafkaLayerError> {
    let opts = DemoOptions {
        partitions: 1,
        simulate: false,
        ..DemoOptions::default()
    };
    DemoBroker::start(&opts, &Topics::default())
}

/// Frame `n`'s input: a 1600×1000-point window at 60 frames a second, and `events`.
#[must_use]
pub fn input(n: usize, events: Vec<egui::Event>) -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1600.0, 1000.0),
        )),
        time: Some(n as f64 / 60.0),
        predicted_dt: 1.0 / 60.0,
        events,
        ..Default::default()
    }
}

/// Frame `n` with `events`: the app's UI pass, then tessellation. Returns how long each took.
pub fn run(
    ctx: &egui::Context,
    app: &mut TwinApp,
    n: usize,
    events: Vec<egui::Event>,
) -> (Duration, Duration) {
    let t = Instant::now();
    let mut out = ctx.run_ui(input(n, events), |ui| app.frame(ui));
    let pass = t.elapsed();
    // No renderer uploads the font atlas here; epaint insists that is said explicitly.
    out.textures_delta.clear();
    let t = Instant::now();
    black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
    (pass, t.elapsed())
}

/// Runs frames from `*n` on (counting them in `n`) until at least `min` have run and the app's
/// read of its (empty) cluster has caught up, for at most 10 s: the progress bar is then gone,
/// as in the steady state a benchmark measures.
pub fn warm_up(ctx: &egui::Context, app: &mut TwinApp, n: &mut usize, min: usize) {
    let (start, first) = (Instant::now(), *n);
    while *n - first < min || (!app.caught_up() && start.elapsed() < Duration::from_secs(10)) {
        run(ctx, app, *n, Vec::new());
        *n += 1;
    }
}

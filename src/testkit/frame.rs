//! Whole frames of the real app on the CPU, headless (`egui::Context::run_ui` with the app's
//! own `frame`, then tessellation), for the frame benchmarks: one harness, so that every
//! benchmark's frame costs the same work and their numbers compare.

use std::hint::black_box;
use std::sync::{Arc, Condvar, Mutex};
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
    let (pass, tess, _) = run_with_delay(ctx, app, n, events);
    (pass, tess)
}

/// [`run`], and the delay after which the frame asked for the next one.
fn run_with_delay(
    ctx: &egui::Context,
    app: &mut TwinApp,
    n: usize,
    events: Vec<egui::Event>,
) -> (Duration, Duration, Option<Duration>) {
    let t = Instant::now();
    let mut out = ctx.run_ui(input(n, events), |ui| app.frame(ui));
    let pass = t.elapsed();
    let delay = out
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .map(|v| v.repaint_delay);
    // No renderer uploads the font atlas here; epaint insists that is said explicitly.
    out.textures_delta.clear();
    let t = Instant::now();
    black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
    (pass, t.elapsed(), delay)
}

/// Frames when the app asks for them, as eframe runs a window: after a frame, the next one
/// comes when the delay that frame asked for has passed or when another thread (the apply
/// thread's waker) asks for one sooner, and never before the next vsync. Benchmarks that ran
/// frames back to back measured a window that never idles, which the app is not.
#[derive(Debug)]
pub struct Pacer {
    due: Arc<(Mutex<Option<Instant>>, Condvar)>,
}

impl Pacer {
    /// Listens to `ctx`'s repaint requests (replacing any callback set before).
    #[must_use]
    pub fn install(ctx: &egui::Context) -> Self {
        let due: Arc<(Mutex<Option<Instant>>, Condvar)> = Arc::default();
        let theirs = due.clone();
        ctx.set_request_repaint_callback(move |info| Self::ask(&theirs, info.delay));
        Self { due }
    }

    fn ask(due: &(Mutex<Option<Instant>>, Condvar), delay: Duration) {
        // `Duration::MAX` when nothing was asked for.
        let Some(at) = Instant::now().checked_add(delay) else {
            return;
        };
        let (lock, cv) = due;
        if let Ok(mut d) = lock.lock()
            && d.is_none_or(|d| at < d)
        {
            *d = Some(at);
            cv.notify_all();
        }
    }

    /// Frame `n` (see [`run`]), then notes when it asked to be followed.
    pub fn run(&self, ctx: &egui::Context, app: &mut TwinApp, n: usize) -> (Duration, Duration) {
        let (pass, tess, delay) = run_with_delay(ctx, app, n, Vec::new());
        if let Some(delay) = delay {
            Self::ask(&self.due, delay);
        }
        (pass, tess)
    }

    /// Waits until a frame is due, and not before `vsync`, for at most `limit`.
    pub fn wait(&self, vsync: Instant, limit: Duration) {
        let give_up = Instant::now() + limit;
        let (lock, cv) = &*self.due;
        let Ok(mut due) = lock.lock() else {
            return;
        };
        loop {
            let now = Instant::now();
            if now >= give_up {
                return;
            }
            match *due {
                Some(at) if now >= at.max(vsync) => {
                    *due = None;
                    return;
                }
                Some(at) => match cv.wait_timeout(due, at.max(vsync).min(give_up) - now) {
                    Ok((d, _)) => due = d,
                    Err(_) => return,
                },
                None => match cv.wait_timeout(due, give_up - now) {
                    Ok((d, _)) => due = d,
                    Err(_) => return,
                },
            }
        }
    }
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

//! Fleet table benchmark (issue #15): whole frames of the real [`TwinApp`] on the CPU,
//! headless (`egui::Context::run_ui` with the app's own `frame`, then tessellation), with a
//! group of 10k and of 100k assets selected, so its fleet table is open.
//!
//! Per size it prints percentiles of: steady frames (nothing changes), scrolling (a mouse
//! wheel step every frame), sorting (the sort flips between ascending and descending every
//! frame), filtering (the filter text changes every frame), rebuilding (the columns change
//! every frame, so the rows are read from the store again) and scrubbing (the cursor moves
//! 10 s every frame, by the keyboard, so the rows are read again at each new time). A large
//! table is read and ordered over several frames while the previous one stays on screen, so
//! for each change it also prints how long until the table shown is the one asked for
//! ("current after": wall time and frames from the change). Criterion times the sorting
//! frames. The app reads an empty demo broker (no simulator) and its store is loaded
//! directly, as in `frame.rs`. Under `cargo test` (no `--bench`) sizes are tiny and nothing
//! depends on timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use twinscope::app::{AppOptions, Persisted, TwinApp};
use twinscope::config::Config;
use twinscope::testkit::records::{LogOffsets, num, telemetry, text};
use twinscope::testkit::{BATCH, Pcts, frame};
use twinscope::timeline::now_ms;
use twinscope::twin::fleet_table::{Column, SortBy};
use twinscope::twin::{Rec, Role, Store};

/// One record of car `a` at `ts`, its values varying with `round`.
fn car(offsets: &mut LogOffsets, a: usize, ts: i64, round: i64) -> Rec {
    let h = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let speed = (h % 2000) as f64 / 10.0 + (round % 3) as f64;
    let props = vec![
        num("speed", speed),
        num("battery.soc", (h % 1000) as f64 / 1000.0),
        num("temp", 20.0 + (h % 300) as f64 / 10.0),
        text("state", if h.is_multiple_of(7) { "FAULT" } else { "RUN" }),
    ];
    let origin = offsets.next(Role::Telemetry, a, ts);
    telemetry(origin, &format!("fleet/car-{a:06}"), ts, props)
}

/// `n` assets in one group, `fleet`, each with four properties written twice in the last
/// minute (so every row has values and an age); the offsets go on for live records.
fn build_store(n: usize) -> (Store, LogOffsets) {
    let end = now_ms();
    let mut store = Store::new("/", Config::default().history.budget_mb);
    let mut offsets = LogOffsets::new(64);
    let mut batch = Vec::with_capacity(BATCH);
    for round in 0..2i64 {
        for a in 0..n {
            let ts = end - 60_000 + round * 30_000 + (a as i64 * 30_000) / n as i64;
            batch.push(car(&mut offsets, a, ts, round));
            if batch.len() == BATCH {
                store.apply_batch(std::mem::take(&mut batch), Vec::new());
            }
        }
    }
    store.apply_batch(batch, Vec::new());
    (store, offsets)
}

/// A live fleet with the table filtered and sorted: every frame a batch of new records (1%
/// of the fleet, now) is applied, as the app's ingest would. Returns the frame times and the
/// longest run of frames in which the table shown was not the one asked for (its rows are
/// read again once a second, and ordered on the worker thread).
fn live(
    ctx: &egui::Context,
    app: &mut TwinApp,
    offsets: &mut LogOffsets,
    i: &mut usize,
    n: usize,
    frames: usize,
) -> (Pcts, usize, usize) {
    let state = app.fleet_table_state();
    state.filter_text = "speed > 50 and state == \"RUN\"".into();
    state.sort = Some(SortBy {
        column: Column::Prop("speed".into()),
        descending: true,
    });
    // End: back to live (the scrub case left the cursor in the past).
    let end = vec![egui::Event::Key {
        key: egui::Key::End,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::NONE,
    }];
    frame(ctx, app, *i, end);
    *i += 1;
    let per_frame = (n / 100).max(1);
    let (mut ms, mut streak, mut longest, mut current) = (Vec::new(), 0, 0, 0);
    for k in 0..frames {
        let ts = now_ms();
        let batch = (0..per_frame)
            .map(|j| car(offsets, (k * per_frame + j) % n, ts, k as i64))
            .collect();
        app.store_mut().apply_batch(batch, Vec::new());
        ms.push(frame(ctx, app, *i, Vec::new()));
        *i += 1;
        if app.fleet_table_status().updating {
            streak += 1;
            longest = longest.max(streak);
        } else {
            streak = 0;
            current += 1;
        }
    }
    (Pcts::of(ms), longest, current)
}

/// A wheel step down (or up) with the pointer over the table's rows.
fn wheel(down: bool) -> Vec<egui::Event> {
    vec![
        egui::Event::PointerMoved(egui::pos2(700.0, 300.0)),
        egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, if down { -120.0 } else { 120.0 }),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        },
    ]
}

/// Shift+arrow: the cursor 10 s back (or on), pausing a live app.
fn nudge(back: bool) -> Vec<egui::Event> {
    vec![egui::Event::Key {
        key: if back {
            egui::Key::ArrowLeft
        } else {
            egui::Key::ArrowRight
        },
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::SHIFT,
    }]
}

/// Runs frames until the table shown is the one asked for (at most `max`); returns the wall
/// time in milliseconds and the frames it took, counting the frame of the change, whose
/// `events` it sends.
fn settle(
    ctx: &egui::Context,
    app: &mut TwinApp,
    i: &mut usize,
    events: Vec<egui::Event>,
    max: usize,
) -> (f64, usize) {
    let t = Instant::now();
    let mut events = Some(events);
    for k in 1..=max {
        frame::run(ctx, app, *i, events.take().unwrap_or_default());
        *i += 1;
        if !app.fleet_table_status().updating {
            return (t.elapsed().as_secs_f64() * 1000.0, k);
        }
    }
    panic!("the fleet table did not catch up within {max} frames");
}

/// One whole frame (UI pass and tessellation), in milliseconds.
fn frame(ctx: &egui::Context, app: &mut TwinApp, n: usize, events: Vec<egui::Event>) -> f64 {
    let (pass, tessellation) = frame::run(ctx, app, n, events);
    (pass + tessellation).as_secs_f64() * 1000.0
}

/// What changes before each measured frame.
#[derive(Clone, Copy)]
enum Change {
    Nothing,
    Scroll,
    Sort,
    Filter,
    Columns,
    Scrub,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Nothing => "steady",
            Change::Scroll => "scroll",
            Change::Sort => "sort",
            Change::Filter => "filter",
            Change::Columns => "rebuild",
            Change::Scrub => "scrub",
        }
    }

    /// Applies the change for frame `i`; returns the frame's input events.
    fn apply(self, app: &mut TwinApp, i: usize) -> Vec<egui::Event> {
        let state = app.fleet_table_state();
        match self {
            Change::Nothing => Vec::new(),
            Change::Scroll => wheel((i / 20).is_multiple_of(2)),
            Change::Sort => {
                state.sort = Some(SortBy {
                    column: Column::Prop("speed".into()),
                    descending: i % 2 == 1,
                });
                Vec::new()
            }
            Change::Filter => {
                state.filter_text = format!("speed > {} and state == \"RUN\"", 50 + i % 2);
                Vec::new()
            }
            Change::Columns => {
                state.columns = if i.is_multiple_of(2) {
                    Some(vec!["speed".into(), "state".into()])
                } else {
                    None
                };
                Vec::new()
            }
            // Three steps back, three on: between 10 and 30 s before the newest data, where a
            // third of the fleet's values change per step.
            Change::Scrub => nudge((i / 3).is_multiple_of(2)),
        }
    }
}

/// Single changes waited out per case.
const SETTLES: usize = 7;

fn frames(c: &mut Criterion) {
    let (sizes, frames_per): (&[usize], usize) = if frame::full() {
        (&[10_000, 100_000], 60)
    } else {
        (&[200], 3)
    };
    let broker = frame::empty_cluster().unwrap();
    for &n in sizes {
        let t = Instant::now();
        let (mut store, mut offsets) = build_store(n);
        println!(
            "fleet table: {n} assets in one group, 4 properties, 1600x1000 points; store built \
             in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let ctx = egui::Context::default();
        let opts = AppOptions {
            brokers: Some(broker.bootstrap().to_owned()),
            ..AppOptions::default()
        };
        let persisted = Persisted {
            selected: Some("fleet".into()),
            ..Persisted::default()
        };
        let mut app = TwinApp::new(&ctx, opts, persisted);
        std::mem::swap(&mut *app.store_mut(), &mut store);
        let mut i = 0;
        frame::warm_up(&ctx, &mut app, &mut i, 5);
        settle(&ctx, &mut app, &mut i, Vec::new(), 5_000);
        let shown = app.fleet_table().map_or(0, |(_, t, _)| t.rows.len());
        assert_eq!(shown, n, "the fleet table shows every asset of the group");
        for change in [
            Change::Nothing,
            Change::Scroll,
            Change::Sort,
            Change::Filter,
            Change::Columns,
            Change::Scrub,
        ] {
            let mut ms = Vec::with_capacity(frames_per);
            for k in 0..frames_per {
                let events = change.apply(&mut app, k);
                ms.push(frame(&ctx, &mut app, i, events));
                i += 1;
            }
            println!(
                "  {n:>6} rows, {:<7}: frame {}  (goal p95 <= 16 ms)",
                change.name(),
                Pcts::of(ms)
            );
            // Then single changes, each waited out: how long the old table stays up.
            settle(&ctx, &mut app, &mut i, Vec::new(), 5_000);
            if matches!(change, Change::Nothing | Change::Scroll) {
                continue;
            }
            let (mut wall, mut frames) = (Vec::new(), Vec::new());
            for k in 0..SETTLES {
                let events = change.apply(&mut app, frames_per + k);
                let (ms, count) = settle(&ctx, &mut app, &mut i, events, 5_000);
                wall.push(ms);
                frames.push(count as f64);
            }
            println!(
                "  {n:>6} rows, {:<7}: current after {}; frames {}",
                change.name(),
                Pcts::of(wall),
                Pcts::of(frames).counts()
            );
        }
        let (live_ms, longest, current) =
            live(&ctx, &mut app, &mut offsets, &mut i, n, frames_per * 10);
        println!(
            "  {n:>6} rows, live   : frame {live_ms}; current in {current} of {} frames, \
             longest run not current {longest} frames",
            frames_per * 10
        );
        assert!(
            current > 0,
            "the live, filtered table was never the one asked for in {} frames",
            frames_per * 10
        );
        c.bench_function(&format!("fleet_table_sort_{n}"), |b| {
            b.iter(|| {
                let events = Change::Sort.apply(&mut app, i);
                i += 1;
                frame(&ctx, &mut app, i, events)
            });
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = frames
}
criterion_main!(benches);

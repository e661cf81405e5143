//! The fleet benchmark (issue #14): a fleet of N cars × P numeric properties at 1 Hz over M
//! minutes, produced into the cluster once, then measured end to end on that one workload:
//! peak RSS and RSS per stored sample, catch-up headless and in the GUI, frames with the
//! fleet table and tree open, scrub, and live latency at the fleet's own rate (1 Hz per car):
//! produce → applied on the headless path, and produce → screen in the real app drawing frames
//! at 60 Hz with the fleet table open, with those frames' times.
//!
//! It reuses the other benchmarks' parts rather than its own copies: the headless read and
//! the scrub paths of the ingest benchmark, the live run of the latency benchmark, and the
//! frame harness of the criterion frame benches ([`crate::testkit::frame`]).
//!
//! The GUI path is the real [`TwinApp`] reading the topic with its own ingest thread, driven
//! headless through whole frames (the app's apply thread applies ingest between them, the
//! layout is drawn and tessellated) back to back, as fast as they run: there is no
//! vsync, so the catch-up is not limited to 60 frames a second as a window's would be. The
//! group holding every car is selected (its fleet table open) and one region is expanded in
//! the tree, from the first frame, as after a restart.
//!
//! The store holds about 37 B of RSS per sample, so a minute of a 100k × 8 fleet (48M
//! samples) needs about 1.8 GB (the headless store is dropped before the GUI builds its own),
//! besides the cluster's copy of the log when it is the embedded one: M defaults to 1.

use std::time::{Duration, Instant};

use super::Partitions;
use super::cluster::{Target, create_topic, delete_topic, fill};
use super::ingest::{random_times, read_headless, scrub};
use super::latency::{PRIME_LIMIT, Producing, drop_live_target, live, live_target};
use super::{BenchError, BenchFormat, BenchOptions, held, ms, now_ms_f, reset_peak_rss, rss};
use crate::app::{AppOptions, Persisted, TwinApp};
use crate::config::Config;
use crate::testkit::fleet::{CarFleet, FLEET_GROUP};
use crate::testkit::frame::Pacer;
use crate::testkit::{Pcts, TelemetrySource, frame};

/// What the mock cluster keeps of a partition (librdkafka's mock drops the oldest records
/// past 5 MiB), with headroom: the fleet's topic gets enough partitions to hold all of it.
const MOCK_PARTITION_BYTES: usize = 4 << 20;
/// Bytes a record takes in the log besides its key and value (record and batch headers).
const RECORD_OVERHEAD: usize = 16;
/// History budget per sample when none is given: enough for the columns' share of the
/// budget to hold every sample, so that nothing is evicted and RSS per sample is the store's.
const AUTO_BUDGET_PER_SAMPLE: u64 = 64;
/// Longest the GUI path may take to catch up before it is reported as not caught up.
const GUI_CATCH_UP_LIMIT: Duration = Duration::from_secs(1800);
/// Frames run after catch-up before measuring, and longest to wait for the fleet table.
const WARM_UP_FRAMES: usize = 10;
const TABLE_WAIT: Duration = Duration::from_secs(60);
/// A window's frame period at 60 Hz: the GUI runs pace their frames like a vsynced window
/// that draws when the app asks it to ([`Pacer`]), so the app takes no more of the cores from
/// the ingest, the producer and the cluster beside it than a window would.
const FRAME_PERIOD: Duration = Duration::from_micros(16_667);
/// Longest a paced GUI run waits for the app to ask for a frame (it always asks within
/// 500 ms while live).
const PACED_WAIT_LIMIT: Duration = Duration::from_secs(1);
/// Cars whose latest sample the live GUI run reads after every frame (every N-th car).
const LIVE_SAMPLED_CARS: usize = 1000;

/// Runs the fleet benchmark and prints one line per measure.
pub(super) fn fleet(opts: &BenchOptions) -> Result<(), BenchError> {
    if opts.format != BenchFormat::Json {
        return Err(BenchError::Failed(
            "fleet: the cars' records are JSON only (--format json)".into(),
        ));
    }
    let wall = Instant::now();
    let seconds = opts.minutes.max(1) * 60;
    let f = CarFleet {
        assets: opts.assets.max(1),
        props: opts.props.max(1),
        // The last M minutes, so the GUI's live view shows the data as a fleet's would be.
        start: now_ms_f() as i64 - seconds as i64 * 1000,
        seconds,
    };
    let sample_n = f.count().min(1000);
    let bytes = (0..sample_n)
        .map(|i| f.key(i).len() + f.value_at(i, f.event_time(i)).len())
        .sum::<usize>()
        / sample_n.max(1);
    let partitions = match &opts.brokers {
        None => {
            let need = f.count() * (bytes + RECORD_OVERHEAD) / MOCK_PARTITION_BYTES + 1;
            opts.partitions.max(i32::try_from(need).unwrap_or(i32::MAX))
        }
        Some(_) => opts.partitions,
    };
    let budget_mb = opts.budget_mb.unwrap_or_else(|| {
        usize::try_from((f.samples() * AUTO_BUDGET_PER_SAMPLE) >> 20)
            .unwrap_or(usize::MAX)
            .max(Config::default().history.budget_mb)
    });
    let target = match &opts.brokers {
        None => Target::mock(partitions)?,
        Some(brokers) => {
            // A fresh topic (its times are the last minutes, so it cannot be reused),
            // deleted afterwards.
            let name = format!(
                "twinscope-bench.fleet-{}a-{}p-{}",
                f.assets,
                f.props,
                now_ms_f() as u64
            );
            create_topic(brokers, &name, partitions)?;
            Target::real(brokers, &name)?
        }
    };
    let run = Run {
        opts,
        f,
        bytes,
        partitions,
        budget_mb,
        wall,
    };
    let res = run.on(&target);
    if target.demo.is_none()
        && let Err(e) = delete_topic(&target.bootstrap, &target.topics.telemetry)
    {
        println!("  could not delete {}: {e}", target.topics.telemetry);
    }
    res
}

/// Fills the fleet's topic from a thread of its own, which is kept (parked) until the
/// returned handle is dropped. The producer's queue, some 300 B per record, is freed once
/// sent but stays resident in the glibc arena of the thread that allocated it; produced from
/// this thread it would be reused by the store and hide the store's growth, and an exited
/// thread's arena goes to the next new thread, so the filler must outlive the measurements.
fn fill_apart(
    target: &Target,
    f: CarFleet,
    partitions: i32,
) -> Result<(Parked, Partitions), BenchError> {
    let (bootstrap, topic) = (target.bootstrap.clone(), target.topics.telemetry.clone());
    let (result_tx, result_rx) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("bench-fleet-fill".into())
        .spawn(move || {
            let _ = result_tx.send(fill(&bootstrap, &topic, &f, partitions, None));
            // Returns when the handle is dropped (the sender with it).
            let _ = released.recv();
        })?;
    let parked = Parked {
        release: Some(release),
        thread: Some(thread),
    };
    let parts = result_rx
        .recv()
        .map_err(|_| BenchError::Failed("the fill thread ended without a result".into()))??;
    Ok((parked, parts))
}

/// A thread kept alive until this is dropped.
struct Parked {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Parked {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One fleet run's parameters.
struct Run<'a> {
    opts: &'a BenchOptions,
    f: CarFleet,
    /// Mean key + value bytes of a record.
    bytes: usize,
    partitions: i32,
    budget_mb: usize,
    wall: Instant,
}

/// Peak RSS per phase, bytes: each phase's is read after it and reset for the next.
#[derive(Default)]
struct Peaks {
    phases: Vec<(&'static str, u64)>,
    /// The kernel refused a reset: each phase's peak is then the run's so far.
    unreset: bool,
}

impl Peaks {
    /// Reads the peak since the last reset as `phase`'s, then resets it.
    fn close(&mut self, phase: &'static str) {
        if let Some((_, hwm)) = rss() {
            self.phases.push((phase, hwm));
        }
        self.unreset |= !reset_peak_rss();
    }

    fn max(&self) -> u64 {
        self.phases.iter().map(|p| p.1).max().unwrap_or(0)
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// One measure's line: its name in a column, then the figures.
fn line(name: &str, figures: impl std::fmt::Display) {
    println!("  {name:<46} {figures}");
}

impl Run<'_> {
    fn on(&self, target: &Target) -> Result<(), BenchError> {
        let (f, opts) = (&self.f, self.opts);
        let mut peaks = Peaks::default();
        let t = Instant::now();
        let (filler, parts) = fill_apart(target, *f, self.partitions)?;
        let n = held(&parts);
        println!(
            "\n== fleet: {} cars x {} numeric properties at 1 Hz for {} min: {} records (~{} B \
             key+value), {} samples, {} partitions; produced in {:.1} s",
            f.assets,
            f.props,
            f.seconds / 60,
            f.count(),
            self.bytes,
            f.samples(),
            self.partitions,
            t.elapsed().as_secs_f64()
        );
        println!(
            "  cluster: {}; topic {} holds {n} (log start > 0 on {} partitions); history \
             budget {} MB{}",
            target.describe(),
            target.topics.telemetry,
            parts.iter().filter(|p| p.1 > 0).count(),
            self.budget_mb,
            if opts.budget_mb.is_none() {
                " (sized to hold every sample)"
            } else {
                ""
            }
        );
        if n < f.count() as u64 {
            println!(
                "  the cluster kept {n} of {} records: figures are for those (raise --partitions)",
                f.count()
            );
        }
        peaks.close("fill");

        // Headless: the read of `snapshot --at END` into the store, then the snapshot.
        let rss0 = rss().map_or(0, |r| r.0);
        let t = Instant::now();
        let store = read_headless(
            &target.bootstrap,
            &target.topics,
            None,
            f.end(),
            self.budget_mb,
        )?;
        let headless = t.elapsed();
        let (rss1, hwm1) = rss().unwrap_or_default();
        peaks.close("headless");
        let (records, samples) = (store.stats().records, store.stats().samples.max(1));
        line(
            "catch-up headless (ingest into the store)",
            format_args!(
                "{:>9.2} s  ({:.0} msg/s, {:.0} samples/s; {records} records applied)",
                secs(headless),
                records as f64 / secs(headless),
                samples as f64 / secs(headless)
            ),
        );
        let t = Instant::now();
        let json = serde_json::to_string(&store.snapshot(f.end()))
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        line(
            "  then snapshot --at end (JSON)",
            format_args!("{:>9.2} s  ({} B)", secs(t.elapsed()), json.len()),
        );
        drop(json);
        line(
            "RSS growth / stored sample (headless)",
            format_args!(
                "{:>9.1} B  (peak growth {:.1} B; {samples} samples held, {})",
                rss1.saturating_sub(rss0) as f64 / samples as f64,
                hwm1.saturating_sub(rss0) as f64 / samples as f64,
                store.history_start().map_or_else(
                    || "none evicted".to_owned(),
                    |t| format!("history before {t} evicted: raise --budget-mb")
                )
            ),
        );
        line(
            "store.history_bytes / sample",
            format_args!(
                "{:>9.1} B  (the budget's estimate)",
                store.history_bytes() as f64 / samples as f64
            ),
        );
        let times = random_times(opts.scrub_times, f.start, f.end());
        let selected = store
            .asset_by_id(&CarFleet::asset_id(f.assets / 2))
            .unwrap_or(0);
        let scrubbed = scrub(&store, &times, selected);
        line(
            &format!("scrub, {} random T: UI path", times.len()),
            format_args!("{}  ({} assets)", scrubbed.ui, store.assets().len()),
        );
        line("scrub, tree rebuilt every time", scrubbed.cold);
        line("scrub, full fleet (Store::snapshot)", scrubbed.snap);
        drop(store);
        peaks.close("scrub");

        let gui = self.gui(target, n)?;
        peaks.close("GUI");
        match &gui.catch_up {
            Ok(d) => line(
                "catch-up GUI (TwinApp frames, table open)",
                format_args!(
                    "{:>9.2} s  ({:.0} msg/s; {} frames, frame {})",
                    secs(*d),
                    gui.applied as f64 / secs(*d),
                    gui.catch_up_frames.n,
                    gui.catch_up_frames
                ),
            ),
            Err(d) => line(
                "catch-up GUI (TwinApp frames, table open)",
                format_args!(
                    "NOT caught up after {:.0} s: applied {} of {n}",
                    secs(*d),
                    gui.applied
                ),
            ),
        }
        // Not per sample: the GUI's store reuses the heap the headless store freed (glibc
        // keeps small freed blocks resident), so its growth would understate it.
        line(
            "RSS once the GUI caught up (whole process)",
            format_args!(
                "{:>9.0} MB  ({} samples in the app's store)",
                mb(gui.rss),
                gui.samples
            ),
        );
        line(
            &format!("frame, fleet table ({} rows) + tree open", gui.rows),
            format_args!("{}  (goal p95 <= 16 ms)", gui.frames),
        );

        let lt = live_target(opts.brokers.as_deref(), self.partitions)?;
        let rate = f.assets as u64;
        let live_fleet = CarFleet {
            seconds: opts.seconds,
            ..*f
        };
        let l = live(&lt, self.partitions, rate, opts.seconds, live_fleet);
        drop_live_target(&lt);
        let l = l?;
        peaks.close("live");
        line(
            &format!(
                "live {rate} msg/s (1 Hz/car) {} s, produce->applied",
                opts.seconds
            ),
            format_args!(
                "{}  (goal p99 <= 100 ms; produced {} in {:.1} s, applied {})",
                l.latency,
                l.sent,
                secs(l.produce_time),
                l.applied
            ),
        );
        let lt = live_target(opts.brokers.as_deref(), self.partitions)?;
        let g = self.gui_live(&lt, rate, live_fleet);
        drop_live_target(&lt);
        let g = g?;
        peaks.close("live GUI");
        line(
            &format!("live {rate} msg/s {} s, GUI: produce->screen", opts.seconds),
            format_args!(
                "{}  (goal p99 <= 100 ms; {} cars sampled; produced {} in {:.1} s, applied {})",
                g.latency,
                g.sampled,
                g.sent,
                secs(g.produce_time),
                g.applied
            ),
        );
        line(
            "  same, produced in the run's second half",
            format_args!(
                "{}  (the first seconds are the app meeting every car: tree and table grow)",
                g.latency_late
            ),
        );
        let worst: Vec<String> = g.by_second.iter().map(|w| format!("{w:.0}")).collect();
        line(
            "  worst per second of producing, ms",
            format_args!("{}", worst.join(" ")),
        );
        line(
            &format!(
                "  frames meanwhile (paced, <= 60 Hz, table of {} rows)",
                g.rows
            ),
            format_args!("{}  (goal p95 <= 16 ms)", g.frames),
        );
        let phases: Vec<String> = peaks
            .phases
            .iter()
            .map(|(p, b)| format!("{p} {:.0}", mb(*b)))
            .collect();
        line(
            "peak RSS (whole process, incl. the cluster)",
            format_args!(
                "{:>9.0} MB  (per phase, MB: {}{})",
                mb(peaks.max()),
                phases.join(", "),
                if peaks.unreset {
                    "; peaks not resettable here: each is the run's so far"
                } else {
                    ""
                }
            ),
        );
        line(
            "wall time",
            format_args!("{:>9.1} s", secs(self.wall.elapsed())),
        );
        drop(filler);
        Ok(())
    }

    /// The real app on `target`'s topics with the run's history budget, the group of every car
    /// selected (its fleet table open) and one region expanded in the tree, as after a restart.
    fn app(&self, target: &Target) -> (egui::Context, TwinApp) {
        let mut config = Config {
            topics: target.topics.clone(),
            ..Config::default()
        };
        config.history.budget_mb = self.budget_mb;
        let opts = AppOptions {
            config,
            brokers: Some(target.bootstrap.clone()),
            ..AppOptions::default()
        };
        let persisted = Persisted {
            selected: Some(FLEET_GROUP.to_owned()),
            expanded: vec![FLEET_GROUP.to_owned(), format!("{FLEET_GROUP}/region-00")],
            ..Persisted::default()
        };
        let ctx = egui::Context::default();
        let app = TwinApp::new(&ctx, opts, persisted);
        (ctx, app)
    }

    /// The GUI path: the real app reads the topic (`want` records) while frames are drawn when
    /// it asks for them (at most at 60 Hz), then frames are measured back to back with the
    /// fleet table and the tree open.
    fn gui(&self, target: &Target, want: u64) -> Result<Gui, BenchError> {
        let started = Instant::now();
        let (ctx, mut app) = self.app(target);
        let pacer = Pacer::install(&ctx);
        let (mut n, mut during) = (0, Vec::new());
        let catch_up = loop {
            if app.caught_up() && app.store().stats().records >= want {
                break Ok(started.elapsed());
            }
            if started.elapsed() > GUI_CATCH_UP_LIMIT {
                break Err(started.elapsed());
            }
            let vsync = Instant::now() + FRAME_PERIOD;
            let (pass, tess) = pacer.run(&ctx, &mut app, n);
            during.push(ms(pass + tess));
            n += 1;
            pacer.wait(vsync, PACED_WAIT_LIMIT);
        };
        let applied = app.store().stats().records;
        let samples = app.store().stats().samples;
        let rss = rss().map_or(0, |r| r.0);
        // Until the table holds every car (a 100k-row table is read over several frames).
        frame::warm_up(&ctx, &mut app, &mut n, WARM_UP_FRAMES);
        let wait = Instant::now();
        let rows = |app: &TwinApp| app.fleet_table().map_or(0, |(_, t, _)| t.rows.len());
        while rows(&app) < self.f.assets && wait.elapsed() < TABLE_WAIT {
            frame::run(&ctx, &mut app, n, Vec::new());
            n += 1;
        }
        let mut frames = Vec::with_capacity(self.opts.frames);
        for _ in 0..self.opts.frames.max(1) {
            let (pass, tess) = frame::run(&ctx, &mut app, n, Vec::new());
            frames.push(ms(pass + tess));
            n += 1;
        }
        Ok(Gui {
            catch_up,
            catch_up_frames: Pcts::of(during),
            applied,
            samples,
            rss,
            rows: rows(&app),
            frames: Pcts::of(frames),
        })
    }

    /// The live GUI path: the real app follows a fresh topic (fleet table and tree open, frames
    /// when it asks for them, at most at 60 Hz) while `src` is produced at `rate`; the table
    /// grows to every car and, like any live table of over 2,000 rows, is read again once a
    /// second. After each frame the latest sample of every N-th car is read from the app's
    /// store: one not seen before was produced at its Kafka time (the wall clock then) and is
    /// on screen from the end of this frame.
    fn gui_live(&self, target: &Target, rate: u64, src: CarFleet) -> Result<GuiLive, BenchError> {
        // Primed before the app starts, so that the fleet's group exists when the app has
        // caught up and its selection (the fleet table) is kept.
        let primed = Producing::prime(target, self.partitions, &src)?;
        let (ctx, mut app) = self.app(target);
        let pacer = Pacer::install(&ctx);
        let mut n = 0;
        frame::warm_up(&ctx, &mut app, &mut n, WARM_UP_FRAMES);
        let wait = Instant::now();
        while app.store().stats().records < primed {
            if wait.elapsed() > PRIME_LIMIT {
                return Err(BenchError::Failed(
                    "the priming records did not reach the app".into(),
                ));
            }
            frame::run(&ctx, &mut app, n, Vec::new());
            n += 1;
        }
        let seconds = src.seconds;
        let producing = Producing::start(target, self.partitions, rate, seconds, src)?;
        let base = app.store().stats().records;
        let warmup_until = crate::timeline::now_ms() + 1000;
        let step = (src.assets / LIVE_SAMPLED_CARS).max(1);
        let cars: Vec<String> = (0..src.assets)
            .step_by(step)
            .map(CarFleet::asset_id)
            .collect();
        let prop = CarFleet::prop_name(0);
        let mut last_seen = vec![i64::MIN; cars.len()];
        // Looked up once found: reading 1,000 cars by id every frame took a sixth of the UI
        // thread (perf over this phase at 100k cars).
        let mut found: Vec<Option<crate::twin::store::AssetIdx>> = vec![None; cars.len()];
        let (mut lat, mut frames) = (Vec::new(), Vec::new());
        let started_ms = crate::timeline::now_ms();
        let half_way = started_ms + i64::try_from(seconds * 500).unwrap_or(0);
        // The worst produce → screen per second of producing: where in the run the tail is.
        let mut by_second = vec![0.0f64; usize::try_from(seconds).unwrap_or(0) + 1];
        let mut late = Vec::new();
        let (started, limit) = (Instant::now(), Duration::from_secs(seconds + 30));
        while started.elapsed() < limit {
            if producing.done() && app.store().stats().records - base >= producing.sent() {
                break;
            }
            let vsync = Instant::now() + FRAME_PERIOD;
            let (pass, tess) = pacer.run(&ctx, &mut app, n);
            n += 1;
            let now = now_ms_f();
            frames.push(ms(pass + tess));
            let store = app.store();
            if let Some(p) = store.prop_by_name(&prop) {
                for ((car, seen), a) in cars.iter().zip(&mut last_seen).zip(&mut found) {
                    if a.is_none() {
                        *a = store.asset_by_id(car);
                    }
                    let latest = a
                        .and_then(|a| store.series(a, p))
                        .and_then(|s| s.at(i64::MAX));
                    if let Some(s) = latest
                        && s.kafka_ts > *seen
                    {
                        *seen = s.kafka_ts;
                        if s.kafka_ts >= warmup_until {
                            lat.push(now - s.kafka_ts as f64);
                        }
                        if s.kafka_ts >= half_way {
                            late.push(now - s.kafka_ts as f64);
                        }
                        let sec = usize::try_from((s.kafka_ts - started_ms) / 1000)
                            .unwrap_or(0)
                            .min(by_second.len() - 1);
                        if let Some(w) = by_second.get_mut(sec) {
                            *w = w.max(now - s.kafka_ts as f64);
                        }
                    }
                }
            }
            pacer.wait(vsync, PACED_WAIT_LIMIT);
        }
        let sent = producing.sent();
        let produce_time = producing.join()?;
        Ok(GuiLive {
            latency: Pcts::of(lat),
            latency_late: Pcts::of(late),
            by_second,
            frames: Pcts::of(frames),
            sampled: cars.len(),
            sent,
            produce_time,
            applied: app.store().stats().records - base,
            rows: app.fleet_table().map_or(0, |(_, t, _)| t.rows.len()),
        })
    }
}

/// What the live GUI path measured.
struct GuiLive {
    /// Produce → on screen, ms, of the sampled cars' samples produced after the first second.
    latency: Pcts,
    /// The same, of samples produced in the second half of the run only: by then the app has
    /// met every car, so this is the steady state.
    latency_late: Pcts,
    /// The worst of the sampled latencies per second of producing (by Kafka time), ms.
    by_second: Vec<f64>,
    /// Whole frames during the run, ms.
    frames: Pcts,
    /// Cars sampled.
    sampled: usize,
    /// Records produced, how long that took, and records the app applied meanwhile.
    sent: u64,
    produce_time: Duration,
    applied: u64,
    /// Fleet table rows at the end.
    rows: usize,
}

/// What the GUI path measured.
struct Gui {
    /// Until the app caught up and held every record (`Err`: it had not within the limit).
    catch_up: Result<Duration, Duration>,
    /// Whole frames while catching up, ms.
    catch_up_frames: Pcts,
    /// Records and samples the app's store held then.
    applied: u64,
    samples: u64,
    /// Whole-process RSS once caught up.
    rss: u64,
    /// Fleet table rows when frames were measured.
    rows: usize,
    /// Whole frames once caught up, table and tree open, ms.
    frames: Pcts,
}

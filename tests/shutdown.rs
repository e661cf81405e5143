//! Clean shutdown: closing the app (dropping it, as eframe does when the window closes) ends
//! every thread it started within 2 s, with no panic anywhere. The embedded demo is used
//! because it starts the most: the mock cluster, its port proxy, the plant simulator, the
//! ingest and prediction threads and librdkafka's own.
//!
//! This file holds one test so that no other test's threads are in the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::app_harness;
use twinscope::app::{AppOptions, Persisted};

/// Names of this process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_owned())
        .collect()
}

#[test]
fn closing_the_app_ends_every_thread_within_2_s_without_panic() {
    let panics = Arc::new(AtomicUsize::new(0));
    let seen = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let before = threads();

    // The embedded demo, as `cargo run` starts it.
    let mut harness = app_harness(AppOptions::default(), Persisted::default());
    // Mid-stream: the simulator is backfilling and the ingest is catching up.
    common::step_until(
        &mut harness,
        Duration::from_secs(60),
        "the demo never produced",
        |harness| harness.state().store().stats().records >= 5_000,
    );
    let running = threads();
    for name in ["kafka-ingest", "demo-sim"] {
        assert!(running.iter().any(|t| t == name), "{name} in {running:?}");
    }
    assert!(running.iter().any(|t| t.starts_with("rdk:")), "{running:?}");

    let closing = Instant::now();
    drop(harness);
    let took = closing.elapsed();
    // librdkafka's threads end when its last handle is destroyed; give the OS a moment to
    // reap them, within the same 2 s.
    let mut left = threads();
    while left.len() > before.len() && closing.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
        left = threads();
    }
    eprintln!(
        "drop took {took:?}; {} threads while running, {} after",
        running.len(),
        left.len()
    );
    assert!(took <= Duration::from_secs(2), "closing took {took:?}");
    let mut extra = left.clone();
    for t in &before {
        if let Some(i) = extra.iter().position(|x| x == t) {
            extra.remove(i);
        }
    }
    assert!(
        extra.is_empty(),
        "threads still running 2 s after close: {extra:?}"
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a thread panicked");
}

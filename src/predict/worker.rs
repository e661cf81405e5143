//! The "predict" thread: a named worker that takes [`Job`]s over a small bounded channel,
//! computes each series' outcome and sends the result back, waking the UI. The UI never
//! waits on it: a full queue means "try again next frame".

use std::sync::Arc;
use std::time::Duration;

use crate::job_thread::JobThread;

use super::compute::{SeriesOutcome, compute};
use super::fleet_risk::FleetRisk;
use super::inputs::SeriesInput;

/// Errors of the prediction worker.
#[derive(Debug, thiserror::Error)]
pub enum PredictWorkerError {
    #[error("cannot start the prediction thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Which result a job feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// The plotted series and the selected asset: forecasts, markers, backtests.
    Focus,
    /// Every asset: time to threshold and anomaly counts.
    Fleet,
}

/// A unit of work for the thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub kind: JobKind,
    /// The cursor the forecasts are made at.
    pub at: i64,
    /// Store data generation the inputs were copied at.
    pub generation: u64,
    pub inputs: Vec<SeriesInput>,
}

/// What the thread sends back.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    pub kind: JobKind,
    pub at: i64,
    pub generation: u64,
    pub outcomes: Vec<(Arc<str>, Arc<str>, SeriesOutcome)>,
    /// A fleet job's outcomes turned into the fleet's risk, by the thread (see [`answer`]).
    pub fleet: Option<FleetRisk>,
}

/// Handle to the "predict" thread, which computes [`SeriesOutcome`]s for the jobs the
/// [`super::PredictionCache`] sends. Dropping it stops the thread without waiting for it.
pub struct PredictWorker(JobThread<Job, JobResult>);

impl PredictWorker {
    /// Starts the thread; `waker` is called after each result (the UI requests a repaint).
    ///
    /// # Errors
    /// When the OS cannot start a thread.
    pub fn spawn(waker: Arc<dyn Fn() + Send + Sync>) -> Result<Self, PredictWorkerError> {
        // Two jobs at most: one per kind is the normal load; a full channel means the UI
        // simply tries again next frame with fresher inputs.
        Ok(Self(JobThread::spawn(
            "predict",
            (2, 4),
            waker,
            |job: Job| answer(&job),
        )?))
    }

    /// Queues a job; gives it back when the queue is full (try again later).
    ///
    /// # Errors
    /// The job itself, when it could not be queued.
    pub fn try_submit(&self, job: Job) -> Result<(), Box<Job>> {
        self.0.try_submit(job)
    }

    /// Frees, on this thread, inputs the UI copied and then abandoned (the cursor moved on):
    /// 800k series' windows at 100k cars took 40–70 ms of a frame to free on the UI thread.
    pub fn retire(&self, inputs: Vec<SeriesInput>) {
        self.0.retire(inputs);
    }

    /// A finished result, if one is waiting.
    #[must_use]
    pub fn try_recv(&self) -> Option<JobResult> {
        self.0.try_recv()
    }

    /// Waits up to `timeout` for a result (for tests and tools).
    #[must_use]
    pub fn recv_timeout(&self, timeout: Duration) -> Option<JobResult> {
        self.0.recv_timeout(timeout)
    }
}

/// Runs a job (public so tests can check the outcomes without the thread).
#[must_use]
pub fn run(job: &Job) -> JobResult {
    JobResult {
        kind: job.kind,
        at: job.at,
        generation: job.generation,
        outcomes: job
            .inputs
            .iter()
            .map(|i| (i.asset.clone(), i.prop.clone(), compute(i, job.at)))
            .collect(),
        fleet: None,
    }
}

/// What the thread sends back: [`run`]'s result, except that a fleet job's outcomes (one per
/// series of the fleet: 800k at 100k cars) are turned into its [`FleetRisk`] here and freed
/// here. Freeing them on the UI thread took 30–45 ms of a frame.
#[must_use]
pub fn answer(job: &Job) -> JobResult {
    let mut r = run(job);
    if r.kind == JobKind::Fleet {
        r.fleet = Some(FleetRisk::from_result(&r));
        r.outcomes = Vec::new();
    }
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::inputs::{after, fit_window, test_series as series};
    use super::*;
    use crate::twin::forecast::{Rul, Threshold};
    use std::sync::atomic::Ordering;

    /// The UI thread receives a fleet job's risk, never its per-series outcomes, and the inputs
    /// of copies it abandoned are freed by the thread: both were tens of milliseconds of a
    /// frame to free at 100k cars.
    #[test]
    fn a_fleet_answer_carries_its_risk_and_the_thread_frees_retired_inputs() {
        let p = PredictWorker::spawn(Arc::new(|| {})).unwrap();
        let s = series(600, |i| 2.0 + 0.01 * i as f64);
        let input = |asset: &Arc<str>| SeriesInput {
            asset: Arc::clone(asset),
            prop: "v".into(),
            fit: Some(fit_window(&s, 299_000)),
            limits: vec![Threshold::above(5.0)],
            recent: None,
            after: None,
        };
        let (live, old): (Arc<str>, Arc<str>) = ("a".into(), "abandoned".into());
        let job = Job {
            kind: JobKind::Fleet,
            at: 299_000,
            generation: 1,
            inputs: vec![input(&live)],
        };
        let want = FleetRisk::from_result(&run(&job));
        assert_eq!(want.rows.len(), 1, "the series crosses its limit");
        p.retire(vec![input(&old), input(&old)]);
        p.try_submit(job).unwrap();
        let r = p.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(r.outcomes.is_empty(), "per-series outcomes reached the UI");
        assert_eq!(r.fleet, Some(want));
        let start = std::time::Instant::now();
        while Arc::strong_count(&old) > 1 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the retired inputs are still held"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn worker_answers_and_wakes_the_ui() {
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w2 = woken.clone();
        let p = PredictWorker::spawn(Arc::new(move || {
            w2.fetch_add(1, Ordering::Relaxed);
        }))
        .unwrap();
        let s = series(600, |i| 2.0 + 0.01 * i as f64);
        let input = SeriesInput {
            asset: "a".into(),
            prop: "v".into(),
            fit: Some(fit_window(&s, 299_000)),
            limits: vec![Threshold::above(5.0)],
            recent: None,
            after: Some(after(&s, 299_000, Some(Threshold::above(5.0)))),
        };
        p.try_submit(Job {
            kind: JobKind::Focus,
            at: 299_000,
            generation: 1,
            inputs: vec![input],
        })
        .unwrap();
        let r = p.recv_timeout(Duration::from_secs(10)).unwrap();
        let o = &r.outcomes[0].2;
        // Exact line: 5.0 is reached at 300 s; the next sample beyond it is at 301 s.
        assert_eq!(
            o.rul,
            Some((
                Threshold::above(5.0),
                Rul::Crossing {
                    expected: 300_000,
                    earliest: 300_000,
                    latest: 300_000
                }
            ))
        );
        let b = o.backtest.unwrap();
        assert_eq!(b.actual_crossing, Some(301_000));
        assert!(b.mae.unwrap() < 1e-9);
        // The waker runs just after the send.
        let start = std::time::Instant::now();
        while woken.load(Ordering::Relaxed) == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the UI was never woken"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(woken.load(Ordering::Relaxed), 1);
    }
}

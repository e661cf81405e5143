//! A named thread that answers jobs one at a time, for work the UI thread must never wait on
//! (predictions, the fleet table's order). The UI offers a job over a small bounded channel
//! and gets it back when the channel is full (it tries again next frame, with fresher inputs),
//! polls for answers each frame, and is woken when one is ready. Dropping the handle stops the
//! thread without waiting for the job in hand: the thread owns everything it reads, so it
//! finishes that job on its own and ends. The thread also frees what the UI hands it
//! ([`JobThread::retire`]), so a large table or input copy let go of never costs a frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError, bounded, unbounded};

/// Something the UI thread let go of, for the thread to free.
type Garbage = Box<dyn Send>;

/// How long the thread waits on a full answer channel before it looks at the stop flag again.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Handle to a thread that turns each job `J` into an answer `R`.
pub struct JobThread<J, R> {
    jobs: Option<Sender<J>>,
    /// What [`Self::retire`] hands over; never full, so the UI never waits on it.
    garbage: Option<Sender<Garbage>>,
    results: Receiver<R>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<J, R> std::fmt::Debug for JobThread<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobThread")
            .field("stopped", &self.stop.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<J: Send + 'static, R: Send + 'static> JobThread<J, R> {
    /// Starts the thread `name`, with room for `jobs` queued jobs and `answers` unread answers;
    /// `run` answers a job, and `waker` is called after each answer (the UI requests a repaint).
    ///
    /// # Errors
    /// When the OS cannot start a thread.
    pub fn spawn(
        name: &str,
        (jobs, answers): (usize, usize),
        waker: Arc<dyn Fn() + Send + Sync>,
        mut run: impl FnMut(J) -> R + Send + 'static,
    ) -> std::io::Result<Self> {
        let (job_tx, job_rx) = bounded::<J>(jobs);
        let (res_tx, res_rx) = bounded::<R>(answers);
        let (garbage_tx, garbage_rx) = unbounded::<Garbage>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_w = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                loop {
                    let job = crossbeam_channel::select! {
                        recv(job_rx) -> job => job,
                        recv(garbage_rx) -> g => match g {
                            Ok(g) => {
                                drop(g);
                                continue;
                            }
                            // The handle is gone.
                            Err(_) => return,
                        },
                    };
                    // Disconnected: the handle is gone.
                    let Ok(job) = job else {
                        return;
                    };
                    if stop_w.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut answer = run(job);
                    loop {
                        match res_tx.send_timeout(answer, STOP_POLL) {
                            Ok(()) => break,
                            Err(SendTimeoutError::Timeout(back)) => {
                                if stop_w.load(Ordering::Relaxed) {
                                    return;
                                }
                                answer = back;
                            }
                            Err(SendTimeoutError::Disconnected(_)) => return,
                        }
                    }
                    waker();
                }
            })?;
        Ok(Self {
            jobs: Some(job_tx),
            garbage: Some(garbage_tx),
            results: res_rx,
            stop,
            thread: Some(thread),
        })
    }

    /// Queues a job; gives it back when the queue is full (try again later).
    ///
    /// # Errors
    /// The job itself, when it could not be queued.
    pub fn try_submit(&self, job: J) -> Result<(), Box<J>> {
        let Some(tx) = &self.jobs else {
            return Err(Box::new(job));
        };
        tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(j) | TrySendError::Disconnected(j) => Box::new(j),
        })
    }

    /// Frees `garbage` on the thread rather than on the caller's: the last reference to a
    /// 100k-row table or to a fleet's prediction inputs took tens of milliseconds of a frame to
    /// free. Never waits; once the thread has ended, it is freed here.
    pub fn retire(&self, garbage: impl Send + 'static) {
        if let Some(tx) = &self.garbage {
            // On a send error the garbage comes back in it and is freed here.
            drop(tx.send(Box::new(garbage)));
        }
    }

    /// An answer, if one is waiting.
    #[must_use]
    pub fn try_recv(&self) -> Option<R> {
        self.results.try_recv().ok()
    }

    /// Waits up to `timeout` for an answer (for tests and tools, never the UI thread).
    #[must_use]
    pub fn recv_timeout(&self, timeout: Duration) -> Option<R> {
        self.results.recv_timeout(timeout).ok()
    }
}

impl<J, R> Drop for JobThread<J, R> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Disconnecting the job channel ends the thread's `recv`; a job in hand ends on its own
        // and the caller does not wait for it.
        self.jobs = None;
        self.garbage = None;
        if let Some(t) = self.thread.take()
            && t.is_finished()
        {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    #[test]
    fn answers_each_job_wakes_and_hands_back_what_does_not_fit() {
        let woken = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&woken);
        let (gate_tx, gate_rx) = bounded::<()>(0);
        let t = JobThread::spawn(
            "test-jobs",
            (1, 1),
            Arc::new(move || {
                w.fetch_add(1, Ordering::Relaxed);
            }),
            move |n: u32| {
                // Held until the test lets it go, so the queue's state is known.
                let _ = gate_rx.recv();
                n * 2
            },
        )
        .unwrap();
        t.try_submit(1).unwrap();
        // The thread takes job 1 and waits at the gate; job 2 fills the one slot.
        let start = Instant::now();
        while t.try_submit(2).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "job 1 never taken"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            t.try_submit(3).map_err(|j| *j),
            Err(3),
            "a full queue hands it back"
        );
        gate_tx.send(()).unwrap();
        assert_eq!(t.recv_timeout(Duration::from_secs(10)), Some(2));
        gate_tx.send(()).unwrap();
        assert_eq!(t.recv_timeout(Duration::from_secs(10)), Some(4));
        let start = Instant::now();
        while woken.load(Ordering::Relaxed) < 2 {
            assert!(start.elapsed() < Duration::from_secs(10), "not woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(t.try_recv(), None);
    }

    #[test]
    fn dropping_does_not_wait_for_the_job_in_hand() {
        let (gate_tx, gate_rx) = bounded::<()>(0);
        let t = JobThread::spawn("test-jobs", (1, 1), Arc::new(|| {}), move |(): ()| {
            let _ = gate_rx.recv_timeout(Duration::from_secs(30));
        })
        .unwrap();
        t.try_submit(()).unwrap();
        let start = Instant::now();
        drop(t);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "drop waited for the job"
        );
        drop(gate_tx);
    }

    /// Records the name of the thread it is freed on.
    struct Freed(Arc<std::sync::Mutex<Option<String>>>);

    impl Drop for Freed {
        fn drop(&mut self) {
            let name = std::thread::current().name().map(str::to_owned);
            *self.0.lock().unwrap() = name;
        }
    }

    #[test]
    fn retired_garbage_is_freed_on_the_thread() {
        let t = JobThread::spawn("test-garbage", (1, 1), Arc::new(|| {}), |(): ()| {}).unwrap();
        let freed_on = Arc::new(std::sync::Mutex::new(None));
        t.retire(Freed(Arc::clone(&freed_on)));
        let start = Instant::now();
        while freed_on.lock().unwrap().is_none() {
            assert!(start.elapsed() < Duration::from_secs(10), "never freed");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(freed_on.lock().unwrap().as_deref(), Some("test-garbage"));
    }
}

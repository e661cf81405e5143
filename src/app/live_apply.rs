//! The thread that applies the live ingest to the store. On the UI thread, applying took 78% of
//! that thread while a long history was caught up and a third of it at 100k msg/s live (#14),
//! so frames and applying took their time from each other. Here they run side by side: the UI
//! holds the store's read lock for one frame (see `StoreHub`), and this thread takes the write
//! lock between frames, one slice at a time (see [`slice`]), so a frame never waits longer
//! than that for it. It applies even while the window is hidden and eframe runs no frames.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::{RwLock, RwLockWriteGuard};

use crate::kafka::ingest::{Conn, Ingest, IngestEvent, Progress, TimeIndexes, Waker};
use crate::twin::Store;

/// The longest the write lock is held at once when caught up: a frame that starts meanwhile
/// waits at most this long. Long enough that the lock is not taken per record at 100k msg/s.
const LIVE_SLICE: Duration = Duration::from_millis(4);
/// While catching up, a slice is this many times what the last frame held the store for, so
/// applying gets 8/9 of the time (4 gave 4/5: the GUI caught up at 0.71–0.79× the headless
/// rate on 100k cars once headless ingest got faster)...
const CATCH_UP_SLICE_PER_FRAME: u32 = 8;
/// ... but at least this (the window still redraws at least ~20 times a second on fast frames)
const MIN_CATCH_UP_SLICE: Duration = Duration::from_millis(35);
/// ... and at most this: a frame that holds the store for 40 ms (100k assets, table and tree
/// open, software rendering) leaves three quarters of the time to applying, and the window
/// still redraws ~6 times a second.
const MAX_CATCH_UP_SLICE: Duration = Duration::from_millis(120);
/// How long the thread waits for an event, or for the lock, before it looks at `stop` again.
const POLL: Duration = Duration::from_millis(20);

/// What the ingest said besides its batches, passed on in order: each one after the batches
/// before it were applied, so a `Progress` that says "caught up" is true of the store.
#[derive(Debug)]
pub enum Applied {
    Status(Conn),
    Progress(Progress),
    Notice(String),
}

/// Handle to the apply thread. Dropping it stops and joins the thread, then the ingest.
pub struct LiveApply {
    /// Shared with the thread; the ingest thread stops when the last copy goes.
    ingest: Arc<Ingest>,
    events: Receiver<Applied>,
    /// The earliest event time applied since the UI last asked ([`i64::MAX`]: none).
    earliest_applied: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LiveApply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveApply").finish_non_exhaustive()
    }
}

impl LiveApply {
    /// Starts applying what `ingest` reads to `store`. `waker` is called after every slice, so
    /// the window draws what was applied.
    ///
    /// # Errors
    /// When the OS cannot start the thread.
    pub fn spawn(ingest: Ingest, store: Arc<RwLock<Store>>, waker: Waker) -> std::io::Result<Self> {
        let ingest = Arc::new(ingest);
        let (tx, events) = unbounded();
        let earliest_applied = Arc::new(AtomicI64::new(i64::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            ingest: ingest.clone(),
            store,
            tx,
            earliest_applied: earliest_applied.clone(),
            stop: stop.clone(),
            waker,
        };
        let thread = std::thread::Builder::new()
            .name("live-apply".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            ingest,
            events,
            earliest_applied,
            stop,
            thread: Some(thread),
        })
    }

    /// The next event the thread passed on, if one is waiting.
    #[must_use]
    pub fn try_recv(&self) -> Option<Applied> {
        self.events.try_recv().ok()
    }

    /// The earliest event time among the records applied since the last call, if any were.
    /// Call it while holding the store's read lock: then every batch the store holds is
    /// counted by this call or an earlier one.
    #[must_use]
    pub fn take_earliest_applied(&self) -> Option<i64> {
        let t = self.earliest_applied.swap(i64::MAX, Ordering::Relaxed);
        (t != i64::MAX).then_some(t)
    }

    /// The latest copy of the own time index of every partition read so far.
    #[must_use]
    pub fn time_indexes(&self) -> Arc<TimeIndexes> {
        self.ingest.time_indexes()
    }
}

impl Drop for LiveApply {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("live apply thread panicked");
        }
        // `ingest` is dropped after this, as the last copy: that stops and joins its thread.
    }
}

/// What the thread owns.
struct Worker {
    ingest: Arc<Ingest>,
    store: Arc<RwLock<Store>>,
    tx: Sender<Applied>,
    earliest_applied: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    waker: Waker,
}

/// How long the thread may hold the write lock: briefly when caught up, so live frames are not
/// held up; while catching up, a multiple of how long the frame before held the store (how
/// long this thread waited for it), so a slow frame does not make catch-up crawl and a fast one
/// still redraws often.
fn slice(caught_up: bool, waited: Duration) -> Duration {
    if caught_up {
        LIVE_SLICE
    } else {
        (waited * CATCH_UP_SLICE_PER_FRAME).clamp(MIN_CATCH_UP_SLICE, MAX_CATCH_UP_SLICE)
    }
}

impl Worker {
    fn run(self) {
        let mut waiting: Option<IngestEvent> = None;
        let mut caught_up = false;
        let mut waited = Duration::ZERO;
        while !self.stop.load(Ordering::Relaxed) {
            let first = match waiting.take() {
                Some(e) => e,
                None => match self.ingest.recv_timeout(POLL) {
                    Ok(e) => e,
                    Err(false) => continue,
                    // The ingest thread has ended; its last words were already passed on.
                    Err(true) => return,
                },
            };
            // A frame holds the read lock; look at `stop` again every `POLL` while it does.
            let asked = Instant::now();
            let Some(mut store) = self.store.try_write_for(POLL) else {
                waited += asked.elapsed();
                waiting = Some(first);
                continue;
            };
            let start = Instant::now();
            let budget = slice(caught_up, waited + (start - asked));
            waited = Duration::ZERO;
            let mut next = Some(first);
            while let Some(e) = next {
                if let IngestEvent::Progress(p) = &e {
                    caught_up = p.caught_up;
                }
                self.apply(&mut store, e);
                if start.elapsed() >= budget {
                    break;
                }
                next = self.ingest.try_recv();
            }
            // Straight to a frame waiting for it, rather than to this thread's next slice.
            RwLockWriteGuard::unlock_fair(store);
            (self.waker)();
        }
    }

    fn apply(&self, store: &mut Store, e: IngestEvent) {
        // A send fails only once the handle is gone, and it stops this thread right after.
        let pass = |a: Applied| drop(self.tx.send(a));
        match e {
            IngestEvent::Batch { mut recs, bad } => {
                if let Some(t) = recs.iter().map(|r| r.body.event_time()).min() {
                    self.earliest_applied.fetch_min(t, Ordering::Relaxed);
                }
                store.apply_lent(&mut recs, bad);
            }
            IngestEvent::Progress(p) => {
                crate::headless::note_coverage(store, &p);
                pass(Applied::Progress(p));
            }
            IngestEvent::Status(c) => pass(Applied::Status(c)),
            IngestEvent::Notice(n) => pass(Applied::Notice(n)),
            IngestEvent::Finished => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_short_live_and_a_multiple_of_the_frame_while_catching_up() {
        let ms = Duration::from_millis;
        // Live: short, whatever the frame took.
        assert_eq!(slice(true, ms(30)), LIVE_SLICE);
        // Catching up behind fast frames (or none): the floor.
        assert_eq!(slice(false, ms(2)), MIN_CATCH_UP_SLICE);
        assert_eq!(slice(false, Duration::ZERO), MIN_CATCH_UP_SLICE);
        // A frame that held the store for 10 ms: 80 ms of applying.
        assert_eq!(slice(false, ms(10)), ms(80));
        // Slow frames: capped, so the window still redraws several times a second.
        assert_eq!(slice(false, ms(60)), MAX_CATCH_UP_SLICE);
    }
}

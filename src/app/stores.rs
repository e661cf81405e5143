//! The stores the app reads: the live one, and at most one re-read of evicted history. Each
//! gets its own [`StoreId`], so caches built from one store are never served for another.
//!
//! The live store is written by the apply thread (`super::live_apply`). A frame reads it
//! under one read guard, taken at its first read and let go at its end ([`StoreHub::end_frame`]),
//! so everything a frame shows comes from one state of the store and the apply thread gets
//! the store between frames.

use std::cell::OnceCell;
use std::sync::Arc;

#[cfg(feature = "testkit")]
use parking_lot::RwLockWriteGuard;
use parking_lot::{ArcRwLockReadGuard, RawRwLock, RwLock, RwLockReadGuard};

use crate::kafka::ingest::Progress;
use crate::twin::Store;

/// Which read a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// What the live ingest has read since the last (re)connect.
    Live,
    /// A bounded re-read of history that was evicted from the live store.
    Reread,
}

/// Names one store for the lifetime of the app: no two stores ever get the same id, even when
/// a reconnect or a new re-read replaces one (their generations restart and may repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreId {
    pub kind: StoreKind,
    /// Counts up over every store the app has made.
    pub n: u64,
}

impl StoreId {
    /// Whether this is a re-read of evicted history.
    #[must_use]
    pub fn is_reread(self) -> bool {
        self.kind == StoreKind::Reread
    }
}

/// A bounded re-read of history that was evicted from memory, read from Kafka into its own
/// store with the same ingest code as everything else (its ingest is in
/// [`super::sources::Sources::reread`]).
pub struct Reread {
    pub id: StoreId,
    pub store: Store,
    /// The re-read covers the times from this one (its checkpoint) ...
    pub from: i64,
    /// ... up to this one.
    pub until: i64,
    /// How late records were allowed to be (ms past `until`) when it stopped reading; see
    /// `TwinApp::reread_lateness`.
    pub lateness: i64,
    pub progress: Progress,
    /// The read has reached `until` on every partition; only then does it answer.
    pub done: bool,
}

/// The live store and the re-read, with the ids that tell them apart.
pub struct StoreHub {
    live: Arc<RwLock<Store>>,
    /// This frame's read guard on `live`, taken at the frame's first read.
    frame: OnceCell<ArcRwLockReadGuard<RawRwLock, Store>>,
    live_id: StoreId,
    pub reread: Option<Reread>,
    next: u64,
}

impl StoreHub {
    /// A hub around a first live store.
    #[must_use]
    pub fn new(live: Store) -> Self {
        Self {
            live: Arc::new(RwLock::new(live)),
            frame: OnceCell::new(),
            live_id: StoreId {
                kind: StoreKind::Live,
                n: 0,
            },
            reread: None,
            next: 1,
        }
    }

    /// A fresh id of this kind.
    pub fn next_id(&mut self, kind: StoreKind) -> StoreId {
        let n = self.next;
        self.next += 1;
        StoreId { kind, n }
    }

    /// Replaces the live store (a reconnect); the re-read of the old one goes with it.
    pub fn replace_live(&mut self, store: Store) {
        self.end_frame();
        self.live = Arc::new(RwLock::new(store));
        self.live_id = self.next_id(StoreKind::Live);
        self.reread = None;
    }

    /// The live store as this frame sees it. The first call of a frame takes the read guard,
    /// waiting for at most one slice of the apply thread.
    #[must_use]
    pub fn live(&self) -> &Store {
        // Recursive: a caller may hold a `read_live` guard already (a test reading the store
        // while it asks the app for a snapshot), and a waiting writer must not make this read
        // wait for a guard only this thread can let go of.
        self.frame.get_or_init(|| self.live.read_arc_recursive())
    }

    /// Lets go of this frame's read guard, so the apply thread can write. Every frame ends with
    /// it; the next read takes a new guard and sees what was applied meanwhile.
    pub fn end_frame(&mut self) {
        self.frame.take();
    }

    /// The live store, read outside a frame (tests, benchmarks) without keeping a guard past
    /// the caller's use of it.
    pub fn read_live(&self) -> RwLockReadGuard<'_, Store> {
        // Recursive, for the same reason as `live`: this frame may hold a guard already.
        self.live.read_recursive()
    }

    /// The live store, to write to outside the apply thread (benchmarks set up a history).
    #[cfg(feature = "testkit")]
    pub fn write_live(&mut self) -> RwLockWriteGuard<'_, Store> {
        self.end_frame();
        self.live.write()
    }

    /// The live store itself, for the apply thread.
    #[must_use]
    pub fn shared_live(&self) -> Arc<RwLock<Store>> {
        self.live.clone()
    }

    /// The live store's id.
    #[must_use]
    pub fn live_id(&self) -> StoreId {
        self.live_id
    }

    /// The finished re-read when `use_reread`, else the live store.
    #[must_use]
    pub fn pick(&self, use_reread: bool) -> (&Store, StoreId) {
        match &self.reread {
            Some(r) if use_reread && r.done => (&r.store, r.id),
            _ => (self.live(), self.live_id),
        }
    }
}

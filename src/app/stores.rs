//! The stores the app reads: the live one, and at most one re-read of evicted history. Each
//! gets its own [`StoreId`], so caches built from one store are never served for another.

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
    live: Store,
    live_id: StoreId,
    pub reread: Option<Reread>,
    next: u64,
}

impl StoreHub {
    /// A hub around a first live store.
    #[must_use]
    pub fn new(live: Store) -> Self {
        Self {
            live,
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
        self.live = store;
        self.live_id = self.next_id(StoreKind::Live);
        self.reread = None;
    }

    /// The live store.
    #[must_use]
    pub fn live(&self) -> &Store {
        &self.live
    }

    /// The live store, to apply batches to.
    pub fn live_mut(&mut self) -> &mut Store {
        &mut self.live
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
            _ => (&self.live, self.live_id),
        }
    }
}

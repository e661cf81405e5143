//! The threads and connections the app holds: the live ingest, the re-read's ingest, the
//! write-back producer and the embedded demo broker. Field order is drop order: every consumer
//! of the demo is dropped before the demo broker itself.

use crate::kafka::demo::DemoBroker;
use crate::kafka::ingest::Ingest;

use super::live_apply::LiveApply;
use crate::kafka::writeback::WriteBack;

/// Handles to everything that talks to Kafka.
#[derive(Default)]
pub struct Sources {
    /// The live read and the thread applying it; `None` when it could not start.
    pub live: Option<LiveApply>,
    /// The read of evicted history for `StoreHub::reread`; `None` once it has finished.
    pub reread: Option<Ingest>,
    /// Exists only when write-back is enabled.
    pub write: Option<WriteBack>,
    /// The embedded demo broker, when no brokers were given. Last: dropped after its consumers.
    pub demo: Option<DemoBroker>,
    /// The bootstrap servers in use (the demo's own address in the demo).
    pub brokers: String,
}

//! Everything that talks to Kafka: the ingest thread, seeking by time, write-back, the
//! embedded demo broker (with its plant simulator in `demo/`) and, with the `testkit`
//! feature only, the end-to-end benchmarks. The UI never touches Kafka directly.

#[cfg(feature = "testkit")]
pub mod bench;
pub mod client;
pub mod demo;
pub mod ingest;
pub mod seek;
pub mod writeback;

/// Errors of the Kafka layer.
#[derive(Debug, thiserror::Error)]
pub enum KafkaLayerError {
    #[error("Kafka client error: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("cannot reach the brokers at {brokers}: {reason}")]
    Unreachable { brokers: String, reason: String },
    #[error("demo broker: {0}")]
    Demo(String),
    /// The OS refused a thread (out of memory or thread limit).
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        name: &'static str,
        source: std::io::Error,
    },
}

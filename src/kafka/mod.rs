//! Everything that talks to Kafka: the ingest thread, seeking by time, the embedded demo
//! broker and its plant simulator. The UI never touches Kafka directly.

pub mod bench;
pub mod client;
pub mod demo;
pub mod ingest;
pub mod seek;
pub mod simulator;
pub mod writeback;

/// Errors of the Kafka layer.
#[derive(Debug, thiserror::Error)]
pub enum KafkaLayerError {
    #[error("Kafka client error: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("cannot reach the brokers at {brokers}: {reason}")]
    Unreachable { brokers: String, reason: String },
    #[error("topics missing on the cluster: {0}")]
    MissingTopics(String),
    #[error("demo broker: {0}")]
    Demo(String),
}

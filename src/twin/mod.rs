//! The twin: a pure, time-indexed cache of what the Kafka log says about every asset.
//!
//! Nothing here knows about egui or rdkafka, so all of it is unit-testable and shared by the
//! GUI, the headless `snapshot` command and the benchmarks.

pub mod alarms;
pub mod anomaly;
pub mod decode;
pub mod diff;
pub mod filter;
pub mod fleet_table;
pub mod forecast;
pub mod hierarchy;
pub mod incident;
pub mod mapping;
pub mod rules;
pub mod series;
pub mod store;

pub use decode::{BadRecord, Decoded, Origin, Rec, Role, Value};
pub use store::Store;

/// Sort key that breaks event-time ties by partition, then offset (see the time-travel contract).
///
/// Packs the partition into the top 24 bits and the offset into the low 40 bits, so one `u64`
/// comparison gives the required order.
#[must_use]
pub fn seq_of(partition: i32, offset: i64) -> u64 {
    let p = u64::from(partition.max(0).unsigned_abs()) & 0xFF_FFFF;
    let o = (offset.max(0) as u64) & 0xFF_FFFF_FFFF;
    (p << 40) | o
}

/// The inverse of [`seq_of`].
#[must_use]
pub fn seq_parts(seq: u64) -> (i32, i64) {
    ((seq >> 40) as i32, (seq & 0xFF_FFFF_FFFF) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_orders_by_partition_then_offset() {
        assert!(seq_of(0, 999_999) < seq_of(1, 0));
        assert!(seq_of(3, 5) < seq_of(3, 6));
        assert_eq!(seq_parts(seq_of(17, 123_456_789)), (17, 123_456_789));
    }
}

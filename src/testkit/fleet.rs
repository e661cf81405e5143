//! A vehicle fleet's telemetry for the fleet benchmark (issue #14): every car reports the same
//! numeric properties once a second, phases staggered across the second, as connected cars
//! do. Deterministic, like the other workloads: the same parameters give the same records.

use super::workload::{TelemetrySource, mix};

/// Property names of a car's record, in order; a fleet with more properties than this names
/// the rest `p<k>`.
pub const CAR_PROPS: [&str; 12] = [
    "speed_kmh",
    "battery_soc",
    "motor_temp",
    "odometer_km",
    "lat",
    "lon",
    "heading",
    "accel",
    "cabin_temp",
    "tyre_fl",
    "tyre_fr",
    "range_km",
];

/// Cars per region of the tree, so that a 100k fleet is a tree of 10 regions and selecting
/// `fleet` shows every car in the fleet table.
pub const CARS_PER_REGION: usize = 10_000;

/// The group every car is under: what the fleet benchmark selects to open the fleet table.
pub const FLEET_GROUP: &str = "fleet";

/// `assets` cars, each reporting `props` numbers at 1 Hz for `seconds` from `start`; record
/// `i` is car `i % assets` in second `i / assets`, so the log is in time order.
#[derive(Debug, Clone, Copy)]
pub struct CarFleet {
    pub assets: usize,
    pub props: usize,
    pub start: i64,
    pub seconds: u64,
}

impl CarFleet {
    /// The id of car `a`: `fleet/region-RR/car-NNNNNN`.
    #[must_use]
    pub fn asset_id(a: usize) -> String {
        format!("{FLEET_GROUP}/region-{:02}/car-{a:06}", a / CARS_PER_REGION)
    }

    /// The name of property `k`.
    #[must_use]
    pub fn prop_name(k: usize) -> String {
        CAR_PROPS
            .get(k)
            .map_or_else(|| format!("p{k}"), |s| (*s).to_owned())
    }

    /// Records in the whole history (one per car and second).
    #[must_use]
    pub fn records(&self) -> usize {
        self.assets.saturating_mul(self.seconds as usize)
    }

    /// Numeric samples in the whole history.
    #[must_use]
    pub fn samples(&self) -> u64 {
        self.records() as u64 * self.props as u64
    }

    /// The last event time.
    #[must_use]
    pub fn end(&self) -> i64 {
        self.start + self.seconds as i64 * 1000
    }

    /// The car of record `i`.
    fn car(&self, i: usize) -> usize {
        i % self.assets.max(1)
    }
}

impl TelemetrySource for CarFleet {
    fn count(&self) -> usize {
        self.records()
    }

    fn key(&self, i: usize) -> String {
        Self::asset_id(self.car(i))
    }

    fn event_time(&self, i: usize) -> i64 {
        let (a, round) = (self.car(i), i / self.assets.max(1));
        self.start + round as i64 * 1000 + (a as i64 * 1000) / self.assets.max(1) as i64
    }

    fn value_at(&self, i: usize, ts: i64) -> String {
        use std::fmt::Write;
        let mut s = format!("{{\"ts\":{ts}");
        let h = mix(i as u64);
        for k in 0..self.props {
            // Two decimals, as a car's gateway rounds them: ~8 B of JSON per number.
            let v = ((h >> (k % 8 * 8)) % 100_000) as f64 / 100.0;
            let _ = write!(s, ",\"{}\":{v:.2}", Self::prop_name(k));
        }
        s.push('}');
        s
    }

    fn partition_of(&self, i: usize, partitions: i32) -> i32 {
        (self.car(i) % partitions.max(1) as usize) as i32
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testkit::T0;
    use crate::twin::decode::decode;
    use crate::twin::mapping::Mapping;
    use crate::twin::{Role, Store};

    #[test]
    fn every_car_reports_every_property_each_second() {
        let f = CarFleet {
            assets: 25,
            props: 8,
            start: T0,
            seconds: 3,
        };
        let mut store = Store::new("/", 0);
        let mut recs = Vec::new();
        for i in 0..f.count() {
            let origin = crate::testkit::records::origin(
                Role::Telemetry,
                f.partition_of(i, 4),
                i as i64,
                f.event_time(i),
            );
            let (k, v) = (f.key(i), f.value_at(i, f.event_time(i)));
            let body = decode(
                &Mapping::default(),
                origin,
                Some(k.as_bytes()),
                Some(v.as_bytes()),
            )
            .unwrap();
            recs.push(crate::twin::Rec { origin, body });
        }
        store.apply_batch(recs, Vec::new());
        assert_eq!(store.stats().samples, f.samples());
        let car = store.asset_by_id(&CarFleet::asset_id(24)).unwrap();
        assert_eq!(store.props_at(car, f.end()).len(), 8);
        assert!(f.event_time(f.count() - 1) < f.end());
    }
}

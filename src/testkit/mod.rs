//! Support for the crate's tests and benchmarks: synthetic workloads, record builders,
//! percentiles and what a frame recomputes on a cursor move, in one place so that unit tests,
//! `tests/common` and `benches/` build their histories the same way.
//!
//! Compiled only with the `testkit` feature, which the crate's own tests and benches turn on
//! through a dev-dependency on the crate itself; `cargo build` of the product leaves it out.

pub mod fleet;
pub mod frame;
pub mod mapping;
pub mod measure;
pub mod records;
pub mod rules;
pub mod schemas;
pub mod workload;

pub use fleet::CarFleet;
pub use measure::{Pcts, ui_scrub};
pub use records::LogOffsets;
pub use workload::{BATCH, FLEET_PROPS, SyntheticFleet, TelemetrySource, Workload};

/// Start of every synthetic history (2023-11-14T22:13:20Z): a fixed epoch, so that a failing
/// test names the same times on every run.
pub const T0: i64 = 1_700_000_000_000;

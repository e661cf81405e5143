//! `[mapping]` fixtures shared by the mapping and decoder unit tests and the ingest tests, so
//! that each reads the same mapping text.

/// The body of a `[mapping]` for vehicles that name and place themselves: the asset id from
/// `/vin`, the event time in seconds from `/t`, the tree from `/region`, `/fleet` and `/vin`.
pub const POINTER_HIERARCHY: &str = r#"
asset_id = "/vin"
time = "/t"
time_unit = "s"
hierarchy = ["/region", "/fleet", "/vin"]
"#;

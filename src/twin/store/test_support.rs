//! Records and queries the store's unit tests share.

use super::Store;
use crate::twin::decode::{Decoded, Origin, Rec, Role, Value};

/// A record with this origin and body (Kafka timestamp 0).
pub(super) fn rec(role: Role, partition: i32, offset: i64, body: Decoded) -> Rec {
    Rec {
        origin: Origin {
            role,
            partition,
            offset,
            kafka_ts: 0,
        },
        body,
    }
}

/// A telemetry record setting property `x` of `asset` to `v` at `ts`.
pub(super) fn tele(p: i32, o: i64, asset: &str, ts: i64, v: f64) -> Rec {
    rec(
        Role::Telemetry,
        p,
        o,
        Decoded::Telemetry {
            asset: asset.into(),
            parent: None,
            ts,
            props: vec![("x".into(), Value::Num(v))],
        },
    )
}

/// A store (`/` as separator, no history budget) that has applied `recs` in order.
pub(super) fn store_of(recs: impl IntoIterator<Item = Rec>) -> Store {
    let mut s = Store::new("/", 0);
    for r in recs {
        s.apply(r);
    }
    s
}

/// A value that does not compress (no short decimal, no trend): the history budget counts
/// compressed bytes, and a regular series like `i as f64` packs to almost nothing, so tests
/// that must reach eviction at a small budget use these.
pub(super) fn noisy(i: i64) -> f64 {
    (i as f64 * 0.618_033_988_7).sin() * 1_000.0
}

/// Property `x` of `asset` as of `t` (NaN when it is not a number).
pub(super) fn x_at(s: &Store, asset: &str, t: i64) -> Option<f64> {
    let a = s.asset_by_id(asset)?;
    s.props_at(a, t)
        .into_iter()
        .find(|p| &*p.name == "x")
        .map(|p| match p.sample.value {
            Value::Num(f) => f,
            _ => f64::NAN,
        })
}

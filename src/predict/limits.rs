//! The limits a property is predicted against: its `[[limits]]` entries and the threshold
//! rules that watch it, as they apply to the asset's kind at the time asked.

use crate::twin::Store;
use crate::twin::forecast::Threshold;

/// The limits that apply to a property of an asset, from `[[limits]]` and threshold rules.
#[must_use]
pub fn limits_of(
    config: &crate::config::Config,
    limits: &[crate::config::LimitDef],
    store: &Store,
    asset: u32,
    prop: &str,
    at: i64,
) -> Vec<Threshold> {
    let Some(a) = store.asset(asset) else {
        return Vec::new();
    };
    let kind = a.def_at(at).flatten().and_then(|d| d.kind.as_deref());
    crate::config::thresholds_for(limits, &config.rules, &a.id, kind, prop)
}

//! The fleet job's result turned into what the panels show: every limited property with a
//! time to threshold, soonest first, and the anomalous episodes per asset.

use std::collections::HashMap;
use std::sync::Arc;

use crate::twin::fleet_table::rul_key;
use crate::twin::forecast::{Rul, Threshold};

use super::worker::JobResult;

/// One row of the fleet's "At risk" list.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskRow {
    pub asset: Arc<str>,
    pub prop: Arc<str>,
    pub limit: Threshold,
    pub rul: Rul,
}

/// The fleet-wide result, for the "At risk" panel and the tree's anomaly badges: rows sorted
/// soonest first, anomaly counts per asset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetRisk {
    pub at: i64,
    pub rows: Vec<RiskRow>,
    pub anomalies: HashMap<Arc<str>, usize>,
}

impl FleetRisk {
    /// The rows and counts of a fleet job's result.
    pub(super) fn from_result(r: &JobResult) -> Self {
        let mut rows = Vec::new();
        let mut anomalies: HashMap<Arc<str>, usize> = HashMap::new();
        for (asset, prop, o) in &r.outcomes {
            if let Some((limit, rul)) = o.rul {
                rows.push(RiskRow {
                    asset: asset.clone(),
                    prop: prop.clone(),
                    limit,
                    rul,
                });
            }
            if o.anomaly_events > 0 {
                *anomalies.entry(asset.clone()).or_default() += o.anomaly_events;
            }
        }
        rows.sort_by(|a, b| {
            rul_key(&a.rul)
                .cmp(&rul_key(&b.rul))
                .then_with(|| a.asset.cmp(&b.asset))
                .then_with(|| a.prop.cmp(&b.prop))
        });
        Self {
            at: r.at,
            rows,
            anomalies,
        }
    }
}

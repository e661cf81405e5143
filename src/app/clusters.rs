//! Per-cluster memory: the selection, the plotted series and the fleet table's columns name
//! assets and properties of one cluster, so they are restored only on the same cluster and
//! topics. Connecting elsewhere (a restart with other `--brokers`, File → Open config…)
//! keeps the state of the cluster left for later and restores the one entered; references
//! that do not exist there are dropped quietly once the store has caught up. Layout (panel
//! sizes, the window, the expanded tree) stays global.
//!
//! Before this, connecting to another cluster brought back the previous cluster's plot: an
//! empty plot of an asset that does not exist there, with a −300,000…300,000 axis.

use serde::{Deserialize, Serialize};

use crate::config::Topics as TopicsConfig;
use crate::ui::PlotKey;

use super::TwinApp;

/// Most other clusters remembered; the least recently left is forgotten first.
const MAX_CLUSTERS: usize = 16;

/// Names a cluster and the topics read from it. The embedded demo binds a new port on every
/// start, so it is named as such rather than by its address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterKey {
    /// Bootstrap brokers, trimmed and sorted (`a:9092,b:9092` and `b:9092, a:9092` are one
    /// cluster), or `embedded demo`.
    pub brokers: String,
    /// Telemetry, events and assets topics.
    pub topics: Vec<String>,
}

impl ClusterKey {
    /// The key of `brokers` (`None`: the embedded demo) read with `topics`.
    #[must_use]
    pub fn of(brokers: Option<&str>, topics: &TopicsConfig) -> Self {
        let brokers = match brokers {
            Some(b) => {
                let mut list: Vec<&str> = b
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                list.sort_unstable();
                list.dedup();
                list.join(",")
            }
            None => "embedded demo".to_owned(),
        };
        Self {
            brokers,
            topics: vec![
                topics.telemetry.clone(),
                topics.events.clone(),
                topics.assets.clone(),
            ],
        }
    }
}

/// What is remembered of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterState {
    pub key: ClusterKey,
    pub selected: Option<String>,
    pub plotted: Vec<PlotKey>,
    /// The fleet table's chosen columns (`None`: the default ones).
    pub table_columns: Option<Vec<String>>,
}

impl ClusterState {
    fn is_empty(&self) -> bool {
        self.selected.is_none() && self.plotted.is_empty() && self.table_columns.is_none()
    }
}

impl TwinApp {
    /// The cluster the options point at.
    pub(super) fn cluster_key(&self) -> ClusterKey {
        ClusterKey::of(self.opts.brokers.as_deref(), &self.opts.config.topics)
    }

    /// Switches the per-cluster state to the cluster the options point at (called on every
    /// connect): the state of the cluster left is remembered, the one entered is restored
    /// (nothing if it was never seen). Restored references are checked once caught up.
    pub(super) fn enter_cluster(&mut self) {
        let key = self.cluster_key();
        self.prune_pending = true;
        if key == self.cluster {
            return;
        }
        let left = ClusterState {
            key: std::mem::replace(&mut self.cluster, key),
            selected: self.selected.take(),
            plotted: std::mem::take(&mut self.plotted),
            table_columns: self.panels.fleet.columns.take(),
        };
        self.other_clusters.retain(|c| c.key != left.key);
        if !left.is_empty() {
            self.other_clusters.insert(0, left);
            self.other_clusters.truncate(MAX_CLUSTERS);
        }
        if let Some(i) = self
            .other_clusters
            .iter()
            .position(|c| c.key == self.cluster)
        {
            let s = self.other_clusters.remove(i);
            self.selected = s.selected;
            self.plotted = s.plotted;
            self.panels.fleet.columns = s.table_columns;
        }
    }

    /// Once the store has caught up after a connect, drops restored references that do not
    /// exist on this cluster: a selection that is neither an asset nor a group, series whose
    /// asset or property never appeared, table columns no asset has. Quietly: the operator
    /// did not ask for them here.
    pub(super) fn prune_restored(&mut self) {
        if !self.prune_pending || !self.status.progress.caught_up {
            return;
        }
        self.prune_pending = false;
        let store = self.stores.live();
        if let Some(s) = &self.selected
            && store.asset_by_id(s).is_none()
            && self.tree.tree().and_then(|t| t.find(s)).is_none()
        {
            self.selected = None;
        }
        self.plotted.retain(|k| {
            store
                .asset_by_id(&k.asset)
                .zip(store.prop_by_name(&k.prop))
                .is_some_and(|(a, p)| store.series(a, p).is_some())
        });
        if let Some(cols) = &mut self.panels.fleet.columns {
            cols.retain(|c| store.prop_by_name(c).is_some());
            if cols.is_empty() {
                self.panels.fleet.columns = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_broker_order_and_spacing_but_not_topics() {
        let t = TopicsConfig::default();
        assert_eq!(
            ClusterKey::of(Some("b:9092, a:9092"), &t),
            ClusterKey::of(Some("a:9092,b:9092"), &t)
        );
        assert_ne!(
            ClusterKey::of(Some("a:9092"), &t),
            ClusterKey::of(Some("c:9092"), &t)
        );
        let other = TopicsConfig {
            telemetry: "plant2.telemetry".into(),
            ..TopicsConfig::default()
        };
        assert_ne!(
            ClusterKey::of(Some("a:9092"), &t),
            ClusterKey::of(Some("a:9092"), &other)
        );
        assert_eq!(ClusterKey::of(None, &t).brokers, "embedded demo");
    }
}

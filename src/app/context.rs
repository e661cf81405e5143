//! The per-frame context every panel reads (a [`View`]) and the caches it is built from: the
//! asset tree at the query time and the open A → B diff, each keyed by the store it was
//! computed from and that store's generation.

use std::time::{Duration, Instant};

use crate::schema::evolution::{SchemaChange, schema_change};
use crate::twin::Store;
use crate::twin::diff::Diff;
use crate::twin::hierarchy::{Tree, TreeCache};
use crate::twin::store::AlarmView;
use crate::ui::View;

use super::TwinApp;
use super::stores::StoreId;

/// What a cached tree was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TreeKey {
    store: StoreId,
    structure_gen: u64,
    at: i64,
}

/// The tree shown, rebuilt only when its store, that store's structure or the query time
/// changed; its shape comes from a [`TreeCache`] that is never reused across stores.
#[derive(Default)]
pub struct TreeView {
    current: Option<(TreeKey, Tree)>,
    /// Which store `shapes` was filled from.
    shapes_of: Option<StoreId>,
    /// The tree's shape, reused while scrubbing through times where it does not change.
    shapes: TreeCache,
    /// When the last build ended, and how long it took.
    last_build: Option<(Instant, Duration)>,
}

/// A build at least this long is one the UI thread notices ([`TreeView::refresh`]).
const SLOW_BUILD: Duration = Duration::from_millis(8);

/// How many times its last build's duration a slow tree waits before it is built again for a
/// structure that changed under the same view: building then takes at most a fifth of the
/// UI thread.
const SETTLE: u32 = 4;

impl TreeView {
    /// Makes [`Self::tree`] the tree of `store` at `at`, or returns how long until it will:
    /// a large tree (about 100 ms at 100k assets) whose structure changes under the same view
    /// waits [`SETTLE`] times its last build. A fleet met live changes its structure with
    /// every batch for its first seconds (each new car and property), and rebuilding on every
    /// frame held each frame, and the newest values shown with it, for the whole build
    /// (produce → screen 300–600 ms in the first seconds of 100k cars). A new time or store is
    /// built at once, so a scrub always shows the tree at its time.
    #[must_use]
    pub fn refresh(&mut self, id: StoreId, store: &Store, at: i64) -> Option<Duration> {
        let key = TreeKey {
            store: id,
            structure_gen: store.structure_gen(),
            at,
        };
        if self.current.as_ref().is_some_and(|(k, _)| *k == key) {
            return None;
        }
        if let (Some((k, _)), Some((ended, took))) = (&self.current, self.last_build)
            && (k.store, k.at) == (id, at)
            && took >= SLOW_BUILD
        {
            let wait = (took * SETTLE).saturating_sub(ended.elapsed());
            if !wait.is_zero() {
                return Some(wait);
            }
        }
        // Another store's generations may repeat this one's: its shapes must not be reused.
        if self.shapes_of != Some(id) {
            self.shapes = TreeCache::default();
            self.shapes_of = Some(id);
        }
        let started = Instant::now();
        let tree = self.shapes.tree_at(store, at, key.structure_gen);
        let ended = Instant::now();
        self.last_build = Some((ended, ended - started));
        self.current = Some((key, tree));
        None
    }

    /// The tree of the last refresh.
    #[must_use]
    pub fn tree(&self) -> Option<&Tree> {
        self.current.as_ref().map(|(_, t)| t)
    }
}

/// What an open diff was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DiffKey {
    store: StoreId,
    data_gen: u64,
    a: i64,
    b: i64,
    /// The selection it was scoped to.
    scope: Option<String>,
}

/// The open A → B diff. A diff just opened has no key yet, so it is computed on the next
/// refresh.
#[derive(Debug, Default)]
pub struct DiffCache {
    key: Option<DiffKey>,
    pub diff: Diff,
    /// The selected asset's schema change between A and B, when its records at the two times
    /// were written with different schemas: computed with the diff, not per frame.
    pub schema: Option<SchemaChange>,
}

impl TwinApp {
    /// Recomputes the open diff when its inputs (markers, scope, data) changed; closes it when
    /// a marker is missing.
    pub(super) fn refresh_diff(&mut self) {
        let (Some(a), Some(b)) = (self.timeline.marker_a, self.timeline.marker_b) else {
            self.diff = None;
            return;
        };
        // Diffs are taken on the live store, whatever the cursor shows.
        let store = self.stores.live();
        let key = DiffKey {
            store: self.stores.live_id(),
            data_gen: store.data_gen(),
            a,
            b,
            scope: self.selected.clone(),
        };
        if self.diff.as_ref().and_then(|d| d.key.as_ref()) == Some(&key) {
            return;
        }
        let diff = crate::twin::diff::diff(store, a, b, key.scope.as_deref());
        let schema = key.scope.as_deref().and_then(|asset| {
            schema_change(
                store,
                &self.sources.brokers,
                &self.opts.config.topics.telemetry,
                asset,
                a.min(b),
                a.max(b),
            )
        });
        self.diff = Some(DiffCache {
            key: Some(key),
            diff,
            schema,
        });
    }

    /// Brings the caches behind this frame's [`View`] up to date (tree, diff), as of the
    /// clock the logic set.
    pub(super) fn refresh_context(&mut self) {
        if self.diff.is_some() {
            self.refresh_diff();
        }
        let (store, id) = self.stores.pick(self.clock.use_reread);
        self.tree_due = self.tree.refresh(id, store, self.clock.query_at());
    }

    /// The per-frame context, read by every panel. `alarms` are the store's alarms at the
    /// query time (computed once, as the status bar and the alarm list both need them).
    pub(super) fn view<'a>(&'a self, alarms: &'a [AlarmView]) -> View<'a> {
        let clock = &self.clock;
        let (store, _) = self.stores.pick(clock.use_reread);
        View {
            store,
            display_at: clock.display_at(),
            query_at: clock.query_at(),
            live: clock.live,
            now: clock.now,
            head: clock.head,
            selected: self.selected.as_deref(),
            selected_asset: self.selected.as_deref().and_then(|s| store.asset_by_id(s)),
            alarms,
            ui: &self.opts.config.ui,
            units: &self.opts.config.mapping.units,
            topics: &self.topics,
            brokers: &self.sources.brokers,
            can_write: self.sources.write.is_some(),
            commands: &self.opts.config.commands,
            sent: &self.sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::stores::StoreKind;
    use crate::testkit::records::{LogOffsets, num, telemetry};
    use crate::twin::decode::Role;

    const LIVE: StoreId = StoreId {
        kind: StoreKind::Live,
        n: 0,
    };

    fn add(store: &mut Store, keys: &mut LogOffsets, asset: &str) {
        let o = keys.next(Role::Telemetry, 0, 0);
        store.apply(telemetry(o, asset, 1_000, vec![num("x", 1.0)]));
    }

    fn shows(view: &TreeView, asset: &str) -> bool {
        view.tree().is_some_and(|t| t.find(asset).is_some())
    }

    #[test]
    fn a_slow_tree_waits_for_structure_changes_but_never_for_a_new_time_or_store() {
        let mut store = Store::new("/", 0);
        let mut keys = LogOffsets::new(1);
        add(&mut store, &mut keys, "fleet/car-1");
        let mut view = TreeView::default();
        assert_eq!(view.refresh(LIVE, &store, i64::MAX), None);
        assert!(shows(&view, "fleet/car-1"));

        // A fast build: a structure change is built at once.
        add(&mut store, &mut keys, "fleet/car-2");
        assert_eq!(view.refresh(LIVE, &store, i64::MAX), None);
        assert!(shows(&view, "fleet/car-2"));

        // As if the last build had taken 100 ms just now: the next change waits ~400 ms.
        view.last_build = Some((Instant::now(), Duration::from_millis(100)));
        add(&mut store, &mut keys, "fleet/car-3");
        let wait = view.refresh(LIVE, &store, i64::MAX);
        assert!(
            wait.is_some_and(|w| w > Duration::from_millis(300) && w <= Duration::from_millis(400)),
            "{wait:?}"
        );
        assert!(!shows(&view, "fleet/car-3"), "built before its wait");

        // A new time is built at once, whatever the last build took.
        assert_eq!(view.refresh(LIVE, &store, 2_000), None);
        assert!(shows(&view, "fleet/car-3"));

        // So is another store.
        view.last_build = Some((Instant::now(), Duration::from_millis(100)));
        add(&mut store, &mut keys, "fleet/car-4");
        let other = StoreId {
            kind: StoreKind::Reread,
            n: 1,
        };
        assert_eq!(view.refresh(other, &store, 2_000), None);
        assert!(shows(&view, "fleet/car-4"));

        // Once the wait is over, the change is built.
        view.last_build = Some((
            Instant::now() - Duration::from_secs(1),
            Duration::from_millis(100),
        ));
        add(&mut store, &mut keys, "fleet/car-5");
        assert_eq!(view.refresh(other, &store, 2_000), None);
        assert!(shows(&view, "fleet/car-5"));
    }
}

//! The asset tree as it was at a time T, with each subtree's worst alarm rolled up.
//!
//! Built from the store on demand, so that the tree always matches the cursor: assets added
//! later are absent, removed ones gone. [`TreeCache`] keeps the shape while scrubbing through
//! times where it does not change.

use std::collections::HashSet;
use std::sync::Arc;

// Building hashes every node's path; foldhash is several times cheaper than SipHash for that.
use foldhash::HashMap;

use super::alarms::{AlarmState, Priority};
use super::store::{AssetIdx, Store};

/// Parent chains deeper than this are treated as cycles and cut.
const MAX_DEPTH: usize = 64;

/// A node: an asset, or a group implied by the ids (such as `plant-a/line-2`).
#[derive(Debug, Clone)]
pub struct Node {
    /// The asset id, or the group path.
    pub path: Arc<str>,
    pub label: String,
    pub asset: Option<AssetIdx>,
    pub kind: Option<String>,
    pub parent: Option<u32>,
    pub children: Vec<u32>,
    pub depth: u16,
}

/// The tree at one time.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// Shared with [`TreeCache`] and earlier trees of the same shape: a scrub copies the
    /// pointers, not the nodes.
    pub nodes: Arc<Vec<Node>>,
    pub roots: Arc<Vec<u32>>,
    by_path: Arc<HashMap<Arc<str>, u32>>,
    /// Per node: the worst priority of any non-normal alarm in its subtree, and whether that
    /// alarm still needs acknowledgement.
    alarms: Vec<Option<(Priority, bool)>>,
}

/// A tree's shape while it is being built.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    by_path: HashMap<Arc<str>, u32>,
}

impl Tree {
    /// Builds the tree of the assets that exist at `t`.
    #[must_use]
    pub fn build(store: &Store, t: i64) -> Tree {
        let mut tree = Self::shape(store, t);
        tree.roll_up_alarms(store, t);
        tree
    }

    /// The tree at `t` without alarms: what [`TreeCache`] keeps.
    fn shape(store: &Store, t: i64) -> Tree {
        let mut shape = Vec::new();
        store.shape_at(t, &mut shape);
        Self::shape_from(store, t, &shape)
    }

    /// [`Self::shape`] given [`Store::shape_at`]`(t)`, which says which assets exist.
    fn shape_from(store: &Store, t: i64, shape: &[u32]) -> Tree {
        let mut tree = Builder::default();
        let exists = |path: &str| {
            store
                .asset_by_id(path)
                .filter(|&a| shape.get(a as usize).is_some_and(|&s| s != 0))
        };
        for (a, _) in shape.iter().enumerate().filter(|(_, s)| **s != 0) {
            tree.node_for(store, t, &exists, &store.assets()[a].id, 0);
        }
        tree.sort_and_depth();
        Tree {
            nodes: Arc::new(tree.nodes),
            roots: Arc::new(tree.roots),
            by_path: Arc::new(tree.by_path),
            alarms: Vec::new(),
        }
    }
}

impl Builder {
    /// The node of `path`, created with its ancestors if new. Parent paths are borrowed from
    /// the store (and asset nodes share the store's id), so a build allocates little more
    /// than the nodes themselves.
    fn node_for<'s>(
        &mut self,
        store: &'s Store,
        t: i64,
        exists: &impl Fn(&str) -> Option<AssetIdx>,
        path: &'s str,
        depth: usize,
    ) -> u32 {
        if let Some(&n) = self.by_path.get(path) {
            return n;
        }
        let asset = exists(path);
        let sep = store.separator();
        let (parent_path, label, kind, shared) = match asset {
            Some(a) => {
                let asset = &store.assets()[a as usize];
                let def = asset.def_at(t).flatten();
                let label = def
                    .and_then(|d| d.name.clone())
                    .unwrap_or_else(|| last_segment(path, sep).to_owned());
                (
                    asset.parent_at(t),
                    label,
                    def.and_then(|d| d.kind.clone()),
                    asset.id.clone(),
                )
            }
            None => (
                path.rfind(sep).filter(|&i| i > 0).map(|i| &path[..i]),
                last_segment(path, sep).to_owned(),
                None,
                Arc::from(path),
            ),
        };
        let idx = self.nodes.len() as u32;
        let path = shared;
        self.nodes.push(Node {
            path: path.clone(),
            label,
            asset,
            kind,
            parent: None,
            children: Vec::new(),
            depth: 0,
        });
        self.by_path.insert(path.clone(), idx);
        let parent = parent_path
            .filter(|p| depth < MAX_DEPTH && *p != path.as_ref())
            .map(|p| self.node_for(store, t, exists, p, depth + 1));
        match parent {
            Some(p) if !self.is_ancestor(idx, p) => {
                self.nodes[idx as usize].parent = Some(p);
                self.nodes[p as usize].children.push(idx);
            }
            _ => self.roots.push(idx),
        }
        idx
    }

    fn is_ancestor(&self, candidate: u32, mut n: u32) -> bool {
        for _ in 0..=MAX_DEPTH {
            if n == candidate {
                return true;
            }
            match self.nodes[n as usize].parent {
                Some(p) => n = p,
                None => return false,
            }
        }
        true
    }

    fn sort_and_depth(&mut self) {
        let labels: Vec<String> = self.nodes.iter().map(|n| n.label.to_lowercase()).collect();
        let by_label = |a: &u32, b: &u32| natural_cmp(&labels[*a as usize], &labels[*b as usize]);
        self.roots.sort_by(by_label);
        for n in &mut self.nodes {
            n.children.sort_by(by_label);
        }
        let mut stack: Vec<(u32, u16)> = self.roots.iter().map(|&r| (r, 0)).collect();
        while let Some((n, d)) = stack.pop() {
            self.nodes[n as usize].depth = d;
            stack.extend(self.nodes[n as usize].children.iter().map(|&c| (c, d + 1)));
        }
    }
}

impl Tree {
    fn roll_up_alarms(&mut self, store: &Store, t: i64) {
        self.alarms.clear();
        self.alarms.resize(self.nodes.len(), None);
        for asset in store.assets() {
            for &al in asset.alarm_ids() {
                let Some(v) = store.alarm_at(al, t) else {
                    continue;
                };
                if matches!(v.status.state, AlarmState::Normal | AlarmState::Shelved) {
                    continue;
                }
                let unacked = matches!(
                    v.status.state,
                    AlarmState::UnackActive | AlarmState::UnackRtn
                );
                let mut n = self.by_path.get(asset.id.as_ref()).copied();
                let mut guard = 0;
                while let Some(i) = n {
                    let Some(slot) = self.alarms.get_mut(i as usize) else {
                        break;
                    };
                    match slot {
                        Some((w, u)) if *w == v.priority => *u |= unacked,
                        Some((w, _)) if *w > v.priority => {}
                        _ => *slot = Some((v.priority, unacked)),
                    }
                    n = self.nodes[i as usize].parent;
                    guard += 1;
                    if guard > MAX_DEPTH {
                        break;
                    }
                }
            }
        }
    }

    /// The worst priority of any non-normal alarm in the subtree of node `n`.
    #[must_use]
    pub fn worst(&self, n: u32) -> Option<Priority> {
        self.alarms
            .get(n as usize)
            .copied()
            .flatten()
            .map(|(p, _)| p)
    }

    /// Whether the worst alarm in the subtree of node `n` still needs acknowledgement.
    #[must_use]
    pub fn unacked(&self, n: u32) -> bool {
        self.alarms
            .get(n as usize)
            .copied()
            .flatten()
            .is_some_and(|(_, u)| u)
    }

    /// The node of an asset id or group path.
    #[must_use]
    pub fn find(&self, path: &str) -> Option<u32> {
        self.by_path.get(path).copied()
    }

    /// Rows to show, in order: roots and the children of expanded nodes. With a filter, every
    /// matching node and its ancestors are shown, expanded.
    #[must_use]
    pub fn visible_rows(&self, expanded: &HashSet<Arc<str>>, filter: &str) -> Vec<u32> {
        let filter = filter.trim().to_lowercase();
        let keep: Option<HashSet<u32>> = (!filter.is_empty()).then(|| {
            let mut keep = HashSet::new();
            for (i, n) in self.nodes.iter().enumerate() {
                if n.label.to_lowercase().contains(&filter)
                    || n.path.to_lowercase().contains(&filter)
                {
                    let mut cur = Some(i as u32);
                    while let Some(c) = cur {
                        if !keep.insert(c) {
                            break;
                        }
                        cur = self.nodes[c as usize].parent;
                    }
                }
            }
            keep
        });
        let mut out = Vec::new();
        let mut stack: Vec<u32> = self.roots.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            if keep.as_ref().is_some_and(|k| !k.contains(&n)) {
                continue;
            }
            out.push(n);
            let node = &self.nodes[n as usize];
            if keep.is_some() || expanded.contains(&node.path) {
                stack.extend(node.children.iter().rev());
            }
        }
        out
    }

    /// The node and its ancestors' paths, for expanding the tree down to a selection.
    #[must_use]
    pub fn ancestors(&self, n: u32) -> Vec<Arc<str>> {
        let mut out = Vec::new();
        let mut cur = self.nodes.get(n as usize).and_then(|x| x.parent);
        while let Some(c) = cur {
            out.push(self.nodes[c as usize].path.clone());
            cur = self.nodes[c as usize].parent;
            if out.len() > MAX_DEPTH {
                break;
            }
        }
        out
    }

    /// Number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there are no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The tree's shape (nodes, labels, order) from the last build, reused while the store's
/// structure and the shape at the cursor ([`Store::shape_at`]) stay the same: scrubbing
/// through a fleet whose assets do not change then costs a copy and the alarm roll-up, not a
/// rebuild. Alarms are always rolled up afresh for the time asked.
#[derive(Debug, Default)]
pub struct TreeCache {
    key: Option<u64>,
    shape: Vec<u32>,
    scratch: Vec<u32>,
    tree: Tree,
}

impl TreeCache {
    /// The tree at `t`, as [`Tree::build`] gives it. `generation` must change whenever the
    /// store's structure may have changed ([`Store::structure_gen`], or a different store).
    pub fn tree_at(&mut self, store: &Store, t: i64, generation: u64) -> Tree {
        store.shape_at(t, &mut self.scratch);
        if self.key != Some(generation) || self.scratch != self.shape {
            self.tree = Tree::shape_from(store, t, &self.scratch);
            self.key = Some(generation);
            std::mem::swap(&mut self.shape, &mut self.scratch);
        }
        let mut tree = self.tree.clone();
        tree.roll_up_alarms(store, t);
        tree
    }
}

fn last_segment<'a>(path: &'a str, sep: &str) -> &'a str {
    path.rsplit(sep).next().unwrap_or(path)
}

/// Orders `press-2` before `press-10`, as operators expect.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|b| b.is_ascii_digit()).count();
                let ny = y.iter().take_while(|b| b.is_ascii_digit()).count();
                let (dx, dy) = (trim_zeros(&x[..nx]), trim_zeros(&y[..ny]));
                let ord = dx.len().cmp(&dy.len()).then(dx.cmp(dy));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|&&b| b == b'0').count();
    &d[z.min(d.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::super::alarms::Priority;
    use super::super::decode::{AlarmAction, AssetDef, Decoded, Role, Value};
    use super::*;
    use crate::testkit::records::{alarm, logged, origin};

    fn apply(s: &mut Store, o: i64, body: Decoded) {
        s.apply(logged(o, body));
    }

    /// Record `o` of the log: `asset`'s `F` alarm of `priority` is raised at `ts`.
    fn raise(s: &mut Store, o: i64, asset: &str, ts: i64, priority: Priority) {
        let at = origin(Role::Events, 0, o, 0);
        s.apply(alarm(
            at,
            asset,
            ts,
            "F",
            priority,
            AlarmAction::Active,
            None,
        ));
    }

    fn tele(asset: &str, ts: i64) -> Decoded {
        Decoded::Telemetry {
            asset: asset.into(),
            parent: None,
            ts,
            props: vec![("t".into(), Value::Num(1.0))],
        }
    }

    #[test]
    fn groups_are_implied_by_ids_and_sorted_naturally() {
        let mut s = Store::new("/", 0);
        for (i, id) in ["a/b/m10", "a/b/m2", "a/c/m1", "z"].iter().enumerate() {
            apply(&mut s, i as i64, tele(id, 5));
        }
        let t = Tree::build(&s, 10);
        let labels = |ns: &[u32]| {
            ns.iter()
                .map(|&n| t.nodes[n as usize].label.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(&t.roots), ["a", "z"]);
        let b = t.find("a/b").unwrap();
        assert_eq!(labels(&t.nodes[b as usize].children), ["m2", "m10"]);
        assert!(t.nodes[b as usize].asset.is_none());
        let rows = t.visible_rows(&HashSet::new(), "");
        assert_eq!(rows.len(), 2);
        let rows = t.visible_rows(&HashSet::new(), "M10");
        assert_eq!(labels(&rows), ["a", "b", "m10"]);
        assert!(Tree::build(&s, 4).is_empty());
    }

    #[test]
    fn parent_override_and_alarm_rollup() {
        let mut s = Store::new("/", 0);
        apply(&mut s, 0, tele("x/m", 1));
        apply(
            &mut s,
            1,
            Decoded::Asset {
                asset: "x/m".into(),
                ts: 2,
                def: Some(AssetDef {
                    name: Some("Mill".into()),
                    kind: Some("machine".into()),
                    parent: Some("site".into()),
                    attributes: vec![],
                }),
            },
        );
        raise(&mut s, 2, "x/m", 3, Priority::Critical);
        let before = Tree::build(&s, 1);
        assert!(before.find("x").is_some() && before.find("site").is_none());
        let t = Tree::build(&s, 3);
        let m = t.find("x/m").unwrap();
        assert_eq!(t.nodes[m as usize].label, "Mill");
        let site = t.find("site").unwrap();
        assert_eq!(t.nodes[m as usize].parent, Some(site));
        assert_eq!(t.worst(site), Some(Priority::Critical));
        assert!(t.unacked(site));
        assert_eq!(Tree::build(&s, 2).worst(site), None);
    }

    fn fingerprint(t: &Tree) -> String {
        format!("{:?} {:?} {:?}", t.nodes, t.roots, t.alarms)
    }

    #[test]
    fn the_cached_tree_equals_a_fresh_build_at_every_time() {
        let mut s = Store::new("/", 0);
        apply(&mut s, 0, tele("p/a", 10));
        apply(&mut s, 1, tele("p/b", 20));
        let def = |name: &str, parent: Option<&str>| AssetDef {
            name: Some(name.into()),
            kind: None,
            parent: parent.map(Into::into),
            attributes: vec![],
        };
        let asset = |a: &str, ts, d| Decoded::Asset {
            asset: a.into(),
            ts,
            def: d,
        };
        apply(&mut s, 2, asset("p/a", 30, Some(def("Alpha", None))));
        apply(&mut s, 3, asset("p/a", 40, Some(def("Alpha", Some("q")))));
        apply(&mut s, 4, asset("p/b", 50, None));
        raise(&mut s, 5, "p/a", 35, Priority::High);
        let mut cache = TreeCache::default();
        let generation = s.structure_gen();
        // Forwards, backwards and repeated, so both hits and misses are compared.
        let times = [
            0, 10, 15, 20, 30, 34, 35, 36, 40, 45, 50, 60, 35, 15, 60, 60, 0,
        ];
        let mut shapes = std::collections::HashSet::new();
        for t in times {
            let cached = cache.tree_at(&s, t, generation);
            assert_eq!(
                fingerprint(&cached),
                fingerprint(&Tree::build(&s, t)),
                "t={t}"
            );
            shapes.insert(fingerprint(&Tree::shape(&s, t)));
        }
        // The times cover several shapes, and alarms that differ within one shape.
        assert!(shapes.len() >= 5, "{}", shapes.len());
        // 34 and 36 share a shape; the alarm raised at 35 shows only at 36.
        let worst = |t: &Tree| t.worst(t.find("p").unwrap());
        assert_eq!(worst(&cache.tree_at(&s, 34, generation)), None);
        assert_eq!(
            worst(&cache.tree_at(&s, 36, generation)),
            Some(Priority::High)
        );
    }
}

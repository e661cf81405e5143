//! The asset tree as it was at a time T, with each subtree's worst alarm rolled up.
//!
//! Built from the store on demand, so that the tree always matches the cursor: assets added
//! later are absent, removed ones gone. [`TreeCache`] keeps the shape while scrubbing through
//! times where it does not change, and, while the store's structure does not change, what a
//! build needs that does not depend on T (`Paths`: every path a node can have, numbered,
//! with its parents and the natural order of its label), so that a build at a new shape (a
//! fleet whose assets appear over time changes shape at nearly every T) walks integers instead
//! of hashing, allocating and comparing strings.

use std::collections::HashSet;
use std::sync::Arc;

// Paths are hashed once per structure generation; foldhash is several times cheaper than
// SipHash for that.
use foldhash::HashMap;

use super::alarms::{AlarmState, Priority};
use super::store::{AssetIdx, Store};

/// Parent chains deeper than this are treated as cycles and cut.
const MAX_DEPTH: usize = 64;

/// No path, node or rank: the `u32` tables' `None`, so that they stay 4 bytes an entry.
const NONE: u32 = u32::MAX;

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

impl Node {
    /// A node not yet placed in the tree: no parent, no children, depth set by the sort.
    fn unlinked(
        path: Arc<str>,
        label: String,
        asset: Option<AssetIdx>,
        kind: Option<String>,
    ) -> Node {
        Node {
            path,
            label,
            asset,
            kind,
            parent: None,
            children: Vec::new(),
            depth: 0,
        }
    }
}

/// The tree at one time.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// Shared with [`TreeCache`] and earlier trees of the same shape: a scrub copies the
    /// pointers, not the nodes.
    pub nodes: Arc<Vec<Node>>,
    pub roots: Arc<Vec<u32>>,
    /// The numbered paths of the store's structure the tree was built from, shared by every
    /// tree of that structure.
    paths: Arc<Paths>,
    /// Per path id (those of `paths`, then those of `extra`): its node, or [`NONE`]. Asset `a`
    /// has path id `a`, so the alarm roll-up finds an asset's node without hashing its id.
    node_of: Arc<Vec<u32>>,
    /// Paths this build met that `paths` does not number (a definition's parent that is
    /// neither an asset nor a group of any asset), with their ids after `paths`' own.
    extra: Arc<HashMap<Arc<str>, u32>>,
    /// Per node: the worst priority of any non-normal alarm in its subtree, and whether that
    /// alarm still needs acknowledgement.
    alarms: Vec<Option<(Priority, bool)>>,
}

/// Every path a node can have in one structure generation of a store, numbered, with what a
/// build needs of it that does not depend on T: computed once per generation (hashing every
/// id, sorting every label) instead of once per build.
///
/// Path `a` is asset `a`'s id; after the assets come the groups: every implied parent and,
/// recursively, every path prefix before a separator. Only a `twin.assets` definition's
/// `parent` may name a path outside these, which a build then numbers for itself.
#[derive(Debug, Default)]
struct Paths {
    /// Copies of the store's ids, made one after the other: a build clones one per node, and
    /// the reference counts then sit together in memory instead of all over the store's.
    path: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
    /// Per asset: the path id of its implied parent ([`super::store::Asset::implied_parent`]),
    /// or [`NONE`].
    implied: Vec<u32>,
    /// Per path: the path before its last separator (its parent as a group), or [`NONE`].
    prefix: Vec<u32>,
    /// Per path: where its last segment (its label, unless a definition names it) starts.
    label_at: Vec<u32>,
    /// Per path: the rank of its last segment in [`natural_cmp`] order of lowercased labels;
    /// equal labels share a rank. Sorting siblings by rank is sorting them by label.
    rank: Vec<u32>,
    /// Per asset: whether it has any `twin.assets` definition. Those without one have their
    /// implied parent and default label at every T, and a build never reads them in the store.
    defined: Vec<bool>,
    /// The assets that have alarms, for the roll-up.
    alarmed: Vec<AssetIdx>,
    separator: Box<str>,
}

impl Paths {
    fn new(store: &Store) -> Paths {
        let assets = store.assets();
        let sep = store.separator();
        let mut p = Paths {
            path: Vec::with_capacity(assets.len() + assets.len() / 64 + 1),
            ids: HashMap::with_capacity_and_hasher(assets.len(), Default::default()),
            implied: Vec::with_capacity(assets.len()),
            separator: sep.into(),
            ..Paths::default()
        };
        for asset in assets {
            p.intern(&asset.id);
        }
        for (a, asset) in assets.iter().enumerate() {
            let implied = asset.implied_parent.as_ref().map_or(NONE, |s| p.intern(s));
            p.implied.push(implied);
            p.defined.push(asset.def_at(i64::MAX).is_some());
            if !asset.alarm_ids().is_empty() {
                p.alarmed.push(a as AssetIdx);
            }
        }
        // Groups are added while walking, so their own prefixes are numbered too.
        let mut i = 0;
        while i < p.path.len() {
            let path = p.path[i].clone();
            let label_at = last_segment(&path, sep).as_ptr() as usize - path.as_ptr() as usize;
            p.label_at.push(label_at as u32);
            let prefix = match rfind(&path, sep).filter(|&j| j > 0) {
                // Most assets' implied parent is their prefix: no need to hash it again.
                Some(j)
                    if p.implied.get(i).is_some_and(|&q| {
                        q != NONE
                            && p.path[q as usize].len() == j
                            && path.starts_with(&*p.path[q as usize])
                    }) =>
                {
                    p.implied[i]
                }
                Some(j) => p.intern(&path[..j]),
                None => NONE,
            };
            p.prefix.push(prefix);
            i += 1;
        }
        p.rank = ranks(&p);
        p
    }

    /// Whether these are still the paths of `store`, as [`Self::new`] would make them: the
    /// same separator, asset ids and implied parents, the same assets with definitions and
    /// with alarms. A structure generation changes for much that leaves them so (a property
    /// or alarm added, an earlier record), and checking costs far less than making them.
    fn still_fit(&self, store: &Store) -> bool {
        let assets = store.assets();
        if assets.len() != self.implied.len() || *self.separator != *store.separator() {
            return false;
        }
        let mut alarmed = 0;
        for (a, asset) in assets.iter().enumerate() {
            let implied = match self.implied[a] {
                NONE => None,
                q => Some(&*self.path[q as usize]),
            };
            if *self.path[a] != *asset.id
                || implied != asset.implied_parent.as_deref()
                || self.defined[a] != asset.def_at(i64::MAX).is_some()
            {
                return false;
            }
            alarmed += usize::from(!asset.alarm_ids().is_empty());
        }
        alarmed == self.alarmed.len()
            && self
                .alarmed
                .iter()
                .all(|&a| store.asset(a).is_some_and(|x| !x.alarm_ids().is_empty()))
    }

    /// The id of `path`, numbered if new.
    fn intern(&mut self, path: &str) -> u32 {
        if let Some(&i) = self.ids.get(path) {
            return i;
        }
        let i = self.path.len() as u32;
        let path: Arc<str> = Arc::from(path);
        self.path.push(path.clone());
        self.ids.insert(path, i);
        i
    }

    /// The default label of path `p`: its last segment.
    fn label(&self, p: usize) -> &str {
        let at = self.label_at.get(p).map_or(0, |&i| i as usize);
        self.path[p].get(at..).unwrap_or_default()
    }
}

/// Per path, the rank of its label (last segment) among all the paths' labels in the order
/// siblings are sorted in: [`natural_cmp`] of the lowercased labels, ties sharing a rank.
fn ranks(paths: &Paths) -> Vec<u32> {
    let mut keys = Vec::new();
    let mut ends = Vec::with_capacity(paths.path.len());
    for p in 0..paths.path.len() {
        natural_key(paths.label(p), &mut keys);
        ends.push(keys.len());
    }
    let key = |i: u32| {
        let i = i as usize;
        &keys[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
    };
    // Sorted by the first 16 bytes as an integer (zero-padded: a shorter key still sorts
    // first unless the longer one goes on with zeros, and then the whole keys decide), so
    // that most comparisons are one integer comparison rather than a byte-string one.
    let head = |i: u32| {
        let k = key(i);
        let mut b = [0u8; 16];
        let n = k.len().min(16);
        b[..n].copy_from_slice(&k[..n]);
        u128::from_be_bytes(b)
    };
    let mut order: Vec<(u128, u32)> = (0..paths.path.len() as u32).map(|i| (head(i), i)).collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| key(a.1).cmp(key(b.1))));
    let mut rank = vec![0; paths.path.len()];
    let mut r = 0;
    for (k, &(h, w)) in order.iter().enumerate() {
        if k > 0 && (order[k - 1].0 != h || key(order[k - 1].1) != key(w)) {
            r += 1;
        }
        rank[w as usize] = r;
    }
    rank
}

/// Appends to `out` a key of `label` whose byte order is [`natural_cmp`]'s order of the
/// lowercased label: bytes as they are, except that a run of digits becomes `'0'`, its length
/// without leading zeros, then those digits. The length is one byte below 255, else 255 and
/// four bytes big-endian, so that a longer number sorts after a shorter one and every run
/// ends where the key says; a digit run still sorts against other bytes as a digit does.
fn natural_key(label: &str, out: &mut Vec<u8>) {
    let lower;
    let bytes = if label.is_ascii() {
        label.as_bytes()
    } else {
        lower = label.to_lowercase();
        lower.as_bytes()
    };
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_digit() {
            let n = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            let digits = trim_zeros(&bytes[i..i + n]);
            out.push(b'0');
            match u8::try_from(digits.len()) {
                Ok(len) if len < u8::MAX => out.push(len),
                _ => {
                    out.push(u8::MAX);
                    let len = u32::try_from(digits.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&len.to_be_bytes());
                }
            }
            out.extend_from_slice(digits);
            i += n;
        } else {
            out.push(b.to_ascii_lowercase());
            i += 1;
        }
    }
}

impl Tree {
    /// Builds the tree of the assets that exist at `t`.
    #[must_use]
    pub fn build(store: &Store, t: i64) -> Tree {
        let mut shape = Vec::new();
        store.shape_at(t, &mut shape);
        let mut tree = Self::shape_from(&Arc::new(Paths::new(store)), store, t, &shape);
        tree.roll_up_alarms(store, t);
        tree
    }

    /// The tree at `t` without alarms: what [`TreeCache`] keeps.
    #[cfg(test)]
    fn shape(store: &Store, t: i64) -> Tree {
        let mut shape = Vec::new();
        store.shape_at(t, &mut shape);
        Self::shape_from(&Arc::new(Paths::new(store)), store, t, &shape)
    }

    /// The tree without alarms given [`Store::shape_at`]`(t)`, which says which assets exist,
    /// and the store's [`Paths`].
    fn shape_from(paths: &Arc<Paths>, store: &Store, t: i64, shape: &[u32]) -> Tree {
        let mut b = Builder {
            store,
            t,
            shape,
            paths,
            extra: HashMap::default(),
            extra_path: Vec::new(),
            node_of: vec![NONE; paths.path.len()],
            // At most every asset that exists and every group.
            nodes: Vec::with_capacity(
                shape.iter().filter(|&&s| s != 0).count() + paths.path.len() - paths.implied.len(),
            ),
            roots: Vec::new(),
            rank: Vec::new(),
        };
        for (a, _) in shape.iter().enumerate().filter(|(_, s)| **s != 0) {
            b.node_for(a as u32, 0);
        }
        b.sort_and_depth();
        Tree {
            nodes: Arc::new(b.nodes),
            roots: Arc::new(b.roots),
            paths: paths.clone(),
            node_of: Arc::new(b.node_of),
            extra: Arc::new(b.extra),
            alarms: Vec::new(),
        }
    }
}

/// A tree's shape while it is being built: nodes are made in the order [`Tree::build`] always
/// made them (each existing asset in store order, then its missing ancestors upwards), found
/// by path id rather than by path.
struct Builder<'a> {
    store: &'a Store,
    t: i64,
    shape: &'a [u32],
    paths: &'a Paths,
    /// Paths not in `paths` (see [`Tree::extra`]), numbered after them.
    extra: HashMap<Arc<str>, u32>,
    extra_path: Vec<Arc<str>>,
    node_of: Vec<u32>,
    nodes: Vec<Node>,
    roots: Vec<u32>,
    /// Per node: its label's rank ([`Paths::rank`]), or [`NONE`] for a label that has none
    /// (a definition's name, or the last segment of an extra path).
    rank: Vec<u32>,
}

impl Builder<'_> {
    /// The id of `path`, numbered as an extra path if `paths` does not know it.
    fn path_id(&mut self, path: &str) -> u32 {
        if let Some(&i) = self.paths.ids.get(path).or_else(|| self.extra.get(path)) {
            return i;
        }
        let i = (self.paths.path.len() + self.extra_path.len()) as u32;
        let path: Arc<str> = Arc::from(path);
        self.extra_path.push(path.clone());
        self.extra.insert(path, i);
        self.node_of.push(NONE);
        i
    }

    fn path(&self, p: u32) -> &Arc<str> {
        let p = p as usize;
        match self.paths.path.get(p) {
            Some(path) => path,
            None => &self.extra_path[p - self.paths.path.len()],
        }
    }

    /// The node of path `p`, created with its ancestors if new.
    fn node_for(&mut self, p: u32, depth: usize) -> u32 {
        let n = self.node_of[p as usize];
        if n != NONE {
            return n;
        }
        let (t, paths, pi) = (self.t, self.paths, p as usize);
        let exists = pi < paths.implied.len() && self.shape.get(pi).is_some_and(|&s| s != 0);
        let static_rank = paths.rank.get(pi).copied().unwrap_or(NONE);
        let (path, default_label) = match paths.path.get(pi) {
            Some(path) => (path.clone(), paths.label(pi)),
            None => {
                let path = self.path(p).clone();
                let label = last_segment(&path, self.store.separator()).to_owned();
                let parent = rfind(&path, self.store.separator())
                    .filter(|&i| i > 0)
                    .map_or(NONE, |i| self.path_id(&path[..i]));
                return self.attach(p, depth, path, (label, NONE, None, None), parent);
            }
        };
        // An asset without definitions: no need to read it in the store.
        if exists && !paths.defined.get(pi).copied().unwrap_or(true) {
            let node = (default_label.to_owned(), static_rank, None, Some(p));
            return self.attach(p, depth, path, node, paths.implied[pi]);
        }
        let def = match self.store.assets().get(pi).filter(|_| exists) {
            Some(asset) => asset.def_at(t).flatten(),
            None => {
                let node = (default_label.to_owned(), static_rank, None, None);
                return self.attach(p, depth, path, node, paths.prefix[pi]);
            }
        };
        let parent = match def.and_then(|d| d.parent.as_deref()) {
            Some(parent) => self.path_id(parent),
            None => paths.implied[pi],
        };
        let (label, rank) = match def.and_then(|d| d.name.clone()) {
            Some(name) => (name, NONE),
            None => (default_label.to_owned(), static_rank),
        };
        let kind = def.and_then(|d| d.kind.clone());
        self.attach(p, depth, path, (label, rank, kind, Some(p)), parent)
    }

    /// Makes the node of path `p` with `(label, rank, kind, asset)`, and its parent node (of
    /// path `parent`, unless that is [`NONE`]) with its ancestors if new.
    fn attach(
        &mut self,
        p: u32,
        depth: usize,
        path: Arc<str>,
        (label, rank, kind, asset): (String, u32, Option<String>, Option<AssetIdx>),
        parent: u32,
    ) -> u32 {
        let idx = self.nodes.len() as u32;
        self.nodes.push(Node::unlinked(path, label, asset, kind));
        self.rank.push(rank);
        self.node_of[p as usize] = idx;
        let parent = Some(parent)
            .filter(|&q| q != NONE && depth < MAX_DEPTH && q != p)
            .map(|q| self.node_for(q, depth + 1));
        link(&mut self.nodes, &mut self.roots, idx, parent);
        idx
    }

    /// Sorts every node's children and the roots by label, as [`natural_cmp`] of the
    /// lowercased labels (stable: equal labels keep the order they were made in), and sets
    /// depths.
    fn sort_and_depth(&mut self) {
        let mut roots = std::mem::take(&mut self.roots);
        self.sort(&mut roots);
        self.roots = roots;
        for n in 0..self.nodes.len() {
            if self.nodes[n].children.len() > 1 {
                let mut children = std::mem::take(&mut self.nodes[n].children);
                self.sort(&mut children);
                self.nodes[n].children = children;
            }
        }
        let mut stack: Vec<(u32, u16)> = self.roots.iter().map(|&r| (r, 0)).collect();
        while let Some((n, d)) = stack.pop() {
            self.nodes[n as usize].depth = d;
            stack.extend(self.nodes[n as usize].children.iter().map(|&c| (c, d + 1)));
        }
    }

    /// Sorts sibling nodes by their ranks; siblings of which one has no rank are sorted by
    /// their lowercased labels instead.
    fn sort(&self, siblings: &mut [u32]) {
        if siblings.iter().all(|&n| self.rank[n as usize] != NONE) {
            siblings.sort_by_key(|&n| self.rank[n as usize]);
            return;
        }
        let mut keyed: Vec<(String, u32)> = siblings
            .iter()
            .map(|&n| (self.nodes[n as usize].label.to_lowercase(), n))
            .collect();
        keyed.sort_by(|a, b| natural_cmp(&a.0, &b.0));
        for (slot, (_, n)) in siblings.iter_mut().zip(keyed) {
            *slot = n;
        }
    }
}

impl Tree {
    /// Sets each node's worst alarm at `t`. `store` is the one the tree was built from, in
    /// the same structure generation.
    fn roll_up_alarms(&mut self, store: &Store, t: i64) {
        self.alarms.clear();
        self.alarms.resize(self.nodes.len(), None);
        let paths = self.paths.clone();
        for &a in &paths.alarmed {
            let Some(asset) = store.asset(a) else {
                continue;
            };
            for &al in asset.alarm_ids() {
                let Some(shown) = shown_alarm(store, al, t) else {
                    continue;
                };
                // Path `a` is asset `a`'s id.
                let n = self.node_of.get(a as usize).copied().filter(|&n| n != NONE);
                roll_up(&mut self.alarms, &self.nodes, n, shown);
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
        let p = self.paths.ids.get(path).or_else(|| self.extra.get(path))?;
        self.node_of
            .get(*p as usize)
            .copied()
            .filter(|&n| n != NONE)
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
            // Leaves have nothing to expand: asking the set about them hashed every visible
            // asset's path on every frame (15% of the UI thread at 100k cars, region open).
            if !node.children.is_empty() && (keep.is_some() || expanded.contains(&node.path)) {
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
/// rebuild. Alarms are always rolled up afresh for the time asked. When the shape does change
/// (assets appearing over time), the build reuses the structure's numbered paths, kept while
/// the generation stays the same or the store's ids, parents, definitions and alarms do.
#[derive(Debug, Default)]
pub struct TreeCache {
    key: Option<u64>,
    shape: Vec<u32>,
    scratch: Vec<u32>,
    tree: Tree,
    /// The generation and number of assets `paths` was made or last checked for.
    paths_key: Option<(u64, usize)>,
    paths: Arc<Paths>,
    /// The last shapes replaced, with their trees, newest last (at most [`RECENT`]): an
    /// operator who looks at a moment before some assets existed and jumps back to the present
    /// gets the present's tree back without a rebuild (42–66 ms at 100k assets).
    recent: Vec<(u64, Vec<u32>, Tree)>,
    /// Trees built from scratch, for the tests.
    builds: usize,
}

/// How many replaced shapes [`TreeCache`] keeps: a tree of 100k assets is ~10 MB.
const RECENT: usize = 2;

impl TreeCache {
    /// The tree at `t`, as [`Tree::build`] gives it. `generation` must change whenever the
    /// store's structure may have changed ([`Store::structure_gen`], or a different store).
    pub fn tree_at(&mut self, store: &Store, t: i64, generation: u64) -> Tree {
        store.shape_at(t, &mut self.scratch);
        if self.key != Some(generation) || self.scratch != self.shape {
            // A tree is a function of the generation and the shape (the shape says which
            // definition is in force for each asset), so a kept one serves as it is.
            let kept = self
                .recent
                .iter()
                .position(|(g, shape, _)| *g == generation && *shape == self.scratch);
            let (shape, tree) = match kept {
                Some(i) => {
                    let (_, shape, tree) = self.recent.remove(i);
                    (shape, tree)
                }
                None => {
                    let paths_key = Some((generation, store.assets().len()));
                    if self.paths_key != paths_key && !self.paths.still_fit(store) {
                        self.paths = Arc::new(Paths::new(store));
                    }
                    self.paths_key = paths_key;
                    self.builds += 1;
                    let tree = Tree::shape_from(&self.paths, store, t, &self.scratch);
                    (std::mem::take(&mut self.scratch), tree)
                }
            };
            let old_shape = std::mem::replace(&mut self.shape, shape);
            let old_tree = std::mem::replace(&mut self.tree, tree);
            if let Some(g) = self.key {
                self.recent.push((g, old_shape, old_tree));
            }
            // Generations only move forward, so an older one's trees can never serve again.
            self.recent.retain(|(g, ..)| *g == generation);
            if self.recent.len() > RECENT {
                self.recent.remove(0);
            }
            self.key = Some(generation);
        }
        let mut tree = self.tree.clone();
        tree.roll_up_alarms(store, t);
        tree
    }
}

/// Alarm `al`'s priority at `t` and whether it awaits acknowledgement, when the tree shows it:
/// not when normal, and not while shelved (the operator hid it).
fn shown_alarm(store: &Store, al: u32, t: i64) -> Option<(Priority, bool)> {
    let v = store.alarm_at(al, t)?;
    if matches!(v.status.state, AlarmState::Normal | AlarmState::Shelved) {
        return None;
    }
    let unacked = matches!(
        v.status.state,
        AlarmState::UnackActive | AlarmState::UnackRtn
    );
    Some((v.priority, unacked))
}

/// Marks node `from` and its ancestors with an alarm of `priority` (unacknowledged or not),
/// where it is at least as bad as what they hold: the worst wins, and among equals any
/// unacknowledged one makes the node unacknowledged.
fn roll_up(
    alarms: &mut [Option<(Priority, bool)>],
    nodes: &[Node],
    from: Option<u32>,
    (priority, unacked): (Priority, bool),
) {
    let mut n = from;
    for _ in 0..=MAX_DEPTH {
        let Some(slot) = n.and_then(|i| alarms.get_mut(i as usize)) else {
            break;
        };
        match slot {
            Some((w, u)) if *w == priority => *u |= unacked,
            Some((w, _)) if *w > priority => {}
            _ => *slot = Some((priority, unacked)),
        }
        n = n.and_then(|i| nodes.get(i as usize)).and_then(|x| x.parent);
    }
}

/// Hangs node `idx` under `parent`, or makes it a root when it has none or when `parent` is
/// below it (a parent chain that loops is cut where it would close).
fn link(nodes: &mut [Node], roots: &mut Vec<u32>, idx: u32, parent: Option<u32>) {
    match parent {
        Some(p) if !is_ancestor(nodes, idx, p) => {
            nodes[idx as usize].parent = Some(p);
            nodes[p as usize].children.push(idx);
        }
        _ => roots.push(idx),
    }
}

/// Whether `candidate` is `n` or one of its ancestors (or the chain is deeper than
/// [`MAX_DEPTH`], which is treated as a loop).
fn is_ancestor(nodes: &[Node], candidate: u32, mut n: u32) -> bool {
    for _ in 0..=MAX_DEPTH {
        if n == candidate {
            return true;
        }
        match nodes[n as usize].parent {
            Some(p) => n = p,
            None => return false,
        }
    }
    true
}

fn last_segment<'a>(path: &'a str, sep: &str) -> &'a str {
    if sep.len() == 1 {
        return rfind(path, sep).map_or(path, |i| &path[i + 1..]);
    }
    path.rsplit(sep).next().unwrap_or(path)
}

/// `path.rfind(sep)`, without the substring search for a one-byte separator (an ASCII one,
/// which only ever matches itself in UTF-8).
fn rfind(path: &str, sep: &str) -> Option<usize> {
    match sep.as_bytes() {
        [b] => path.bytes().rposition(|c| c == *b),
        _ => path.rfind(sep),
    }
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

    #[test]
    fn jumping_back_to_a_recent_shape_reuses_its_tree_within_one_generation() {
        let mut s = Store::new("/", 0);
        apply(&mut s, 0, tele("p/a", 10));
        apply(&mut s, 1, tele("p/b", 20));
        apply(&mut s, 2, tele("q/c", 30));
        let mut cache = TreeCache::default();
        let g = s.structure_gen();
        let check = |cache: &mut TreeCache, s: &Store, t: i64, g: u64| {
            let got = cache.tree_at(s, t, g);
            assert_eq!(fingerprint(&got), fingerprint(&Tree::build(s, t)), "t={t}");
        };
        // Three shapes (one, two and three assets), visited back and forth.
        for t in [40, 10, 40, 10, 25, 40, 10, 25] {
            check(&mut cache, &s, t, g);
        }
        assert_eq!(cache.builds, 3);
        // A fourth shape pushes the oldest kept one out.
        check(&mut cache, &s, 5, g);
        check(&mut cache, &s, 40, g);
        assert_eq!(cache.builds, 5);
        // Another generation never reuses the trees kept for the last one, even for the same
        // shapes (a late definition renumbers an asset's definitions without changing their
        // count).
        check(&mut cache, &s, 25, g + 1);
        check(&mut cache, &s, 40, g + 1);
        assert_eq!(cache.builds, 7);
    }

    /// [`natural_key`], and the ranks made from it, order labels exactly as [`natural_cmp`]
    /// orders them lowercased.
    #[test]
    fn natural_keys_order_as_natural_cmp() {
        let parts = [
            "a",
            "B",
            "-",
            "~",
            "0",
            "00",
            "1",
            "01",
            "9",
            "10",
            "007",
            "é",
            "É",
            "ß",
            "x",
            "\0",
            "abcdefghijklmnop",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let labels: Vec<String> = (0..400)
            .map(|_| {
                (0..rng.usize(0..5))
                    .map(|_| parts[rng.usize(..parts.len())])
                    .collect()
            })
            .chain([
                "9".repeat(300),
                "1".repeat(256),
                format!("0{}", "5".repeat(254)),
            ])
            .collect();
        let key = |l: &str| {
            let mut k = Vec::new();
            natural_key(l, &mut k);
            k
        };
        for a in &labels {
            for b in &labels {
                assert_eq!(
                    key(a).cmp(&key(b)),
                    natural_cmp(&a.to_lowercase(), &b.to_lowercase()),
                    "{a:?} {b:?}"
                );
            }
        }
        let mut s = Store::new("/", 0);
        for (i, l) in labels.iter().filter(|l| !l.is_empty()).enumerate() {
            apply(&mut s, i as i64, tele(l, 1));
        }
        let paths = Paths::new(&s);
        for a in 0..paths.path.len() {
            for b in 0..paths.path.len() {
                let (x, y) = (paths.path[a].to_lowercase(), paths.path[b].to_lowercase());
                assert_eq!(
                    paths.rank[a].cmp(&paths.rank[b]),
                    natural_cmp(&x, &y),
                    "{x:?} {y:?}"
                );
            }
        }
    }

    /// The build as it was before [`Paths`]: parent paths found by hashing, labels compared
    /// as lowercased strings. Every build must still give exactly its nodes, in its order.
    mod reference {
        use super::super::{MAX_DEPTH, Node, natural_cmp};
        use crate::twin::alarms::Priority;
        use crate::twin::store::{AssetIdx, Store};
        use foldhash::HashMap;
        use std::sync::Arc;

        fn last_segment<'a>(path: &'a str, sep: &str) -> &'a str {
            path.rsplit(sep).next().unwrap_or(path)
        }

        #[derive(Default)]
        struct Builder {
            nodes: Vec<Node>,
            roots: Vec<u32>,
            by_path: HashMap<Arc<str>, u32>,
        }

        /// The tree at `t` as the nodes, roots and alarms printed, and each path's node.
        pub fn build(store: &Store, t: i64) -> (String, Vec<(Arc<str>, u32)>) {
            let mut shape = Vec::new();
            store.shape_at(t, &mut shape);
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
            let alarms = tree.roll_up_alarms(store, t);
            let mut paths: Vec<_> = tree.by_path.into_iter().collect();
            paths.sort();
            (
                format!("{:?} {:?} {:?}", tree.nodes, tree.roots, alarms),
                paths,
            )
        }

        impl Builder {
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
                self.nodes
                    .push(Node::unlinked(path.clone(), label, asset, kind));
                self.by_path.insert(path.clone(), idx);
                let parent = parent_path
                    .filter(|p| depth < MAX_DEPTH && *p != path.as_ref())
                    .map(|p| self.node_for(store, t, exists, p, depth + 1));
                crate::twin::hierarchy::link(&mut self.nodes, &mut self.roots, idx, parent);
                idx
            }

            fn sort_and_depth(&mut self) {
                let labels: Vec<String> =
                    self.nodes.iter().map(|n| n.label.to_lowercase()).collect();
                let by_label =
                    |a: &u32, b: &u32| natural_cmp(&labels[*a as usize], &labels[*b as usize]);
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

            fn roll_up_alarms(&self, store: &Store, t: i64) -> Vec<Option<(Priority, bool)>> {
                let mut alarms = vec![None; self.nodes.len()];
                for asset in store.assets() {
                    for &al in asset.alarm_ids() {
                        let Some(shown) = crate::twin::hierarchy::shown_alarm(store, al, t) else {
                            continue;
                        };
                        let n = self.by_path.get(asset.id.as_ref()).copied();
                        crate::twin::hierarchy::roll_up(&mut alarms, &self.nodes, n, shown);
                    }
                }
                alarms
            }
        }
    }

    /// Random records about ids that share labels up to case and leading zeros, are each
    /// other's groups, name parents by payload (cycles included) and by definitions (names,
    /// kinds, parents outside the ids, tombstones), with alarms: record `o` onwards.
    fn random_records(s: &mut Store, rng: &mut fastrand::Rng, o: &mut i64, n: usize) {
        let segs = [
            "a", "A", "m1", "m01", "M2", "m10", "é", "É", "x-9", "x-10", "0", "00",
        ];
        let sep = s.separator().to_owned();
        let id = |rng: &mut fastrand::Rng| {
            (0..rng.usize(1..4))
                .map(|_| segs[rng.usize(..segs.len())])
                .collect::<Vec<_>>()
                .join(&sep)
        };
        for _ in 0..n {
            let asset = id(rng);
            let ts = rng.i64(0..100);
            let body = match rng.u8(..10) {
                0..=4 => Decoded::Telemetry {
                    asset: asset.as_str().into(),
                    parent: (rng.u8(..4) == 0).then(|| id(rng)),
                    ts,
                    props: vec![("t".into(), Value::Num(1.0))],
                },
                5..=7 => Decoded::Asset {
                    asset: asset.as_str().into(),
                    ts,
                    def: (rng.u8(..5) != 0).then(|| AssetDef {
                        name: (rng.bool()).then(|| segs[rng.usize(..segs.len())].to_owned()),
                        kind: (rng.bool()).then(|| "machine".to_owned()),
                        parent: match rng.u8(..3) {
                            0 => None,
                            1 => Some(id(rng)),
                            _ => Some(format!("zz{sep}{}", id(rng))),
                        },
                        attributes: vec![],
                    }),
                },
                _ => {
                    raise(s, *o, &asset, ts, Priority::High);
                    *o += 1;
                    continue;
                }
            };
            apply(s, *o, body);
            *o += 1;
        }
    }

    fn assert_as_reference(tree: &Tree, s: &Store, t: i64, what: &str) {
        let (want, paths) = reference::build(s, t);
        assert_eq!(fingerprint(tree), want, "{what} t={t}");
        assert_eq!(tree.len(), paths.len(), "{what} t={t}");
        for (path, n) in paths {
            assert_eq!(tree.find(&path), Some(n), "{what} t={t} {path}");
        }
        assert_eq!(tree.find("no/such/path"), None);
    }

    /// Builds, fresh and through one [`TreeCache`] kept while the store grows, give the
    /// reference build's tree at every time.
    #[test]
    fn builds_equal_the_reference_build_on_random_stores() {
        for seed in 0..12 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut s = Store::new(["/", ".", "::"][seed as usize % 3], 0);
            let mut o = 0;
            let mut cache = TreeCache::default();
            for round in 0..3 {
                random_records(&mut s, &mut rng, &mut o, 40);
                let generation = s.structure_gen();
                let mut times: Vec<i64> = (-1..102).collect();
                rng.shuffle(&mut times);
                for t in times {
                    let what = format!("seed {seed} round {round}");
                    assert_as_reference(&Tree::build(&s, t), &s, t, &what);
                    assert_as_reference(&cache.tree_at(&s, t, generation), &s, t, &what);
                }
                // A new generation with the same paths (a new property, an earlier record):
                // the cache keeps them, and its trees are still right.
                let a = s.assets()[rng.usize(..s.assets().len())].id.clone();
                let before = cache.paths.clone();
                apply(
                    &mut s,
                    o,
                    Decoded::Telemetry {
                        asset: a,
                        parent: None,
                        ts: rng.i64(-5..100),
                        props: vec![(format!("p{o}").into(), Value::Num(1.0))],
                    },
                );
                o += 1;
                assert_ne!(s.structure_gen(), generation);
                for t in -1..102 {
                    let tree = cache.tree_at(&s, t, s.structure_gen());
                    assert_as_reference(&tree, &s, t, &format!("seed {seed} round {round}'"));
                }
                assert!(
                    Arc::ptr_eq(&before, &cache.paths),
                    "seed {seed} round {round}"
                );
            }
        }
    }

    /// A cache asked for another store's tree (a new generation, the same number of assets)
    /// does not keep the first store's paths.
    #[test]
    fn a_cache_moved_to_another_store_builds_its_tree() {
        let mut cache = TreeCache::default();
        let mut a = Store::new("/", 0);
        apply(&mut a, 0, tele("x/m1", 1));
        let mut b = Store::new("/", 0);
        apply(&mut b, 0, tele("y/m2", 1));
        let tree = cache.tree_at(&a, 5, 1);
        assert_as_reference(&tree, &a, 5, "a");
        let tree = cache.tree_at(&b, 5, 2);
        assert_as_reference(&tree, &b, 5, "b");
        assert!(tree.find("y/m2").is_some() && tree.find("x/m1").is_none());
    }
}

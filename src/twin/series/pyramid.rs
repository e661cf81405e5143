//! The min/max pyramid of a numeric series: extremes per aligned block of samples, so that a
//! plot's envelope costs O(pixels) rather than O(samples in view).
//!
//! It reads the values through [`Column`], so it works the same over a plain slice (tests) and
//! over a series' compressed chunks.

/// Random and sequential access to a numeric column, by index.
pub(super) trait Column {
    /// Number of values.
    fn len(&self) -> usize;
    /// The value at `i`; NaN out of range.
    fn get(&self, i: usize) -> f64;
    /// Calls `f(i, v[i])` for each `i` in `a..b` (clamped to the column), in order.
    fn each(&self, a: usize, b: usize, f: impl FnMut(usize, f64));
}

impl Column for [f64] {
    fn len(&self) -> usize {
        <[f64]>::len(self)
    }

    fn get(&self, i: usize) -> f64 {
        <[f64]>::get(self, i).copied().unwrap_or(f64::NAN)
    }

    fn each(&self, a: usize, b: usize, mut f: impl FnMut(usize, f64)) {
        if let Some(run) = <[f64]>::get(self, a..b.min(<[f64]>::len(self))) {
            for (i, &x) in run.iter().enumerate() {
                f(a + i, x);
            }
        }
    }
}

/// log2 of the fan-out: a level-`k` block holds `16^k` samples. A query reads up to 15 units
/// of each level on each side of a bucket; with a fan-out of 64 (63 per side) the frame at a
/// 10-minute zoom over 1M-sample series took 11.3 ms at p95, with 16 it took 7.2 ms.
pub(super) const SHIFT: u32 = 4;
/// Highest level. A level-7 block holds 2^28 samples, so offsets inside a block fit a `u32`.
pub(super) const MAX_LEVEL: usize = 7;
/// Period of [`Pyramid::base`]: a multiple of every block size, so reducing `base` modulo it
/// keeps every block boundary where it was.
const BASE_PERIOD: usize = 1 << (SHIFT as usize * MAX_LEVEL);

/// Where the minimum and maximum of one block are, as offsets from the block's first sample.
/// Among equal values the earliest sample wins, as in a left-to-right scan. The values are
/// read back from the column (O(1) in a chunk), not kept: 8 bytes a node instead of 24, which
/// was 1 B of every sample's 1.6.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Node {
    pub(super) min: u32,
    pub(super) max: u32,
}

/// Extremes of the numeric column per aligned block of `16^k` samples, `k = 1..=MAX_LEVEL`.
///
/// Samples are numbered globally: local index `i` is global `base + i`, and block `j` of level
/// `k` holds globals `j·16^k .. (j+1)·16^k`. Aligning blocks to global rather than local
/// indices means that evicting from the front only drops whole nodes; the block that eviction
/// cuts into keeps a stale node, which is harmless because a query only reads the nodes of
/// blocks lying entirely inside the queried (retained) range.
///
/// Invariant: `levels[k - 1]` holds the nodes of blocks `(base >> 4k) ..((base + len) >> 4k)`,
/// i.e. of every block that has been completed, and the node of each such block that lies
/// entirely at or after `base` is exact. Levels are created when their first block completes,
/// so a series shorter than 16 samples has none. Nodes are 8 bytes per 16 samples at level 1
/// and 1/16 of that per level above: about 0.53 bytes per sample.
#[derive(Debug, Default)]
pub(super) struct Pyramid {
    /// Global index of local sample 0, modulo [`BASE_PERIOD`].
    pub(super) base: usize,
    pub(super) levels: Vec<Vec<Node>>,
    /// Bytes of node storage, recounted whenever a level changes: the store asks for a
    /// series' bytes around every insert, and summing the levels there read the level list,
    /// a cache miss per sample over a large fleet (15% of `store/apply_batch`).
    heap: usize,
}

impl Clone for Pyramid {
    /// A clone's levels have capacities of their own, so its byte count is its own too.
    fn clone(&self) -> Self {
        let mut p = Self {
            base: self.base,
            levels: self.levels.clone(),
            heap: 0,
        };
        p.recount();
        p
    }
}

/// True when `a` should replace `b` as a minimum: smaller, or `b` is NaN and `a` is not (so
/// NaN, which no decoder produces today, never hides a column's envelope).
pub(super) fn lower(a: f64, b: f64) -> bool {
    a < b || (b.is_nan() && !a.is_nan())
}

/// True when `a` should replace `b` as a maximum; see [`lower`].
pub(super) fn higher(a: f64, b: f64) -> bool {
    a > b || (b.is_nan() && !a.is_nan())
}

/// Running (earliest) argmin and argmax, with their values, over local sample indices fed in
/// increasing order.
struct Extremes {
    min: usize,
    max: usize,
    lo: f64,
    hi: f64,
}

impl Extremes {
    fn new<C: Column + ?Sized>(v: &C, i: usize) -> Self {
        let x = v.get(i);
        Self {
            min: i,
            max: i,
            lo: x,
            hi: x,
        }
    }

    /// Offers every sample of `v[a..b]`: the tight loop for runs outside whole blocks, with
    /// the running extremes kept in registers.
    fn scan<C: Column + ?Sized>(&mut self, v: &C, a: usize, b: usize) {
        let (mut mn, mut mx) = (self.lo, self.hi);
        let (mut min, mut max) = (self.min, self.max);
        v.each(a, b, |i, x| {
            if lower(x, mn) {
                mn = x;
                min = i;
            }
            if higher(x, mx) {
                mx = x;
                max = i;
            }
        });
        (self.lo, self.hi, self.min, self.max) = (mn, mx, min, max);
    }

    /// Offers the extremes of the block at `start` that `n` describes.
    fn offer_node<C: Column + ?Sized>(&mut self, v: &C, start: usize, n: Node) {
        let (min, max) = (start + n.min as usize, start + n.max as usize);
        self.offer(min, v.get(min), max, v.get(max));
    }

    /// Offers the candidates `min` and `max` (equal for a single sample); ties keep the
    /// earlier sample because candidates arrive in index order.
    fn offer(&mut self, min: usize, lo: f64, max: usize, hi: f64) {
        if lower(lo, self.lo) {
            (self.min, self.lo) = (min, lo);
        }
        if higher(hi, self.hi) {
            (self.max, self.hi) = (max, hi);
        }
    }
}

impl Pyramid {
    /// Bytes of node storage.
    pub(super) fn bytes(&self) -> usize {
        self.heap
    }

    fn recount(&mut self) {
        self.heap = self
            .levels
            .iter()
            .map(|l| l.capacity() * std::mem::size_of::<Node>())
            .sum();
    }

    pub(super) fn shrink(&mut self) {
        for l in &mut self.levels {
            l.shrink_to(l.len() + l.len() / 4 + 1);
        }
        self.recount();
    }

    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Numbers an empty pyramid's first sample `base`, as if that many had been evicted: the
    /// blocks of series that started together then complete at different samples, rather than
    /// 100k cars building a node each on the same one. A pyramid with nodes keeps its numbering.
    pub(super) fn start_at(&mut self, base: usize) {
        if self.levels.is_empty() {
            self.base = base % BASE_PERIOD;
        }
    }

    /// The node of global block `j` at level `k >= 1`, computed from the samples (`k == 1`) or
    /// from the level below, whose nodes for this block must already be in place. A block
    /// that starts before `base` gets a placeholder, never read.
    fn build<C: Column + ?Sized>(&self, v: &C, k: usize, j: usize) -> Node {
        let shift = SHIFT * k as u32;
        let start = j << shift;
        let Some(local) = start.checked_sub(self.base) else {
            return Node::default();
        };
        let mut ex = Extremes::new(v, local);
        if k == 1 {
            ex.scan(v, local, local + (1 << SHIFT));
        } else {
            let below = &self.levels[k - 2];
            let child_shift = shift - SHIFT;
            let first = self.base >> child_shift;
            for c in (j << SHIFT)..((j + 1) << SHIFT) {
                // Children of a block at or after `base` are too, so neither subtraction wraps.
                let cstart = (c << child_shift) - self.base;
                if let Some(n) = below.get(c - first) {
                    ex.offer_node(v, cstart, *n);
                }
            }
        }
        Node {
            min: (ex.min - local) as u32,
            max: (ex.max - local) as u32,
        }
    }

    /// Brings the levels up to date after sample `len - 1` was appended to a column of `len`.
    /// Amortised O(1): a level-`k` node is built once per `16^k` appends from 16 inputs.
    pub(super) fn appended<C: Column + ?Sized>(&mut self, v: &C) {
        let end = self.base + v.len();
        for k in 1..=MAX_LEVEL {
            let shift = SHIFT * k as u32;
            if end & ((1 << shift) - 1) != 0 {
                break;
            }
            let j = (end >> shift) - 1;
            let node = self.build(v, k, j);
            if self.levels.len() < k {
                self.levels.push(Vec::new());
            }
            self.levels[k - 1].push(node);
            self.recount();
        }
    }

    /// Rebuilds every block that contains local index `at` or a later one, after samples from
    /// `at` on moved (an insert in the middle) or on a full rebuild (`at == 0`). O(len - at).
    pub(super) fn rebuild_from<C: Column + ?Sized>(&mut self, v: &C, at: usize) {
        let (g, end) = (self.base + at, self.base + v.len());
        for k in 1..=MAX_LEVEL {
            let shift = SHIFT * k as u32;
            let first = self.base >> shift;
            let (from, to) = (g >> shift, end >> shift);
            if self.levels.len() < k {
                if to == first {
                    break;
                }
                self.levels.push(Vec::new());
            }
            self.levels[k - 1].truncate(from - first);
            for j in from.max(first)..to {
                let node = self.build(v, k, j);
                self.levels[k - 1].push(node);
            }
        }
        self.recount();
    }

    /// Forgets the first `n` samples.
    pub(super) fn evicted(&mut self, n: usize) {
        let base = self.base + n;
        for (k, l) in self.levels.iter_mut().enumerate() {
            let shift = SHIFT * (k as u32 + 1);
            let drop = (base >> shift) - (self.base >> shift);
            // Draining keeps each level's capacity, so the byte count stands.
            l.drain(..drop.min(l.len()));
        }
        self.base = base % BASE_PERIOD;
    }

    /// The earliest argmin and argmax of `v[s..e]` (`s < e`), reading each sample that lies in
    /// no whole block of the range, and the node of each maximal whole block otherwise: at
    /// most about 2·63 units per level, whatever `e - s`.
    pub(super) fn extremes<C: Column + ?Sized>(&self, v: &C, s: usize, e: usize) -> (usize, usize) {
        let mut ex = Extremes::new(v, s);
        let (mut g, end) = (self.base + s, self.base + e);
        let mut k = 0;
        // Up: consume units of level k until g is aligned to level k + 1, then climb while a
        // whole level-(k + 1) block still fits.
        loop {
            let size = 1usize << (SHIFT * k as u32);
            let up = size << SHIFT;
            if k == 0 {
                let stop = ((g + up - 1) & !(up - 1)).min(end);
                ex.scan(v, g - self.base, stop - self.base);
                g = stop;
            }
            while g & (up - 1) != 0 && g + size <= end && self.take(v, k, g, &mut ex) {
                g += size;
            }
            if k < self.levels.len() && g & (up - 1) == 0 && g + up <= end {
                k += 1;
            } else {
                break;
            }
        }
        // Down: consume whole units while they fit, then finer ones.
        loop {
            if k == 0 {
                ex.scan(v, g - self.base, end - self.base);
                break;
            }
            let size = 1usize << (SHIFT * k as u32);
            while g + size <= end && self.take(v, k, g, &mut ex) {
                g += size;
            }
            k -= 1;
        }
        (ex.min, ex.max)
    }

    /// Offers the unit of level `k` starting at global `g` (a sample for `k == 0`). False if
    /// its node is missing, which the invariant rules out for blocks inside the column.
    fn take<C: Column + ?Sized>(&self, v: &C, k: usize, g: usize, ex: &mut Extremes) -> bool {
        let local = g - self.base;
        if k == 0 {
            ex.scan(v, local, local + 1);
            return true;
        }
        let shift = SHIFT * k as u32;
        let Some(n) = self
            .levels
            .get(k - 1)
            .and_then(|l| l.get((g >> shift) - (self.base >> shift)))
        else {
            return false;
        };
        ex.offer_node(v, local, *n);
        true
    }
}

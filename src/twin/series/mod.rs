//! One property's history: samples of (event time, tie-break key, Kafka time, value), kept in
//! `(ts, seq)` order so that "the value at T" is a binary search.
//!
//! Samples are appended to a small open tail of plain rows; every [`TAIL`] samples the tail
//! is sealed into a compressed [`Chunk`] (see `chunk.rs`), and the chunks of each completed
//! block of seals are merged, up to [`MAX_CHUNK`] samples, so a series holds O(log) small
//! chunks at its end and large ones before. Each series counts its seals, and numbers its
//! pyramid, from its own phase (see [`Series::seal`]): the series of a fleet that started
//! together would otherwise all merge their largest blocks on the same sample (at 100k cars ×
//! 8 properties, ~16 s of one core every ~15 minutes of a live twin, during which nothing else
//! was applied). Every entry of a chunk decodes in O(1) from its index, so a lookup is a
//! binary search over the chunks' first times and then one inside a chunk, and decodes only
//! the sample it returns. A late sample that lands in a sealed chunk re-encodes a small chunk
//! or splits a large one there; a run of them (a backfill behind a later sample) builds its
//! chunks as appends do.
//!
//! Numeric series also keep a [`Pyramid`] of per-block extremes so that [`Series::plot_points`]
//! costs O(pixels), not O(samples in view) (see `plot.rs`, which also caches them per plot). A
//! series that ever holds a string or bool stops being numeric: it drops the pyramid and its
//! plots scan.

mod chunk;
mod plot;
mod pyramid;

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use super::decode::Value;
use chunk::{Chunk, Plain};
pub use plot::{PlotCache, grid_width};
use pyramid::{Column, Pyramid};

/// A sample as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub ts: i64,
    pub seq: u64,
    pub kafka_ts: i64,
    pub value: Value,
}

/// Samples per sealed tail. Small, because every series pays for an open tail of plain
/// columns (32 B a sample), and a fleet has many short series; merging makes the chunks large.
const TAIL: usize = 8;

/// Largest chunk built by merging: large enough that the per-chunk cost (48 B of struct and
/// up to 9 header words) is noise, small enough that re-encoding one for a late sample is
/// cheap.
const MAX_CHUNK: usize = 1024;

/// Smallest chunk that a late sample splits rather than re-encodes whole (see
/// [`Series::insert_sealed`]): splitting starts a run's chunks at the sample, which a small
/// chunk does not need, and a scattered late sample leaves no small piece behind.
const SPLIT: usize = MAX_CHUNK / 16;

/// Seals per largest merged block: a block of `2^k` seals completes when the seal count is a
/// multiple of `2^k`, up to `2^MERGE_LEVELS` seals of at most [`TAIL`] samples, i.e. at most
/// [`MAX_CHUNK`].
const MERGE_LEVELS: u32 = 7;
const _: () = assert!(TAIL << MERGE_LEVELS <= MAX_CHUNK);

/// A property's history, sorted by `(ts, seq)`.
#[derive(Debug)]
pub struct Series {
    /// Sealed samples, in order; chunk `c` holds indices `start .. start + len`.
    chunks: Vec<Chunk>,
    /// Sum of the chunks' heap bytes, so that [`Series::bytes`] is O(1): the store asks for it
    /// around every insert.
    chunk_heap: usize,
    /// Samples in `chunks`, kept so that an append reads no chunk (a cache miss each).
    n_sealed: usize,
    /// The samples after the last chunk.
    tail: Plain,
    /// True while every sample is a number; then the tail is a numeric column and `pyr` is up
    /// to date.
    numeric: bool,
    /// Extremes per block of the numeric values; empty (and unused) once not numeric.
    pyr: Pyramid,
    /// Unique to this series and renewed by every change other than an append or an eviction
    /// from the front, so that a [`PlotCache`] knows which of its buckets still hold.
    stamp: u64,
    /// Seals so far plus this series' phase, modulo `2^MERGE_LEVELS`: which block of seals the
    /// next one completes. The phase comes from the first sample (see [`phase_of`]).
    seals: u8,
}

/// The seal counts a series may start from: multiples of 8, so that a series' first 8 seals
/// (56 samples) still merge into one chunk, as a young series' history (the 100k-car fleet's
/// first minute) took 2 B a sample more when its first seals were cut by a block boundary.
/// With the first seal's own offset (1 to 7 samples, see [`Series::seal_at`]), a block of
/// `2^k` seals completes on one of `7 · 2^(k-3)` different samples across a fleet.
const SEAL_PHASES: u64 = ((1 << MERGE_LEVELS) - 1) & !7;

/// Bits of a series' phase that place its pyramid's blocks: levels 1 to 4 (blocks of 16 to
/// 65,536 samples) complete at different samples in different series.
const PYRAMID_PHASE_BITS: u32 = 16;

/// Where a series starts its seal count and its pyramid's numbering, and how many samples its
/// first seal takes.
struct Phase {
    seals: u8,
    first_seal: usize,
    pyramid: usize,
}

/// A series' phase, from its first sample's time and tie-break key: deterministic for the
/// same records, and spread evenly over a fleet whose cars report at different milliseconds
/// or from different records. Its three parts come from different bits, so they vary
/// independently across a fleet.
fn phase_of(ts: i64, seq: u64) -> Phase {
    // splitmix64's finalizer: every input bit moves the bits kept.
    let mut z = (ts as u64) ^ seq.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    Phase {
        seals: (z & SEAL_PHASES) as u8,
        first_seal: 1 + (z >> 8) as usize % (TAIL - 1),
        pyramid: (z >> 16) as usize & ((1 << PYRAMID_PHASE_BITS) - 1),
    }
}

/// Source of [`Series::stamp`]s; 0 is never handed out (an empty cache has it).
static STAMPS: AtomicU64 = AtomicU64::new(1);

fn new_stamp() -> u64 {
    STAMPS.fetch_add(1, Ordering::Relaxed)
}

impl Clone for Series {
    /// A copy is another series: its own stamp, so a cache of one never serves the other.
    fn clone(&self) -> Self {
        Self {
            chunks: self.chunks.clone(),
            chunk_heap: self.chunk_heap,
            n_sealed: self.n_sealed,
            tail: self.tail.clone(),
            numeric: self.numeric,
            pyr: self.pyr.clone(),
            stamp: new_stamp(),
            seals: self.seals,
        }
    }
}

impl Default for Series {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            chunk_heap: 0,
            n_sealed: 0,
            tail: Plain::new(true),
            numeric: true,
            pyr: Pyramid::default(),
            stamp: new_stamp(),
            seals: 0,
        }
    }
}

/// Approximate heap bytes per sample of an uncompressed open tail.
pub const BYTES_PER_SAMPLE: usize = 8 + 8 + 8 + 8;

/// Where a sample of a [`Series`] is kept ([`Series::locate`]).
enum At<'a> {
    /// Index into the open tail.
    Tail(usize),
    /// A sealed chunk and the index inside it.
    Chunk(&'a Chunk, usize),
}

/// A series read by index through a remembered chunk: a short-lived view (one query or
/// update), whose reads cluster (a plot's searches and the pyramid's nodes walk forward), so
/// most skip the search over the chunks. Also the numeric values as a [`Column`].
struct Nums<'a>(&'a Series, Cell<usize>);

impl<'a> Nums<'a> {
    fn new(s: &'a Series) -> Self {
        Self(s, Cell::new(0))
    }

    /// The index of the chunk holding `i`, or `None` for the tail.
    #[inline]
    fn chunk(&self, i: usize) -> Option<usize> {
        let s = self.0;
        if i >= s.n_sealed {
            return None;
        }
        let c = self.1.get();
        let end = s.chunks.get(c + 1).map_or(s.n_sealed, |n| n.start);
        if s.chunks.get(c).is_some_and(|ch| ch.start <= i) && i < end {
            return Some(c);
        }
        let c = s.chunk_of(i);
        self.1.set(c);
        Some(c)
    }

    /// Event time of sample `i`, which must exist (0 otherwise).
    fn ts(&self, i: usize) -> i64 {
        let s = self.0;
        match self.chunk(i).and_then(|c| s.chunks.get(c)) {
            Some(ch) => ch.ts(i - ch.start),
            None => s.tail.ts(i - s.n_sealed).unwrap_or(0),
        }
    }
}

impl Column for Nums<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, i: usize) -> f64 {
        let s = self.0;
        match self.chunk(i).and_then(|c| s.chunks.get(c)) {
            Some(ch) => ch.num(i - ch.start),
            None => s.tail.num(i.saturating_sub(s.n_sealed)),
        }
        .unwrap_or(f64::NAN)
    }

    fn each(&self, a: usize, b: usize, mut f: impl FnMut(usize, f64)) {
        let s = self.0;
        let b = b.min(s.len());
        if a >= b {
            return;
        }
        let sealed = s.sealed();
        if let Some(c) = self.chunk(a) {
            for ch in s.chunks.get(c..).unwrap_or_default() {
                if ch.start >= b {
                    break;
                }
                let (lo, hi) = (
                    a.max(ch.start) - ch.start,
                    b.min(ch.start + ch.len()) - ch.start,
                );
                ch.each_num(lo, hi, |j, x| f(ch.start + j, x));
            }
        }
        for i in a.max(sealed)..b {
            f(i, s.tail.num(i - sealed).unwrap_or(f64::NAN));
        }
    }
}

impl Series {
    /// Number of samples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sealed() + self.tail.len()
    }

    /// True when the series holds no samples.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while every sample is a number, i.e. the series can be plotted.
    #[must_use]
    pub fn is_numeric(&self) -> bool {
        self.numeric
    }

    /// Approximate heap bytes used, compressed chunks as they are held: this is what the
    /// history budget counts.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunk_heap
            + self.tail.bytes()
            + self.pyr.bytes()
    }

    /// Samples held in chunks.
    fn sealed(&self) -> usize {
        self.n_sealed
    }

    /// The chunk holding sealed index `i`.
    fn chunk_of(&self, i: usize) -> usize {
        self.chunks
            .partition_point(|c| c.start <= i)
            .saturating_sub(1)
    }

    /// Where sample `i` is: in the open tail or in a sealed chunk, with its index there (`None`
    /// only if no chunk holds a sealed index). Every read by index goes through here, so it
    /// stays small enough to inline.
    #[inline]
    fn locate(&self, i: usize) -> Option<At<'_>> {
        let sealed = self.sealed();
        if i >= sealed {
            return Some(At::Tail(i - sealed));
        }
        let ch = self.chunks.get(self.chunk_of(i))?;
        Some(At::Chunk(ch, i - ch.start))
    }

    /// The number of leading samples whose event time satisfies `pred`, which must hold for a
    /// prefix of the series (a monotone predicate). Touches only the chunk headers and one
    /// chunk (or the tail).
    fn partition_ts(&self, pred: impl Fn(i64) -> bool) -> usize {
        // At the live edge (a live fleet table, the newest value, a prediction's window) the
        // last sample answers, without the search over chunk headers: a cache miss each, and
        // 13% of the UI thread while a live 100k-car table was read again.
        let last = match self.tail.rows.last() {
            Some(r) => Some(r.ts),
            None => self
                .chunks
                .last()
                .and_then(|ch| Some(ch.ts(ch.len().checked_sub(1)?))),
        };
        if last.is_some_and(&pred) {
            return self.len();
        }
        let c = self.chunks.partition_point(|ch| pred(ch.first_ts));
        if c == self.chunks.len() && self.tail.rows.first().is_some_and(|r| pred(r.ts)) {
            return self.sealed() + self.tail.rows.partition_point(|r| pred(r.ts));
        }
        let Some(ch) = c.checked_sub(1).and_then(|k| self.chunks.get(k)) else {
            return 0;
        };
        // `pred` holds at the chunk's first sample; find the first one where it fails.
        let (mut lo, mut hi) = (1, ch.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(ch.ts(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        ch.start + lo
    }

    /// Number of samples with an event time before `t`: the index of the first at or after it.
    #[must_use]
    pub fn count_before(&self, t: i64) -> usize {
        self.partition_ts(|x| x < t)
    }

    /// Number of samples with an event time at or before `t`: one past [`Self::index_at`].
    #[must_use]
    pub fn count_through(&self, t: i64) -> usize {
        self.partition_ts(|x| x <= t)
    }

    /// Event time of sample `i`, which must exist (0 otherwise).
    fn ts_at(&self, i: usize) -> i64 {
        self.ts(i).unwrap_or(0)
    }

    fn seq_at(&self, i: usize) -> Option<u64> {
        match self.locate(i)? {
            At::Tail(j) => self.tail.rows.get(j).map(|r| r.seq),
            At::Chunk(ch, j) => Some(ch.seq(j)),
        }
    }

    /// Inserts a sample at its `(ts, seq)` position. Returns false for a duplicate key (the same
    /// record read twice), which is ignored.
    pub fn insert(&mut self, ts: i64, seq: u64, kafka_ts: i64, value: Value) -> bool {
        let n = self.len();
        // The tail's last row is the series' last sample, when there is a tail.
        let after_last = match (self.tail.rows.last(), n.checked_sub(1)) {
            (Some(r), _) => (ts, seq) > (r.ts, r.seq),
            (None, None) => true,
            (None, Some(i)) => (ts, seq) > (self.ts_at(i), self.seq_at(i).unwrap_or(0)),
        };
        let at = if after_last {
            n
        } else {
            let (lo, hi) = (self.count_before(ts), self.count_through(ts));
            let (mut a, mut b) = (lo, hi);
            while a < b {
                let mid = a + (b - a) / 2;
                if self.seq_at(mid).is_some_and(|s| s < seq) {
                    a = mid + 1;
                } else {
                    b = mid;
                }
            }
            if a < hi && self.seq_at(a) == Some(seq) {
                return false;
            }
            a
        };
        if at != n {
            self.stamp = new_stamp();
        }
        if self.numeric && !matches!(value, Value::Num(_)) {
            self.stamp = new_stamp();
            self.numeric = false;
            self.tail.make_any();
            self.pyr.clear();
        }
        let sealed = self.sealed();
        if n == 0 {
            let phase = phase_of(ts, seq);
            self.seals = phase.seals;
            self.pyr.start_at(phase.pyramid);
        }
        if at >= sealed {
            if self.tail.len() == 0 {
                self.tail.reserve_exact(TAIL);
            }
            self.tail.insert(at - sealed, ts, seq, kafka_ts, value);
        } else {
            self.insert_sealed(at, ts, seq, kafka_ts, value);
        }
        if self.numeric {
            // Out of the series while it reads the values through `Nums`.
            let mut pyr = std::mem::take(&mut self.pyr);
            if at == n {
                pyr.appended(&Nums::new(self));
            } else {
                // Rare (late data): everything after `at` moved, so its blocks are redone.
                pyr.rebuild_from(&Nums::new(self), at);
            }
            self.pyr = pyr;
        }
        if self.tail.len() >= self.seal_at() {
            self.seal();
        }
        true
    }

    /// Inserts at sealed index `at`.
    ///
    /// A backfill (history replayed in order behind a later sample already sealed) puts every
    /// sample right after the one before it, i.e. at the same place in the sealed data.
    /// Re-encoding the chunk there for each would cost up to [`MAX_CHUNK`] samples a sample,
    /// so instead such a run is built like the tail's appends ([`Series::seal`]):
    /// - a sample landing inside a chunk of at least [`SPLIT`] samples splits it after the
    ///   sample: `[.. sample][rest]`, one decode and two encodes. The run's next sample then
    ///   lands at the start of `rest`;
    /// - a sample landing at the start of a chunk (not the first) is appended to the run that
    ///   ends before it: it becomes a chunk of its own, merged backwards with the binary
    ///   counter rule ([`Series::merge_back`]), so each sample is re-encoded O(log
    ///   [`MAX_CHUNK`]) times, and the run holds O(log) small chunks. Merging stops at the
    ///   sample, never reaching into `rest`;
    /// - a sample inside a smaller chunk re-encodes it (at most [`SPLIT`] samples), so that
    ///   scattered late samples do not leave tiny chunks behind.
    ///
    /// Scattered late samples can still cut chunks, each at most one more chunk; when chunks
    /// average fewer than [`MAX_CHUNK`] / 8 samples they are merged again ([`Series::compact`]).
    fn insert_sealed(&mut self, at: usize, ts: i64, seq: u64, kafka_ts: i64, value: Value) {
        let c = self.chunk_of(at);
        let Some(old) = self.chunks.get(c) else {
            return;
        };
        self.n_sealed += 1;
        let (start, len, scale) = (old.start, old.len(), old.scale());
        if at == start && c > 0 {
            let mut p = Plain::new(matches!(value, Value::Num(_)));
            p.insert(0, ts, seq, kafka_ts, value);
            let one = Chunk::encode_all(&p, at, Some(0));
            self.chunk_heap += one.heap_bytes();
            self.chunks.insert(c, one);
            self.shift_from(c + 1);
            self.merge_back(c);
        } else if len >= SPLIT {
            let mut head = old.decode();
            head.insert(at - start, ts, seq, kafka_ts, value);
            let rest = head.split_off(at - start + 1);
            // Parts of a chunk may fit a smaller scale than the whole: no hint.
            let head = Chunk::encode_all(&head, start, Some(0));
            let rest = Chunk::encode_all(&rest, at + 1, Some(0));
            self.chunk_heap += head.heap_bytes() + rest.heap_bytes();
            self.replace(c, head);
            self.chunks.insert(c + 1, rest);
            self.shift_from(c + 2);
            self.merge_back(c);
        } else {
            let mut p = old.decode();
            p.insert(at - start, ts, seq, kafka_ts, value);
            // A superset of the chunk's values needs at least its scale.
            let new = Chunk::encode_all(&p, start, scale);
            self.chunk_heap += new.heap_bytes();
            self.replace(c, new);
            self.shift_from(c + 1);
        }
        if self.chunks.len() > self.n_sealed / (MAX_CHUNK / 8) + 32 {
            self.compact();
        }
    }

    /// Moves chunks `c..` one sample later, after an insert before them.
    fn shift_from(&mut self, c: usize) {
        for ch in self.chunks.get_mut(c..).unwrap_or_default() {
            ch.start += 1;
        }
    }

    /// Merges chunk `k` into the one before it while that one is no larger and the sum is at
    /// most [`MAX_CHUNK`]: a binary counter over the run of chunks that ends at `k`, so a run
    /// grown one chunk at a time re-encodes each sample O(log [`MAX_CHUNK`]) times and keeps
    /// O(log) chunks below the limit. Chunks after `k` are left alone.
    fn merge_back(&mut self, mut k: usize) {
        while let Some(j) = k.checked_sub(1)
            && let (Some(a), Some(b)) = (self.chunks.get(j), self.chunks.get(k))
            && a.len() <= b.len()
            && a.len() + b.len() <= MAX_CHUNK
        {
            let merged = Chunk::merged(&self.chunks[j..=k]);
            self.chunk_heap += merged.heap_bytes();
            let b = self.chunks.remove(k);
            self.chunk_heap -= b.heap_bytes();
            self.replace(j, merged);
            k = j;
        }
    }

    /// Merges runs of neighbouring chunks up to [`MAX_CHUNK`] samples, from the front: after
    /// it any two neighbours hold more than [`MAX_CHUNK`], so chunks number at most 2 ·
    /// samples / [`MAX_CHUNK`] + 1. The safety net for late samples that cut chunks in
    /// patterns the binary counter does not merge (e.g. a run in reverse order): it re-encodes
    /// O(samples), and runs again only after another ~6 · samples / [`MAX_CHUNK`] cuts, a few
    /// hundred samples re-encoded per cut at most. Chunks that merge with nothing are kept.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.chunks);
        let mut out = Vec::with_capacity(2 * self.n_sealed / MAX_CHUNK + 1);
        let mut group: Vec<Chunk> = Vec::new();
        let mut group_len = 0;
        for ch in old {
            if group_len + ch.len() > MAX_CHUNK {
                out.extend(self.merge_group(&mut group));
                group_len = 0;
            }
            group_len += ch.len();
            group.push(ch);
        }
        out.extend(self.merge_group(&mut group));
        self.chunks = out;
    }

    /// [`Chunk::merged`] of `group`, which it empties, kept in `chunk_heap`; a single chunk as it is.
    fn merge_group(&mut self, group: &mut Vec<Chunk>) -> Option<Chunk> {
        if group.len() <= 1 {
            return group.pop();
        }
        let m = Chunk::merged(group);
        self.chunk_heap += m.heap_bytes();
        for ch in group.drain(..) {
            self.chunk_heap -= ch.heap_bytes();
        }
        Some(m)
    }

    /// Puts `new` (already counted in `chunk_heap`) in place of chunk `c`.
    fn replace(&mut self, c: usize, new: Chunk) {
        if let Some(slot) = self.chunks.get_mut(c) {
            let old = std::mem::replace(slot, new);
            self.chunk_heap -= old.heap_bytes();
        }
    }

    /// Tail length at which it is sealed: [`TAIL`], except for a series' first seal, which
    /// takes 1 to 7 samples by its phase, so that the series of a fleet that started together
    /// do not all seal on the same sample.
    fn seal_at(&self) -> usize {
        match (self.chunks.is_empty(), self.tail.rows.first()) {
            // The first sample is still in the tail: `insert` took the phase from it (or from
            // one a late sample has since put behind it; either is spread the same).
            (true, Some(r)) => 1 + phase_of(r.ts, r.seq).first_seal,
            _ => TAIL,
        }
    }

    /// Compresses the tail into a chunk, then merges the chunks of the block of seals this one
    /// completes: after seal count `c` (counted from the series' phase) with `2^k` its largest
    /// power-of-two divisor (at most `2^MERGE_LEVELS`), the last `k + 1` chunks (blocks of
    /// `2^(k-1)`, ..., 2, 1 and 1 seals) become one. A binary counter: each sample is
    /// re-encoded once per level, and the series holds O(log) chunks below the largest. The
    /// phase puts the costly merges of different series at different seals; without it,
    /// series that started together merged their largest blocks on the same sample.
    fn seal(&mut self) {
        // The last sample, and any others at its time, stay open: records of one instant
        // often arrive out of key order, and a sample from ahead (a clock running early) is
        // followed by many earlier ones; each landing in a sealed chunk would re-encode it.
        let last = self.tail.rows.last().map(|r| r.ts);
        let same = self
            .tail
            .rows
            .iter()
            .rev()
            .take_while(|r| Some(r.ts) == last)
            .count();
        let n = match self.tail.len() - same.max(1) {
            0 => self.tail.len(),
            n => n,
        };
        let ch = Chunk::encode_prefix(&self.tail, n, self.sealed(), Some(0));
        self.chunk_heap += ch.heap_bytes();
        self.n_sealed += ch.len();
        if self.chunks.len() < 8 {
            // Most series are short: no doubling slack for their few chunks.
            self.chunks.reserve_exact(1);
        }
        self.chunks.push(ch);
        if n == self.tail.len() {
            self.tail.clear(self.numeric);
        } else {
            self.tail.drain_front(n);
        }
        let blocks = 1u8 << MERGE_LEVELS;
        self.seals = self.seals.wrapping_add(1) % blocks;
        let level = if self.seals == 0 {
            MERGE_LEVELS
        } else {
            self.seals.trailing_zeros()
        };
        // The block's chunks; fewer at a series' start (its phase counts seals it never had),
        // or where late samples cut chunks (never past MAX_CHUNK samples).
        let mut take = 0;
        let mut len = 0;
        for ch in self.chunks.iter().rev().take(level as usize + 1) {
            if len + ch.len() > MAX_CHUNK {
                break;
            }
            len += ch.len();
            take += 1;
        }
        if take > 1 {
            let mut group = self.chunks.split_off(self.chunks.len() - take);
            let merged = self.merge_group(&mut group);
            self.chunks.extend(merged);
        }
    }

    /// The tie-break keys of other records' samples with exactly this event time and value:
    /// candidates for a producer that wrote the same record twice.
    #[must_use]
    pub fn same_at(&self, ts: i64, seq: u64, value: &Value) -> Vec<u64> {
        // In-order appends (the common case) cannot repeat an earlier sample.
        if self.len().checked_sub(1).is_none_or(|i| self.ts_at(i) < ts) {
            return Vec::new();
        }
        (self.count_before(ts)..self.count_through(ts))
            .filter_map(|i| {
                let s = self.seq_at(i)?;
                (s != seq && self.value_is(i, value)).then_some(s)
            })
            .collect()
    }

    /// The index of the sample with exactly this key.
    #[must_use]
    pub fn find(&self, ts: i64, seq: u64) -> Option<usize> {
        (self.count_before(ts)..self.count_through(ts)).find(|&i| self.seq_at(i) == Some(seq))
    }

    /// True when sample `i` holds exactly `value` (numbers compared bit for bit).
    #[must_use]
    pub fn value_is(&self, i: usize, value: &Value) -> bool {
        match (self.numeric, value) {
            (true, Value::Num(f)) => self.num(i).is_some_and(|x| x.to_bits() == f.to_bits()),
            (true, _) => false,
            (false, value) => self.value(i).as_ref() == Some(value),
        }
    }

    /// Index of the sample in force at `t`: the last one with `ts <= t`.
    #[must_use]
    pub fn index_at(&self, t: i64) -> Option<usize> {
        self.count_through(t).checked_sub(1)
    }

    /// The sample at index `i`.
    #[must_use]
    pub fn sample(&self, i: usize) -> Option<Sample> {
        match self.locate(i)? {
            At::Tail(j) => {
                let r = self.tail.rows.get(j)?;
                Some(Sample {
                    ts: r.ts,
                    seq: r.seq,
                    kafka_ts: r.kafka_ts,
                    value: self.tail.value(j)?,
                })
            }
            At::Chunk(ch, j) => Some(Sample {
                ts: ch.ts(j),
                seq: ch.seq(j),
                kafka_ts: ch.kafka_ts(j),
                value: ch.value(j)?,
            }),
        }
    }

    /// The sample in force at `t`.
    #[must_use]
    pub fn at(&self, t: i64) -> Option<Sample> {
        self.sample(self.index_at(t)?)
    }

    /// The value at index `i`.
    #[must_use]
    pub fn value(&self, i: usize) -> Option<Value> {
        match self.locate(i)? {
            At::Tail(j) => self.tail.value(j),
            At::Chunk(ch, j) => ch.value(j),
        }
    }

    /// The numeric value at index `i`, if numeric.
    #[must_use]
    pub fn num(&self, i: usize) -> Option<f64> {
        match self.locate(i)? {
            At::Tail(j) => self.tail.num(j),
            At::Chunk(ch, j) => ch.num(j),
        }
    }

    /// The event time of the last sample in the open tail (0 without one): a read of the
    /// line the next append writes, to warm it.
    #[must_use]
    pub(crate) fn last_ts_hint(&self) -> i64 {
        self.tail.rows.last().map_or(0, |r| r.ts)
    }

    /// Event time of sample `i`.
    #[must_use]
    pub fn ts(&self, i: usize) -> Option<i64> {
        match self.locate(i)? {
            At::Tail(j) => self.tail.ts(j),
            At::Chunk(ch, j) => Some(ch.ts(j)),
        }
    }

    /// Event times of the samples in `r` (clamped to the series), in order, decoding each
    /// chunk's run in sequence: the replacement for a slice of times, which compressed
    /// columns cannot lend.
    pub fn times_in(&self, r: Range<usize>) -> impl Iterator<Item = i64> + '_ {
        self.walk(r, Chunk::ts, |p, j| p.ts(j).unwrap_or(0))
    }

    /// `(event time, number)` of the samples in `r`, in order.
    fn points_in(&self, r: Range<usize>) -> impl Iterator<Item = (i64, Option<f64>)> + '_ {
        self.walk(
            r,
            |c, j| (c.ts(j), c.num(j)),
            |p, j| (p.ts(j).unwrap_or(0), p.num(j)),
        )
    }

    /// Maps each index of `r` (clamped) through the chunk holding it, in order.
    fn walk<'a, T: 'a>(
        &'a self,
        r: Range<usize>,
        in_chunk: impl Fn(&'a Chunk, usize) -> T + Copy + 'a,
        in_tail: impl Fn(&'a Plain, usize) -> T + 'a,
    ) -> impl Iterator<Item = T> + 'a {
        let (lo, hi) = (r.start, r.end.min(self.len()));
        let sealed = self.sealed();
        let first = if lo < sealed {
            self.chunk_of(lo)
        } else {
            self.chunks.len()
        };
        let chunks = self.chunks[first..]
            .iter()
            .take_while(move |c| c.start < hi)
            .flat_map(move |c| {
                let a = lo.max(c.start) - c.start;
                let b = hi.min(c.start + c.len()) - c.start;
                (a..b).map(move |j| in_chunk(c, j))
            });
        let tail = (lo.max(sealed)..hi.max(sealed)).map(move |i| in_tail(&self.tail, i - sealed));
        chunks.chain(tail)
    }

    /// Indices of the samples with `from <= ts <= to`.
    #[must_use]
    pub fn range(&self, from: i64, to: i64) -> Range<usize> {
        let lo = self.count_before(from);
        let hi = self.count_through(to);
        lo..hi.max(lo)
    }

    /// Returns memory freed by eviction to the allocator, keeping a quarter of headroom so the
    /// next appends do not immediately reallocate again.
    pub fn shrink(&mut self) {
        let n = self.chunks.len();
        self.chunks.shrink_to(n + n / 4 + 1);
        self.tail.shrink_to(TAIL);
        self.pyr.shrink();
    }

    /// Drops samples older than `t`, keeping the one in force at `t` so that every answer for
    /// times `>= t` stays exact. Returns how many samples were dropped.
    pub fn evict_before(&mut self, t: i64) -> usize {
        let keep_from = match self.index_at(t) {
            Some(i) => self.count_before(t).min(i),
            None => 0,
        };
        if keep_from == 0 {
            return 0;
        }
        let sealed = self.sealed();
        if keep_from >= sealed {
            self.chunks.clear();
            self.chunk_heap = 0;
            self.n_sealed = 0;
            self.tail.drain_front(keep_from - sealed);
        } else {
            let c = self.chunk_of(keep_from);
            for old in self.chunks.drain(..c) {
                self.chunk_heap -= old.heap_bytes();
            }
            if let Some(first) = self.chunks.first()
                && first.start < keep_from
            {
                let mut p = first.decode();
                p.drain_front(keep_from - first.start);
                let new = Chunk::encode_all(&p, keep_from, Some(0));
                self.chunk_heap += new.heap_bytes();
                self.replace(0, new);
            }
            for ch in &mut self.chunks {
                ch.start -= keep_from;
            }
            self.n_sealed -= keep_from;
        }
        if self.numeric {
            self.pyr.evicted(keep_from);
        }
        keep_from
    }
}

/// The first index in `(i, hi]` whose time fails `pred`, given that `pred` holds for
/// `ts(i)` and is monotone (true, then false). Searches outwards from `guess` with doubling
/// steps, then bisects: with a good guess (the previous bucket's length) the few probes share
/// a chunk or two, where a search from `i` would touch a chunk per probe.
fn gallop(
    ts: impl Fn(usize) -> i64,
    i: usize,
    hi: usize,
    guess: usize,
    pred: impl Fn(i64) -> bool,
) -> usize {
    let g = guess.clamp(i + 1, hi);
    // `pred` holds below `lo` and fails at `up` (or `up == hi`).
    let (mut lo, mut up) = if g < hi && pred(ts(g)) {
        let (mut lo, mut step) = (g + 1, 1);
        let up = loop {
            let probe = lo + step - 1;
            if probe >= hi {
                break hi;
            }
            if !pred(ts(probe)) {
                break probe;
            }
            lo = probe + 1;
            step *= 2;
        };
        (lo, up)
    } else {
        let (mut up, mut step) = (g, 1);
        let lo = loop {
            if up - i <= step {
                break i + 1;
            }
            let probe = up - step;
            if pred(ts(probe)) {
                break probe + 1;
            }
            up = probe;
            step *= 2;
        };
        (lo, up)
    };
    while lo < up {
        let mid = lo + (up - lo) / 2;
        if pred(ts(mid)) {
            lo = mid + 1;
        } else {
            up = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests;

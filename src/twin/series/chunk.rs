//! Sealed, immutable column chunks: the compressed form of a run of samples.
//!
//! Each column (event time, tie-break key, Kafka time, value) is stored as the residuals from
//! a straight line through its first and last entry, offset so the smallest is zero, bit-packed
//! at the width of the largest ("frame of reference"). Regular event times and keys (the
//! common case: a fixed period, one partition) pack to zero bits; the Kafka time is stored
//! relative to the event time. Unlike delta coding, every entry decodes in O(1) from its
//! index, so a binary search inside a chunk never decodes the chunk.
//!
//! Numbers that are short decimals (what JSON telemetry carries) are stored as integers times
//! a power of ten, chosen per chunk so that every value decodes bit for bit; other numbers keep
//! their IEEE bits. Chunks holding strings or booleans code their values through a per-chunk
//! dictionary.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::super::decode::Value;

/// Decimal scales tried, `10^0 ..= 10^MAX_SCALE`; every power is exact in an `f64`.
const MAX_SCALE: u8 = 15;
/// Marks a value column of raw IEEE bits.
const RAW: u8 = u8::MAX;
/// Marks a value column of dictionary codes.
const DICT: u8 = u8::MAX - 1;
/// Largest decimal integer accepted: beyond 2^53 not every integer is an `f64`.
const MAX_DECIMAL: f64 = 9_007_199_254_740_992.0;

const POW10: [f64; MAX_SCALE as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Values of a run of samples, uncompressed.
#[derive(Debug, Clone)]
pub(super) enum Vals {
    Num(Vec<f64>),
    Any(Vec<Value>),
}

impl Vals {
    /// The general form, for a run that must hold a non-number.
    pub(super) fn make_any(&mut self) {
        if let Vals::Num(v) = self {
            *self = Vals::Any(v.iter().map(|&f| Value::Num(f)).collect());
        }
    }
}

/// A run of samples as plain columns: the open tail of a series, and a chunk while it is
/// re-encoded (late insert, eviction, merge).
#[derive(Debug, Clone)]
pub(super) struct Plain {
    pub(super) ts: Vec<i64>,
    pub(super) seq: Vec<u64>,
    pub(super) kafka_ts: Vec<i64>,
    pub(super) vals: Vals,
}

/// A change to the capacity of each of a [`Plain`]'s columns.
#[derive(Debug, Clone, Copy)]
enum Resize {
    /// `Vec::reserve_exact(n)`.
    ReserveExact(usize),
    /// `Vec::shrink_to(n)`.
    ShrinkTo(usize),
}

impl Resize {
    fn apply<T>(self, column: &mut Vec<T>) {
        match self {
            Resize::ReserveExact(n) => column.reserve_exact(n),
            Resize::ShrinkTo(n) => column.shrink_to(n),
        }
    }
}

impl Plain {
    pub(super) fn new(numeric: bool) -> Self {
        Self {
            ts: Vec::new(),
            seq: Vec::new(),
            kafka_ts: Vec::new(),
            vals: if numeric {
                Vals::Num(Vec::new())
            } else {
                Vals::Any(Vec::new())
            },
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ts.len()
    }

    /// Empties the run, keeping its allocations; `numeric` picks the value column.
    pub(super) fn clear(&mut self, numeric: bool) {
        self.ts.clear();
        self.seq.clear();
        self.kafka_ts.clear();
        match (&mut self.vals, numeric) {
            (Vals::Num(v), true) => v.clear(),
            (Vals::Any(v), false) => v.clear(),
            (vals, _) => *vals = Plain::new(numeric).vals,
        }
    }

    /// Heap bytes held.
    pub(super) fn bytes(&self) -> usize {
        let v = match &self.vals {
            Vals::Num(v) => v.capacity() * 8,
            Vals::Any(v) => v.capacity() * std::mem::size_of::<Value>(),
        };
        (self.ts.capacity() + self.seq.capacity() + self.kafka_ts.capacity()) * 8 + v
    }

    pub(super) fn reserve_exact(&mut self, n: usize) {
        self.resize(Resize::ReserveExact(n));
    }

    pub(super) fn shrink_to(&mut self, n: usize) {
        self.resize(Resize::ShrinkTo(n));
    }

    /// Resizes every column's allocation the same way, so the four stay in step.
    fn resize(&mut self, r: Resize) {
        r.apply(&mut self.ts);
        r.apply(&mut self.seq);
        r.apply(&mut self.kafka_ts);
        match &mut self.vals {
            Vals::Num(v) => r.apply(v),
            Vals::Any(v) => r.apply(v),
        }
    }

    /// Inserts at `at`; the value must fit the column (see [`Vals::make_any`]).
    pub(super) fn insert(&mut self, at: usize, ts: i64, seq: u64, kafka_ts: i64, value: Value) {
        if !matches!(value, Value::Num(_)) {
            self.vals.make_any();
        }
        self.ts.insert(at, ts);
        self.seq.insert(at, seq);
        self.kafka_ts.insert(at, kafka_ts);
        match (&mut self.vals, value) {
            (Vals::Num(v), Value::Num(f)) => v.insert(at, f),
            (Vals::Any(v), value) => v.insert(at, value),
            (Vals::Num(_), _) => {}
        }
    }

    /// Removes the first `n` samples.
    pub(super) fn drain_front(&mut self, n: usize) {
        self.ts.drain(..n);
        self.seq.drain(..n);
        self.kafka_ts.drain(..n);
        match &mut self.vals {
            Vals::Num(v) => drop(v.drain(..n)),
            Vals::Any(v) => drop(v.drain(..n)),
        }
    }

    /// Splits off the samples from `at` on.
    pub(super) fn split_off(&mut self, at: usize) -> Plain {
        Plain {
            ts: self.ts.split_off(at),
            seq: self.seq.split_off(at),
            kafka_ts: self.kafka_ts.split_off(at),
            vals: match &mut self.vals {
                Vals::Num(v) => Vals::Num(v.split_off(at)),
                Vals::Any(v) => Vals::Any(v.split_off(at)),
            },
        }
    }

    pub(super) fn num(&self, i: usize) -> Option<f64> {
        match &self.vals {
            Vals::Num(v) => v.get(i).copied(),
            Vals::Any(v) => match v.get(i) {
                Some(Value::Num(f)) => Some(*f),
                _ => None,
            },
        }
    }

    pub(super) fn value(&self, i: usize) -> Option<Value> {
        match &self.vals {
            Vals::Num(v) => v.get(i).map(|&f| Value::Num(f)),
            Vals::Any(v) => v.get(i).cloned(),
        }
    }
}

/// One bit-packed column: entry `i` is `base + step·i + r_i` (wrapping), `r_i` in `width` bits.
#[derive(Debug, Clone, Copy, Default)]
struct Line {
    base: i64,
    step: i64,
    width: u8,
}

impl Line {
    /// The line through the first and last of `xs`, and the residuals' width. Exact whatever
    /// the values: the arithmetic wraps, and the residuals span less than 2^64.
    fn fit<I>(xs: I) -> Line
    where
        I: DoubleEndedIterator<Item = i64> + ExactSizeIterator + Clone,
    {
        let n = xs.len();
        let (Some(first), Some(last)) = (xs.clone().next(), xs.clone().next_back()) else {
            return Line::default();
        };
        let step = if n > 1 {
            let s = (i128::from(last) - i128::from(first)) / (n as i128 - 1);
            i64::try_from(s).unwrap_or(0)
        } else {
            0
        };
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut pred = 0i64;
        for x in xs {
            let y = x.wrapping_sub(pred);
            lo = lo.min(y);
            hi = hi.max(y);
            pred = pred.wrapping_add(step);
        }
        let spread = hi.wrapping_sub(lo) as u64;
        Line {
            base: lo,
            step,
            width: (64 - spread.leading_zeros()) as u8,
        }
    }

    fn write(self, xs: impl Iterator<Item = i64>, w: &mut BitWriter) {
        if self.width == 0 {
            return;
        }
        let mut pred = self.base;
        for x in xs {
            w.push(x.wrapping_sub(pred) as u64, self.width);
            pred = pred.wrapping_add(self.step);
        }
    }

    #[inline]
    fn get(self, words: &[u64], off: usize, i: usize) -> i64 {
        let r = read(words, off + i * self.width as usize, self.width);
        self.base
            .wrapping_add(r as i64)
            .wrapping_add(self.step.wrapping_mul(i as i64))
    }
}

/// Reads `width` bits at bit position `pos`.
#[inline]
fn read(words: &[u64], pos: usize, width: u8) -> u64 {
    if width == 0 {
        return 0;
    }
    let (w, b) = (pos >> 6, pos & 63);
    let lo = words.get(w).copied().unwrap_or(0);
    let hi = words.get(w + 1).copied().unwrap_or(0);
    let both = u128::from(lo) | (u128::from(hi) << 64);
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    ((both >> b) as u64) & mask
}

/// Appends bit fields to a word vector.
struct BitWriter {
    words: Vec<u64>,
    bits: usize,
}

impl BitWriter {
    fn push(&mut self, x: u64, width: u8) {
        let b = self.bits & 63;
        if b == 0 {
            self.words.push(0);
        }
        let last = self.words.len() - 1;
        self.words[last] |= x << b;
        if b + width as usize > 64 {
            self.words.push(x >> (64 - b));
        }
        self.bits += width as usize;
    }
}

/// A sealed run of samples, compressed. Immutable: a change decodes it to [`Plain`] and
/// encodes anew.
///
/// `words` starts with a header word (count, column widths, value scale, which line
/// parameters are stored), then the non-zero line parameters, then the packed columns: kept
/// out of line because a fleet holds millions of chunks, and 48 bytes of struct per chunk
/// (instead of 128) is a third of a byte per sample.
#[derive(Debug, Clone)]
pub(super) struct Chunk {
    /// Index in the series of the first sample.
    pub(super) start: usize,
    /// Event time of the first sample, for the search over chunks without touching `words`.
    pub(super) first_ts: i64,
    words: Box<[u64]>,
    /// Distinct values of a [`DICT`] chunk, in order of first appearance.
    dict: Box<[Value]>,
}

/// The header word's fields.
#[derive(Clone, Copy)]
struct Header {
    n: usize,
    widths: [u8; 4],
    scale: u8,
    /// Bit `2c` set: column `c`'s base is stored; bit `2c + 1`: its step.
    flags: u8,
}

impl Header {
    fn pack(self) -> u64 {
        let mut x = self.n as u64;
        for (c, &w) in self.widths.iter().enumerate() {
            x |= u64::from(w) << (16 + 7 * c);
        }
        x | u64::from(self.scale) << 44 | u64::from(self.flags) << 52
    }

    fn unpack(x: u64) -> Header {
        let mut widths = [0u8; 4];
        for (c, w) in widths.iter_mut().enumerate() {
            *w = ((x >> (16 + 7 * c)) & 0x7f) as u8;
        }
        Header {
            n: (x & 0xffff) as usize,
            widths,
            scale: (x >> 44) as u8,
            flags: (x >> 52) as u8,
        }
    }
}

/// Most samples in a chunk: the header's count has 16 bits.
pub(super) const MAX_SAMPLES: usize = u16::MAX as usize;

/// Dictionary key: numbers by their bits, so that `-0.0`, `0.0` and NaNs stay distinct.
#[derive(PartialEq, Eq, Hash)]
enum Key {
    Num(u64),
    Bool(bool),
    Str(Arc<str>),
}

fn key(v: &Value) -> Key {
    match v {
        Value::Num(f) => Key::Num(f.to_bits()),
        Value::Bool(b) => Key::Bool(*b),
        Value::Str(s) => Key::Str(s.clone()),
    }
}

/// The values of `v` as integers at the smallest decimal scale from `from` on at which every
/// one decodes bit for bit, and that scale; `None` if there is none.
fn decimal(v: &[f64], from: u8) -> Option<(Vec<i64>, u8)> {
    let mut ints = Vec::with_capacity(v.len());
    let e = (from..=MAX_SCALE).find(|&e| {
        let p = POW10[e as usize];
        ints.clear();
        v.iter().all(|&f| {
            let x = (f * p).round();
            ints.push(x as i64);
            // Through `i64` as stored, which also turns -0.0 into 0.0 (so it stays raw).
            x.abs() <= MAX_DECIMAL && ((x as i64) as f64 / p).to_bits() == f.to_bits()
        })
    })?;
    Some((ints, e))
}

impl Chunk {
    /// Compresses `p` (1 to [`MAX_SAMPLES`] samples) into a chunk starting at series index
    /// `start`. `scale_hint` is a scale no larger than the smallest that fits (e.g. the larger
    /// of two merged chunks'), where the search starts, or `None` when no scale fits (a part
    /// was raw: whatever fits the whole fits every part), which skips the search.
    pub(super) fn encode_all(p: &Plain, start: usize, scale_hint: Option<u8>) -> Chunk {
        Self::encode_prefix(p, p.len(), start, scale_hint)
    }

    /// [`Chunk::encode_all`] of the first `n` samples of `p` only.
    pub(super) fn encode_prefix(
        p: &Plain,
        n: usize,
        start: usize,
        scale_hint: Option<u8>,
    ) -> Chunk {
        // The series never builds larger chunks (none exceeds its merge limit).
        debug_assert!(n <= MAX_SAMPLES, "chunk of {n} samples");
        let n = n.min(MAX_SAMPLES).min(p.len());
        let ts = || p.ts[..n].iter().copied();
        let seq = || p.seq[..n].iter().map(|&s| s as i64);
        let kafka = || {
            p.kafka_ts[..n]
                .iter()
                .zip(&p.ts[..n])
                .map(|(&k, &t)| k.wrapping_sub(t))
        };
        let nums: Option<Cow<'_, [f64]>> = match &p.vals {
            Vals::Num(v) => Some(Cow::Borrowed(&v[..n])),
            Vals::Any(v) => v[..n]
                .iter()
                .map(|x| match x {
                    Value::Num(f) => Some(*f),
                    _ => None,
                })
                .collect::<Option<Vec<f64>>>()
                .map(Cow::Owned),
        };
        let (vals, scale, dict): (Vec<i64>, u8, Box<[Value]>) = match nums {
            Some(v) => match scale_hint.and_then(|e| decimal(&v, e.min(MAX_SCALE))) {
                Some((ints, e)) => (ints, e, Box::default()),
                None => (
                    v.iter().map(|&f| f.to_bits() as i64).collect(),
                    RAW,
                    Box::default(),
                ),
            },
            None => {
                let mut dict = Vec::new();
                let mut codes = Vec::with_capacity(n);
                let mut seen: HashMap<Key, i64, foldhash::fast::RandomState> = HashMap::default();
                if let Vals::Any(v) = &p.vals {
                    for x in &v[..n] {
                        let code = *seen.entry(key(x)).or_insert_with(|| {
                            dict.push(x.clone());
                            dict.len() as i64 - 1
                        });
                        codes.push(code);
                    }
                }
                (codes, DICT, dict.into_boxed_slice())
            }
        };
        let lines = [
            Line::fit(ts()),
            Line::fit(seq()),
            Line::fit(kafka()),
            Line::fit(vals.iter().copied()),
        ];
        let mut flags = 0u8;
        let mut params = [0u64; 8];
        let mut k = 0;
        for (c, l) in lines.iter().enumerate() {
            for (bit, x) in [(2 * c, l.base), (2 * c + 1, l.step)] {
                if x != 0 {
                    flags |= 1 << bit;
                    params[k] = x as u64;
                    k += 1;
                }
            }
        }
        let header = Header {
            n,
            widths: lines.map(|l| l.width),
            scale,
            flags,
        };
        let bits: usize = lines.iter().map(|l| l.width as usize).sum::<usize>() * n;
        let mut w = BitWriter {
            words: Vec::with_capacity(1 + k + bits.div_ceil(64)),
            bits: 0,
        };
        w.words.push(header.pack());
        w.words.extend_from_slice(&params[..k]);
        w.bits = w.words.len() * 64;
        lines[0].write(ts(), &mut w);
        lines[1].write(seq(), &mut w);
        lines[2].write(kafka(), &mut w);
        lines[3].write(vals.iter().copied(), &mut w);
        Chunk {
            start,
            first_ts: p.ts.first().copied().unwrap_or(0),
            words: w.words.into_boxed_slice(),
            dict,
        }
    }

    fn header(&self) -> Header {
        Header::unpack(self.words.first().copied().unwrap_or(0))
    }

    /// Column `c`'s line and the bit offset of its residuals.
    #[inline]
    fn column(&self, c: usize) -> (Line, usize) {
        let h = self.header();
        let mut at = 1;
        let mut line = Line::default();
        for k in 0..4 {
            let word = |at: usize| self.words.get(at).copied().unwrap_or(0) as i64;
            if h.flags & (1 << (2 * k)) != 0 {
                if k == c {
                    line.base = word(at);
                }
                at += 1;
            }
            if h.flags & (1 << (2 * k + 1)) != 0 {
                if k == c {
                    line.step = word(at);
                }
                at += 1;
            }
        }
        line.width = h.widths[c];
        let before: usize = h.widths[..c].iter().map(|&w| w as usize).sum();
        (line, at * 64 + before * h.n)
    }

    #[inline]
    fn col(&self, c: usize, i: usize) -> i64 {
        let (line, off) = self.column(c);
        line.get(&self.words, off, i)
    }

    /// Number of samples.
    pub(super) fn len(&self) -> usize {
        self.header().n
    }

    /// Heap bytes held, besides the chunk itself.
    pub(super) fn heap_bytes(&self) -> usize {
        self.words.len() * 8 + self.dict.len() * std::mem::size_of::<Value>()
    }

    /// The decimal scale of the values, for [`Chunk::encode_all`]'s hint: `None` when raw, 0 for
    /// a dictionary (no constraint).
    pub(super) fn scale(&self) -> Option<u8> {
        match self.header().scale {
            RAW => None,
            DICT => Some(0),
            e => Some(e),
        }
    }

    #[inline]
    pub(super) fn ts(&self, i: usize) -> i64 {
        self.col(0, i)
    }

    pub(super) fn seq(&self, i: usize) -> u64 {
        self.col(1, i) as u64
    }

    pub(super) fn kafka_ts(&self, i: usize) -> i64 {
        self.col(2, i).wrapping_add(self.ts(i))
    }

    /// The value at `i` if it is a number.
    #[inline]
    pub(super) fn num(&self, i: usize) -> Option<f64> {
        let x = self.col(3, i);
        match self.header().scale {
            RAW => Some(f64::from_bits(x as u64)),
            DICT => match self.dict.get(x as usize) {
                Some(Value::Num(f)) => Some(*f),
                _ => None,
            },
            e => Some(x as f64 / POW10[e as usize]),
        }
    }

    pub(super) fn value(&self, i: usize) -> Option<Value> {
        if self.header().scale == DICT {
            self.dict.get(self.col(3, i) as usize).cloned()
        } else {
            self.num(i).map(Value::Num)
        }
    }

    /// True when every value is a number (no dictionary).
    pub(super) fn is_numeric(&self) -> bool {
        self.header().scale != DICT
    }

    /// Calls `f(i, value)` for `i` in `a..b` (within the chunk), NaN for a non-number.
    #[inline]
    pub(super) fn each_num(&self, a: usize, b: usize, mut f: impl FnMut(usize, f64)) {
        let (line, off) = self.column(3);
        match self.header().scale {
            DICT => {
                for i in a..b {
                    match self.dict.get(line.get(&self.words, off, i) as usize) {
                        Some(Value::Num(x)) => f(i, *x),
                        _ => f(i, f64::NAN),
                    }
                }
            }
            RAW => {
                for i in a..b {
                    f(i, f64::from_bits(line.get(&self.words, off, i) as u64));
                }
            }
            e => {
                let p = POW10[e as usize];
                for i in a..b {
                    f(i, line.get(&self.words, off, i) as f64 / p);
                }
            }
        }
    }

    /// The chunk's samples as plain columns.
    pub(super) fn decode(&self) -> Plain {
        let mut p = Plain::new(self.is_numeric());
        p.reserve_exact(self.len());
        self.decode_into(&mut p);
        p
    }

    /// Appends the chunk's samples to `p` (which must come before them): a merge decodes two
    /// chunks into one buffer.
    pub(super) fn decode_into(&self, p: &mut Plain) {
        let n = self.len();
        let base = p.ts.len();
        let (line, off) = self.column(0);
        p.ts.extend((0..n).map(|i| line.get(&self.words, off, i)));
        let (line, off) = self.column(1);
        p.seq
            .extend((0..n).map(|i| line.get(&self.words, off, i) as u64));
        let (line, off) = self.column(2);
        let ts = p.ts.get(base..).unwrap_or_default();
        p.kafka_ts.extend(
            ts.iter()
                .enumerate()
                .map(|(i, &t)| line.get(&self.words, off, i).wrapping_add(t)),
        );
        if !self.is_numeric() {
            p.vals.make_any();
        }
        match (&mut p.vals, self.is_numeric()) {
            (Vals::Num(v), _) => self.each_num(0, n, |_, x| v.push(x)),
            (Vals::Any(v), true) => self.each_num(0, n, |_, x| v.push(Value::Num(x))),
            (Vals::Any(v), false) => {
                let (line, off) = self.column(3);
                v.extend((0..n).filter_map(|i| {
                    self.dict
                        .get(line.get(&self.words, off, i) as usize)
                        .cloned()
                }));
            }
        }
    }
}

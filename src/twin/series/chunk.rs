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

use std::collections::HashMap;

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

/// One sample of a [`Plain`] run: its keys and, while the run is numeric, its value, side by
/// side. A series appends to its open tail once per sample; with a column each, that append
/// wrote four allocations (four cache misses per sample over a 100k-car fleet) and the tail
/// of every series held four.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Row {
    pub(super) ts: i64,
    pub(super) seq: u64,
    pub(super) kafka_ts: i64,
    /// The value while the run is numeric; unused once it holds other values.
    num: f64,
}

/// A run of samples, uncompressed: the open tail of a series, and a chunk while it is
/// re-encoded (late insert, eviction, merge).
#[derive(Debug, Clone)]
pub(super) struct Plain {
    pub(super) rows: Vec<Row>,
    /// The values of a run that must hold a non-number, by row; `None` while every value is
    /// a number, kept in the rows.
    any: Option<Vec<Value>>,
}

/// A change to the capacity of each of a [`Plain`]'s allocations.
#[derive(Debug, Clone, Copy)]
enum Resize {
    /// `Vec::reserve_exact(n)`.
    ReserveExact(usize),
    /// `Vec::shrink_to(n)`.
    ShrinkTo(usize),
}

impl Resize {
    fn apply<T>(self, v: &mut Vec<T>) {
        match self {
            Resize::ReserveExact(n) => v.reserve_exact(n),
            Resize::ShrinkTo(n) => v.shrink_to(n),
        }
    }
}

impl Plain {
    pub(super) fn new(numeric: bool) -> Self {
        Self {
            rows: Vec::new(),
            any: (!numeric).then(Vec::new),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Empties the run, keeping its allocations; `numeric` picks where values go.
    pub(super) fn clear(&mut self, numeric: bool) {
        self.rows.clear();
        match (&mut self.any, numeric) {
            (None, true) => {}
            (Some(v), false) => v.clear(),
            (any, _) => *any = (!numeric).then(Vec::new),
        }
    }

    /// Heap bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>()
            + self
                .any
                .as_ref()
                .map_or(0, |v| v.capacity() * std::mem::size_of::<Value>())
    }

    pub(super) fn reserve_exact(&mut self, n: usize) {
        self.resize(Resize::ReserveExact(n));
    }

    pub(super) fn shrink_to(&mut self, n: usize) {
        self.resize(Resize::ShrinkTo(n));
    }

    /// Resizes the rows and the values the same way, so the two stay in step.
    fn resize(&mut self, r: Resize) {
        r.apply(&mut self.rows);
        if let Some(v) = &mut self.any {
            r.apply(v);
        }
    }

    /// The general form, for a run that must hold a non-number.
    pub(super) fn make_any(&mut self) {
        if self.any.is_none() {
            self.any = Some(self.rows.iter().map(|r| Value::Num(r.num)).collect());
        }
    }

    /// Inserts at `at`, turning the run general first if `value` is not a number.
    pub(super) fn insert(&mut self, at: usize, ts: i64, seq: u64, kafka_ts: i64, value: Value) {
        if !matches!(value, Value::Num(_)) {
            self.make_any();
        }
        let mut row = Row {
            ts,
            seq,
            kafka_ts,
            num: 0.0,
        };
        match (&mut self.any, value) {
            (None, Value::Num(f)) => row.num = f,
            (Some(v), value) => v.insert(at, value),
            (None, _) => {}
        }
        self.rows.insert(at, row);
    }

    /// Removes the first `n` samples.
    pub(super) fn drain_front(&mut self, n: usize) {
        self.rows.drain(..n);
        if let Some(v) = &mut self.any {
            v.drain(..n);
        }
    }

    /// Splits off the samples from `at` on.
    pub(super) fn split_off(&mut self, at: usize) -> Plain {
        Plain {
            rows: self.rows.split_off(at),
            any: self.any.as_mut().map(|v| v.split_off(at)),
        }
    }

    pub(super) fn ts(&self, i: usize) -> Option<i64> {
        self.rows.get(i).map(|r| r.ts)
    }

    pub(super) fn num(&self, i: usize) -> Option<f64> {
        match &self.any {
            None => self.rows.get(i).map(|r| r.num),
            Some(v) => match v.get(i) {
                Some(Value::Num(f)) => Some(*f),
                _ => None,
            },
        }
    }

    pub(super) fn value(&self, i: usize) -> Option<Value> {
        match &self.any {
            None => self.rows.get(i).map(|r| Value::Num(r.num)),
            Some(v) => v.get(i).cloned(),
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
///
/// Text is borrowed: cloning the `Arc` for each sample of each encode wrote its reference
/// count every time, and the decoder's thread writes the same count for every record it
/// decodes with that text.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Num(u64),
    Bool(bool),
    Str(&'a str),
}

fn key(v: &Value) -> Key<'_> {
    match v {
        Value::Num(f) => Key::Num(f.to_bits()),
        Value::Bool(b) => Key::Bool(*b),
        Value::Str(s) => Key::Str(s),
    }
}

/// Codes values in order of first appearance: a dictionary chunk's value column.
struct DictCoder<'a> {
    dict: Vec<Value>,
    seen: HashMap<Key<'a>, i64, foldhash::fast::RandomState>,
}

impl<'a> DictCoder<'a> {
    fn new() -> Self {
        Self {
            dict: Vec::new(),
            seen: HashMap::default(),
        }
    }

    /// The code of `x`, entered in the dictionary the first time.
    fn code(&mut self, x: &'a Value) -> i64 {
        let dict = &mut self.dict;
        *self.seen.entry(key(x)).or_insert_with(|| {
            dict.push(x.clone());
            dict.len() as i64 - 1
        })
    }
}

/// `10^e` as an integer, for rescaling stored decimals without going through `f64`.
const POW10_INT: [i64; MAX_SCALE as usize + 1] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
];

/// A chunk's value column before packing: integers at a decimal scale, raw IEEE bits, or
/// dictionary codes.
struct ValueColumn {
    vals: Vec<i64>,
    scale: u8,
    dict: Box<[Value]>,
}

/// The values of `v` as integers at the smallest decimal scale from `from` on at which every
/// one decodes bit for bit, and that scale; `None` if there is none.
fn decimal<I: Iterator<Item = f64> + Clone>(v: I, from: u8) -> Option<(Vec<i64>, u8)> {
    let mut ints = Vec::with_capacity(v.size_hint().0);
    let e = (from..=MAX_SCALE).find(|&e| {
        let p = POW10[e as usize];
        ints.clear();
        v.clone().all(|f| {
            let x = (f * p).round();
            ints.push(x as i64);
            // Through `i64` as stored, which also turns -0.0 into 0.0 (so it stays raw).
            x.abs() <= MAX_DECIMAL && ((x as i64) as f64 / p).to_bits() == f.to_bits()
        })
    })?;
    Some((ints, e))
}

/// The value column of numbers: decimal at the smallest scale from `scale_hint` on that keeps
/// every one bit for bit, else their IEEE bits.
fn numbers<I: Iterator<Item = f64> + Clone>(v: I, scale_hint: Option<u8>) -> ValueColumn {
    match scale_hint.and_then(|e| decimal(v.clone(), e.min(MAX_SCALE))) {
        Some((vals, scale)) => ValueColumn {
            vals,
            scale,
            dict: Box::default(),
        },
        None => ValueColumn {
            vals: v.map(|f| f.to_bits() as i64).collect(),
            scale: RAW,
            dict: Box::default(),
        },
    }
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
        let rows = &p.rows[..n];
        let values = match &p.any {
            None => numbers(rows.iter().map(|r| r.num), scale_hint),
            Some(v) => {
                let v = &v[..n];
                let num = |x: &Value| match x {
                    Value::Num(f) => Some(*f),
                    _ => None,
                };
                if v.iter().all(|x| num(x).is_some()) {
                    numbers(v.iter().map(|x| num(x).unwrap_or(0.0)), scale_hint)
                } else {
                    let mut coder = DictCoder::new();
                    let vals = v.iter().map(|x| coder.code(x)).collect();
                    ValueColumn {
                        vals,
                        scale: DICT,
                        dict: coder.dict.into_boxed_slice(),
                    }
                }
            }
        };
        Self::build(rows, values, start)
    }

    /// Neighbouring chunks (at least one) as one chunk, starting where the first does.
    ///
    /// Decimal values are rescaled as integers, and dictionary codes remapped, straight from
    /// the chunks: going through `f64` (or a cloned value per sample) and searching the scale
    /// again cost most of a merge, and a series merges each sample O(log) times.
    pub(super) fn merged(chunks: &[Chunk]) -> Chunk {
        let n: usize = chunks.iter().map(Chunk::len).sum();
        let start = chunks.first().map_or(0, |c| c.start);
        let Some(values) = Self::merged_values(chunks, n) else {
            let mut p = Plain::new(chunks.iter().all(Chunk::is_numeric));
            p.reserve_exact(n);
            // The union needs at least the largest of the scales (none if any is raw).
            let mut scale = Some(0);
            for ch in chunks {
                ch.decode_into(&mut p);
                scale = scale.zip(ch.scale()).map(|(x, y)| x.max(y));
            }
            return Chunk::encode_all(&p, start, scale);
        };
        let mut rows = Vec::with_capacity(n);
        for ch in chunks {
            ch.decode_keys_into(&mut rows);
        }
        Self::build(&rows, values, start)
    }

    /// The value column of [`Self::merged`] without decoding values, when every chunk is
    /// decimal (rescaled to the largest scale: `k / 10^e` and `k·10^d / 10^(e+d)` are the
    /// same real number, and division rounds it the same way) or every chunk a dictionary.
    /// `None` for any other mix, or a rescaled integer too large to stay exact.
    fn merged_values(chunks: &[Chunk], n: usize) -> Option<ValueColumn> {
        let mut vals = Vec::with_capacity(n);
        if chunks.iter().all(|c| c.header().scale == DICT) {
            let mut coder = DictCoder::new();
            for ch in chunks {
                // First appearances stay in order, so the codes are those a fresh encode gives.
                let codes: Vec<i64> = ch.dict.iter().map(|x| coder.code(x)).collect();
                let (line, off) = ch.column(3);
                for i in 0..ch.len() {
                    let code = usize::try_from(line.get(&ch.words, off, i)).ok();
                    vals.push(*code.and_then(|c| codes.get(c))?);
                }
            }
            return Some(ValueColumn {
                vals,
                scale: DICT,
                dict: coder.dict.into_boxed_slice(),
            });
        }
        let scale = chunks
            .iter()
            .map(|c| c.header().scale)
            .try_fold(0u8, |m, e| (e <= MAX_SCALE).then_some(m.max(e)))?;
        for ch in chunks {
            let k = POW10_INT[usize::from(scale - ch.header().scale)];
            let (line, off) = ch.column(3);
            for i in 0..ch.len() {
                let x = line.get(&ch.words, off, i).checked_mul(k)?;
                if x.unsigned_abs() > MAX_DECIMAL as u64 {
                    return None;
                }
                vals.push(x);
            }
        }
        Some(ValueColumn {
            vals,
            scale,
            dict: Box::default(),
        })
    }

    /// Packs the columns (equal lengths, 1 to [`MAX_SAMPLES`]) into a chunk.
    fn build(rows: &[Row], values: ValueColumn, start: usize) -> Chunk {
        let ValueColumn { vals, scale, dict } = values;
        let n = rows.len();
        let ts_ = || rows.iter().map(|r| r.ts);
        let seq_ = || rows.iter().map(|r| r.seq as i64);
        let kafka = || rows.iter().map(|r| r.kafka_ts.wrapping_sub(r.ts));
        let lines = [
            Line::fit(ts_()),
            Line::fit(seq_()),
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
        lines[0].write(ts_(), &mut w);
        lines[1].write(seq_(), &mut w);
        lines[2].write(kafka(), &mut w);
        lines[3].write(vals.iter().copied(), &mut w);
        Chunk {
            start,
            first_ts: rows.first().map_or(0, |r| r.ts),
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

    /// The chunk's samples, uncompressed.
    pub(super) fn decode(&self) -> Plain {
        let mut p = Plain::new(self.is_numeric());
        p.reserve_exact(self.len());
        self.decode_into(&mut p);
        p
    }

    /// Appends the chunk's event times, tie-break keys and Kafka times as rows (with no value).
    fn decode_keys_into(&self, rows: &mut Vec<Row>) {
        let [(t, t_off), (q, q_off), (k, k_off)] = [0, 1, 2].map(|c| self.column(c));
        rows.extend((0..self.len()).map(|i| {
            let ts = t.get(&self.words, t_off, i);
            Row {
                ts,
                seq: q.get(&self.words, q_off, i) as u64,
                kafka_ts: k.get(&self.words, k_off, i).wrapping_add(ts),
                num: 0.0,
            }
        }));
    }

    /// Appends the chunk's samples to `p` (which must come before them).
    pub(super) fn decode_into(&self, p: &mut Plain) {
        let n = self.len();
        if !self.is_numeric() {
            p.make_any();
        }
        let base = p.rows.len();
        self.decode_keys_into(&mut p.rows);
        match (&mut p.any, self.is_numeric()) {
            (None, _) => {
                let rows = p.rows.get_mut(base..).unwrap_or_default();
                self.each_num(0, n, |i, x| {
                    if let Some(r) = rows.get_mut(i) {
                        r.num = x;
                    }
                });
            }
            (Some(v), true) => self.each_num(0, n, |_, x| v.push(Value::Num(x))),
            (Some(v), false) => {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A chunk of `vals` at times `t0, t0 + 1, …`, starting at series index `start`.
    fn chunk(t0: i64, start: usize, vals: &[Value]) -> Chunk {
        let mut p = Plain::new(vals.iter().all(|v| matches!(v, Value::Num(_))));
        for (i, v) in vals.iter().enumerate() {
            let t = t0 + i as i64;
            p.insert(i, t, t as u64 * 3, t + 7, v.clone());
        }
        Chunk::encode_all(&p, start, Some(0))
    }

    /// The chunk the merge replaced: decode every part, then encode the whole.
    fn decoded_then_encoded(parts: &[Chunk]) -> Chunk {
        let mut p = Plain::new(parts.iter().all(Chunk::is_numeric));
        let mut scale = Some(0);
        for ch in parts {
            ch.decode_into(&mut p);
            scale = scale.zip(ch.scale()).map(|(x, y)| x.max(y));
        }
        Chunk::encode_all(&p, parts[0].start, scale)
    }

    fn nums(vals: &[f64]) -> Vec<Value> {
        vals.iter().map(|&f| Value::Num(f)).collect()
    }

    fn values(ch: &Chunk) -> Vec<Option<Value>> {
        (0..ch.len()).map(|i| ch.value(i)).collect()
    }

    #[test]
    fn merging_decimal_chunks_rescales_their_integers_to_the_same_chunk() {
        let parts = [
            chunk(0, 0, &nums(&[12.0, -3.0, 7.0])),
            chunk(3, 3, &nums(&[0.25, 19.5, -0.75])),
            chunk(6, 6, &nums(&[1.125, 60.01, 2.0])),
        ];
        assert_eq!(
            parts.iter().map(Chunk::scale).collect::<Vec<_>>(),
            [Some(0), Some(2), Some(3)]
        );
        let merged = Chunk::merged(&parts);
        let expected = decoded_then_encoded(&parts);
        assert_eq!(merged.scale(), Some(3));
        assert_eq!(merged.words, expected.words);
        let want: Vec<Option<Value>> = parts.iter().flat_map(values).collect();
        assert_eq!(values(&merged), want);
        assert_eq!((merged.start, merged.first_ts), (0, 0));
        assert_eq!((merged.seq(8), merged.kafka_ts(8)), (24, 15));
    }

    #[test]
    fn merging_dictionary_chunks_remaps_codes_to_the_same_chunk() {
        let s = |x: &str| Value::Str(Arc::from(x));
        let parts = [
            chunk(0, 0, &[s("RUN"), s("IDLE"), s("RUN")]),
            chunk(3, 3, &[s("STOP"), Value::Bool(true), s("RUN")]),
            chunk(6, 6, &[Value::Num(1.5), s("IDLE"), s("STOP")]),
        ];
        let merged = Chunk::merged(&parts);
        let expected = decoded_then_encoded(&parts);
        assert_eq!(merged.words, expected.words);
        assert_eq!(merged.dict.len(), 5);
        let want: Vec<Option<Value>> = parts.iter().flat_map(values).collect();
        assert_eq!(values(&merged), want);
    }

    #[test]
    fn a_rescaled_integer_too_large_to_stay_exact_falls_back_to_raw_values() {
        // 2^52 at scale 0 is 4.5e16 at scale 1: past 2^53, where integers stop being exact.
        let big = 4_503_599_627_370_496.0;
        let parts = [chunk(0, 0, &nums(&[big, 1.0])), chunk(2, 2, &nums(&[0.5]))];
        assert_eq!(
            parts.iter().map(Chunk::scale).collect::<Vec<_>>(),
            [Some(0), Some(1)]
        );
        let merged = Chunk::merged(&parts);
        assert_eq!(merged.scale(), None);
        let bits = |ch: &Chunk| -> Vec<u64> {
            (0..ch.len())
                .filter_map(|i| ch.num(i).map(f64::to_bits))
                .collect()
        };
        assert_eq!(
            bits(&merged),
            [big.to_bits(), 1f64.to_bits(), 0.5f64.to_bits()]
        );
    }
}

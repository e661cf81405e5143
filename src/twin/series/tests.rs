//! Series tests: the compressed series against a plain sorted reference under random inserts
//! (in order, late, duplicate), evictions and every query; the pyramid against brute force and
//! plots against a full scan, bit for bit.

use super::pyramid::{MAX_LEVEL, SHIFT, higher, lower};
use super::*;

fn n(s: &Series) -> Vec<(i64, f64)> {
    (0..s.len())
        .map(|i| (s.ts(i).unwrap(), s.num(i).unwrap()))
        .collect()
}

fn first_last(s: &Series) -> Option<(i64, i64)> {
    Some((s.ts(0)?, s.ts(s.len().checked_sub(1)?)?))
}

#[test]
fn out_of_order_inserts_stay_sorted_and_duplicates_are_ignored() {
    let mut s = Series::default();
    assert!(s.insert(10, 1, 10, Value::Num(1.0)));
    assert!(s.insert(5, 2, 5, Value::Num(2.0)));
    assert!(s.insert(10, 0, 10, Value::Num(3.0)));
    assert!(!s.insert(10, 1, 10, Value::Num(9.0)));
    assert_eq!(n(&s), vec![(5, 2.0), (10, 3.0), (10, 1.0)]);
    assert_eq!(s.at(10).unwrap().value, Value::Num(1.0));
    assert_eq!(s.at(9).unwrap().value, Value::Num(2.0));
    assert!(s.at(4).is_none());
}

#[test]
fn switches_to_general_column_on_first_string() {
    let mut s = Series::default();
    s.insert(1, 0, 1, Value::Num(1.0));
    s.insert(2, 0, 2, Value::Str("FAULT".into()));
    assert!(!s.is_numeric());
    assert_eq!(s.at(1).unwrap().value, Value::Num(1.0));
    assert_eq!(s.at(5).unwrap().value, Value::Str("FAULT".into()));
}

#[test]
fn eviction_keeps_the_value_in_force() {
    let mut s = Series::default();
    for t in 0..10 {
        s.insert(t * 10, 0, 0, Value::Num(t as f64));
    }
    assert_eq!(s.evict_before(35), 3);
    assert_eq!(s.at(35).unwrap().value, Value::Num(3.0));
    assert_eq!(s.at(90).unwrap().value, Value::Num(9.0));
    assert_eq!(s.evict_before(35), 0);
}

/// Checks the pyramid's invariant against brute force: level lengths, and the exact node
/// of every complete block that lies inside the column.
fn check_pyramid(s: &Series) {
    let node_bytes: usize = s.pyr.levels.iter().map(|l| l.capacity() * 8).sum();
    assert_eq!(s.pyr.bytes(), node_bytes, "the pyramid's kept byte count");
    if !s.numeric {
        assert!(s.pyr.levels.is_empty());
        return;
    }
    let v: Vec<f64> = (0..s.len()).map(|i| s.num(i).unwrap()).collect();
    let p = &s.pyr;
    let end = p.base + v.len();
    for k in 1..=MAX_LEVEL {
        let shift = SHIFT * k as u32;
        let first = p.base >> shift;
        let Some(level) = p.levels.get(k - 1) else {
            assert_eq!(end >> shift, first, "level {k} missing");
            continue;
        };
        assert_eq!(level.len(), (end >> shift) - first, "level {k} length");
        for (j, node) in level.iter().enumerate() {
            let start = (first + j) << shift;
            let Some(local) = start.checked_sub(p.base) else {
                continue;
            };
            let block = &v[local..local + (1 << shift)];
            let (mut mn, mut mx) = (0, 0);
            for (i, &x) in block.iter().enumerate() {
                if lower(x, block[mn]) {
                    mn = i;
                }
                if higher(x, block[mx]) {
                    mx = i;
                }
            }
            assert_eq!(
                (node.min as usize, node.max as usize),
                (mn, mx),
                "level {k} block {j}"
            );
        }
    }
}

/// Per bucket of the grid, the (min, max) of the values `pts` gives for it.
fn envelopes(pts: &[[f64; 2]], from: i64, to: i64, buckets: usize) -> Vec<(i64, u64, u64)> {
    let w = grid_width(from, to, buckets);
    let mut out: Vec<(i64, f64, f64)> = Vec::new();
    for p in pts {
        let b = (p[0] as i64).div_euclid(w);
        match out.last_mut() {
            Some(e) if e.0 == b => {
                e.1 = if lower(p[1], e.1) { p[1] } else { e.1 };
                e.2 = if higher(p[1], e.2) { p[1] } else { e.2 };
            }
            _ => out.push((b, p[1], p[1])),
        }
    }
    out.into_iter()
        .map(|(b, mn, mx)| (b, mn.to_bits(), mx.to_bits()))
        .collect()
}

fn bits(pts: &[[f64; 2]]) -> Vec<[u64; 2]> {
    pts.iter()
        .map(|p| [p[0].to_bits(), p[1].to_bits()])
        .collect()
}

/// A value for the plot tests: equal values (ties for min and max) are common, NaN rare.
fn plot_value(rng: &mut fastrand::Rng) -> f64 {
    match rng.u8(0..50) {
        0 => f64::NAN,
        1..=25 => f64::from(rng.u8(0..5)),
        _ => rng.f64() * 100.0 - 50.0,
    }
}

/// Compares the pyramid path with the scan for `queries` random views of `s`.
fn compare_with_scan(s: &Series, rng: &mut fastrand::Rng, queries: usize) -> usize {
    let Some((t0, t1)) = first_last(s) else {
        return 0;
    };
    let mut decimated = 0;
    for _ in 0..queries {
        let from = rng.i64(t0 - 20..=t1 + 5);
        let to = from + rng.i64(-2..=(t1 - t0 + 40));
        let buckets = match rng.u8(0..4) {
            0 => rng.usize(0..4),
            1 => rng.usize(1..30),
            _ => rng.usize(1..400),
        };
        let fast = s.plot_points(from, to, buckets);
        let slow = s.plot_points_scan(from, to, buckets);
        let b = buckets.max(1);
        assert_eq!(
            envelopes(&fast, from, to, b),
            envelopes(&slow, from, to, b),
            "envelope of [{from}, {to}] in {buckets}"
        );
        assert_eq!(bits(&fast), bits(&slow), "[{from}, {to}] in {buckets}");
        decimated += usize::from(fast.len() < s.range(from, to).len());
    }
    decimated
}

#[test]
fn pyramid_plot_points_equal_the_scan_under_appends_inserts_and_evictions() {
    // 8 seeds: about a minute unoptimised (the scan it compares with reads every sample).
    for seed in 0..8 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut s = Series::default();
        let (mut t, mut seq) = (rng.i64(-1_000..1_000), 0u64);
        let mut decimated = 0;
        for round in 0..40 {
            for _ in 0..rng.usize(0..1_500) {
                // Equal times (tie-break by seq) are common too.
                t += rng.i64(0..3);
                seq += 1;
                assert!(s.insert(t, seq, t, Value::Num(plot_value(&mut rng))));
            }
            for _ in 0..rng.usize(0..4) {
                // Late data: anywhere from the front to just before the end.
                if let Some((a, b)) = first_last(&s) {
                    let late = rng.i64(a - 3..=b);
                    s.insert(late, rng.u64(0..1_000_000), late, Value::Num(rng.f64()));
                }
            }
            if round % 5 == 4
                && let Some((a, b)) = first_last(&s)
            {
                s.evict_before(rng.i64(a..=a + (b - a) / 3));
                if rng.bool() {
                    s.shrink();
                }
            }
            check_pyramid(&s);
            decimated += compare_with_scan(&s, &mut rng, 30);
        }
        assert!(s.pyr.levels.len() >= 2, "seed {seed}: {}", s.len());
        assert!(
            decimated > 100,
            "seed {seed}: only {decimated} decimated views"
        );
    }
}

#[test]
fn pyramid_three_levels_survive_unaligned_eviction_and_front_inserts() {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut s = Series::default();
    let n = 300_000;
    for i in 0..n {
        let v = ((i as f64) / 3_000.0).sin() + rng.f64() * 0.1;
        s.insert(i * 2, 0, 0, Value::Num(v));
    }
    // One spike deep inside a level-3 block must show in the whole-history view.
    s.insert(2 * 150_001 + 1, 0, 0, Value::Num(99.0));
    assert!(s.pyr.levels.len() >= 3, "{}", s.pyr.levels.len());
    check_pyramid(&s);
    let pts = s.plot_points(0, 2 * n, 50);
    assert!(pts.contains(&[(2 * 150_001 + 1) as f64, 99.0]));
    compare_with_scan(&s, &mut rng, 10);
    s.evict_before(2 * 70_001 + 1);
    assert!(s.pyr.base % (1 << SHIFT) != 0);
    s.insert(-5, 0, 0, Value::Num(-99.0));
    for i in n..n + 5_000 {
        s.insert(i * 2, 0, 0, Value::Num(rng.f64()));
    }
    check_pyramid(&s);
    assert!(compare_with_scan(&s, &mut rng, 20) > 0);
}

#[test]
fn non_numeric_series_are_scanned_and_drop_the_pyramid() {
    let mut s = Series::default();
    for t in 0..1_000 {
        s.insert(t, 0, t, Value::Num((t % 10) as f64));
    }
    assert!(!s.pyr.levels.is_empty());
    s.insert(1_000, 0, 1_000, Value::Str("FAULT".into()));
    check_pyramid(&s);
    let pts = s.plot_points(0, 999, 10);
    assert_eq!(pts, s.plot_points_scan(0, 999, 10));
    assert!(pts.iter().any(|p| p[1] == 9.0) && pts.iter().any(|p| p[1] == 0.0));
}

#[test]
fn plot_points_keep_extremes_and_are_bounded() {
    let mut s = Series::default();
    for t in 0..100_000 {
        let v = if t == 50_123 { 1000.0 } else { (t % 7) as f64 };
        s.insert(t, 0, t, Value::Num(v));
    }
    let pts = s.plot_points(0, 99_999, 500);
    assert!(pts.len() <= 500 * 4 + 8, "{}", pts.len());
    assert!(pts.iter().any(|p| p[1] == 1000.0));
    let few = s.plot_points(100, 110, 500);
    assert_eq!(few.first().unwrap()[0], 99.0);
    assert_eq!(few.len(), 13);
}

// ---- The compressed series against a plain reference ----

/// The series as it was before compression: sorted plain samples, the same rules.
#[derive(Default)]
struct Reference {
    v: Vec<Sample>,
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

impl Reference {
    fn insert(&mut self, ts: i64, seq: u64, kafka_ts: i64, value: Value) -> bool {
        let pos = self.v.partition_point(|s| (s.ts, s.seq) < (ts, seq));
        if self.v.get(pos).is_some_and(|s| (s.ts, s.seq) == (ts, seq)) {
            return false;
        }
        self.v.insert(
            pos,
            Sample {
                ts,
                seq,
                kafka_ts,
                value,
            },
        );
        true
    }

    fn count_through(&self, t: i64) -> usize {
        self.v.partition_point(|s| s.ts <= t)
    }

    fn count_before(&self, t: i64) -> usize {
        self.v.partition_point(|s| s.ts < t)
    }

    fn evict_before(&mut self, t: i64) -> usize {
        let keep = match self.count_through(t).checked_sub(1) {
            Some(i) => self.count_before(t).min(i),
            None => 0,
        };
        self.v.drain(..keep);
        keep
    }

    fn num(&self, i: usize) -> Option<f64> {
        match self.v.get(i)?.value {
            Value::Num(f) => Some(f),
            _ => None,
        }
    }

    /// The plot of the uncompressed series by a plain scan: per grid bucket its first, min,
    /// max and last samples, a non-number never standing for an extreme; one sample each side.
    fn plot_points(&self, from: i64, to: i64, buckets: usize) -> Vec<[f64; 2]> {
        let w = grid_width(from, to, buckets);
        let b0 = from.div_euclid(w);
        let b1 = to.div_euclid(w).max(b0 - 1);
        let lo = self.count_before(b0 * w);
        let hi = self.count_before((b1 + 1) * w).max(lo);
        let point = |i: usize| Some([self.v.get(i)?.ts as f64, self.num(i)?]);
        let mut out: Vec<[f64; 2]> = lo.checked_sub(1).and_then(point).into_iter().collect();
        let mut i = lo;
        while i < hi {
            let b = self.v[i].ts.div_euclid(w);
            let start = i;
            let (mut min_i, mut max_i) = (i, i);
            while i < hi && self.v[i].ts.div_euclid(w) == b {
                if let Some(v) = self.num(i) {
                    if self.num(min_i).is_none_or(|mn| lower(v, mn)) {
                        min_i = i;
                    }
                    if self.num(max_i).is_none_or(|mx| higher(v, mx)) {
                        max_i = i;
                    }
                }
                i += 1;
            }
            let mut idx = [start, min_i, max_i, i - 1];
            idx.sort_unstable();
            idx.iter()
                .enumerate()
                .filter(|&(k, j)| k == 0 || idx[k - 1] != *j)
                .filter_map(|(_, &j)| point(j))
                .for_each(|p| out.push(p));
        }
        out.extend(point(hi));
        out
    }
}

/// Every query of `s` against the reference.
fn check_against(s: &Series, r: &Reference, rng: &mut fastrand::Rng, ctx: &str) {
    assert_eq!(s.len(), r.v.len(), "{ctx}: len");
    assert_eq!(s.is_empty(), r.v.is_empty());
    for (i, want) in r.v.iter().enumerate() {
        let got = s.sample(i).expect("sample");
        assert_eq!(
            (got.ts, got.seq, got.kafka_ts),
            (want.ts, want.seq, want.kafka_ts),
            "{ctx}: sample {i}"
        );
        assert!(same_value(&got.value, &want.value), "{ctx}: value {i}");
        assert_eq!(s.ts(i), Some(want.ts));
        assert_eq!(s.num(i).map(f64::to_bits), r.num(i).map(f64::to_bits));
        assert!(same_value(&s.value(i).expect("value"), &want.value));
        // A general column compares as `Value`s, where NaN equals nothing.
        let equal = s.numeric || !matches!(want.value, Value::Num(f) if f.is_nan());
        assert_eq!(s.value_is(i, &want.value), equal, "{ctx}: value_is {i}");
        assert_eq!(s.find(want.ts, want.seq), Some(i), "{ctx}: find {i}");
    }
    assert!(s.sample(r.v.len()).is_none());
    let times: Vec<i64> = r.v.iter().map(|x| x.ts).collect();
    assert_eq!(
        s.times_in(0..usize::MAX).collect::<Vec<_>>(),
        times,
        "{ctx}"
    );
    let (t0, t1) = match (times.first(), times.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (0, 10),
    };
    for _ in 0..40 {
        let t = rng.i64(t0 - 5..=t1 + 5);
        assert_eq!(s.count_through(t), r.count_through(t), "{ctx}: through {t}");
        assert_eq!(s.count_before(t), r.count_before(t), "{ctx}: before {t}");
        let i = r.count_through(t).checked_sub(1);
        assert_eq!(s.index_at(t), i);
        let (got, want) = (s.at(t), i.map(|i| &r.v[i]));
        assert_eq!(
            got.as_ref().map(|x| (x.ts, x.seq, x.kafka_ts)),
            want.map(|x| (x.ts, x.seq, x.kafka_ts)),
            "{ctx}: at {t}"
        );
        if let (Some(g), Some(w)) = (got, want) {
            assert!(same_value(&g.value, &w.value), "{ctx}: at {t}");
        }
        let to = t + rng.i64(-3..=(t1 - t0) / 2 + 3);
        let range = s.range(t, to);
        assert_eq!(range.start, r.count_before(t));
        assert_eq!(range.end, r.count_through(to).max(range.start));
        let a = rng.usize(0..=r.v.len());
        let b = rng.usize(a..=r.v.len() + 2);
        assert_eq!(
            s.times_in(a..b).collect::<Vec<_>>(),
            times[a..b.min(times.len())]
        );
        let seq = rng.u64(0..64);
        let value = match rng.u8(0..3) {
            0 => Value::Num(f64::from(rng.u8(0..4))),
            1 => Value::Str("s1".into()),
            _ => Value::Bool(true),
        };
        let mut want: Vec<u64> = if t1 < t {
            Vec::new()
        } else {
            r.v.iter()
                .filter(|x| x.ts == t && x.seq != seq && same_value(&x.value, &value))
                .map(|x| x.seq)
                .collect()
        };
        if !s.numeric {
            // A general column compares numbers as `Value`s (0.0 == -0.0).
            want =
                r.v.iter()
                    .filter(|x| x.ts == t && x.seq != seq && x.value == value && t1 >= t)
                    .map(|x| x.seq)
                    .collect();
        }
        assert_eq!(s.same_at(t, seq, &value), want, "{ctx}: same_at {t}");
        let buckets = rng.usize(0..200);
        let got = s.plot_points(t, to, buckets);
        assert_eq!(
            bits(&got),
            bits(&r.plot_points(t, to, buckets)),
            "{ctx}: plot [{t}, {to}] in {buckets}"
        );
    }
    // The byte count is kept incrementally; it must equal a recount.
    let heap: usize = s.chunks.iter().map(Chunk::heap_bytes).sum();
    assert_eq!(s.chunk_heap, heap, "{ctx}: chunk bytes");
    let sealed = s.chunks.last().map_or(0, |c| c.start + c.len());
    assert_eq!(s.n_sealed, sealed, "{ctx}: sealed count");
    for (c, ch) in s.chunks.iter().enumerate() {
        let start = c
            .checked_sub(1)
            .map_or(0, |p| s.chunks[p].start + s.chunks[p].len());
        assert_eq!(ch.start, start, "{ctx}: chunk {c} start");
        assert_eq!(Some(ch.first_ts), s.ts(start));
    }
}

/// A value drawn from one of several kinds, so chunks see decimals, raw floats, integers,
/// ties, NaN, -0.0 and (when `general`) strings and booleans.
fn random_value(rng: &mut fastrand::Rng, kind: u8, general: bool) -> Value {
    if general && rng.u8(0..6) == 0 {
        return match rng.u8(0..3) {
            0 => Value::Str(["s1", "s2", "RUN"][rng.usize(0..3)].into()),
            1 => Value::Bool(rng.bool()),
            _ => Value::Str(format!("x{}", rng.u16(..)).into()),
        };
    }
    Value::Num(match (kind, rng.u8(0..40)) {
        (_, 0) => f64::NAN,
        (_, 1) => -0.0,
        (_, 2) => f64::INFINITY,
        (0, _) => f64::from(rng.i32(-5_000..5_000)) / 100.0,
        (1, _) => rng.f64() * 1e6 - 5e5,
        (2, _) => f64::from(rng.u8(0..4)),
        (3, _) => f64::from(rng.i32(..)) * 1e9,
        _ => f64::from(rng.i32(0..100_000)) / 1_000.0 + 1e-9 * f64::from(rng.u8(0..2)),
    })
}

#[test]
fn compressed_series_answers_like_a_plain_reference() {
    for seed in 0..24u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut s = Series::default();
        let mut r = Reference::default();
        let general = seed % 3 == 2;
        let kind = (seed % 5) as u8;
        let mut t = rng.i64(-1_000_000..1_000_000);
        let mut seq = rng.u64(..u64::MAX / 2);
        let mut sealed_late = 0;
        for round in 0..12 {
            for _ in 0..rng.usize(0..700) {
                // Regular period with jitter, equal times, and Kafka times near event times.
                t += match rng.u8(0..10) {
                    0 => 0,
                    1 => rng.i64(0..1_000_000),
                    _ => 1_000 + rng.i64(-3..=3),
                };
                seq += rng.u64(1..3);
                let k = t + rng.i64(-50..50);
                let v = random_value(&mut rng, kind, general);
                assert_eq!(s.insert(t, seq, k, v.clone()), r.insert(t, seq, k, v));
            }
            for _ in 0..rng.usize(0..30) {
                // Late data and duplicates, anywhere.
                let Some((a, b)) = first_last(&s) else {
                    break;
                };
                let (late, lseq) = if rng.u8(0..4) == 0 && !r.v.is_empty() {
                    let x = &r.v[rng.usize(0..r.v.len())];
                    (x.ts, x.seq)
                } else {
                    (rng.i64(a - 10..=b), rng.u64(..))
                };
                sealed_late += usize::from(s.count_through(late) < s.sealed());
                let v = random_value(&mut rng, kind, general);
                assert_eq!(
                    s.insert(late, lseq, late - 7, v.clone()),
                    r.insert(late, lseq, late - 7, v),
                    "seed {seed}: late {late}/{lseq}"
                );
            }
            if round % 3 == 2
                && let Some((a, b)) = first_last(&s)
            {
                let cut = rng.i64(a - 5..=a + (b - a) / 3);
                assert_eq!(s.evict_before(cut), r.evict_before(cut), "seed {seed}");
                if rng.bool() {
                    s.shrink();
                }
            }
            check_pyramid(&s);
            check_against(&s, &r, &mut rng, &format!("seed {seed} round {round}"));
        }
        assert!(
            s.chunks.len() >= 2,
            "seed {seed}: chunks {}",
            s.chunks.len()
        );
        assert!(
            sealed_late > 10,
            "seed {seed}: late inserts into chunks {sealed_late}"
        );
        assert_eq!(
            s.is_numeric(),
            r.v.iter().all(|x| matches!(x.value, Value::Num(_)))
        );
    }
}

#[test]
fn regular_decimal_telemetry_packs_to_a_few_bits_per_sample() {
    let mut s = Series::default();
    let n = 100_000;
    for i in 0..n {
        let v = f64::from(6_000 + i * 7919 % 2000) / 100.0;
        let t = 1_700_000_000_000 + i64::from(i) * 1_000;
        s.insert(t, 5 + u64::from(i as u32) * 64, t + 3, Value::Num(v));
    }
    let b = s.bytes() as f64 / f64::from(n);
    // Values take 11 bits; time, key and Kafka time none; the pyramid 1.6 B.
    assert!(b < 4.0, "{b} B/sample");
    assert_eq!(s.at(1_700_000_000_000 + 500_500).unwrap().seq, 5 + 500 * 64);
}

#[test]
fn strings_are_dictionary_coded() {
    let mut s = Series::default();
    let states: [Value; 3] = [
        Value::Str("RUN".into()),
        Value::Str("IDLE".into()),
        Value::Bool(false),
    ];
    for i in 0..10_000i64 {
        s.insert(i, 0, i, states[(i % 7 % 3) as usize].clone());
    }
    assert!(s.chunks.iter().all(|c| !c.is_numeric()));
    // 2 bits a code, a 3-entry dictionary per chunk.
    assert!(s.bytes() < 10_000 * 2, "{}", s.bytes());
    let i = 701;
    assert_eq!(s.at(i).unwrap().value, states[(i % 7 % 3) as usize]);
}

#[test]
fn series_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Series>();
}

// ---- The plot cache against the uncached plot ----

#[test]
fn cached_plot_points_equal_the_uncached_while_data_arrives_late_and_is_evicted() {
    for seed in 0..6 {
        let mut rng = fastrand::Rng::with_seed(100 + seed);
        let mut s = Series::default();
        let mut cache = PlotCache::default();
        let (mut t, mut seq) = (rng.i64(-5_000..5_000), 0u64);
        let (mut reused, mut steps) = (0, 0);
        let mut window = 2_000;
        for round in 0..300 {
            // Live: a few samples a frame, the view following the head.
            for _ in 0..rng.usize(0..6) {
                t += rng.i64(0..4);
                seq += 1;
                s.insert(t, seq, t, Value::Num(plot_value(&mut rng)));
            }
            match rng.u8(0..40) {
                0 => {
                    if let Some((a, b)) = first_last(&s) {
                        let late = rng.i64(a - 3..=b);
                        s.insert(late, rng.u64(0..1_000_000), late, Value::Num(rng.f64()));
                    }
                }
                1 => {
                    if let Some((a, b)) = first_last(&s) {
                        s.evict_before(rng.i64(a..=a + (b - a) / 4));
                    }
                }
                2 => window = rng.i64(50..8_000),
                _ => {}
            }
            // Mostly following the head; sometimes panned into the past or zoomed a little.
            let (from, to) = match rng.u8(0..10) {
                0 => {
                    let back = rng.i64(0..3 * window);
                    (t - window - back, t - back)
                }
                1 => (t - window * 21 / 20, t + window / 50),
                _ => (t - window, t + window / 50),
            };
            let columns = if round % 50 == 49 {
                rng.usize(1..600)
            } else {
                300
            };
            let got = s.plot_points_cached(from, to, columns, &mut cache);
            let want = s.plot_points(from, to, columns);
            assert_eq!(
                bits(&got),
                bits(&want),
                "seed {seed} round {round}: [{from}, {to}] in {columns}"
            );
            assert_eq!(bits(&want), bits(&s.plot_points_scan(from, to, columns)));
            let buckets = (to.div_euclid(grid_width(from, to, columns))
                - from.div_euclid(grid_width(from, to, columns)))
                as usize;
            steps += 1;
            reused += usize::from(cache.computed() * 4 < buckets);
        }
        // Following the head, most frames reuse at least three quarters of their buckets.
        assert!(
            reused * 2 > steps,
            "seed {seed}: {reused} of {steps} reused"
        );
    }
}

#[test]
fn a_cache_shown_another_series_or_a_late_sample_starts_again() {
    let mut a = Series::default();
    let mut b = Series::default();
    for t in 0..10_000 {
        a.insert(t, 0, t, Value::Num((t % 13) as f64));
        b.insert(t, 0, t, Value::Num(-((t % 7) as f64)));
    }
    let mut cache = PlotCache::default();
    let first = a.plot_points_cached(0, 9_999, 100, &mut cache);
    assert_eq!(cache.computed(), 100);
    assert_eq!(a.plot_points_cached(0, 9_999, 100, &mut cache), first);
    // Only the bucket of the last sample is redone.
    assert_eq!(cache.computed(), 1);
    assert_eq!(
        bits(&b.plot_points_cached(0, 9_999, 100, &mut cache)),
        bits(&b.plot_points(0, 9_999, 100))
    );
    assert_eq!(cache.computed(), 100);
    // A late spike deep in the past must show, not the cached bucket without it.
    b.insert(1_234, 1, 1_234, Value::Num(99.0));
    let pts = b.plot_points_cached(0, 9_999, 100, &mut cache);
    assert!(pts.contains(&[1_234.0, 99.0]));
    // A copy is another series, even with the same samples.
    let c = b.clone();
    let _ = c.plot_points_cached(0, 9_999, 100, &mut cache);
    assert_eq!(cache.computed(), 100);
}

#[test]
fn the_grid_width_is_a_nice_number_no_narrower_than_a_column() {
    assert_eq!(grid_width(0, 10, 500), 1);
    assert_eq!(grid_width(0, 3_000, 500), 6);
    assert_eq!(grid_width(0, 3_600_000, 1_300), 3_200);
    assert_eq!(grid_width(0, 3_600_000 * 102 / 100, 1_300), 3_200);
    assert_eq!(grid_width(0, 600_000, 1_300), 500);
    for span in [11, 99, 1_234, 99_999, 10_i64.pow(15)] {
        for cols in [1, 7, 1_300] {
            let w = grid_width(0, span, cols);
            let col = (span + cols as i64 - 1) / cols as i64;
            assert!(
                w >= col && (w <= 10 || w * 3 <= col * 4),
                "{span}/{cols}: {w}"
            );
        }
    }
}

// ---- Backfills: history replayed in order behind samples already sealed ----

/// Inserts `later` (received first), then the `runs` interleaved one sample each in turn,
/// into a series and the reference, checking every query every `every` inserts and at the
/// end. Returns the series.
fn backfill(
    ctx: &str,
    later: &[(i64, u64, Value)],
    runs: &[Vec<(i64, u64, Value)>],
    every: usize,
) -> Series {
    let mut rng = fastrand::Rng::with_seed(ctx.len() as u64);
    let mut s = Series::default();
    let mut r = Reference::default();
    for (t, seq, v) in later {
        assert_eq!(
            s.insert(*t, *seq, *t + 1, v.clone()),
            r.insert(*t, *seq, *t + 1, v.clone())
        );
    }
    let longest = runs.iter().map(Vec::len).max().unwrap_or(0);
    let mut done = 0;
    for i in 0..longest {
        for run in runs {
            let Some((t, seq, v)) = run.get(i) else {
                continue;
            };
            let k = *t - 3 + (*seq % 7) as i64;
            assert_eq!(
                s.insert(*t, *seq, k, v.clone()),
                r.insert(*t, *seq, k, v.clone()),
                "{ctx}: {t}/{seq}"
            );
            done += 1;
            if done % every == 0 {
                check_pyramid(&s);
                check_against(&s, &r, &mut rng, &format!("{ctx} after {done}"));
            }
        }
    }
    check_pyramid(&s);
    check_against(&s, &r, &mut rng, ctx);
    s
}

/// Chunks a series built by appends and `runs` in-order backfills may hold: full chunks,
/// and per run (and for the appends) up to 10 power-of-two sizes below [`MAX_CHUNK`] from the
/// binary counter, plus the two pieces of the chunk it cut. Without the merging of a run's
/// chunks there would be one a sample.
fn assert_few_chunks(s: &Series, runs: usize, ctx: &str) {
    let bound = s.len() / MAX_CHUNK + 13 * (runs + 1);
    assert!(
        s.chunks.len() <= bound,
        "{ctx}: {} chunks for {} samples (at most {bound})",
        s.chunks.len(),
        s.len()
    );
}

/// `n` samples from `t0`, `step` apart (0: all at one time), keys from `seq0`; `kind` as in
/// [`random_value`], and a string at `n / 2` when `string_at_half`.
fn run(
    rng: &mut fastrand::Rng,
    (t0, step, n): (i64, i64, usize),
    seq0: u64,
    kind: u8,
    string_at_half: bool,
) -> Vec<(i64, u64, Value)> {
    (0..n)
        .map(|i| {
            let v = if string_at_half && i == n / 2 {
                Value::Str("FAULT".into())
            } else {
                random_value(rng, kind, false)
            };
            (t0 + step * i as i64, seq0 + i as u64, v)
        })
        .collect()
}

#[test]
fn backfill_behind_live_samples_matches_the_reference_with_few_chunks() {
    let mut rng = fastrand::Rng::with_seed(11);
    let n = 20_000;
    // The live value arrived first (two samples, so one of them is sealed); the history
    // follows in order, its last samples at the first live sample's time with smaller keys.
    let later = run(&mut rng, (1_000_000, 500, 2), 1_000, 0, false);
    let mut history = run(&mut rng, (0, 49, n - 3), 2_000_000, 0, false);
    history.extend(run(&mut rng, (1_000_000, 0, 3), 0, 0, false));
    let s = backfill("behind live", &later, &[history.clone()], 5_000);
    assert_few_chunks(&s, 1, "behind live");
    // The same history appended is no smaller than the backfill by more than a few chunks.
    let mut appended = Series::default();
    for (t, seq, v) in history.iter().chain(&later) {
        appended.insert(*t, *seq, *t, v.clone());
    }
    assert!(
        s.bytes() <= appended.bytes() + appended.bytes() / 10,
        "{} B backfilled, {} B appended",
        s.bytes(),
        appended.bytes()
    );
    // Records read twice are ignored, wherever they land.
    let mut s = s;
    for (t, seq, v) in history.iter().step_by(997) {
        assert!(!s.insert(*t, *seq, *t, v.clone()));
    }
    assert_eq!(s.len(), n + 2);
}

#[test]
fn interleaved_backfills_with_equal_times_and_a_string_match_the_reference() {
    let mut rng = fastrand::Rng::with_seed(12);
    // Sealed history with two long gaps, each then filled by its own run, in turns: one run of
    // decimals, the other raw floats with a string in its middle and three samples an instant.
    let mut later = run(&mut rng, (0, 1_000, 3_000), 0, 0, false);
    later.extend(run(&mut rng, (10_000_000, 1_000, 3_000), 0, 0, false));
    later.extend(run(&mut rng, (20_000_000, 1_000, 100), 0, 0, false));
    let a = run(&mut rng, (3_000_000, 900, 6_000), 100, 0, false);
    let b: Vec<_> = run(&mut rng, (13_000_000, 0, 9_000), 100, 1, true)
        .into_iter()
        .enumerate()
        .map(|(i, (t, seq, v))| (t + 1_000 * (i / 3) as i64, seq, v))
        .collect();
    let s = backfill("interleaved", &later, &[a, b], 4_000);
    assert!(!s.is_numeric());
    assert_few_chunks(&s, 2, "interleaved");
}

#[test]
fn reverse_and_scattered_late_samples_are_merged_back_into_few_chunks() {
    let mut rng = fastrand::Rng::with_seed(13);
    // A run in reverse order cuts a one-sample chunk off each time, which the binary counter
    // does not merge: compaction does.
    let later = run(&mut rng, (0, 1_000, 5_000), 0, 2, false);
    let reverse = run(&mut rng, (4_000_000, -1, 8_000), 10_000, 2, false);
    let s = backfill("reverse", &later, &[reverse], 2_000);
    let bound = s.len() / (MAX_CHUNK / 8) + 33;
    assert!(
        s.chunks.len() <= bound,
        "reverse: {} chunks",
        s.chunks.len()
    );
    // Scattered late samples into large chunks.
    let scattered: Vec<_> = (0..3_000)
        .map(|i| {
            (
                rng.i64(0..5_000_000),
                50_000 + i,
                random_value(&mut rng, 4, false),
            )
        })
        .collect();
    let s = backfill("scattered", &later, &[scattered], 1_000);
    let bound = s.len() / (MAX_CHUNK / 8) + 33;
    assert!(
        s.chunks.len() <= bound,
        "scattered: {} chunks",
        s.chunks.len()
    );
}

/// At and past the newest sample every sample counts, whether the newest sits in the tail or
/// in a chunk (the live edge's shortcut reads either), and the shortcut never answers for a
/// time before the newest. Eight samples share each time: a tail whose samples all share one
/// time is sealed whole, which leaves it empty.
#[test]
fn counts_at_the_live_edge_hold_with_and_without_a_tail() {
    let mut s = Series::default();
    let mut empty_tail_seen = false;
    for k in 0..200i64 {
        let ts = 1_000 + (k / 8) * 10;
        assert!(s.insert(ts, k as u64, ts, Value::Num(k as f64)));
        let n = (k + 1) as usize;
        let ctx = format!("after {n} samples");
        assert_eq!(s.count_through(ts), n, "{ctx}");
        assert_eq!(s.count_through(i64::MAX), n, "{ctx}");
        assert_eq!(s.count_through(ts + 1), n, "{ctx}");
        assert_eq!(s.index_at(ts), Some(n - 1), "{ctx}");
        assert_eq!(s.count_before(ts + 1), n, "{ctx}");
        assert_eq!(s.count_before(ts), 8 * (k / 8) as usize, "{ctx}");
        assert_eq!(s.count_through(ts - 1), s.count_before(ts), "{ctx}");
        empty_tail_seen |= s.tail.rows.is_empty() && !s.chunks.is_empty();
    }
    assert!(
        empty_tail_seen,
        "no state with a sealed, empty tail was checked"
    );
}

/// A fleet that started together (every car reporting once a round, each at its own
/// millisecond and from its own records) must not merge chunks or build pyramid nodes in the
/// same round: at 100k cars × 8 properties, the largest merges all landing on one sample cost
/// ~16 s of one core every ~15 minutes of a live twin, and a level-2 node ~1 s every 4 minutes.
/// Each series' own phase spreads that work over the rounds.
#[test]
fn series_that_start_together_merge_and_build_nodes_in_different_rounds() {
    let cars = 512usize;
    let rounds = 1_200i64;
    let mut fleet: Vec<Series> = (0..cars).map(|_| Series::default()).collect();
    let (mut big_merges, mut new_nodes) = (Vec::new(), Vec::new());
    let mut total_big = 0;
    for r in 0..rounds {
        let (mut merges, mut nodes) = (0, 0);
        for (i, s) in fleet.iter_mut().enumerate() {
            let (chunks, level2) = (s.chunks.len(), s.pyr.levels.get(1).map_or(0, Vec::len));
            let ts = r * 1_000 + i as i64;
            let seq = (r as u64) * cars as u64 + i as u64;
            assert!(s.insert(ts, seq, ts, Value::Num(20.0 + (r % 17) as f64 * 0.5)));
            // A block of 16 seals or more merged: 4 or more chunks became one.
            if s.chunks.len() + 3 <= chunks {
                merges += 1;
            }
            if s.pyr.levels.get(1).map_or(0, Vec::len) > level2 {
                nodes += 1;
            }
        }
        total_big += merges;
        big_merges.push(merges);
        new_nodes.push(nodes);
    }
    // Every car merged big blocks and built level-2 nodes several times over the run ...
    assert!(total_big >= cars * 4, "{total_big} big merges");
    assert!(new_nodes.iter().sum::<usize>() >= cars * 3);
    // ... but never most of the fleet in one round (without phases: all 512 at once).
    let worst = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    assert!(worst(&big_merges) <= cars / 8, "{:?}", worst(&big_merges));
    assert!(worst(&new_nodes) <= cars / 8, "{:?}", worst(&new_nodes));
    // The series still hold what was inserted, in order, in few chunks.
    for s in &fleet {
        assert_eq!(s.len(), rounds as usize);
        assert!(s.chunks.len() <= 16, "{}", s.chunks.len());
        check_pyramid(s);
    }
}

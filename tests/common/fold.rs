//! The reference every "as of T" read is checked against: the state computed directly from the
//! records as produced, by README's definition of exactness (per property the value with the
//! greatest `(event time, partition, offset)` at or before T; an asset exists when its latest
//! `twin.assets` record at or before T is not a tombstone, or, with none, once it sent
//! telemetry). Kept apart from the store's code on purpose: it shares nothing with it.
//!
//! Also the workload generator for fleets with out-of-order times, partial updates, nested
//! fields, assets added and removed, and devices that upload buffered history late.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json, json};

use super::TestProducer;

/// Where the fixtures write telemetry and asset definitions.
const TELEMETRY: &str = "twin.telemetry";
const ASSETS: &str = "twin.assets";

/// `(event time, partition, offset)`: the order in which values win.
type RecKey = (i64, i32, i64);
/// Properties of one record, `a.b` for nested ones.
type Props = Vec<(String, Json)>;

/// A telemetry record as produced.
#[derive(Debug, Clone)]
pub struct TeleRec {
    pub key: String,
    pub partition: i32,
    pub offset: i64,
    pub ts: i64,
    pub props: Vec<(String, Json)>,
}

/// A `twin.assets` record as produced; `alive` is false for a tombstone.
#[derive(Debug, Clone)]
pub struct DefRec {
    pub key: String,
    pub partition: i32,
    pub offset: i64,
    pub ts: i64,
    pub alive: bool,
}

/// Everything produced, in production order.
#[derive(Debug, Default, Clone)]
pub struct Produced {
    pub tele: Vec<TeleRec>,
    pub defs: Vec<DefRec>,
}

impl Produced {
    /// Sends a telemetry record to `twin.telemetry` (Kafka time = event time, as devices that
    /// stamp CreateTime do) and notes it.
    pub fn send_tele(
        &mut self,
        p: &mut TestProducer,
        partition: i32,
        key: &str,
        ts: i64,
        props: Vec<(String, Json)>,
    ) {
        let offset = p.send_str(TELEMETRY, partition, key, &payload(ts, &props), ts);
        self.tele.push(TeleRec {
            key: key.to_owned(),
            partition,
            offset,
            ts,
            props,
        });
    }

    /// Sends an asset definition (or, with `alive` false, a tombstone) to `twin.assets` (one
    /// partition) and notes it.
    pub fn send_def(&mut self, p: &mut TestProducer, key: &str, ts: i64, alive: bool) {
        let partition = 0;
        let offset = if alive {
            let body = json!({"ts": ts, "kind": "vehicle", "name": key}).to_string();
            p.send_str(ASSETS, partition, key, &body, ts)
        } else {
            p.send(ASSETS, partition, Some(key.as_bytes()), None, ts)
        };
        self.defs.push(DefRec {
            key: key.to_owned(),
            partition,
            offset,
            ts,
            alive,
        });
    }

    /// The ids of the assets that exist at `t`.
    #[must_use]
    pub fn assets_at(&self, t: i64) -> BTreeSet<String> {
        let mut latest_def: BTreeMap<&str, (i64, i32, i64, bool)> = BTreeMap::new();
        for d in self.defs.iter().filter(|d| d.ts <= t) {
            let key = (d.ts, d.partition, d.offset, d.alive);
            let slot = latest_def.entry(d.key.as_str()).or_insert(key);
            if (key.0, key.1, key.2) > (slot.0, slot.1, slot.2) {
                *slot = key;
            }
        }
        let sent: BTreeSet<&str> = self
            .tele
            .iter()
            .filter(|r| r.ts <= t)
            .map(|r| r.key.as_str())
            .collect();
        let keys: BTreeSet<&str> = self
            .tele
            .iter()
            .map(|r| r.key.as_str())
            .chain(self.defs.iter().map(|d| d.key.as_str()))
            .collect();
        keys.into_iter()
            .filter(|k| match latest_def.get(k) {
                Some(&(_, _, _, alive)) => alive,
                None => sent.contains(k),
            })
            .map(str::to_owned)
            .collect()
    }

    /// `{asset: {property: value}}` at `t`, the shape of `snapshot`'s `"assets"`.
    #[must_use]
    pub fn state_at(&self, t: i64) -> Json {
        // (asset, property) -> ((event time, partition, offset), value) of the winner so far.
        let mut latest: BTreeMap<(&str, &str), (RecKey, &Json)> = BTreeMap::new();
        for r in self.tele.iter().filter(|r| r.ts <= t) {
            let key = (r.ts, r.partition, r.offset);
            for (name, v) in &r.props {
                let slot = latest
                    .entry((r.key.as_str(), name.as_str()))
                    .or_insert((key, v));
                if key > slot.0 {
                    *slot = (key, v);
                }
            }
        }
        let mut assets = Map::new();
        for id in self.assets_at(t) {
            let props: Map<String, Json> = latest
                .range((id.as_str(), "")..)
                .take_while(|((a, _), _)| *a == id)
                .map(|((_, name), (_, v))| ((*name).to_owned(), (*v).clone()))
                .collect();
            assets.insert(id, Json::Object(props));
        }
        Json::Object(assets)
    }

    /// The smallest and largest event time produced.
    #[must_use]
    pub fn time_span(&self) -> (i64, i64) {
        let times = self
            .tele
            .iter()
            .map(|r| r.ts)
            .chain(self.defs.iter().map(|d| d.ts));
        let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        (lo, hi)
    }

    /// Times worth checking: uniform over the span and a little beyond, exactly at record
    /// times (where `ts <= T` and ties matter), one millisecond before them, and the edges.
    #[must_use]
    pub fn probe_times(&self, rng: &mut fastrand::Rng, n: usize) -> Vec<i64> {
        let (lo, hi) = self.time_span();
        let mut times: Vec<i64> = (0..n)
            .map(|i| match i % 4 {
                0 | 1 => rng.i64(lo - 2_000..=hi + 2_000),
                2 => self.tele[rng.usize(0..self.tele.len())].ts,
                _ if !self.defs.is_empty() && rng.bool() => {
                    self.defs[rng.usize(0..self.defs.len())].ts
                }
                _ => self.tele[rng.usize(0..self.tele.len())].ts - 1,
            })
            .collect();
        times.extend([lo - 1, lo, hi, hi + 1]);
        times
    }

    /// Checks that `store` holds, at every one of `times`, exactly the fold's assets (failures
    /// name the time relative to `t0`).
    pub fn assert_store_folds(&self, store: &twinscope::twin::Store, times: &[i64], t0: i64) {
        for &t in times {
            self.assert_folds(&store.snapshot(t), t, t0, "store");
        }
    }

    /// Checks that `snapshot`, the JSON some `read` (the store, `snapshot --at`, the window)
    /// gave for `t`, holds exactly the fold's assets at `t` (a failure names the read and the
    /// time relative to `t0`).
    pub fn assert_folds(&self, snapshot: &Json, t: i64, t0: i64, read: &str) {
        assert_eq!(
            snapshot["assets"],
            self.state_at(t),
            "{read} at T0{:+} ms",
            t - t0
        );
    }
}

/// A JSON payload with `ts` and the properties; `a.b` names are nested as `{"a": {"b": v}}`.
#[must_use]
pub fn payload(ts: i64, props: &[(String, Json)]) -> String {
    let mut obj = Map::new();
    obj.insert("ts".to_owned(), json!(ts));
    for (name, v) in props {
        match name.split_once('.') {
            Some((outer, inner)) => {
                let slot = obj.entry(outer.to_owned()).or_insert_with(|| json!({}));
                if let Json::Object(m) = slot {
                    m.insert(inner.to_owned(), v.clone());
                }
            }
            None => {
                obj.insert(name.clone(), v.clone());
            }
        }
    }
    Json::Object(obj).to_string()
}

/// A partial update of a vehicle: a random non-empty subset of speed, battery (nested),
/// position (nested, two fields under one object), gear (text) and a door flag (bool).
#[must_use]
pub fn vehicle_props(rng: &mut fastrand::Rng) -> Vec<(String, Json)> {
    loop {
        let mut props = Vec::new();
        if rng.bool() {
            props.push((
                "speed".to_owned(),
                json!(f64::from(rng.u16(0..2000)) / 10.0),
            ));
        }
        if rng.u8(0..3) == 0 {
            props.push((
                "battery.soc".to_owned(),
                json!(f64::from(rng.u8(0..=100)) / 100.0),
            ));
        }
        if rng.u8(0..3) == 0 {
            props.push((
                "pos.lat".to_owned(),
                json!(f64::from(rng.i32(-9000..9000)) / 100.0),
            ));
            props.push((
                "pos.lon".to_owned(),
                json!(f64::from(rng.i32(-18000..18000)) / 100.0),
            ));
        }
        if rng.u8(0..4) == 0 {
            let g = ["P", "R", "N", "D"][rng.usize(0..4)];
            props.push(("gear".to_owned(), json!(g)));
        }
        if rng.u8(0..5) == 0 {
            props.push(("door_open".to_owned(), json!(rng.bool())));
        }
        if !props.is_empty() {
            return props;
        }
    }
}

/// The shape of [`produce_fleet`]'s workload; tests name what differs from the default.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    pub cars: usize,
    pub records: usize,
    pub partitions: i32,
    /// Event times fall in `[t0, t0 + span_ms)`.
    pub t0: i64,
    pub span_ms: i64,
    /// How far a record's event time may be behind the previous one of its partition.
    pub jitter_ms: i64,
}

impl Default for Fleet {
    /// 20 cars, 600 records on 2 partitions over 30 minutes from [`super::T0`], each up to
    /// 10 s behind the one before it.
    fn default() -> Self {
        Self {
            cars: 20,
            records: 600,
            partitions: 2,
            t0: super::T0,
            span_ms: 30 * 60_000,
            jitter_ms: 10_000,
        }
    }
}

/// Car `i`'s id: `eu/f{i % 3}/car-{i}`.
#[must_use]
pub fn car_id(i: usize) -> String {
    format!("eu/f{}/car-{i:03}", i % 3)
}

/// A fleet's telemetry (to `twin.telemetry`) and definitions (to `twin.assets`): each car on
/// one partition (keyed, as a real producer partitions), event times advancing with jitter so
/// they are out of order within and across partitions, partial updates, and definitions that
/// add cars later, remove some and add some back. Kafka time = event time.
pub fn produce_fleet(p: &mut TestProducer, rng: &mut fastrand::Rng, fleet: Fleet) -> Produced {
    let mut out = Produced::default();
    let part = |car: usize| (car % fleet.partitions as usize) as i32;
    for i in 0..fleet.records {
        let car = rng.usize(0..fleet.cars);
        let base = fleet.t0 + fleet.span_ms * i as i64 / fleet.records as i64;
        let ts = (base - rng.i64(0..=fleet.jitter_ms)).max(fleet.t0);
        out.send_tele(p, part(car), &car_id(car), ts, vehicle_props(rng));
    }
    let at = |f: f64| fleet.t0 + (fleet.span_ms as f64 * f) as i64;
    for car in 0..fleet.cars {
        match car % 5 {
            // Defined from the start.
            0 => out.send_def(p, &car_id(car), fleet.t0, true),
            // Added a third of the way in (telemetry before that makes it exist already).
            1 => out.send_def(p, &car_id(car), at(0.33), true),
            // Removed half-way.
            2 => {
                out.send_def(p, &car_id(car), fleet.t0, true);
                out.send_def(p, &car_id(car), at(0.5), false);
            }
            // Removed, then added back.
            3 => {
                out.send_def(p, &car_id(car), at(0.2), false);
                out.send_def(p, &car_id(car), at(0.7), true);
            }
            _ => {}
        }
    }
    out
}

/// A car that drops off the network for `[from, to)` (ms after `t0`) and uploads what it
/// buffered when it reconnects.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub car: usize,
    pub from: i64,
    pub to: i64,
}

/// How a reconnecting car uploads its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// The whole buffer at once, right at reconnect, before its live records.
    AtOnce,
    /// One buffered record after each live record of the fleet, from reconnect on, so late and
    /// live records interleave in the log.
    Interleaved,
}

/// How often each car of [`produce_with_outages`] reports (at a random time in the first half
/// of each period).
pub const REPORT_EVERY_MS: i64 = 30_000;

/// A fleet reporting to `twin.telemetry` every [`REPORT_EVERY_MS`] over `span_ms`, with
/// `outages`: the records a car takes while offline reach Kafka only after it reconnects, with
/// their original event time and Kafka time (CreateTime), so a partition holds records minutes
/// to hours behind their neighbours. Cars are keyed to `car % partitions`. Returns what was produced, in log order.
pub fn produce_with_outages(
    p: &mut TestProducer,
    rng: &mut fastrand::Rng,
    (cars, partitions): (usize, i32),
    (t0, span_ms): (i64, i64),
    outages: &[Outage],
    upload: Upload,
) -> Produced {
    let every_ms = REPORT_EVERY_MS;
    let mut out = Produced::default();
    let part = |car: usize| (car % partitions as usize) as i32;
    let offline = |car: usize, t: i64| {
        outages
            .iter()
            .any(|o| o.car == car && t - t0 >= o.from && t - t0 < o.to)
    };
    let mut buffered: Vec<(usize, i64, Props)> = Vec::new();
    let mut step = 0;
    while step * every_ms < span_ms {
        let t = t0 + step * every_ms;
        for car in 0..cars {
            // A little jitter inside the period, so cars do not share every time.
            let ts = t + rng.i64(0..every_ms / 2);
            let props = vehicle_props(rng);
            if offline(car, ts) {
                buffered.push((car, ts, props));
                continue;
            }
            if upload == Upload::AtOnce {
                // Reconnected: everything it buffered goes first.
                let (mine, rest): (Vec<_>, Vec<_>) = buffered.drain(..).partition(|b| b.0 == car);
                buffered = rest;
                for (c, bts, bprops) in mine {
                    out.send_tele(p, part(c), &car_id(c), bts, bprops);
                }
            }
            out.send_tele(p, part(car), &car_id(car), ts, props);
            if upload == Upload::Interleaved
                && let Some(i) = buffered.iter().position(|b| !offline(b.0, t))
            {
                let (c, bts, bprops) = buffered.remove(i);
                out.send_tele(p, part(c), &car_id(c), bts, bprops);
            }
        }
        step += 1;
    }
    // Whatever is still buffered at the end comes in last.
    for (c, bts, bprops) in buffered {
        out.send_tele(p, part(c), &car_id(c), bts, bprops);
    }
    out
}

/// Times inside, at the edges of and after every outage, plus `probe_times`.
#[must_use]
pub fn outage_times(
    produced: &Produced,
    rng: &mut fastrand::Rng,
    t0: i64,
    outages: &[Outage],
) -> Vec<i64> {
    let mut times = produced.probe_times(rng, 60);
    for o in outages {
        let (a, b) = (t0 + o.from, t0 + o.to);
        times.extend([a - 1, a, a + 1, (a + b) / 2, b - 1, b, b + 1, b + 60_000]);
        times.extend((0..5).map(|_| rng.i64(a..b)));
    }
    times
}

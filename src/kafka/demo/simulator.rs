//! Demo plant simulator: a pure, deterministic generator of twin records.
//!
//! The simulated plant has 2 sites × 3 lines × 6 machines. [`PlantSim`] only
//! *produces* [`OutRecord`]s (topic role, key, JSON payload, timestamp); it does
//! no I/O, so the Kafka producer, backfill and live loop live elsewhere and the
//! simulation stays unit-testable and reproducible from a seed.
//!
//! Time is `i64` epoch milliseconds everywhere. The caller is expected to call
//! [`PlantSim::step`] once per simulated second (1 Hz), also when backfilling
//! past time, so all rates below are tuned per second of simulated time.

use std::f64::consts::TAU;

use fastrand::Rng;
use serde_json::{Value, json};

/// Which of the twin topics a record goes to (named apart from the decoder's `Role`, which
/// says which topic a record was read from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// High-rate machine measurements (`twin.telemetry`).
    Telemetry,
    /// Alarms, maintenance events and command results (`twin.events`).
    Events,
    /// Compacted asset metadata (`twin.assets`).
    Assets,
}

/// One record to be produced to Kafka by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRecord {
    /// Destination topic.
    pub role: TopicKind,
    /// Record key: the asset id the record is about.
    pub key: String,
    /// JSON payload; `None` is a tombstone.
    pub payload: Option<String>,
    /// Record timestamp in epoch milliseconds.
    pub ts: i64,
}

const SITES: [(&str, &str, &str, &str); 2] = [
    ("plant-a", "Plant A", "Lyon, FR", "Europe/Paris"),
    ("plant-b", "Plant B", "Porto, PT", "Europe/Lisbon"),
];
const LINES_PER_SITE: usize = 3;
const MACHINES_PER_LINE: usize = 6;
const LINE_PRODUCTS: [&str; LINES_PER_SITE] = ["housings", "shafts", "brackets"];

const MINUTE_MS: i64 = 60_000;

/// Per-second probabilities for a machine in RUN. With ~28 eligible machines
/// running these give roughly one fault every ~3 min, one maintenance every
/// ~15 min, one short starvation idle and one heat excursion every ~12 min.
const P_FAULT: f64 = 1.5e-4;
const P_MAINT: f64 = 4.0e-5;
const P_IDLE: f64 = 5.0e-5;
const P_HOT: f64 = 5.0e-5;
const P_LUBE: f64 = 3.0e-5;

/// Wear growth of the degrading bearings: with 8 mm/s per unit of wear this
/// is +2 mm/s per hour, so a 7 mm/s limit is crossed ~2.25 h after a fresh bearing.
const DEGRADING_WEAR_PER_HOUR: f64 = 0.25;
const NORMAL_WEAR_PER_HOUR: f64 = 0.002;
const VIB_PER_WEAR: f64 = 8.0;
const VIB_LIMIT: f64 = 7.0;
/// Hysteresis below the limit so noisy signals do not chatter raise/clear.
const VIB_CLEAR: f64 = 6.5;
const TEMP_HYSTERESIS: f64 = 3.0;

/// Machines whose bearing degrades visibly (one per site).
const DEGRADING: [&str; 2] = ["plant-a/line-1/press-01", "plant-b/line-3/press-13"];

/// The limit the simulator's vibration alarm uses, as a prediction limit: vibration above
/// [`VIB_LIMIT`] on every machine. The embedded demo installs it so time-to-threshold estimates
/// look for the same limit as the simulator's own alarms. Temperature limits are left out: the
/// simulated temperatures swing with ~20-minute load cycles, which a trend model reads as
/// short-lived slopes toward the limit, and the demo's point is the bearing.
#[must_use]
pub fn demo_limits() -> Vec<crate::config::LimitDef> {
    vec![crate::config::LimitDef {
        property: "vibration".into(),
        threshold: crate::twin::forecast::Threshold::above(VIB_LIMIT),
        kinds: vec!["machine".into()],
        pattern: None,
    }]
}

/// Static description of a machine type.
struct TypeSpec {
    kind: &'static str,
    label: &'static str,
    vendor: &'static str,
    rpm: f64,
    power_kw: f64,
    parts_per_min: f64,
    /// Running temperature at minimum load, and extra rise at full load.
    temp_base: f64,
    temp_rise: f64,
    temp_limit: f64,
    /// Thermal time constant: temperature lags power by roughly this much.
    tau_s: f64,
    vib_base: f64,
    /// (code, severity, message) of the faults this type can raise.
    faults: [(&'static str, &'static str, &'static str); 2],
}

/// One entry per machine type, one line per concern (identity, load, heat, faults).
#[rustfmt::skip]
const TYPES: [TypeSpec; MACHINES_PER_LINE] = [
    TypeSpec { kind: "press", label: "Press", vendor: "Schuler",
        rpm: 620.0, power_kw: 55.0, parts_per_min: 24.0, vib_base: 2.5,
        temp_base: 34.0, temp_rise: 20.0, temp_limit: 62.0, tau_s: 300.0,
        faults: [("FAULT_JAM", "high", "die jam detected"), ("FAULT_OVERLOAD", "critical", "ram overload tripped")] },
    TypeSpec { kind: "lathe", label: "Lathe", vendor: "DMG Mori",
        rpm: 2400.0, power_kw: 18.0, parts_per_min: 2.0, vib_base: 1.8,
        temp_base: 31.0, temp_rise: 17.0, temp_limit: 55.0, tau_s: 240.0,
        faults: [("FAULT_SPINDLE", "critical", "spindle drive fault"), ("FAULT_OVERTEMP", "high", "spindle overtemperature")] },
    TypeSpec { kind: "mill", label: "Mill", vendor: "Haas",
        rpm: 9000.0, power_kw: 22.0, parts_per_min: 1.2, vib_base: 2.2,
        temp_base: 32.0, temp_rise: 19.0, temp_limit: 58.0, tau_s: 240.0,
        faults: [("FAULT_SPINDLE", "critical", "spindle drive fault"), ("FAULT_TOOL", "high", "tool breakage detected")] },
    TypeSpec { kind: "robot", label: "Robot", vendor: "KUKA",
        rpm: 1800.0, power_kw: 6.0, parts_per_min: 8.0, vib_base: 0.9,
        temp_base: 29.0, temp_rise: 13.0, temp_limit: 50.0, tau_s: 200.0,
        faults: [("FAULT_COLLISION", "critical", "collision detected"), ("FAULT_GRIPPER", "high", "gripper pressure lost")] },
    TypeSpec { kind: "oven", label: "Oven", vendor: "Nabertherm",
        rpm: 1400.0, power_kw: 80.0, parts_per_min: 0.6, vib_base: 1.2,
        temp_base: 168.0, temp_rise: 28.0, temp_limit: 205.0, tau_s: 900.0,
        faults: [("FAULT_OVERTEMP", "critical", "chamber overtemperature"), ("FAULT_BURNER", "high", "burner ignition failure")] },
    TypeSpec { kind: "conveyor", label: "Conveyor", vendor: "Interroll",
        rpm: 320.0, power_kw: 4.0, parts_per_min: 45.0, vib_base: 1.4,
        temp_base: 27.0, temp_rise: 10.0, temp_limit: 45.0, tau_s: 300.0,
        faults: [("FAULT_JAM", "high", "belt jam"), ("FAULT_MOTOR", "high", "drive motor tripped")] },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Run,
    Idle,
    Fault,
    Maint,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Run => "RUN",
            State::Idle => "IDLE",
            State::Fault => "FAULT",
            State::Maint => "MAINT",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ActiveFault {
    code: &'static str,
    severity: &'static str,
    /// `None` = only an operator reset or maintenance clears it.
    until: Option<i64>,
}

struct Machine {
    id: String,
    name: String,
    spec: &'static TypeSpec,
    site: usize,
    line: usize,
    number: usize,
    degrading: bool,
    state: State,
    fault: Option<ActiveFault>,
    maint_until: i64,
    /// `None` while idle = held by an operator "stop" until "start".
    idle_until: Option<i64>,
    hot_until: i64,
    hot_extra: f64,
    lube_until: Option<i64>,
    temp: f64,
    vib_ema: f64,
    temp_alarm: bool,
    vib_alarm: bool,
    wear: f64,
    good_count: u64,
    count_frac: f64,
    cycle_s: f64,
    phase: f64,
}

impl Machine {
    fn commissioned(&self) -> String {
        // Derived from the position rather than the RNG so asset records can be
        // produced from `&self` at any time and never change between runs.
        let (s, l, n) = (self.site, self.line, self.number);
        let year = 2014 + (n * 7 + s * 3 + l) % 10;
        let month = 1 + (n * 5 + l * 2 + s) % 12;
        let day = 1 + (n * 11 + s * 5 + l * 3) % 28;
        format!("{year:04}-{month:02}-{day:02}")
    }
}

/// The demo plant simulation. Deterministic for a given seed and call sequence.
pub struct PlantSim {
    rng: Rng,
    machines: Vec<Machine>,
    last_ts: Option<i64>,
    /// Index of the machine holding the guaranteed long-lived fault.
    sticky: Option<usize>,
    /// When the next long-lived fault is raised (if none is active).
    next_sticky_at: Option<i64>,
}

/// Standard normal sample (Box-Muller).
fn gauss(rng: &mut Rng) -> f64 {
    // 1 - u lies in (0, 1], keeping ln() finite.
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
}

/// Formats a number with fixed decimals, never producing invalid JSON
/// (NaN/inf) or a "-0.00".
fn num(x: f64, decimals: usize) -> String {
    let x = if x.is_finite() { x } else { 0.0 };
    let s = format!("{x:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

fn alarm_record(
    ts: i64,
    key: &str,
    code: &str,
    severity: &str,
    active: bool,
    message: String,
) -> OutRecord {
    let payload = json!({
        "ts": ts,
        "type": "alarm",
        "code": code,
        "severity": severity,
        "state": if active { "active" } else { "cleared" },
        "message": message,
    });
    event_record(ts, key, &payload)
}

/// An events-topic record with this payload.
fn event_record(ts: i64, key: &str, payload: &serde_json::Value) -> OutRecord {
    OutRecord {
        role: TopicKind::Events,
        key: key.to_string(),
        payload: Some(payload.to_string()),
        ts,
    }
}

fn maint_record(ts: i64, key: &str, start: bool, message: String) -> OutRecord {
    let payload = json!({
        "ts": ts,
        "type": "event",
        "code": if start { "MAINT_START" } else { "MAINT_END" },
        "severity": "info",
        "message": message,
    });
    event_record(ts, key, &payload)
}

fn command_result(
    ts: i64,
    key: &str,
    command: &str,
    correlation_id: &str,
    accepted: bool,
    message: String,
) -> OutRecord {
    let payload = json!({
        "ts": ts,
        "type": "command_result",
        "correlation_id": correlation_id,
        "command": command,
        "status": if accepted { "accepted" } else { "rejected" },
        "message": message,
    });
    event_record(ts, key, &payload)
}

/// Ambient temperature with a daily swing peaking mid-afternoon (UTC).
fn ambient(now: i64) -> f64 {
    let hour = (now.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
    22.0 + 3.0 * (TAU * (hour - 9.0) / 24.0).sin()
}

/// Production intensity over the day: busier during the day shift.
fn daily_load(now: i64) -> f64 {
    let hour = (now.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
    (TAU * (hour - 8.0) / 24.0).sin()
}

impl PlantSim {
    /// Builds the 36-machine plant; `seed` makes runs reproducible.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::with_seed(seed);
        let mut machines = Vec::with_capacity(SITES.len() * LINES_PER_SITE * MACHINES_PER_LINE);
        for (s, (site_id, ..)) in SITES.iter().enumerate() {
            for l in 0..LINES_PER_SITE {
                for (i, spec) in TYPES.iter().enumerate() {
                    // Numbers continue across lines ("line-2/press-07") so that a
                    // bare machine tag stays unique within a site too.
                    let number = l * MACHINES_PER_LINE + i + 1;
                    let id = format!("{site_id}/line-{}/{}-{number:02}", l + 1, spec.kind);
                    let degrading = DEGRADING.contains(&id.as_str());
                    machines.push(Machine {
                        name: format!("{} {number:02}", spec.label),
                        id,
                        spec,
                        site: s,
                        line: l,
                        number,
                        degrading,
                        state: State::Run,
                        fault: None,
                        maint_until: 0,
                        idle_until: None,
                        hot_until: 0,
                        hot_extra: 0.0,
                        lube_until: None,
                        temp: 0.0,
                        vib_ema: 0.0,
                        temp_alarm: false,
                        vib_alarm: false,
                        wear: if degrading {
                            0.0
                        } else {
                            0.02 + 0.12 * rng.f64()
                        },
                        good_count: rng.u64(10_000..500_000),
                        count_frac: 0.0,
                        cycle_s: 1200.0 * (0.85 + 0.3 * rng.f64()),
                        phase: TAU * rng.f64(),
                    });
                }
            }
        }
        PlantSim {
            rng,
            machines,
            last_ts: None,
            sticky: None,
            next_sticky_at: None,
        }
    }

    /// Ids of all machines, e.g. "plant-a/line-2/press-07".
    pub fn machine_ids(&self) -> Vec<String> {
        self.machines.iter().map(|m| m.id.clone()).collect()
    }

    /// One twin.assets record per site, line and machine (not per property), with ts = at.
    ///
    /// Parents precede their children; the parent is implied by the id prefix.
    pub fn asset_records(&self, at: i64) -> Vec<OutRecord> {
        let rec = |key: String, value: Value| OutRecord {
            role: TopicKind::Assets,
            key,
            payload: Some(value.to_string()),
            ts: at,
        };
        let mut out = Vec::new();
        for (s, (site_id, site_name, location, tz)) in SITES.iter().enumerate() {
            out.push(rec(
                site_id.to_string(),
                json!({"name": site_name, "kind": "site", "attributes": {"location": location, "timezone": tz}}),
            ));
            for (l, product) in LINE_PRODUCTS.iter().enumerate() {
                let line_id = format!("{site_id}/line-{}", l + 1);
                out.push(rec(
                    line_id,
                    json!({"name": format!("Line {}", l + 1), "kind": "line", "attributes": {"product": product, "shifts": 3}}),
                ));
                for m in self.machines.iter().filter(|m| m.site == s && m.line == l) {
                    out.push(rec(
                        m.id.clone(),
                        json!({
                            "name": m.name,
                            "kind": "machine",
                            "attributes": {"type": m.spec.kind, "vendor": m.spec.vendor, "commissioned": m.commissioned()},
                        }),
                    ));
                }
            }
        }
        out
    }

    /// Advances the simulation to `now` (one call per second of simulated time).
    ///
    /// Returns one telemetry record per machine (in [`PlantSim::machine_ids`]
    /// order) followed by the event records (alarm raise/clear, maintenance
    /// start/end) that happened in this step.
    pub fn step(&mut self, now: i64) -> Vec<OutRecord> {
        let first = self.last_ts.is_none();
        // Clamp dt so a long pause in calls cannot make rates or lags explode.
        let dt = match self.last_ts {
            Some(prev) => ((now - prev).clamp(0, 10_000)) as f64 / 1000.0,
            None => 1.0,
        };
        self.last_ts = Some(now);
        if first {
            // Raise the long-lived fault immediately so even a run without
            // backfill shows an active alarm right away.
            self.next_sticky_at = Some(now);
        }

        let mut events = Vec::new();
        self.maybe_raise_sticky(now, &mut events);

        let amb = ambient(now);
        let day = daily_load(now);
        let t_s = now as f64 / 1000.0;
        let mut telemetry = Vec::with_capacity(self.machines.len());
        for idx in 0..self.machines.len() {
            self.transitions(idx, now, dt, &mut events);
            let rng = &mut self.rng;
            let m = &mut self.machines[idx];
            let spec = m.spec;

            let load = (0.72
                + 0.18 * (TAU * t_s / m.cycle_s + m.phase).sin()
                + 0.06 * day
                + 0.03 * gauss(rng))
            .clamp(0.2, 1.0);
            let power_ratio = match m.state {
                State::Run => (0.25 + 0.75 * load) * (1.0 + 0.02 * gauss(rng)),
                State::Idle => 0.08 * (1.0 + 0.05 * gauss(rng)),
                State::Fault => 0.04 * (1.0 + 0.05 * gauss(rng)),
                State::Maint => 0.02 * (1.0 + 0.05 * gauss(rng)),
            }
            .max(0.0);
            let power = spec.power_kw * power_ratio;

            // The target follows power; first-order lag makes temperature trail it.
            let hot = if now < m.hot_until { m.hot_extra } else { 0.0 };
            let target = amb
                + (spec.temp_base - 22.0) * (power_ratio.min(0.25) / 0.25)
                + spec.temp_rise * ((power_ratio - 0.25).max(0.0) / 0.75)
                + hot;
            if first {
                // Start at steady state to avoid a warm-up ramp in every backfill.
                m.temp = target;
            } else {
                m.temp += (target - m.temp) * (1.0 - (-dt / spec.tau_s).exp());
            }
            let temperature = m.temp + 0.08 * gauss(rng);

            let running = m.state == State::Run;
            if running {
                let per_hour = if m.degrading {
                    DEGRADING_WEAR_PER_HOUR
                } else {
                    NORMAL_WEAR_PER_HOUR
                };
                let before = m.wear;
                m.wear = (m.wear + per_hour * dt / 3600.0).min(1.0);
                if m.degrading && before < 1.0 && m.wear >= 1.0 {
                    // A bearing run to the end of its life seizes the machine.
                    m.state = State::Fault;
                    m.fault = Some(ActiveFault {
                        code: "FAULT_BEARING",
                        severity: "critical",
                        until: None,
                    });
                    events.push(alarm_record(
                        now,
                        &m.id,
                        "FAULT_BEARING",
                        "critical",
                        true,
                        format!("{}: bearing seized, maintenance required", m.name),
                    ));
                }
            }
            let running = m.state == State::Run;
            let rpm = if running {
                spec.rpm * (0.92 + 0.08 * load) * (1.0 + 0.004 * gauss(rng))
            } else {
                0.0
            };
            let vibration = if running {
                spec.vib_base * (0.7 + 0.4 * load)
                    + VIB_PER_WEAR * m.wear
                    + 0.08 * spec.vib_base * gauss(rng)
            } else if m.state == State::Idle {
                0.15 + 0.03 * gauss(rng)
            } else {
                0.05 + 0.01 * gauss(rng)
            }
            .max(0.0);

            if running {
                m.count_frac += spec.parts_per_min / 60.0 * (0.6 + 0.4 * load) * dt;
                let whole = m.count_frac.floor();
                m.good_count += whole as u64;
                m.count_frac -= whole;
            }

            // Limit alarms with hysteresis; vibration uses a ~30 s average so
            // single noisy samples do not trip it.
            if temperature > spec.temp_limit && !m.temp_alarm {
                m.temp_alarm = true;
                events.push(alarm_record(
                    now,
                    &m.id,
                    "TEMP_HIGH",
                    "medium",
                    true,
                    format!(
                        "{}: temperature {:.1} °C above limit {:.0} °C",
                        m.name, temperature, spec.temp_limit
                    ),
                ));
            } else if temperature < spec.temp_limit - TEMP_HYSTERESIS && m.temp_alarm {
                m.temp_alarm = false;
                events.push(alarm_record(
                    now,
                    &m.id,
                    "TEMP_HIGH",
                    "medium",
                    false,
                    format!("{}: temperature back to {:.1} °C", m.name, temperature),
                ));
            }
            m.vib_ema += (vibration - m.vib_ema) * (1.0 - (-dt / 30.0).exp());
            if first {
                m.vib_ema = vibration;
            }
            if m.vib_ema > VIB_LIMIT && !m.vib_alarm {
                m.vib_alarm = true;
                events.push(alarm_record(
                    now,
                    &m.id,
                    "VIB_HIGH",
                    "medium",
                    true,
                    format!(
                        "{}: vibration {:.2} mm/s above limit {VIB_LIMIT} mm/s",
                        m.name, m.vib_ema
                    ),
                ));
            } else if m.vib_ema < VIB_CLEAR && m.vib_alarm {
                m.vib_alarm = false;
                events.push(alarm_record(
                    now,
                    &m.id,
                    "VIB_HIGH",
                    "medium",
                    false,
                    format!("{}: vibration back to {:.2} mm/s", m.name, m.vib_ema),
                ));
            }

            let payload = format!(
                "{{\"ts\":{now},\"temperature\":{},\"vibration\":{},\"spindle_rpm\":{},\"power_kw\":{},\"good_count\":{},\"state\":\"{}\",\"bearing\":{{\"wear\":{}}}}}",
                num(temperature, 2),
                num(vibration, 3),
                num(rpm, 0),
                num(power, 2),
                m.good_count,
                m.state.as_str(),
                num(m.wear, 3),
            );
            telemetry.push(OutRecord {
                role: TopicKind::Telemetry,
                key: m.id.clone(),
                payload: Some(payload),
                ts: now,
            });
        }
        telemetry.extend(events);
        telemetry
    }

    /// Keeps at least one long-lived fault in the plant so a freshly started
    /// viewer (after any backfill) always has an active alarm to show.
    fn maybe_raise_sticky(&mut self, now: i64, events: &mut Vec<OutRecord>) {
        if self.sticky.is_some() || self.next_sticky_at.is_none_or(|at| now < at) {
            return;
        }
        let candidates: Vec<usize> = self
            .machines
            .iter()
            .enumerate()
            .filter(|(_, m)| m.state == State::Run && !m.degrading)
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let idx = candidates[self.rng.usize(..candidates.len())];
        self.raise_fault(idx, now, None, events);
        self.sticky = Some(idx);
        self.next_sticky_at = None;
    }

    fn raise_fault(
        &mut self,
        idx: usize,
        now: i64,
        until: Option<i64>,
        events: &mut Vec<OutRecord>,
    ) {
        let m = &mut self.machines[idx];
        let (code, severity, text) = m.spec.faults[self.rng.usize(..m.spec.faults.len())];
        m.state = State::Fault;
        m.fault = Some(ActiveFault {
            code,
            severity,
            until,
        });
        events.push(alarm_record(
            now,
            &m.id,
            code,
            severity,
            true,
            format!("{}: {text}", m.name),
        ));
    }

    /// Clears the active fault alarm (if any); `why` ends the clear message.
    fn clear_fault(&mut self, idx: usize, now: i64, why: &str, events: &mut Vec<OutRecord>) {
        let m = &mut self.machines[idx];
        if let Some(f) = m.fault.take() {
            events.push(alarm_record(
                now,
                &m.id,
                f.code,
                f.severity,
                false,
                format!("{}: {} cleared ({why})", m.name, f.code),
            ));
        }
        if self.sticky == Some(idx) {
            self.sticky = None;
            // Re-arm so the plant is never fault-free for long in a demo.
            self.next_sticky_at = Some(now + self.rng.i64(20 * MINUTE_MS..=40 * MINUTE_MS));
        }
    }

    fn start_maint(
        &mut self,
        idx: usize,
        now: i64,
        duration_ms: i64,
        why: &str,
        events: &mut Vec<OutRecord>,
    ) {
        if self.machines[idx].state == State::Fault {
            self.clear_fault(idx, now, "maintenance started", events);
        }
        let m = &mut self.machines[idx];
        m.state = State::Maint;
        m.idle_until = None;
        m.maint_until = now + duration_ms;
        let minutes = duration_ms as f64 / MINUTE_MS as f64;
        events.push(maint_record(
            now,
            &m.id,
            true,
            format!("{}: {why} maintenance started ({minutes:.0} min)", m.name),
        ));
    }

    /// Timed state changes and random incidents for one machine.
    fn transitions(&mut self, idx: usize, now: i64, dt: f64, events: &mut Vec<OutRecord>) {
        let m = &self.machines[idx];
        match m.state {
            State::Fault
                if m.fault
                    .and_then(|f| f.until)
                    .is_some_and(|until| now >= until) =>
            {
                self.clear_fault(idx, now, "auto-recovered", events);
                self.machines[idx].state = State::Run;
            }
            State::Maint if now >= m.maint_until => {
                let m = &mut self.machines[idx];
                m.state = State::Run;
                // The bearing is replaced, so the degradation story restarts.
                m.wear = if m.degrading { 0.0 } else { 0.02 };
                events.push(maint_record(
                    now,
                    &m.id,
                    false,
                    format!("{}: maintenance completed", m.name),
                ));
            }
            State::Idle if m.idle_until.is_some_and(|until| now >= until) => {
                let m = &mut self.machines[idx];
                m.state = State::Run;
                m.idle_until = None;
            }
            _ => {}
        }

        let m = &self.machines[idx];
        if m.state == State::Run && !m.degrading {
            // The degrading bearings are exempt so their drift stays visible.
            let u = self.rng.f64();
            if u < P_FAULT * dt {
                let until = now + self.rng.i64(3 * MINUTE_MS..=20 * MINUTE_MS);
                self.raise_fault(idx, now, Some(until), events);
            } else if u < (P_FAULT + P_MAINT) * dt {
                let dur = self.rng.i64(10 * MINUTE_MS..=30 * MINUTE_MS);
                self.start_maint(idx, now, dur, "scheduled", events);
            } else if u < (P_FAULT + P_MAINT + P_IDLE) * dt {
                let m = &mut self.machines[idx];
                m.state = State::Idle;
                m.idle_until = Some(now + self.rng.i64(MINUTE_MS..=5 * MINUTE_MS));
            }
        }

        let m = &mut self.machines[idx];
        if m.state == State::Run && now >= m.hot_until && self.rng.f64() < P_HOT * dt {
            // Coolant/ventilation trouble: raises the temperature target for a while.
            m.hot_until = now + self.rng.i64(4 * MINUTE_MS..=12 * MINUTE_MS);
            let scale = if m.spec.kind == "oven" { 1.5 } else { 1.0 };
            m.hot_extra = scale * (12.0 + 13.0 * self.rng.f64());
        }
        match m.lube_until {
            Some(until) if now >= until => {
                m.lube_until = None;
                events.push(alarm_record(
                    now,
                    &m.id,
                    "LUBE_LOW",
                    "low",
                    false,
                    format!("{}: lubricant refilled", m.name),
                ));
            }
            None if m.state == State::Run && self.rng.f64() < P_LUBE * dt => {
                m.lube_until = Some(now + self.rng.i64(2 * MINUTE_MS..=8 * MINUTE_MS));
                events.push(alarm_record(
                    now,
                    &m.id,
                    "LUBE_LOW",
                    "low",
                    true,
                    format!("{}: lubricant level low", m.name),
                ));
            }
            _ => {}
        }
    }

    /// Applies an operator command to a machine (closed loop).
    ///
    /// Supported: `reset_fault` (FAULT → RUN, clears the fault alarm),
    /// `start_maintenance` (→ MAINT for `args["minutes"]` or 10 min, then RUN),
    /// `stop` (RUN → IDLE, held until `start`) and `start` (IDLE → RUN).
    /// Always returns a `command_result` event (accepted/rejected), preceded by
    /// the alarm clear / maintenance event where applicable.
    pub fn apply_command(
        &mut self,
        now: i64,
        asset: &str,
        command: &str,
        args: &Value,
        correlation_id: &str,
    ) -> Vec<OutRecord> {
        let mut out = Vec::new();
        let result = self.command_inner(now, asset, command, args, &mut out);
        let (accepted, message) = match result {
            Ok(msg) => (true, msg),
            Err(msg) => (false, msg),
        };
        out.push(command_result(
            now,
            asset,
            command,
            correlation_id,
            accepted,
            message,
        ));
        out
    }

    fn command_inner(
        &mut self,
        now: i64,
        asset: &str,
        command: &str,
        args: &Value,
        out: &mut Vec<OutRecord>,
    ) -> Result<String, String> {
        let idx = self
            .machines
            .iter()
            .position(|m| m.id == asset)
            .ok_or_else(|| format!("unknown machine '{asset}'"))?;
        let state = self.machines[idx].state;
        match command {
            "reset_fault" => {
                if state != State::Fault {
                    return Err(format!("machine is {}, not FAULT", state.as_str()));
                }
                self.clear_fault(idx, now, "reset by operator", out);
                self.machines[idx].state = State::Run;
                Ok("fault reset, machine running".to_string())
            }
            "start_maintenance" => {
                if state == State::Maint {
                    return Err("machine is already in MAINT".to_string());
                }
                let minutes = match args.get("minutes") {
                    None | Some(Value::Null) => 10.0,
                    Some(v) => match v.as_f64() {
                        Some(x) if x > 0.0 && x <= 24.0 * 60.0 => x,
                        _ => return Err("'minutes' must be a number in (0, 1440]".to_string()),
                    },
                };
                let dur = (minutes * MINUTE_MS as f64).round() as i64;
                self.start_maint(idx, now, dur, "operator", out);
                Ok(format!("maintenance started for {minutes} min"))
            }
            "stop" => {
                if state != State::Run {
                    return Err(format!(
                        "machine is {}, can only stop from RUN",
                        state.as_str()
                    ));
                }
                let m = &mut self.machines[idx];
                m.state = State::Idle;
                m.idle_until = None;
                Ok("machine stopped (IDLE)".to_string())
            }
            "start" => {
                if state != State::Idle {
                    return Err(format!(
                        "machine is {}, can only start from IDLE",
                        state.as_str()
                    ));
                }
                let m = &mut self.machines[idx];
                m.state = State::Run;
                m.idle_until = None;
                Ok("machine started (RUN)".to_string())
            }
            other => Err(format!("unknown command '{other}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const T0: i64 = 1_718_000_000_000;

    fn parse(r: &OutRecord) -> Value {
        serde_json::from_str(r.payload.as_deref().unwrap()).unwrap()
    }

    fn state_of(records: &[OutRecord], key: &str) -> String {
        let r = records
            .iter()
            .find(|r| r.role == TopicKind::Telemetry && r.key == key)
            .unwrap();
        parse(r)["state"].as_str().unwrap().to_string()
    }

    #[test]
    fn deterministic_for_same_seed() {
        let run = |seed| {
            let mut sim = PlantSim::new(seed);
            let mut all = Vec::new();
            for s in 0..900 {
                all.extend(sim.step(T0 + s * 1000));
            }
            all.extend(sim.apply_command(
                T0 + 900_000,
                "plant-a/line-1/press-01",
                "start_maintenance",
                &json!({"minutes": 5}),
                "c1",
            ));
            for s in 900..1300 {
                all.extend(sim.step(T0 + s * 1000));
            }
            all
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn plant_layout_and_assets() {
        let sim = PlantSim::new(1);
        let ids = sim.machine_ids();
        assert_eq!(ids.len(), 36);
        assert!(ids.contains(&"plant-a/line-2/press-07".to_string()));
        assert!(ids.contains(&"plant-a/line-1/press-01".to_string()));
        let assets = sim.asset_records(T0);
        assert_eq!(assets.len(), 2 + 6 + 36);
        let count = |kind: &str| assets.iter().filter(|r| parse(r)["kind"] == kind).count();
        assert_eq!((count("site"), count("line"), count("machine")), (2, 6, 36));
        for r in &assets {
            assert_eq!(r.role, TopicKind::Assets);
            assert_eq!(r.ts, T0);
            assert!(parse(r).get("parent").is_none());
        }
        let press = assets
            .iter()
            .find(|r| r.key == "plant-a/line-2/press-07")
            .unwrap();
        let v = parse(press);
        assert_eq!(v["name"], "Press 07");
        assert_eq!(v["attributes"]["type"], "press");
        assert!(v["attributes"]["vendor"].is_string());
        assert_eq!(v["attributes"]["commissioned"].as_str().unwrap().len(), 10);
    }

    #[test]
    fn each_step_has_one_telemetry_per_machine() {
        let mut sim = PlantSim::new(3);
        let ids = sim.machine_ids();
        let mut total_len = 0usize;
        let mut n = 0usize;
        for s in 0..120 {
            let recs = sim.step(T0 + s * 1000);
            let tel: Vec<_> = recs
                .iter()
                .filter(|r| r.role == TopicKind::Telemetry)
                .collect();
            assert_eq!(tel.len(), 36);
            let keys: Vec<_> = tel.iter().map(|r| r.key.clone()).collect();
            assert_eq!(keys, ids);
            for r in tel {
                let v = parse(r);
                assert!(v.is_object());
                assert_eq!(v["ts"], T0 + s * 1000);
                for k in [
                    "temperature",
                    "vibration",
                    "spindle_rpm",
                    "power_kw",
                    "good_count",
                ] {
                    assert!(v[k].is_number(), "{k} missing");
                }
                assert!(v["bearing"]["wear"].is_number());
                total_len += r.payload.as_ref().unwrap().len();
                n += 1;
            }
        }
        let avg = total_len / n;
        assert!((100..=250).contains(&avg), "avg payload {avg}");
    }

    #[test]
    fn two_hour_run_has_paired_alarms_and_bearing_drift() {
        let mut sim = PlantSim::new(42);
        let bearing = "plant-a/line-1/press-01";
        let mut active: HashMap<(String, String), bool> = HashMap::new();
        let mut faults = 0;
        let mut fault_clears = 0;
        let mut maint_starts = 0;
        let mut vib_start = 0.0;
        let mut vib_end = 0.0;
        let mut last_count: HashMap<String, u64> = HashMap::new();
        let steps = 7200;
        for s in 0..steps {
            let recs = sim.step(T0 + s * 1000);
            for r in &recs {
                let v = parse(r);
                match r.role {
                    TopicKind::Telemetry => {
                        let c = v["good_count"].as_u64().unwrap();
                        let prev = last_count.insert(r.key.clone(), c).unwrap_or(c);
                        assert!(c >= prev);
                        if v["state"] != "RUN" {
                            assert_eq!(c, prev, "count grew outside RUN");
                            assert_eq!(v["spindle_rpm"].as_f64().unwrap(), 0.0);
                        }
                        if r.key == bearing {
                            if s < 60 {
                                vib_start += v["vibration"].as_f64().unwrap() / 60.0;
                            } else if s >= steps - 60 {
                                vib_end += v["vibration"].as_f64().unwrap() / 60.0;
                            }
                        }
                    }
                    TopicKind::Events if v["type"] == "alarm" => {
                        let code = v["code"].as_str().unwrap().to_string();
                        let k = (r.key.clone(), code.clone());
                        let was = active.get(&k).copied().unwrap_or(false);
                        if v["state"] == "active" {
                            assert!(!was, "double raise {k:?}");
                            active.insert(k, true);
                            if code.starts_with("FAULT_") {
                                faults += 1;
                            }
                        } else {
                            assert!(was, "clear without raise {k:?}");
                            active.insert(k, false);
                            if code.starts_with("FAULT_") {
                                fault_clears += 1;
                            }
                        }
                    }
                    TopicKind::Events if v["code"] == "MAINT_START" => maint_starts += 1,
                    _ => {}
                }
            }
        }
        assert!(faults >= 15, "faults {faults}");
        assert!(fault_clears >= 10, "fault clears {fault_clears}");
        assert!(maint_starts >= 2, "maint {maint_starts}");
        let still_active = active
            .iter()
            .filter(|(k, a)| **a && k.1.starts_with("FAULT_"))
            .count();
        assert!(still_active >= 1);
        assert!(vib_start < 3.5 && vib_start > 1.5, "start {vib_start}");
        assert!(vib_end > vib_start + 3.0, "end {vib_end} start {vib_start}");
    }

    #[test]
    fn reset_fault_closes_the_loop() {
        let mut sim = PlantSim::new(9);
        let recs = sim.step(T0);
        let faulted = recs
            .iter()
            .find(|r| r.role == TopicKind::Telemetry && parse(r)["state"] == "FAULT")
            .map(|r| r.key.clone())
            .unwrap();
        let out = sim.apply_command(T0 + 500, &faulted, "reset_fault", &json!({}), "corr-1");
        let result = out
            .iter()
            .map(parse)
            .find(|v| v["type"] == "command_result")
            .unwrap();
        assert_eq!(result["status"], "accepted");
        assert_eq!(result["correlation_id"], "corr-1");
        assert_eq!(result["command"], "reset_fault");
        assert!(
            out.iter()
                .map(parse)
                .any(|v| v["type"] == "alarm" && v["state"] == "cleared")
        );
        let next = sim.step(T0 + 1000);
        assert_eq!(state_of(&next, &faulted), "RUN");

        let out = sim.apply_command(T0 + 1500, &faulted, "reset_fault", &json!({}), "corr-2");
        assert_eq!(out.len(), 1);
        assert_eq!(parse(&out[0])["status"], "rejected");
    }

    #[test]
    fn other_commands() {
        let mut sim = PlantSim::new(5);
        sim.step(T0);
        let id = "plant-a/line-1/press-01";
        let rejected = |out: &[OutRecord]| parse(out.last().unwrap())["status"] == "rejected";
        assert!(rejected(&sim.apply_command(
            T0,
            "plant-x/nope",
            "stop",
            &Value::Null,
            "a"
        )));
        assert!(rejected(&sim.apply_command(
            T0,
            id,
            "explode",
            &Value::Null,
            "b"
        )));
        assert!(rejected(&sim.apply_command(
            T0,
            id,
            "start",
            &Value::Null,
            "c"
        )));
        assert!(!rejected(&sim.apply_command(
            T0,
            id,
            "stop",
            &Value::Null,
            "d"
        )));
        assert_eq!(state_of(&sim.step(T0 + 1000), id), "IDLE");
        assert!(!rejected(&sim.apply_command(
            T0 + 1000,
            id,
            "start",
            &Value::Null,
            "e"
        )));
        assert_eq!(state_of(&sim.step(T0 + 2000), id), "RUN");

        let out = sim.apply_command(
            T0 + 2000,
            id,
            "start_maintenance",
            &json!({"minutes": 2}),
            "f",
        );
        assert!(out.iter().map(parse).any(|v| v["code"] == "MAINT_START"));
        assert!(!rejected(&out));
        let mut ended = false;
        for s in 3..200 {
            let recs = sim.step(T0 + s * 1000);
            ended |= recs
                .iter()
                .filter(|r| r.role == TopicKind::Events)
                .map(parse)
                .any(|v| v["code"] == "MAINT_END");
            let st = state_of(&recs, id);
            if s < 122 {
                assert_eq!(st, "MAINT");
            }
        }
        assert!(ended);
    }
}

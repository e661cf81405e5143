//! ISA-18.2 / IEC 62682 alarm model that can be evaluated exactly at any past time.
//!
//! An alarm is not stored as mutable state: [`AlarmHistory`] keeps every input
//! (activate, clear, ack, shelve, unshelve) sorted by event time and folds them on
//! demand. Kafka delivers events out of order across partitions and the viewer
//! scrubs through time, so re-folding a sorted log is the only way to get the
//! same answer for "state at T" no matter when or in which order inputs arrived.
//!
//! The state machine tracks two underlying flags, `active` (the process
//! condition) and `acked` (operator acknowledgement), and derives the visible
//! state from them unless the alarm is shelved:
//!
//! | active | acked | state         |
//! |--------|-------|---------------|
//! | false  | true  | `Normal`      |
//! | true   | false | `UnackActive` |
//! | true   | true  | `AckedActive` |
//! | false  | false | `UnackRtn`    |
//!
//! While shelved the flags keep following the inputs but no transitions are
//! journaled; on unshelve (or expiry) the state snaps back to the derived one.
//! All times are epoch milliseconds.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Alarm priority. Ordered so that `Critical` is the maximum, which lets
/// callers pick the worst alarm with `max()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Immediate action required.
    Critical,
    /// Prompt action required.
    High,
    /// Action required soon.
    Medium,
    /// Awareness only.
    Low,
}

impl Priority {
    fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Critical => 3,
        }
    }

    /// Lowercase name as used in configuration and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    /// Case-insensitive parse of the four names; anything else is `None`
    /// rather than a guess, so config typos surface.
    pub fn parse(s: &str) -> Option<Priority> {
        [
            Priority::Critical,
            Priority::High,
            Priority::Medium,
            Priority::Low,
        ]
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// Visible alarm state (ISA-18.2 state diagram, without suppression states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// Not active and acknowledged.
    Normal,
    /// Active, not yet acknowledged.
    UnackActive,
    /// Active and acknowledged.
    AckedActive,
    /// Returned to normal without having been acknowledged.
    UnackRtn,
    /// Temporarily hidden by an operator.
    Shelved,
}

impl AlarmState {
    /// Human-readable label for alarm lists.
    pub fn label(self) -> &'static str {
        match self {
            AlarmState::Normal => "Normal",
            AlarmState::UnackActive => "Unacknowledged",
            AlarmState::AckedActive => "Acknowledged",
            AlarmState::UnackRtn => "Returned (unacked)",
            AlarmState::Shelved => "Shelved",
        }
    }

    fn derived(active: bool, acked: bool) -> AlarmState {
        match (active, acked) {
            (false, true) => AlarmState::Normal,
            (true, false) => AlarmState::UnackActive,
            (true, true) => AlarmState::AckedActive,
            (false, false) => AlarmState::UnackRtn,
        }
    }
}

/// Why a [`Transition`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The process condition became active.
    Activated,
    /// The process condition returned to normal.
    Cleared,
    /// An operator acknowledged the alarm.
    Acked,
    /// An operator shelved the alarm.
    Shelved,
    /// An operator unshelved the alarm.
    Unshelved,
    /// The shelve time ran out.
    ShelveExpired,
}

/// One input to the alarm state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmInput {
    /// The process condition is (still) in alarm; a repeat only updates the message.
    Activate {
        /// Text describing the condition, e.g. "vibration 7.31 > hi 7.0".
        message: Option<String>,
    },
    /// The process condition returned to normal.
    Clear,
    /// Operator acknowledgement.
    Ack {
        /// Operator identity.
        by: Option<String>,
        /// Free-text note.
        comment: Option<String>,
    },
    /// Hide the alarm until `until`.
    Shelve {
        /// Epoch ms at which the shelve expires automatically.
        until: i64,
        /// Operator identity.
        by: Option<String>,
        /// Free-text note (reason for shelving).
        comment: Option<String>,
    },
    /// End a shelve early.
    Unshelve {
        /// Operator identity.
        by: Option<String>,
    },
}

/// Sort key of an input: (event time, then a tie-breaking sequence number such as partition<<48|offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    /// Event time, epoch ms.
    pub ts: i64,
    /// Tie-breaker among inputs with equal `ts`; also the identity for de-duplication.
    pub seq: u64,
    /// The input itself.
    pub input: AlarmInput,
}

/// A visible state change, as shown in the alarm journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// When the change happened, epoch ms.
    pub ts: i64,
    /// State before.
    pub from: AlarmState,
    /// State after.
    pub to: AlarmState,
    /// What caused it.
    pub cause: Cause,
    /// Operator, for operator actions.
    pub by: Option<String>,
    /// Operator comment; for `Activated` the activation message, so the journal is self-contained.
    pub comment: Option<String>,
}

/// The alarm as of some time T.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmStatus {
    /// Visible state.
    pub state: AlarmState,
    /// Underlying process condition (tracked even while shelved).
    pub active: bool,
    /// Underlying acknowledgement flag (tracked even while shelved).
    pub acked: bool,
    /// Time of the last change of `state`; the first input's time if it never changed.
    pub since: i64,
    /// Time the condition last went from inactive to active.
    pub last_activated: Option<i64>,
    /// Message of the last Activate.
    pub message: Option<String>,
    /// Who acknowledged the current activation; reset by a new activation.
    pub acked_by: Option<String>,
    /// When the current activation was acknowledged.
    pub acked_at: Option<i64>,
    /// Comment given with the acknowledgement.
    pub ack_comment: Option<String>,
    /// Expiry of the current shelve; `Some` exactly when `state` is `Shelved`.
    pub shelved_until: Option<i64>,
}

impl AlarmStatus {
    /// Whether an alarm list should show it: active or unacknowledged, and not shelved.
    pub fn is_shown(&self) -> bool {
        self.state != AlarmState::Shelved && (self.active || !self.acked)
    }
}

/// The fold of sorted inputs; shared by `status_at` and `journal_until` so they cannot disagree.
struct Fold {
    st: AlarmStatus,
    journal: Vec<Transition>,
    /// False when only the status is wanted: scrubbing folds every alarm of the fleet on
    /// every move of the cursor, and copying each transition's strings was most of that.
    record: bool,
}

impl Fold {
    fn new(first_ts: i64, record: bool) -> Self {
        Fold {
            st: AlarmStatus {
                state: AlarmState::Normal,
                active: false,
                acked: true,
                since: first_ts,
                last_activated: None,
                message: None,
                acked_by: None,
                acked_at: None,
                ack_comment: None,
                shelved_until: None,
            },
            journal: Vec::new(),
            record,
        }
    }

    fn set_state(
        &mut self,
        ts: i64,
        to: AlarmState,
        cause: Cause,
        by: Option<&str>,
        comment: Option<&str>,
    ) {
        if self.st.state == to {
            return;
        }
        if self.record {
            self.journal.push(Transition {
                ts,
                from: self.st.state,
                to,
                cause,
                by: by.map(str::to_owned),
                comment: comment.map(str::to_owned),
            });
        }
        self.st.state = to;
        self.st.since = ts;
    }

    /// Flag changes only become visible when not shelved.
    fn refresh(&mut self, ts: i64, cause: Cause, by: Option<&str>, comment: Option<&str>) {
        if self.st.shelved_until.is_none() {
            let to = AlarmState::derived(self.st.active, self.st.acked);
            self.set_state(ts, to, cause, by, comment);
        }
    }

    /// Expiry is an event at `until` itself, so `until == t` counts as expired at t.
    fn expire_shelve(&mut self, t: i64) {
        if let Some(until) = self.st.shelved_until
            && until <= t
        {
            self.st.shelved_until = None;
            self.refresh(until, Cause::ShelveExpired, None, None);
        }
    }

    fn apply(&mut self, ts: i64, input: &AlarmInput) {
        self.expire_shelve(ts);
        match input {
            AlarmInput::Activate { message } => {
                self.st.message = message.clone();
                if !self.st.active {
                    self.st.active = true;
                    self.st.acked = false;
                    self.st.last_activated = Some(ts);
                    // A previous ack belongs to the previous activation.
                    self.st.acked_by = None;
                    self.st.acked_at = None;
                    self.st.ack_comment = None;
                    self.refresh(ts, Cause::Activated, None, message.as_deref());
                }
            }
            AlarmInput::Clear => {
                if self.st.active {
                    self.st.active = false;
                    self.refresh(ts, Cause::Cleared, None, None);
                }
            }
            AlarmInput::Ack { by, comment } => {
                if !self.st.acked {
                    self.st.acked = true;
                    self.st.acked_by = by.clone();
                    self.st.acked_at = Some(ts);
                    self.st.ack_comment = comment.clone();
                    self.refresh(ts, Cause::Acked, by.as_deref(), comment.as_deref());
                }
            }
            AlarmInput::Shelve { until, by, comment } => {
                if *until > ts {
                    // Re-shelving while shelved only moves the expiry.
                    self.st.shelved_until = Some(*until);
                    self.set_state(
                        ts,
                        AlarmState::Shelved,
                        Cause::Shelved,
                        by.as_deref(),
                        comment.as_deref(),
                    );
                }
            }
            AlarmInput::Unshelve { by } => {
                if self.st.shelved_until.take().is_some() {
                    self.refresh(ts, Cause::Unshelved, by.as_deref(), None);
                }
            }
        }
    }
}

/// All inputs of one alarm, kept sorted by (ts, seq) so any past state can be rebuilt exactly.
#[derive(Debug, Clone, Default)]
pub struct AlarmHistory {
    inputs: Vec<Keyed>,
}

impl AlarmHistory {
    /// Empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inputs may arrive in any order (out-of-order event time); insertion keeps (ts, seq) order. A duplicate (same ts and seq) is ignored and returns false.
    pub fn insert(&mut self, k: Keyed) -> bool {
        match self
            .inputs
            .binary_search_by(|e| (e.ts, e.seq).cmp(&(k.ts, k.seq)))
        {
            Ok(_) => false,
            Err(pos) => {
                self.inputs.insert(pos, k);
                true
            }
        }
    }

    fn fold_until(&self, t: i64, record: bool) -> Option<Fold> {
        let first = self.inputs.first().filter(|k| k.ts <= t)?;
        let mut f = Fold::new(first.ts, record);
        for k in self.inputs.iter().take_while(|k| k.ts <= t) {
            f.apply(k.ts, &k.input);
        }
        f.expire_shelve(t);
        Some(f)
    }

    /// Exact state as of T: the fold of every input with ts <= T in (ts, seq) order, including automatic unshelve when shelved_until <= T. None if no input has ts <= T.
    pub fn status_at(&self, t: i64) -> Option<AlarmStatus> {
        self.fold_until(t, false).map(|f| f.st)
    }

    /// Every transition up to T (journal), in order, including ShelveExpired transitions at the shelve's `until` time.
    pub fn journal_until(&self, t: i64) -> Vec<Transition> {
        self.fold_until(t, true)
            .map(|f| f.journal)
            .unwrap_or_default()
    }

    /// Walks the underlying `active` flag, which only Activate/Clear change, calling `edge(ts, now_active)` on each change.
    fn active_edges(&self, to: i64, mut edge: impl FnMut(i64, bool)) {
        let mut active = false;
        for k in self.inputs.iter().take_while(|k| k.ts <= to) {
            let next = match k.input {
                AlarmInput::Activate { .. } => true,
                AlarmInput::Clear => false,
                _ => active,
            };
            if next != active {
                active = next;
                edge(k.ts, active);
            }
        }
    }

    /// Times (ts) of Activate inputs within [from, to] that raised the alarm, for timeline markers.
    /// A repeat Activate while already active only refreshes the message, so it gets no marker.
    pub fn activations_in(&self, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        self.active_edges(to, |ts, active| {
            if active && ts >= from {
                out.push(ts);
            }
        });
        out
    }

    /// Intervals [start, end) during which the alarm was active, clipped to [from, to]; end None = still active at `to`. For plot bands.
    /// Activity is the underlying condition, so shelving does not hide bands.
    pub fn active_intervals(&self, from: i64, to: i64) -> Vec<(i64, Option<i64>)> {
        let mut out = Vec::new();
        let mut start = None;
        self.active_edges(to, |ts, active| {
            if active {
                start = Some(ts);
            } else if let Some(s) = start.take()
                && ts > from
                && ts > s
            {
                out.push((s.max(from), Some(ts)));
            }
        });
        if let Some(s) = start {
            out.push((s.max(from), None));
        }
        out
    }

    /// Number of stored inputs.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// True when no input has been stored.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use AlarmState::*;

    fn act(msg: &str) -> AlarmInput {
        AlarmInput::Activate {
            message: Some(msg.to_string()),
        }
    }
    fn ack(by: &str) -> AlarmInput {
        AlarmInput::Ack {
            by: Some(by.to_string()),
            comment: None,
        }
    }
    fn shelve(until: i64) -> AlarmInput {
        AlarmInput::Shelve {
            until,
            by: Some("op".into()),
            comment: Some("maintenance".into()),
        }
    }
    fn unshelve() -> AlarmInput {
        AlarmInput::Unshelve {
            by: Some("op".into()),
        }
    }
    fn hist(inputs: &[(i64, AlarmInput)]) -> AlarmHistory {
        let mut h = AlarmHistory::new();
        for (i, (ts, input)) in inputs.iter().enumerate() {
            assert!(h.insert(Keyed {
                ts: *ts,
                seq: i as u64,
                input: input.clone()
            }));
        }
        h
    }
    fn state_at(h: &AlarmHistory, t: i64) -> AlarmState {
        h.status_at(t).unwrap().state
    }
    fn causes(h: &AlarmHistory, t: i64) -> Vec<(i64, AlarmState, AlarmState, Cause)> {
        h.journal_until(t)
            .into_iter()
            .map(|x| (x.ts, x.from, x.to, x.cause))
            .collect()
    }

    #[test]
    fn priority_order_and_parse() {
        assert!(Priority::Critical > Priority::High);
        assert!(Priority::High > Priority::Medium && Priority::Medium > Priority::Low);
        assert_eq!(
            [Priority::Low, Priority::Critical, Priority::Medium]
                .into_iter()
                .max(),
            Some(Priority::Critical)
        );
        assert_eq!(Priority::parse("HIGH"), Some(Priority::High));
        assert_eq!(Priority::parse("critical"), Some(Priority::Critical));
        assert_eq!(Priority::parse("urgent"), None);
        for p in [
            Priority::Critical,
            Priority::High,
            Priority::Medium,
            Priority::Low,
        ] {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn labels() {
        assert_eq!(UnackRtn.label(), "Returned (unacked)");
        assert_eq!(UnackActive.label(), "Unacknowledged");
    }

    #[test]
    fn none_before_first_input_and_empty() {
        let h = hist(&[(100, act("x"))]);
        assert_eq!(h.status_at(99), None);
        assert!(h.journal_until(99).is_empty());
        assert_eq!(AlarmHistory::new().status_at(i64::MAX), None);
        assert!(AlarmHistory::new().is_empty());
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn activate_ack_clear_path() {
        let h = hist(&[(10, act("hot")), (20, ack("ann")), (30, AlarmInput::Clear)]);
        let s = h.status_at(10).unwrap();
        assert_eq!(
            (s.state, s.active, s.acked, s.since),
            (UnackActive, true, false, 10)
        );
        assert_eq!(s.message.as_deref(), Some("hot"));
        assert_eq!(s.last_activated, Some(10));
        assert!(s.is_shown());
        assert_eq!(state_at(&h, 25), AckedActive);
        let s = h.status_at(30).unwrap();
        assert_eq!(
            (s.state, s.since, s.active, s.acked),
            (Normal, 30, false, true)
        );
        assert!(!s.is_shown());
        assert_eq!(
            causes(&h, 100),
            vec![
                (10, Normal, UnackActive, Cause::Activated),
                (20, UnackActive, AckedActive, Cause::Acked),
                (30, AckedActive, Normal, Cause::Cleared),
            ]
        );
        assert_eq!(h.journal_until(100)[0].comment.as_deref(), Some("hot"));
    }

    #[test]
    fn clear_before_ack_then_ack() {
        let h = hist(&[(10, act("a")), (20, AlarmInput::Clear), (30, ack("bob"))]);
        let s = h.status_at(20).unwrap();
        assert_eq!((s.state, s.active, s.acked), (UnackRtn, false, false));
        assert!(s.is_shown());
        assert_eq!(state_at(&h, 30), Normal);
        assert_eq!(causes(&h, 30)[2], (30, UnackRtn, Normal, Cause::Acked));
    }

    #[test]
    fn no_op_inputs() {
        // Clear when inactive, ack when acked, repeat activate: no transitions.
        let h = hist(&[
            (5, AlarmInput::Clear),
            (6, ack("x")),
            (10, act("first")),
            (11, act("second")),
            (12, ack("a")),
            (13, ack("b")),
        ]);
        let s = h.status_at(5).unwrap();
        assert_eq!((s.state, s.since), (Normal, 5));
        assert_eq!(s.acked_by, None);
        let s = h.status_at(13).unwrap();
        assert_eq!(s.message.as_deref(), Some("second"));
        assert_eq!(s.last_activated, Some(10));
        assert_eq!((s.acked_by.as_deref(), s.acked_at), (Some("a"), Some(12)));
        assert_eq!(h.journal_until(13).len(), 2);
    }

    #[test]
    fn ack_with_comment_recorded() {
        let h = hist(&[
            (10, act("a")),
            (
                20,
                AlarmInput::Ack {
                    by: Some("ann".into()),
                    comment: Some("checking pump".into()),
                },
            ),
        ]);
        let s = h.status_at(20).unwrap();
        assert_eq!(s.acked_by.as_deref(), Some("ann"));
        assert_eq!(s.acked_at, Some(20));
        assert_eq!(s.ack_comment.as_deref(), Some("checking pump"));
        let j = h.journal_until(20);
        assert_eq!(j[1].by.as_deref(), Some("ann"));
        assert_eq!(j[1].comment.as_deref(), Some("checking pump"));
    }

    #[test]
    fn reactivation_resets_ack_info() {
        let h = hist(&[
            (10, act("a")),
            (20, ack("ann")),
            (30, AlarmInput::Clear),
            (40, act("b")),
        ]);
        let s = h.status_at(40).unwrap();
        assert_eq!(
            (s.state, s.acked_by, s.acked_at, s.last_activated),
            (UnackActive, None, None, Some(40))
        );
    }

    #[test]
    fn shelve_hides_and_unshelve_restores_derived_state() {
        let h = hist(&[
            (10, act("a")),
            (20, shelve(1000)),
            (30, AlarmInput::Clear),
            (40, act("b")),
            (50, ack("ann")),
            (60, unshelve()),
        ]);
        let s = h.status_at(55).unwrap();
        assert_eq!(
            (s.state, s.active, s.acked, s.shelved_until),
            (Shelved, true, true, Some(1000))
        );
        assert!(!s.is_shown());
        assert_eq!(s.since, 20);
        let s = h.status_at(60).unwrap();
        assert_eq!((s.state, s.shelved_until, s.since), (AckedActive, None, 60));
        assert_eq!(
            causes(&h, 60),
            vec![
                (10, Normal, UnackActive, Cause::Activated),
                (20, UnackActive, Shelved, Cause::Shelved),
                (60, Shelved, AckedActive, Cause::Unshelved),
            ]
        );
        let j = h.journal_until(60);
        assert_eq!(j[1].comment.as_deref(), Some("maintenance"));
        assert_eq!(j[2].by.as_deref(), Some("op"));
    }

    #[test]
    fn shelve_expires_exactly_at_until() {
        let h = hist(&[(10, act("a")), (20, shelve(100))]);
        assert_eq!(state_at(&h, 99), Shelved);
        let s = h.status_at(100).unwrap();
        assert_eq!(
            (s.state, s.since, s.shelved_until),
            (UnackActive, 100, None)
        );
        assert_eq!(
            causes(&h, 100).last(),
            Some(&(100, Shelved, UnackActive, Cause::ShelveExpired))
        );
        assert_eq!(causes(&h, 99).len(), 2);
    }

    #[test]
    fn shelve_expiry_precedes_input_at_same_time() {
        // The expiry is journaled at `until`, before the input that happens later/at that time.
        let h = hist(&[
            (10, act("a")),
            (20, shelve(50)),
            (50, AlarmInput::Clear),
            (70, unshelve()),
        ]);
        assert_eq!(
            causes(&h, 100)[2..],
            [
                (50, Shelved, UnackActive, Cause::ShelveExpired),
                (50, UnackActive, UnackRtn, Cause::Cleared)
            ]
        );
        // Unshelve after expiry is a no-op.
        assert_eq!(h.journal_until(100).len(), 4);
    }

    #[test]
    fn shelve_into_past_is_noop_and_reshelve_moves_expiry() {
        let h = hist(&[
            (10, act("a")),
            (20, shelve(20)),
            (30, shelve(100)),
            (40, shelve(60)),
        ]);
        assert_eq!(causes(&h, 30).len(), 2);
        assert_eq!(h.status_at(50).unwrap().shelved_until, Some(60));
        assert_eq!(state_at(&h, 60), UnackActive);
        assert_eq!(h.journal_until(1000).len(), 3);
    }

    #[test]
    fn unshelve_when_not_shelved_is_noop() {
        let h = hist(&[(10, act("a")), (20, unshelve())]);
        assert_eq!(h.journal_until(20).len(), 1);
        assert_eq!(h.status_at(20).unwrap().since, 10);
    }

    #[test]
    fn duplicate_ignored_and_ties_broken_by_seq() {
        let mut h = AlarmHistory::new();
        assert!(h.insert(Keyed {
            ts: 10,
            seq: 2,
            input: AlarmInput::Clear
        }));
        assert!(h.insert(Keyed {
            ts: 10,
            seq: 1,
            input: act("a")
        }));
        assert!(!h.insert(Keyed {
            ts: 10,
            seq: 1,
            input: act("dup")
        }));
        assert_eq!(h.len(), 2);
        // seq 1 (activate) then seq 2 (clear) -> UnackRtn, not a lone activation.
        let s = h.status_at(10).unwrap();
        assert_eq!((s.state, s.message.as_deref()), (UnackRtn, Some("a")));
    }

    #[test]
    fn out_of_order_insertion_matches_in_order() {
        let inputs = [
            (10, act("a")),
            (20, shelve(35)),
            (30, AlarmInput::Clear),
            (40, ack("x")),
            (50, act("b")),
            (60, AlarmInput::Clear),
        ];
        let in_order = hist(&inputs);
        let mut rev = AlarmHistory::new();
        for (i, (ts, input)) in inputs.iter().enumerate().rev() {
            rev.insert(Keyed {
                ts: *ts,
                seq: i as u64,
                input: input.clone(),
            });
        }
        for t in 0..70 {
            assert_eq!(in_order.status_at(t), rev.status_at(t), "t={t}");
            assert_eq!(in_order.journal_until(t), rev.journal_until(t), "t={t}");
        }
    }

    #[test]
    fn active_intervals_and_activations() {
        let h = hist(&[
            (10, act("a")),
            (15, act("again")),
            (20, AlarmInput::Clear),
            (30, act("b")),
            (35, shelve(100)),
            (40, AlarmInput::Clear),
            (50, act("c")),
        ]);
        assert_eq!(
            h.active_intervals(0, 100),
            vec![(10, Some(20)), (30, Some(40)), (50, None)]
        );
        assert_eq!(
            h.active_intervals(15, 45),
            vec![(15, Some(20)), (30, Some(40))]
        );
        assert_eq!(h.active_intervals(20, 30), vec![(30, None)]);
        assert_eq!(h.active_intervals(21, 29), vec![]);
        assert_eq!(h.activations_in(0, 100), vec![10, 30, 50]);
        assert_eq!(h.activations_in(10, 30), vec![10, 30]);
        assert_eq!(h.activations_in(11, 29), Vec::<i64>::new());
    }

    /// Tiny xorshift64 so the property test is deterministic without a rand dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Independent straightforward model: step through time, re-deriving the visible state after each event.
    fn naive(mut inputs: Vec<Keyed>, t: i64) -> Option<AlarmStatus> {
        inputs.sort_by_key(|k| (k.ts, k.seq));
        inputs.dedup_by_key(|k| (k.ts, k.seq));
        inputs.retain(|k| k.ts <= t);
        let first = inputs.first()?.ts;
        let (mut active, mut acked, mut shelf): (bool, bool, Option<i64>) = (false, true, None);
        let (mut msg, mut last_act, mut ack_info) = (None, None, (None, None, None));
        let visible = |a: bool, k: bool, s: Option<i64>| match (s, a, k) {
            (Some(_), _, _) => Shelved,
            (None, false, true) => Normal,
            (None, true, false) => UnackActive,
            (None, true, true) => AckedActive,
            (None, false, false) => UnackRtn,
        };
        let mut state = Normal;
        let mut since = first;
        let mut observe = |ts: i64, s: AlarmState| {
            if s != state {
                state = s;
                since = ts;
            }
        };
        for k in &inputs {
            if let Some(u) = shelf.filter(|u| *u <= k.ts) {
                shelf = None;
                observe(u, visible(active, acked, shelf));
            }
            match &k.input {
                AlarmInput::Activate { message } => {
                    msg = message.clone();
                    if !active {
                        active = true;
                        acked = false;
                        last_act = Some(k.ts);
                        ack_info = (None, None, None);
                    }
                }
                AlarmInput::Clear => active = false,
                AlarmInput::Ack { by, comment } => {
                    if !acked {
                        acked = true;
                        ack_info = (by.clone(), Some(k.ts), comment.clone());
                    }
                }
                AlarmInput::Shelve { until, .. } => {
                    if *until > k.ts {
                        shelf = Some(*until);
                    }
                }
                AlarmInput::Unshelve { .. } => shelf = None,
            }
            observe(k.ts, visible(active, acked, shelf));
        }
        if let Some(u) = shelf.filter(|u| *u <= t) {
            shelf = None;
            observe(u, visible(active, acked, shelf));
        }
        Some(AlarmStatus {
            state,
            active,
            acked,
            since,
            last_activated: last_act,
            message: msg,
            acked_by: ack_info.0,
            acked_at: ack_info.1,
            ack_comment: ack_info.2,
            shelved_until: shelf,
        })
    }

    #[test]
    fn property_status_matches_naive_fold() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            let n = 1 + rng.below(30) as usize;
            let mut inputs = Vec::new();
            for _ in 0..n {
                let ts = rng.below(100) as i64;
                let seq = rng.below(4);
                let input = match rng.below(6) {
                    0 | 1 => AlarmInput::Activate {
                        message: Some(format!("m{}", rng.below(5))),
                    },
                    2 => AlarmInput::Clear,
                    3 => AlarmInput::Ack {
                        by: Some(format!("op{}", rng.below(3))),
                        comment: None,
                    },
                    4 => AlarmInput::Shelve {
                        until: ts + rng.below(40) as i64 - 5,
                        by: None,
                        comment: None,
                    },
                    _ => AlarmInput::Unshelve { by: None },
                };
                inputs.push(Keyed { ts, seq, input });
            }
            let mut h = AlarmHistory::new();
            let mut kept = Vec::new();
            for k in &inputs {
                // The first copy of a (ts, seq) key wins, so the naive model sees the same set.
                if h.insert(k.clone()) {
                    kept.push(k.clone());
                }
            }
            for _ in 0..20 {
                let t = rng.below(150) as i64 - 10;
                let got = h.status_at(t);
                assert_eq!(got, naive(kept.clone(), t), "round {round} t={t}");
                if let Some(s) = got {
                    let j = h.journal_until(t);
                    // The journal must agree with the status it summarises.
                    assert_eq!(
                        j.last().map(|x| (x.ts, x.to)).unwrap_or((s.since, Normal)),
                        (s.since, s.state)
                    );
                    assert!(
                        j.windows(2)
                            .all(|w| w[0].ts <= w[1].ts && w[0].to == w[1].from)
                    );
                }
            }
        }
    }
}

//! Records from the events topic: alarm transitions (raised, cleared, acked, shelved), plain
//! notes for journals and markers, and the outcomes of operator commands.

use super::{AssetIdx, Store};
use crate::twin::alarms::{AlarmInput, Keyed};
use crate::twin::decode::{AlarmAction, Event, EventKind, Role, Severity};
use crate::twin::seq_parts;

/// A plain event (maintenance, command results, ...), for journals and markers.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub ts: i64,
    pub asset: AssetIdx,
    pub code: String,
    pub message: Option<String>,
}

/// The outcome of an operator command, reported on the events topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    pub ts: i64,
    /// `accepted`, `rejected`, or what the device reported.
    pub status: String,
    pub message: Option<String>,
}

impl Store {
    pub(super) fn apply_event(&mut self, e: Event, seq: u64) {
        let a = self.asset_idx(&e.asset, e.parent.as_deref());
        let (partition, _) = seq_parts(seq);
        self.see_arrival(a, Role::Events, partition, e.ts);
        self.touch(a, e.ts);
        match (e.kind, e.severity) {
            (EventKind::Alarm { action, until }, Severity::Alarm(priority)) => {
                let input = match action {
                    AlarmAction::Active => AlarmInput::Activate { message: e.message },
                    AlarmAction::Cleared => AlarmInput::Clear,
                    AlarmAction::Acked => AlarmInput::Ack {
                        by: e.by,
                        comment: e.comment,
                    },
                    AlarmAction::Shelved => AlarmInput::Shelve {
                        until: until.unwrap_or(e.ts),
                        by: e.by,
                        comment: e.comment,
                    },
                    AlarmAction::Unshelved => AlarmInput::Unshelve { by: e.by },
                };
                let id = self.alarm_for(a, &e.code, priority);
                let alarm = &mut self.alarms[id as usize];
                if matches!(input, AlarmInput::Activate { .. }) {
                    alarm.priority = priority;
                }
                match alarm
                    .events
                    .binary_search_by(|k| (k.ts, k.seq).cmp(&(e.ts, seq)))
                {
                    Ok(_) => self.stats.duplicates += 1,
                    Err(pos) => {
                        let k = Keyed {
                            ts: e.ts,
                            seq,
                            input,
                        };
                        alarm.events.insert(pos, k.clone());
                        alarm.history.insert(k);
                        self.structure_gen += 1;
                    }
                }
            }
            (kind, _) => {
                let message = match kind {
                    EventKind::CommandResult {
                        correlation_id,
                        status,
                    } => {
                        self.command_results.insert(
                            correlation_id.clone(),
                            CommandOutcome {
                                ts: e.ts,
                                status: status.clone(),
                                message: e.message.clone(),
                            },
                        );
                        Some(format!(
                            "{status} ({correlation_id}){}",
                            e.message.map(|m| format!(": {m}")).unwrap_or_default()
                        ))
                    }
                    _ => e.message,
                };
                let note = Note {
                    ts: e.ts,
                    asset: a,
                    code: e.code,
                    message,
                };
                let pos = self.notes.partition_point(|n| n.ts <= note.ts);
                self.notes.insert(pos, note);
            }
        }
    }

    /// The outcome of the command with this correlation id, once reported.
    #[must_use]
    pub fn command_outcome(&self, correlation_id: &str) -> Option<&CommandOutcome> {
        self.command_results.get(correlation_id)
    }

    /// Plain events, sorted by time.
    #[must_use]
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::records::{alarm, origin};
    use crate::twin::alarms::{AlarmState, Priority};

    #[test]
    fn alarms_fold_by_event_time() {
        let mut s = Store::new("/", 0);
        let ev = |o: i64, ts: i64, action: AlarmAction| {
            let at = origin(Role::Events, 0, o, 0);
            alarm(
                at,
                "p/m",
                ts,
                "HOT",
                Priority::High,
                action,
                Some("hot".into()),
            )
        };
        s.apply(ev(1, 300, AlarmAction::Cleared));
        s.apply(ev(0, 100, AlarmAction::Active));
        assert!(s.alarms_at(99).is_empty());
        let at = s.alarms_at(150);
        assert_eq!(at.len(), 1);
        assert_eq!(at[0].status.state, AlarmState::UnackActive);
        assert_eq!(s.alarms_at(300)[0].status.state, AlarmState::UnackRtn);
        s.apply(ev(2, 400, AlarmAction::Acked));
        assert!(s.alarms_at(400).is_empty());
        let snap = s.snapshot(200);
        assert_eq!(snap["alarms"][0]["state"], "unack_active");
        assert_eq!(snap["alarms"][0]["since"], 100);
    }
}

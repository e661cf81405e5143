//! History that reached Kafka late: a record far behind the newest event time of its
//! partition was written late (a buffered upload, a device that was offline), and what was
//! shown for its times before it arrived was missing it. The store keeps such stretches per
//! asset so the UI can say what changed and when it became known.

use super::{AssetIdx, Store};
use crate::twin::decode::Role;

/// A stretch of an asset's history that reached Kafka late: records with event times in
/// `from..=to`, written when their partition's newest event time was already `arrived` (from
/// `first_arrived` on, for uploads that trickle in). An operator sees it as "30 min of data
/// (10:10–10:40) arrived at 10:41", and anything shown for those times before then was
/// missing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateSpan {
    pub asset: AssetIdx,
    pub from: i64,
    pub to: i64,
    pub first_arrived: i64,
    pub arrived: i64,
    pub records: u32,
}

/// Records at least this far behind their partition's newest count as late, by default.
pub const LATE_AFTER_MS: i64 = 60_000;

impl Store {
    /// Notes where `ts` stands against its partition's newest event time, and records the
    /// asset's history as late when it is far behind.
    pub(super) fn see_arrival(&mut self, a: AssetIdx, role: Role, partition: i32, ts: i64) {
        let newest = self
            .partition_newest
            .entry((role.index(), partition))
            .or_insert(ts);
        let arrived = *newest;
        *newest = arrived.max(ts);
        if arrived - ts <= self.late_after_ms {
            return;
        }
        // The same upload: close to where the asset's last late stretch arrived.
        if let Some(&i) = self.late_open.get(&a)
            && let Some(span) = self.late.get_mut(i)
            && arrived - span.arrived <= self.late_after_ms
        {
            span.from = span.from.min(ts);
            span.to = span.to.max(ts);
            span.arrived = span.arrived.max(arrived);
            span.records += 1;
            return;
        }
        self.late_open.insert(a, self.late.len());
        self.late.push(LateSpan {
            asset: a,
            from: ts,
            to: ts,
            first_arrived: arrived,
            arrived,
            records: 1,
        });
    }

    /// Sets how far behind its partition a record must be to count as late (`ui.late_after_s`).
    pub fn set_late_after(&mut self, ms: i64) {
        self.late_after_ms = ms.max(0);
    }

    /// Every stretch of history that arrived late, oldest arrival first.
    #[must_use]
    pub fn late_spans(&self) -> &[LateSpan] {
        &self.late
    }

    /// When what happened to asset `a` at `t` became known, if that was late: the arrival of
    /// the late stretch of its history that holds `t`. For the alarm journal, which shows
    /// "happened at" and "known at" apart.
    #[must_use]
    pub fn known_at(&self, a: AssetIdx, t: i64) -> Option<i64> {
        self.late
            .iter()
            .filter(|s| s.asset == a && s.from <= t && t <= s.to)
            .map(|s| s.arrived)
            .max()
    }

    /// The late stretches that changed the answer for `t`, as seen from before they arrived:
    /// those that begin at or before `t` and arrived after it.
    pub fn late_changes_at(&self, t: i64) -> impl Iterator<Item = &LateSpan> {
        self.late
            .iter()
            .filter(move |s| s.from <= t && t < s.arrived)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::tele;
    use super::*;

    #[test]
    fn a_buffered_upload_is_one_late_span_with_its_arrival() {
        let mut s = Store::new("/", 0);
        let mut o = 0;
        let mut next = || {
            o += 1;
            o
        };
        // Car a reports every 10 s for 5 minutes; car b goes quiet at 60 s and uploads
        // 60..=240 s at 300 s, on the same partition (its last record, exactly 60 s behind,
        // is not late); car c is slightly out of order only.
        let mut batch = Vec::new();
        for t in (0..=300_000).step_by(10_000) {
            batch.push(tele(0, next(), "a", t, 1.0));
            if t < 60_000 {
                batch.push(tele(0, next(), "b", t, 1.0));
            }
            batch.push(tele(1, next(), "c", t - 5_000 * (t / 10_000 % 2), 1.0));
        }
        for t in (60_000..=240_000).step_by(10_000) {
            batch.push(tele(0, next(), "b", t, 2.0));
        }
        s.apply_batch(batch, Vec::new());
        let b = s.asset_by_id("b").unwrap();
        assert_eq!(
            s.late_spans(),
            &[LateSpan {
                asset: b,
                from: 60_000,
                to: 230_000,
                first_arrived: 300_000,
                arrived: 300_000,
                records: 18,
            }]
        );
        assert_eq!(s.late_changes_at(100_000).count(), 1);
        assert_eq!(s.late_changes_at(299_999).count(), 1);
        assert_eq!(
            s.late_changes_at(300_000).count(),
            0,
            "shown after it arrived"
        );
        assert_eq!(s.late_changes_at(59_999).count(), 0, "before the gap");
        // Within the threshold nothing is late.
        let mut s = Store::new("/", 0);
        s.set_late_after(200_000);
        s.apply_batch(
            vec![tele(0, 1, "a", 300_000, 1.0), tele(0, 2, "b", 120_000, 1.0)],
            Vec::new(),
        );
        assert!(s.late_spans().is_empty());
    }
}

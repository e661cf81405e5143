//! Which schema each record was written with, by `(cluster, topic, partition, offset)`, for
//! the provenance line of the asset panel.
//!
//! The store keeps a sample's partition and offset, not its schema; adding the schema to every
//! sample would cost memory per sample for something that changes a handful of times in a
//! topic's life. So the ingest threads note it here as runs of consecutive offsets with the
//! same schema (a few entries per partition), and the panel looks the record up. It is a fact
//! about the log, the same for every read of it (live, re-read, snapshot), hence one
//! process-wide index per cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use super::SchemaTag;

/// Runs of offsets `first..=last` written with one schema, keyed by `first`.
type Runs = BTreeMap<i64, (i64, Arc<SchemaTag>)>;

/// The index of one cluster.
#[derive(Debug, Default)]
pub struct ClusterIndex {
    parts: HashMap<(Arc<str>, i32), Runs>,
}

type Shared = Arc<Mutex<ClusterIndex>>;

fn all() -> &'static Mutex<HashMap<String, Shared>> {
    static ALL: OnceLock<Mutex<HashMap<String, Shared>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
}

/// The index of the cluster at `brokers` (its bootstrap string).
#[must_use]
pub fn for_cluster(brokers: &str) -> Shared {
    let mut map = all()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(brokers.to_owned()).or_default().clone()
}

/// The schema the record at `topic`/`partition`/`offset` of the cluster at `brokers` was
/// written with, if it was framed and has been read.
#[must_use]
pub fn lookup(brokers: &str, topic: &str, partition: i32, offset: i64) -> Option<Arc<SchemaTag>> {
    let index = all()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(brokers)?
        .clone();
    let index = index
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    index.at(topic, partition, offset)
}

impl ClusterIndex {
    /// Notes that the record at `offset` was written with `tag`.
    pub fn note(&mut self, topic: &Arc<str>, partition: i32, offset: i64, tag: &Arc<SchemaTag>) {
        let runs = self.parts.entry((topic.clone(), partition)).or_default();
        note(runs, offset, tag);
    }

    /// The schema of the record at `offset`, if noted.
    #[must_use]
    pub fn at(&self, topic: &str, partition: i32, offset: i64) -> Option<Arc<SchemaTag>> {
        let runs = self.parts.get(&(Arc::from(topic), partition))?;
        let (_, (last, tag)) = runs.range(..=offset).next_back()?;
        (*last >= offset).then(|| tag.clone())
    }
}

fn note(runs: &mut Runs, offset: i64, tag: &Arc<SchemaTag>) {
    let before = runs
        .range(..=offset)
        .next_back()
        .map(|(f, (l, t))| (*f, *l, t.id));
    if let Some((_, last, _)) = before
        && last >= offset
    {
        return;
    }
    let after = runs.get(&(offset + 1)).map(|(l, t)| (*l, t.id == tag.id));
    match (before, after) {
        (Some((first, last, id)), after) if last == offset - 1 && id == tag.id => {
            let new_last = match after {
                Some((l, true)) => {
                    runs.remove(&(offset + 1));
                    l
                }
                _ => offset,
            };
            runs.insert(first, (new_last, tag.clone()));
        }
        (_, Some((l, true))) => {
            runs.remove(&(offset + 1));
            runs.insert(offset, (l, tag.clone()));
        }
        _ => {
            runs.insert(offset, (offset, tag.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::*;

    fn tag(id: u32) -> Arc<SchemaTag> {
        Arc::new(SchemaTag {
            id,
            format: Format::Avro,
            subject: None,
            version: None,
        })
    }

    #[test]
    fn runs_merge_and_answer_every_offset() {
        let (a, b) = (tag(1), tag(2));
        let mut idx = ClusterIndex::default();
        let t: Arc<str> = Arc::from("t");
        // Out of order, as a re-read of an earlier range would note them.
        let ids = [1, 1, 1, 2, 2, 1, 1];
        for off in [5, 6, 0, 1, 2, 3, 4] {
            let x = if ids[off as usize] == 1 { &a } else { &b };
            idx.note(&t, 0, off, x);
        }
        for (off, want) in ids.iter().enumerate() {
            assert_eq!(idx.at("t", 0, off as i64).map(|g| g.id), Some(*want));
        }
        assert_eq!(idx.at("t", 0, 7), None);
        assert_eq!(idx.at("t", 1, 0), None);
        assert_eq!(idx.parts[&(t, 0)].len(), 3, "one run per schema change");
    }
}

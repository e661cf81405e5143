//! Headless reads: the same ingest and store as the GUI, without a window. Used by
//! `twinscope snapshot`, `twinscope incident`, the benchmarks and the integration tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{ClientProps, Config};
use crate::kafka::KafkaLayerError;
use crate::kafka::client::ClientSettings;
use crate::kafka::ingest::{
    Conn, Ingest, IngestEvent, IngestSpec, Progress, StartAt, in_flight_bytes,
};
use crate::twin::Store;
use crate::twin::decode::Role;
use crate::twin::rules::RuleDef;

/// Errors of a headless read.
#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    #[error(transparent)]
    Kafka(#[from] KafkaLayerError),
    #[error("cannot connect: {0}")]
    Unreachable(String),
    #[error("the cluster refused the connection: {0}")]
    Rejected(String),
    #[error("topics missing on the cluster: {0}")]
    MissingTopics(String),
    #[error("timed out after {0} s")]
    Timeout(u64),
    #[error("the ingest thread ended unexpectedly")]
    Ended,
    #[error(transparent)]
    Incident(#[from] crate::twin::incident::IncidentError),
    #[error(transparent)]
    Bundle(#[from] crate::incident_bundle::BundleError),
    #[error("{0}")]
    NotExact(String),
}

/// Tells the store what the ingest thread found missing from each topic in Kafka (deleted by
/// retention, removed by compaction), so that answers for those times say so.
pub fn note_coverage(store: &mut Store, progress: &Progress) {
    for t in &progress.topics {
        store.note_incomplete(t.role, t.incomplete_through);
    }
}

/// The topic name per role, in [`Role::ALL`] order, for the store's own diagnostics.
#[must_use]
pub fn topic_names(topics: &[(Role, String)]) -> [Arc<str>; 3] {
    Role::ALL.map(|r| {
        topics
            .iter()
            .find(|(role, _)| *role == r)
            .map_or_else(|| Arc::from(r.name()), |(_, t)| Arc::from(t.as_str()))
    })
}

/// The topics of a config, per role.
#[must_use]
pub fn topics_of(config: &Config) -> Vec<(Role, String)> {
    let t = &config.topics;
    // An empty name leaves that role unread (a twin without events or an assets topic).
    [
        (Role::Telemetry, &t.telemetry),
        (Role::Events, &t.events),
        (Role::Assets, &t.assets),
    ]
    .into_iter()
    .filter(|(_, name)| !name.is_empty())
    .map(|(role, name)| (role, name.clone()))
    .collect()
}

/// An ingest spec from a config and resolved client properties.
#[must_use]
pub fn spec_for(config: &Config, brokers: &str, props: ClientProps, start: StartAt) -> IngestSpec {
    IngestSpec {
        index: None,
        client: ClientSettings {
            brokers: brokers.to_owned(),
            props,
        },
        topics: topics_of(config),
        start,
        stop_at: None,
        mapping: config.mapping.clone(),
        in_flight_bytes: in_flight_bytes(config.history.budget_mb),
        // An unresolvable password was refused when the config was loaded (main.rs); here
        // it only leaves framed records undecoded, each saying why.
        schema_registry: config.schema_registry.resolve(None).ok().flatten(),
    }
}

/// Reads until `spec.stop_at` is satisfied (or, without it, until caught up with the head as
/// of the start) and returns the store. Connection failures are retried until
/// `connect_timeout`, then reported.
///
/// # Errors
/// When the cluster cannot be reached, topics are missing, or the read takes too long.
pub fn read_to_store(
    spec: IngestSpec,
    budget_mb: usize,
    connect_timeout: Duration,
    total_timeout: Duration,
) -> Result<Store, HeadlessError> {
    read_to_store_with_rules(
        spec,
        Vec::new(),
        budget_mb,
        i64::MAX,
        connect_timeout,
        total_timeout,
    )
}

/// [`read_to_store`] with alarm rules (`config.rules`) installed before the first record, so
/// rule alarms are derived as the records are applied, and history at or after `keep_from`
/// never evicted (see [`Store::keep_from`]).
///
/// # Errors
/// As [`read_to_store`].
pub fn read_to_store_with_rules(
    spec: IngestSpec,
    rules: Vec<RuleDef>,
    budget_mb: usize,
    keep_from: i64,
    connect_timeout: Duration,
    total_timeout: Duration,
) -> Result<Store, HeadlessError> {
    let bounded = spec.stop_at.is_some();
    let brokers = spec.client.brokers.clone();
    let optional: Vec<String> = spec
        .topics
        .iter()
        .filter(|(r, _)| *r == Role::Assets)
        .map(|(_, t)| t.clone())
        .collect();
    let mut store = Store::new(spec.mapping.separator(), budget_mb);
    store.set_topic_names(topic_names(&spec.topics));
    store.set_rules(rules);
    store.keep_from(keep_from);
    let ingest = Ingest::spawn(spec, Arc::new(|| {}))?;
    let started = Instant::now();
    let mut connected = false;
    let mut last_problem = String::new();
    loop {
        if started.elapsed() > total_timeout {
            return Err(HeadlessError::Timeout(total_timeout.as_secs()));
        }
        match ingest.recv_timeout(Duration::from_millis(200)) {
            Ok(IngestEvent::Batch { mut recs, bad }) => store.apply_lent(&mut recs, bad),
            Ok(IngestEvent::Status(Conn::Connected)) => connected = true,
            Ok(IngestEvent::Status(Conn::WaitingForTopics(t))) => {
                connected = true;
                let required: Vec<String> =
                    t.into_iter().filter(|x| !optional.contains(x)).collect();
                last_problem = required.join(", ");
                if !required.is_empty() && (bounded || started.elapsed() > connect_timeout) {
                    return Err(HeadlessError::MissingTopics(last_problem));
                }
            }
            Ok(IngestEvent::Status(Conn::Disconnected { reason, .. })) => {
                last_problem = reason;
            }
            Ok(IngestEvent::Status(Conn::Connecting)) => {}
            // A refusal does not go away by waiting: say so now, not at the timeout.
            Ok(IngestEvent::Status(Conn::Rejected { reason, .. })) => {
                return Err(HeadlessError::Rejected(reason));
            }
            Ok(IngestEvent::Progress(p)) => {
                note_coverage(&mut store, &p);
                if !bounded && p.reached_start_head && connected {
                    // Drain what was sent before this progress report.
                    while let Some(ev) = ingest.try_recv() {
                        if let IngestEvent::Batch { mut recs, bad } = ev {
                            store.apply_lent(&mut recs, bad);
                        }
                    }
                    return Ok(store);
                }
            }
            Ok(IngestEvent::Finished) => return Ok(store),
            // Already logged by the ingest thread.
            Ok(IngestEvent::Notice(_)) => {}
            Err(true) => return Err(HeadlessError::Ended),
            Err(false) => {}
        }
        if !connected && started.elapsed() > connect_timeout {
            return Err(HeadlessError::Unreachable(if last_problem.is_empty() {
                format!(
                    "no answer from {brokers} within {} s",
                    connect_timeout.as_secs()
                )
            } else {
                last_problem
            }));
        }
    }
}

/// What `twinscope incident` asks for.
#[derive(Debug, Clone)]
pub struct IncidentRequest {
    pub asset: String,
    pub code: String,
    /// The onset at or before this time; without it, the newest one.
    pub at: Option<i64>,
    pub lookback_ms: i64,
    pub scope: crate::twin::incident::Scope,
}

/// Reads the log as `snapshot` does, finds the alarm's onset and writes its incident bundle
/// into `out` (the asset's numeric properties as the plotted series, no screenshot). With
/// `at`, history from well before the window is kept whatever the budget, and every partition
/// is read to its end as of the start, so the bundle is exact for any lateness.
///
/// # Errors
/// As [`read_to_store`]; when the alarm is unknown or was not raised by `at`; when the log no
/// longer holds the window (retention, compaction, eviction); when a file cannot be written.
pub fn incident_bundle(
    config: &Config,
    brokers: &str,
    props: ClientProps,
    req: &IncidentRequest,
    out: &std::path::Path,
    connect_timeout: Duration,
) -> Result<(crate::twin::incident::Onset, Vec<std::path::PathBuf>), HeadlessError> {
    use crate::twin::incident::{BEFORE_MS, NORMAL_WINDOW_MS, analyse, find_onset, numeric_props};
    let mut spec = spec_for(config, brokers, props, StartAt::Beginning);
    let keep_from = match req.at {
        Some(at) => {
            spec.stop_at = Some((i64::MAX, i64::MAX));
            at.saturating_sub(req.lookback_ms.max(BEFORE_MS) + NORMAL_WINDOW_MS)
        }
        None => i64::MAX,
    };
    let store = read_to_store_with_rules(
        spec,
        config.rules.clone(),
        config.history.budget_mb,
        keep_from,
        connect_timeout,
        connect_timeout.max(Duration::from_secs(600)),
    )?;
    let onset = find_onset(&store, &req.asset, &req.code, req.at)?;
    let analysis = analyse(&store, &onset, req.scope, req.lookback_ms);
    let from = analysis.from.min(onset.at - BEFORE_MS);
    store
        .exact_at(from)
        .map_err(|e| HeadlessError::NotExact(format!("the window from {from}: {e}")))?;
    let plotted: Vec<(String, String)> = numeric_props(&store, &onset.asset)
        .into_iter()
        .map(|p| (onset.asset.clone(), p))
        .collect();
    let files = crate::incident_bundle::Bundle {
        store: &store,
        analysis: &analysis,
        plotted: &plotted,
        brokers,
        telemetry_topic: &config.topics.telemetry,
        window_png: false,
    }
    .write(out, None)?;
    Ok((onset, files))
}

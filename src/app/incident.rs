//! The open incident: which alarm, the operator's scope and lookback, the analysis behind the
//! incident view (recomputed only when its inputs change), "go to onset", and exporting the
//! bundle (`crate::incident_bundle` writes it; the GUI adds a screenshot of the window).

use std::path::{Path, PathBuf};

use crate::incident_bundle::{Bundle, BundleError, Screenshot, write_png};
use crate::timeline::TimelineCommand;
use crate::twin::incident::{
    Analysis, DEFAULT_LOOKBACK_MIN, Onset, Scope, analyse, find_onset, numeric_props, plot_window,
    raised_at, worst_unacked,
};
use crate::ui::incident::IncidentTarget;
use crate::ui::plots::PlotFocus;
use crate::ui::{PlotKey, style};

use super::TwinApp;
use super::stores::StoreId;

/// What an analysis was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AnalysisKey {
    store: StoreId,
    data_gen: u64,
    scope: Scope,
    lookback_min: u32,
}

/// The incident view's state.
#[derive(Debug, Clone)]
pub struct OpenIncident {
    pub onset: Onset,
    pub scope: Scope,
    pub lookback_min: u32,
    key: Option<AnalysisKey>,
    analysis: Option<Analysis>,
}

impl OpenIncident {
    fn new(onset: Onset) -> Self {
        Self {
            onset,
            scope: Scope::Asset,
            lookback_min: DEFAULT_LOOKBACK_MIN,
            key: None,
            analysis: None,
        }
    }

    /// The analysis of the last refresh.
    #[must_use]
    pub fn analysis(&self) -> Option<&Analysis> {
        self.analysis.as_ref()
    }
}

impl TwinApp {
    /// The open incident (for tests and the layout).
    #[must_use]
    pub fn incident(&self) -> Option<&OpenIncident> {
        self.incident.as_ref()
    }

    /// The plot's incident window `(from, to)` while it is in force (for tests).
    #[must_use]
    pub fn plot_focus(&self) -> Option<(i64, i64)> {
        self.panels.plot_state.focus().map(|f| (f.from, f.to))
    }

    /// Opens the incident view on `target` and goes to its onset. Incidents are found on the
    /// live store, as diffs are: it holds the alarm journals whatever the cursor shows.
    pub(super) fn open_incident(&mut self, target: &IncidentTarget) {
        let store = self.stores.live();
        let found = match target {
            IncidentTarget::Alarm { asset, code, at } => {
                find_onset(store, asset, code, *at).map_err(|e| e.to_string())
            }
            IncidentTarget::RaisedAt(t) => {
                raised_at(store, *t).ok_or_else(|| "No alarm was raised there".to_owned())
            }
            IncidentTarget::Current => {
                if self.incident.is_some() {
                    self.incident_go_to_onset();
                    return;
                }
                let (shown, _) = self.stores.pick(self.clock.use_reread);
                let alarms_now = shown.alarms_at(self.clock.alarms_at());
                match worst_unacked(&alarms_now) {
                    Some(v) => {
                        let asset = shown
                            .asset(v.asset)
                            .map(|a| a.id.to_string())
                            .unwrap_or_default();
                        find_onset(
                            self.stores.live(),
                            &asset,
                            &v.code,
                            Some(self.clock.query_at()),
                        )
                        .map_err(|e| e.to_string())
                    }
                    None => Err("No alarm at the cursor".to_owned()),
                }
            }
        };
        match found {
            Ok(onset) => {
                self.incident = Some(OpenIncident::new(onset));
                self.incident_go_to_onset();
                self.refresh_incident();
            }
            Err(e) => self.say(e),
        }
    }

    /// Cursor to the onset; the alarm's asset selected and its numeric properties plotted (in
    /// place of whatever was plotted) from 15 min before to 5 min after, the alarm shaded.
    pub(super) fn incident_go_to_onset(&mut self) {
        let Some(o) = self.incident.as_ref().map(|i| i.onset.clone()) else {
            return;
        };
        let (head, earliest) = (self.clock.head, self.clock.earliest);
        if o.at < earliest {
            // The timeline stops where the log stops being exact; say so rather than show
            // another time as the onset.
            self.say(format!(
                "The onset ({}) is before the earliest exact time ({}): Kafka no longer holds all of it",
                style::datetime(o.at),
                style::datetime(earliest)
            ));
        }
        self.timeline
            .apply(TimelineCommand::Seek(o.at), head, earliest);
        self.focus_asset(&o.asset, None);
        let store = self.stores.live();
        let end = store.alarms().get(o.alarm as usize).and_then(|a| {
            a.history
                .active_intervals(o.at, i64::MAX)
                .first()
                .and_then(|&(_, end)| end)
        });
        let color = crate::twin::alarms::Priority::parse(o.severity)
            .map_or(style::HISTORY, style::priority_color);
        self.panels.plot_state.set_focus(PlotFocus::new(
            plot_window(o.at),
            o.at,
            (o.at, end),
            format!("{} (incident)", o.code),
            color,
        ));
    }

    /// Selects `asset` and plots `prop` alone, or all its numeric properties: the plot shows
    /// the asset the operator went to, never another one's series.
    pub(super) fn focus_asset(&mut self, asset: &str, prop: Option<&str>) {
        self.select(Some(asset.to_owned()));
        let props = match prop {
            Some(p) => vec![p.to_owned()],
            None => numeric_props(self.stores.live(), asset),
        };
        self.plotted = props
            .into_iter()
            .map(|prop| PlotKey {
                asset: asset.to_owned(),
                prop,
            })
            .collect();
    }

    /// The operator picked another scope or lookback.
    pub(super) fn set_incident_options(&mut self, scope: Option<Scope>, lookback_min: Option<u32>) {
        if let Some(i) = &mut self.incident {
            if let Some(s) = scope {
                i.scope = s;
            }
            if let Some(n) = lookback_min {
                i.lookback_min = n.max(1);
            }
        }
        self.refresh_incident();
    }

    /// Recomputes the analysis when the live store's data, the scope or the lookback changed.
    pub(super) fn refresh_incident(&mut self) {
        let store = self.stores.live();
        let id = self.stores.live_id();
        let Some(i) = &mut self.incident else {
            return;
        };
        let key = AnalysisKey {
            store: id,
            data_gen: store.data_gen(),
            scope: i.scope,
            lookback_min: i.lookback_min,
        };
        if i.key == Some(key) {
            return;
        }
        i.analysis = Some(analyse(
            store,
            &i.onset,
            i.scope,
            i64::from(i.lookback_min) * 60_000,
        ));
        i.key = Some(key);
    }

    /// Writes the open incident's bundle into `dir` (no screenshot): what File → Export
    /// incident… writes, for tests and scripts that cannot drive a folder dialog.
    ///
    /// # Errors
    /// When no incident is open or a file cannot be written.
    pub fn export_incident_to(&mut self, dir: &Path) -> Result<Vec<PathBuf>, BundleError> {
        self.write_bundle(dir, false)
    }

    fn write_bundle(&mut self, dir: &Path, window_png: bool) -> Result<Vec<PathBuf>, BundleError> {
        self.refresh_incident();
        let Some(a) = self.incident.as_ref().and_then(|i| i.analysis.as_ref()) else {
            return Err(BundleError::Encode {
                what: "the incident",
                msg: "no incident is open".into(),
            });
        };
        let plotted: Vec<(String, String)> = self
            .plotted
            .iter()
            .map(|k| (k.asset.clone(), k.prop.clone()))
            .collect();
        Bundle {
            store: self.stores.live(),
            analysis: a,
            plotted: &plotted,
            brokers: &self.sources.brokers,
            telemetry_topic: &self.topics[0],
            window_png,
        }
        .write(dir, None)
    }

    /// File → Export incident…: into `dir`, or under `--export-dir`, or a folder the operator
    /// picks; from the GUI the window's screenshot follows as `window.png` once the next frame
    /// is rendered.
    pub(super) fn export_incident(&mut self, dir: Option<PathBuf>, ctx: &egui::Context) {
        if self.incident.is_none() {
            self.say("Open an incident first: Go to onset on an alarm");
            return;
        }
        let name = self.incident.as_ref().map_or_else(String::new, |i| {
            format!("incident-{}-{}", i.onset.code, i.onset.at)
        });
        let dir = match (dir, &self.opts.export_dir) {
            (Some(d), _) => d,
            (None, Some(base)) => base.join(name),
            (None, None) => match rfd::FileDialog::new().set_file_name(&name).pick_folder() {
                Some(d) => d.join(name),
                None => return,
            },
        };
        match self.write_bundle(&dir, true) {
            Ok(files) => {
                let png = dir.join(crate::incident_bundle::files::WINDOW);
                ctx.request_screenshot(move |img| {
                    let rgba: Vec<u8> = img
                        .pixels
                        .iter()
                        .flat_map(|c| c.to_srgba_unmultiplied())
                        .collect();
                    let shot = Screenshot {
                        width: u32::try_from(img.size[0]).unwrap_or(0),
                        height: u32::try_from(img.size[1]).unwrap_or(0),
                        rgba: &rgba,
                    };
                    if let Err(e) = write_png(&png, shot) {
                        tracing::warn!("incident screenshot: {e}");
                    }
                });
                self.say(format!(
                    "Saved the incident bundle ({} files) to {}",
                    files.len() + 1,
                    dir.display()
                ));
            }
            Err(e) => self.say(e.to_string()),
        }
    }
}

//! Exports: what each file holds (testable without a file dialog) and saving it where the
//! operator chooses.

use crate::incident_bundle::csv_field;
use crate::twin::Store;
use crate::ui::{self, PlotKey};

use super::TwinApp;

/// The files the app can export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// The plotted series over the plot window before the cursor.
    Csv,
    /// The state at the cursor, in the snapshot JSON shape.
    State,
    /// The open A → B diff.
    Diff,
    /// The selected group's fleet table, its rows as shown (filtered, sorted).
    FleetTable,
}

impl TwinApp {
    /// What an export writes, without the file dialog (which tests and scripts cannot drive).
    /// `None` for a diff when no A → B diff is open.
    #[must_use]
    pub fn export_text(&self, what: Export, head: i64) -> Option<String> {
        let at = self.timeline.at(head);
        match what {
            Export::Csv => {
                let window = self.opts.config.ui.plot_window_s as i64 * 1000;
                Some(series_csv(
                    self.store_for(at),
                    &self.plotted,
                    at - window,
                    at,
                ))
            }
            Export::State => serde_json::to_string_pretty(&self.store_for(at).snapshot(at)).ok(),
            Export::Diff => {
                let d = self.diff.as_ref()?;
                let mut json = serde_json::to_value(&d.diff).ok()?;
                // The schema change rides along, in the words the diff window uses.
                if let (Some(c), Some(obj)) = (&d.schema, json.as_object_mut()) {
                    obj.insert(
                        "schema_change".into(),
                        serde_json::json!({
                            "summary": c.summary(),
                            "from": c.from.as_ref().map(ToString::to_string),
                            "to": c.to.as_ref().map(ToString::to_string),
                            "appeared": c.appeared,
                            "disappeared": c.disappeared,
                        }),
                    );
                }
                serde_json::to_string_pretty(&json).ok()
            }
            Export::FleetTable => {
                // Ages as shown: from now while live, else from the cursor.
                let reference = if self.timeline.is_live() {
                    self.clock.now
                } else {
                    at
                };
                self.fleet_table
                    .csv(&self.opts.config.mapping.units, reference)
            }
        }
    }

    /// Asks where to save an export and writes it.
    pub(super) fn export(&mut self, what: Export, head: i64) {
        let Some(text) = self.export_text(what, head) else {
            return;
        };
        let (name, filter) = match what {
            Export::Csv => ("twinscope-series.csv", ("CSV", "csv")),
            Export::State => ("twinscope-state.json", ("JSON", "json")),
            Export::Diff => ("twinscope-diff.json", ("JSON", "json")),
            Export::FleetTable => ("twinscope-fleet.csv", ("CSV", "csv")),
        };
        self.save_as(name, filter, &text);
    }

    /// Asks where to save, writes `contents`, and says how it went.
    fn save_as(&mut self, file_name: &str, filter: (&str, &str), contents: &str) {
        let Some(path) = rfd::FileDialog::new()
            .set_file_name(file_name)
            .add_filter(filter.0, &[filter.1])
            .save_file()
        else {
            return;
        };
        let msg = match std::fs::write(&path, contents) {
            Ok(()) => format!("Saved {}", path.display()),
            Err(e) => format!("Saving {} failed: {e}", path.display()),
        };
        self.say(msg);
    }
}

/// The plotted series over `[from, to]` as CSV: `time_ms,time,asset,property,value`.
#[must_use]
pub fn series_csv(store: &Store, plotted: &[PlotKey], from: i64, to: i64) -> String {
    let mut out = String::from("time_ms,time,asset,property,value\n");
    for k in plotted {
        let (Some(a), Some(p)) = (store.asset_by_id(&k.asset), store.prop_by_name(&k.prop)) else {
            continue;
        };
        let Some(s) = store.series(a, p) else {
            continue;
        };
        for i in s.range(from, to) {
            if let (Some(ts), Some(v)) = (s.ts(i), s.num(i)) {
                out.push_str(&format!(
                    "{ts},{},{},{},{v}\n",
                    ui::style::rfc3339(ts),
                    csv_field(&k.asset),
                    csv_field(&k.prop)
                ));
            }
        }
    }
    out
}

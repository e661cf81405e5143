//! Modal dialogs: for write-back, every command is confirmed with its asset and payload, and
//! an acknowledgement can carry a comment; a config that cannot be loaded is reported until the
//! operator dismisses it.

use std::collections::BTreeMap;

use egui::RichText;
use serde_json::Value;

use crate::config::CommandDef;

/// An open dialog.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    AckComment {
        asset: String,
        code: String,
        severity: &'static str,
        comment: String,
    },
    Command {
        asset: String,
        def: CommandDef,
        /// Argument values as typed; parsed as JSON when possible, else sent as strings.
        args: BTreeMap<String, String>,
    },
    /// A config the operator opened was refused; the app goes on with the one it had.
    ConfigError {
        /// The file, as chosen.
        path: String,
        /// What is wrong, with its line (see `ConfigError`).
        message: String,
    },
}

/// What the operator chose.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Confirm,
    Cancel,
}

impl Dialog {
    /// A command dialog with the command's default arguments.
    #[must_use]
    pub fn command(asset: &str, def: &CommandDef) -> Self {
        Dialog::Command {
            asset: asset.to_owned(),
            def: def.clone(),
            args: def
                .args
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
        }
    }

    /// Reports that the config at `path` was not loaded, and why.
    #[must_use]
    pub fn config_error(path: &std::path::Path, error: &impl std::fmt::Display) -> Self {
        Dialog::ConfigError {
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }

    /// The command's arguments as JSON.
    #[must_use]
    pub fn args_json(args: &BTreeMap<String, String>) -> Value {
        Value::Object(
            args.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone())),
                    )
                })
                .collect(),
        )
    }
}

/// Shows the dialog; returns the outcome once the operator chose.
pub fn show(ctx: &egui::Context, dialog: &mut Dialog, operator: &str) -> Option<Outcome> {
    let mut outcome = None;
    egui::Modal::new(egui::Id::unique("write_dialog")).show(ctx, |ui| {
        ui.set_width(460.0);
        match dialog {
            Dialog::AckComment { asset, code, comment, .. } => {
                ui.heading("Acknowledge alarm");
                ui.label(format!("{code} on {asset}"));
                ui.label("Comment:");
                ui.text_edit_multiline(comment);
                ui.label(RichText::new(format!("Written to Kafka as {operator}; every twinscope sees it.")).weak());
                ui.horizontal(|ui| {
                    if ui.button("Acknowledge").clicked() {
                        outcome = Some(Outcome::Confirm);
                    }
                    if ui.button("Cancel").clicked() {
                        outcome = Some(Outcome::Cancel);
                    }
                });
            }
            Dialog::ConfigError { path, message } => {
                ui.heading("Config not loaded");
                ui.label(RichText::new(path.as_str()).weak());
                ui.label(RichText::new(message.as_str()).monospace());
                ui.label("twinscope goes on with the config it had.");
                if ui.button("OK").clicked() || ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    outcome = Some(Outcome::Confirm);
                }
            }
            Dialog::Command { asset, def, args } => {
                ui.heading(format!("Send \"{}\"?", def.label()));
                ui.label(RichText::new(format!("to asset {asset}")).strong());
                for (k, v) in args.iter_mut() {
                    ui.horizontal(|ui| {
                        ui.label(format!("{k}:"));
                        ui.text_edit_singleline(v);
                    });
                }
                let payload = serde_json::json!({"command": def.name, "args": Dialog::args_json(args), "by": operator});
                ui.label("Payload:");
                ui.label(RichText::new(payload.to_string()).monospace());
                ui.label(RichText::new("This acts on the real asset.").color(egui::Color32::from_rgb(245, 140, 40)));
                ui.horizontal(|ui| {
                    if ui.button("Send command").clicked() {
                        outcome = Some(Outcome::Confirm);
                    }
                    if ui.button("Cancel").clicked() {
                        outcome = Some(Outcome::Cancel);
                    }
                });
            }
        }
        if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            outcome = Some(Outcome::Cancel);
        }
    });
    outcome
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;

    #[test]
    fn a_refused_config_is_shown_until_ok() {
        let message =
            "unknown key \"brokerz\" in [kafka] at plant.toml line 3, did you mean \"brokers\"?";
        let dialog = Dialog::config_error(std::path::Path::new("plant.toml"), &message);
        let mut h = Harness::new_ui_state(
            |ui, (dialog, outcome): &mut (Dialog, Option<Outcome>)| {
                if outcome.is_none() {
                    *outcome = show(ui.ctx(), dialog, "op");
                }
            },
            (dialog, None),
        );
        h.run();
        h.get_by_label("Config not loaded");
        h.get_by_label("plant.toml");
        h.get_by_label(message);
        h.get_by_label_contains("goes on with the config it had");
        assert_eq!(h.state().1, None, "closed before OK");
        h.get_by_label("OK").click();
        h.run();
        assert_eq!(h.state().1, Some(Outcome::Confirm));
    }
}

//! Modal dialogs for write-back: every command is confirmed with its asset and payload, and
//! an acknowledgement can carry a comment.

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

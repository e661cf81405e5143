//! The bad-record list: every record that failed to decode, with topic, partition, offset and
//! reason, so producers can be fixed.

use egui::RichText;

use super::{Command, View};

/// Shows the diagnostics window while `open`.
pub fn show(ctx: &egui::Context, view: &View<'_>, notices: &[String], open: bool) -> Vec<Command> {
    super::window(
        ctx,
        "Bad records",
        [720.0, 360.0],
        open,
        Command::ShowDiagnostics(false),
        |ui, _| {
            for n in notices {
                ui.label(RichText::new(format!("⚠ {n}")).strong());
            }
            if !notices.is_empty() {
                ui.separator();
            }
            let stats = view.store.stats();
            let bad = view.store.bad_records();
            ui.label(format!(
                "{} records failed to decode ({} listed). Good records around them were applied.",
                stats.bad,
                bad.len()
            ));
            ui.separator();
            let row_h = ui.spacing().interact_size.y;
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show_rows(ui, row_h, bad.len(), |ui, range| {
                    for b in &bad[range] {
                        ui.horizontal(|ui| {
                            ui.label(
                                RichText::new(format!(
                                    "{} p{} @{}",
                                    b.topic, b.partition, b.offset
                                ))
                                .monospace(),
                            );
                            ui.label(&b.reason);
                        });
                    }
                });
        },
    )
}

//! The menu bar: config, exports (series, state, incident bundle), reconnect and quit.

use egui::Ui;

use super::Command;

/// Shows the menu bar.
pub fn show(ui: &mut Ui, has_plots: bool) -> Vec<Command> {
    let mut cmds = Vec::new();
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open config…").clicked() {
                cmds.push(Command::OpenConfig);
            }
            ui.separator();
            if ui
                .add_enabled(
                    has_plots,
                    egui::Button::new("Export plotted series as CSV…"),
                )
                .clicked()
            {
                cmds.push(Command::ExportCsv);
            }
            if ui.button("Save state at cursor as JSON…").clicked() {
                cmds.push(Command::SaveSnapshot);
            }
            super::incident::export_button(
                ui,
                "The open incident (Go to onset on an alarm) as a folder: states, diff, journal, series, Kafka coordinates, screenshot",
                &mut cmds,
            );
            ui.separator();
            if ui.button("Reconnect").clicked() {
                cmds.push(Command::Reconnect);
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                cmds.push(Command::Quit);
            }
        });
        ui.menu_button("View", |ui| {
            if ui.button("Bad records…").clicked() {
                cmds.push(Command::ShowDiagnostics(true));
            }
        });
    });
    cmds
}

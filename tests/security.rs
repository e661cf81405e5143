//! Secrets: passwords given in the config, through `env:` or `file:` references, or with `-X`,
//! reach the Kafka client but never appear in logs (ours and librdkafka's, at full debug), in
//! the UI, in eframe's persisted state or in exported files.
//!
//! librdkafka's mock cluster does not implement SASL (its handshake is "not supported by
//! broker"), so no test here authenticates for real: the SASL run checks the config path up to
//! the client and that the authentication failure is reported without the password; the
//! plaintext run reads real data with the secrets set and checks every output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::app_harness;
use egui_kittest::kittest::Queryable as _;
use rdkafka::producer::Producer as _;
use twinscope::app::{AppOptions, Export, Persisted};
use twinscope::config::{ClientProps, Config};

const BIN: &str = env!("CARGO_BIN_EXE_twinscope");
use common::T0;

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{}-{nanos}", std::process::id())
}

/// Everything written through `tracing`, librdkafka's log included.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} contains the secret {s:?}");
    }
}

#[test]
fn secrets_reach_the_client_and_never_leak() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let cluster = common::twin_cluster(1, 1, 1);
    let bootstrap = cluster.bootstrap_servers();
    let p = common::plant::producer(&bootstrap);
    for (i, temp) in [20.5, 21.5].into_iter().enumerate() {
        let ts = T0 + i as i64 * 1000;
        common::plant::telemetry(&p, "a/b/c", ts, &format!(r#""temp": {temp}"#));
    }
    p.flush(Duration::from_secs(10)).unwrap();

    // One secret literally in the config, one from a file given with -X.
    let in_config = unique("cfg-secret");
    let in_file = unique("file-secret");
    let dir = std::env::temp_dir().join(unique("twinscope-security"));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("key-password");
    std::fs::write(&secret_file, format!("{in_file}\n")).unwrap();
    let config = Config::parse(&format!(
        "[kafka.properties]\n\"sasl.username\" = \"operator\"\n\"sasl.password\" = \"{in_config}\"\n"
    ))
    .unwrap();
    let overrides = vec![
        format!("ssl.key.password=file:{}", secret_file.display()),
        "debug=all".to_owned(),
        "log_level=7".to_owned(),
    ];
    let props = ClientProps::resolve(&config.kafka.properties, &overrides).unwrap();
    // They reach the client, resolved.
    let mut resolved = props.secret_values();
    resolved.sort_unstable();
    let mut want = vec![in_config.as_str(), in_file.as_str()];
    want.sort_unstable();
    assert_eq!(resolved, want);
    assert_clean("Debug of the client props", &format!("{props:?}"), &want);

    let opts = AppOptions {
        config,
        props,
        ..common::plant::options(&bootstrap)
    };
    let mut harness = app_harness(opts, Persisted::default());
    common::plant::step_until(&mut harness, Duration::from_secs(30), "data", |h| {
        h.state().store().stats().records >= 2
    });
    // Select the asset and plot its property, so the exports have content.
    common::plant::select(&mut harness, &["a", "b", "c"]);
    harness.get_by_label("temp").click();
    harness.run_steps(3);

    // The UI: every label and value in the accessibility tree.
    let ui_text = common::ui_text(&harness);
    assert!(ui_text.contains("temp"), "the UI text was captured");
    assert_clean("the UI", &ui_text, &want);

    // Exports.
    let head = T0 + 5_000;
    let csv = harness.state().export_text(Export::Csv, head).unwrap();
    assert!(csv.contains("21.5"), "{csv}");
    let state = harness.state().export_text(Export::State, head).unwrap();
    assert!(state.contains("a/b/c"), "{state}");
    assert_clean("the CSV export", &csv, &want);
    assert_clean("the state export", &state, &want);

    // eframe's persisted state.
    let mut storage = common::MemStorage::default();
    eframe::App::save(harness.state_mut(), &mut storage);
    let persisted = storage.0.values().cloned().collect::<Vec<_>>().join("\n");
    assert!(!persisted.is_empty());
    assert_clean("the persisted state", &persisted, &want);
    drop(harness);

    // The logs, with librdkafka at full debug (it dumps its configuration).
    let log = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(log.contains("librdkafka"), "librdkafka's log was captured");
    // librdkafka dumps its configuration at this level, so the passwords were there to leak.
    assert!(
        log.contains("sasl.password = [redacted]"),
        "config dump in the log"
    );
    assert_clean("the log", &log, &want);

    // The command line with SASL: the password comes from the environment; the mock cluster
    // refuses the handshake, and the error names the problem but not the password.
    let from_env = unique("env-secret");
    let cfg_path = dir.join("sasl.toml");
    std::fs::write(
        &cfg_path,
        "[kafka.properties]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\
         \"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"operator\"\n\
         \"sasl.password\" = \"env:TWINSCOPE_TEST_PASSWORD\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "snapshot",
            "--at",
            "now",
            "--brokers",
            &bootstrap,
            "--config",
        ])
        .arg(&cfg_path)
        .args([
            "-X",
            &format!("ssl.key.password=file:{}", secret_file.display()),
        ])
        .args(["-X", "debug=all", "-X", "log_level=7", "--timeout-s", "15"])
        .env("TWINSCOPE_TEST_PASSWORD", &from_env)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    // What the user reads is the last line, not librdkafka's trace above it.
    let last = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    eprintln!("SASL against the mock: {last}");
    assert!(
        last.starts_with("twinscope: the cluster refused the connection: authentication failed"),
        "the failure says why: {}",
        &text[text.len().saturating_sub(2000)..]
    );
    assert_clean("the SASL run's output", &text, &[&from_env, &in_file]);
    let _ = std::fs::remove_dir_all(&dir);
}

//! Authentication and TLS against a real Apache Kafka (one KRaft node with SASL_PLAINTEXT for
//! SCRAM-SHA-512 and PLAIN, and SSL with a test CA): the right credentials read normally, the
//! wrong ones are refused promptly with an error that names the cause and never the password,
//! in the window and on the command line, and secrets stay out of every output through a real
//! handshake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable as _;
use serde_json::json;
use twinscope::app::Export;
use twinscope::config::{ClientProps, Config};
use twinscope::headless::{HeadlessError, read_to_store, spec_for};
use twinscope::kafka::ingest::StartAt;
use twinscope::twin::Store;

use common::TestProducer;
use common::real_kafka::{KafkaOptions, RealKafka};

const BIN: &str = env!("CARGO_BIN_EXE_twinscope");
const T0: i64 = 1_709_251_200_000;

/// A one-node cluster with the twin topics and two telemetry records for `a/b/c`.
fn cluster() -> RealKafka {
    let kafka = RealKafka::start(KafkaOptions::default());
    for t in ["twin.telemetry", "twin.events", "twin.assets"] {
        kafka.create_topic(t, 1, 1, &[]);
    }
    let mut p = TestProducer::new(&kafka.bootstrap());
    for (i, temp) in [20.5, 21.5].into_iter().enumerate() {
        let ts = T0 + i as i64 * 1000;
        p.send_str(
            "twin.telemetry",
            0,
            "a/b/c",
            &format!(r#"{{"ts": {ts}, "temp": {temp}}}"#),
            ts,
        );
    }
    p.flush();
    kafka
}

/// `-X` overrides for SASL_PLAINTEXT with `mechanism`, the test user and `password`.
fn sasl(mechanism: &str, password: &str) -> Vec<String> {
    vec![
        "security.protocol=SASL_PLAINTEXT".into(),
        format!("sasl.mechanism={mechanism}"),
        format!("sasl.username={}", RealKafka::USER),
        format!("sasl.password={password}"),
    ]
}

/// `-X` overrides for SSL verified against the CA in `ca`.
fn tls(ca: &std::path::Path) -> Vec<String> {
    vec![
        "security.protocol=SSL".into(),
        format!("ssl.ca.location={}", ca.display()),
    ]
}

/// A headless read (the `snapshot` path) with `overrides`, giving up connecting after 30 s.
fn read_with(bootstrap: &str, overrides: &[String]) -> Result<Store, HeadlessError> {
    let config = Config::default();
    let props = ClientProps::resolve(&config.kafka.properties, overrides).unwrap();
    let spec = spec_for(&config, bootstrap, props, StartAt::Beginning);
    read_to_store(spec, 0, Duration::from_secs(30), Duration::from_secs(60))
}

/// `twinscope snapshot --at now` with `-X` overrides and extra environment.
fn snapshot_cli(bootstrap: &str, overrides: &[String], env: &[(&str, &str)]) -> (Output, Duration) {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "snapshot",
        "--at",
        "now",
        "--brokers",
        bootstrap,
        "--timeout-s",
        "30",
    ]);
    for x in overrides {
        cmd.args(["-X", x]);
    }
    cmd.envs(env.iter().copied());
    let start = Instant::now();
    let out = cmd.output().unwrap();
    (out, start.elapsed())
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} contains a secret");
    }
}

#[test]
fn right_credentials_and_ca_read_normally() {
    let kafka = cluster();
    let expect = json!({"a/b/c": {"temp": 21.5}});
    for mechanism in ["SCRAM-SHA-512", "PLAIN"] {
        let store = read_with(
            &kafka.sasl_bootstrap(),
            &sasl(mechanism, RealKafka::PASSWORD),
        )
        .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        assert_eq!(store.snapshot(i64::MAX)["assets"], expect, "{mechanism}");
    }
    let store = read_with(&kafka.ssl_bootstrap(), &tls(&kafka.ca_pem())).expect("TLS");
    assert_eq!(store.snapshot(i64::MAX)["assets"], expect, "TLS");
}

#[test]
fn wrong_password_or_ca_is_refused_promptly_and_names_the_cause() {
    let kafka = cluster();
    let wrong = "not-the-viewer-password-3141";
    for mechanism in ["SCRAM-SHA-512", "PLAIN"] {
        // Headless: a refusal, not a timeout.
        let started = Instant::now();
        let err = read_with(&kafka.sasl_bootstrap(), &sasl(mechanism, wrong)).unwrap_err();
        let took = started.elapsed();
        eprintln!("{mechanism} wrong password refused after {took:?}: {err}");
        assert!(
            matches!(&err, HeadlessError::Rejected(r) if r.contains("authentication failed")),
            "{mechanism}: {err}"
        );
        assert!(took < Duration::from_secs(30), "{mechanism}: took {took:?}");
        assert_clean("the error", &err.to_string(), &[wrong]);

        // The command line: the password from the environment, librdkafka at full debug.
        let mut x = sasl(mechanism, "env:TWINSCOPE_TEST_PASSWORD");
        x.extend(["debug=all".into(), "log_level=7".into()]);
        let (out, took) = snapshot_cli(
            &kafka.sasl_bootstrap(),
            &x,
            &[("TWINSCOPE_TEST_PASSWORD", wrong), ("RUST_LOG", "trace")],
        );
        assert!(
            !out.status.success(),
            "{mechanism}: exit 0 with a wrong password"
        );
        assert!(took < Duration::from_secs(30), "{mechanism}: took {took:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(
                "twinscope: the cluster refused the connection: authentication failed"
            ),
            "{mechanism}: the last line says why: {last}"
        );
        assert_clean("the CLI output", &text_of(&out), &[wrong]);
    }

    // TLS against a CA that did not sign the broker's certificate.
    let err = read_with(&kafka.ssl_bootstrap(), &tls(&kafka.other_ca_pem())).unwrap_err();
    eprintln!("wrong CA: {err}");
    assert!(
        matches!(&err, HeadlessError::Rejected(r) if r.contains("TLS handshake failed") && r.contains("certificate verify failed")),
        "{err}"
    );
    let (out, took) = snapshot_cli(&kafka.ssl_bootstrap(), &tls(&kafka.other_ca_pem()), &[]);
    assert!(!out.status.success());
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS handshake failed"),
        "{}",
        text_of(&out)
    );

    // The window: a red banner that names authentication, while frames keep coming.
    let config = Config::default();
    let props =
        ClientProps::resolve(&config.kafka.properties, &sasl("SCRAM-SHA-512", wrong)).unwrap();
    let mut h = common::window_on(&kafka.sasl_bootstrap(), config, props);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while h
        .query_by_label_contains("refused the connection")
        .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no refusal banner within 30 s"
        );
        let frame = Instant::now();
        h.step();
        slowest = slowest.max(frame.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "banner after {:?}, slowest frame {slowest:?}",
        started.elapsed()
    );
    h.get_by_label_contains("refused the connection: authentication failed (check sasl.username");
    h.get_by_label("Refused by the cluster");
    assert_clean("the UI", &common::ui_text(&h), &[wrong]);
}

#[test]
fn secrets_never_leak_through_a_real_handshake() {
    let kafka = cluster();
    let dir = std::env::temp_dir().join(format!("twinscope-real-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, format!("{}\n", RealKafka::PASSWORD)).unwrap();

    // The command line, authenticating for real with the password from the environment, and
    // librdkafka dumping its configuration at full debug.
    let mut x = sasl("SCRAM-SHA-512", "env:TWINSCOPE_TEST_PASSWORD");
    x.extend(["debug=all".into(), "log_level=7".into()]);
    let (out, _) = snapshot_cli(
        &kafka.sasl_bootstrap(),
        &x,
        &[
            ("TWINSCOPE_TEST_PASSWORD", RealKafka::PASSWORD),
            ("RUST_LOG", "trace"),
        ],
    );
    let text = text_of(&out);
    assert!(
        out.status.success(),
        "{}",
        &text[text.len().saturating_sub(3000)..]
    );
    assert!(text.contains(r#""temp":21.5"#), "the data was read");
    assert!(
        text.contains("sasl.password = [redacted]"),
        "the config dump was there to leak"
    );
    assert_clean("the CLI output", &text, &[RealKafka::PASSWORD]);

    // The window, with the password from a file: UI, exports and persisted state.
    let config = Config::default();
    let overrides = sasl("PLAIN", &format!("file:{}", file.display()));
    let props = ClientProps::resolve(&config.kafka.properties, &overrides).unwrap();
    assert_eq!(props.secret_values(), vec![RealKafka::PASSWORD]);
    let mut h = common::window_on(&kafka.sasl_bootstrap(), config, props);
    common::step_until(&mut h, Duration::from_secs(30), "no data over SASL", |h| {
        h.state().store().stats().records >= 2
    });
    h.run_steps(2);
    let ui_text = common::ui_text(&h);
    assert!(ui_text.contains("Connected"), "the UI text was captured");
    assert_clean("the UI", &ui_text, &[RealKafka::PASSWORD]);
    let state = h.state().export_text(Export::State, T0 + 5_000).unwrap();
    assert!(state.contains("a/b/c"));
    assert_clean("the state export", &state, &[RealKafka::PASSWORD]);
    let persisted = serde_json::to_string(&h.state().persisted()).unwrap();
    assert_clean("the persisted state", &persisted, &[RealKafka::PASSWORD]);
    let _ = std::fs::remove_dir_all(&dir);
}

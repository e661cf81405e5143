//! A config with a typo or a wrong value stops `twinscope snapshot` before it connects: a
//! non-zero exit, and the message names the key, the file and line, and the key meant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_twinscope");

/// Writes `text` to a config file named `name`, in a directory of its own.
fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "twinscope-config-errors-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Removes what [`config_file`] made.
fn remove(config: &Path) {
    if let Some(dir) = config.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Runs `twinscope snapshot` with the config against a port where no broker listens, and
/// requires it to be over within a few seconds: refusing the config comes before any
/// connection attempt (which would retry until the snapshot's timeout).
fn snapshot_with(config: &Path) -> Output {
    let mut child = Command::new(BIN)
        .args([
            "snapshot",
            "--at",
            "now",
            "--brokers",
            "127.0.0.1:1",
            "--timeout-s",
            "60",
        ])
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(5) {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after 5 s: the config was not refused up front\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs `snapshot` with `text` as the config file `name` and requires it refused, with a
/// message containing `want(path of the file)`; returns what it printed.
fn refused(name: &str, text: &str, want: impl Fn(&Path) -> String) -> Output {
    let path = config_file(name, text);
    let out = snapshot_with(&path);
    remove(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted; stderr: {stderr}");
    let want = want(&path);
    assert!(stderr.contains(&want), "stderr lacks {want:?}:\n{stderr}");
    out
}

#[test]
fn snapshot_refuses_an_unknown_key_naming_key_line_and_suggestion() {
    let out = refused(
        "typo.toml",
        "# plant\n[kafka]\nbrokerz = \"k1:9092\"\n[history]\nbudget_mb = 64\n",
        |path| {
            format!(
                "unknown key \"brokerz\" in [kafka] at {} line 3, did you mean \"brokers\"?",
                path.display()
            )
        },
    );
    assert!(
        out.stdout.is_empty(),
        "printed a snapshot: {:?}",
        out.stdout
    );
}

#[test]
fn snapshot_refuses_a_wrong_value_naming_key_and_line() {
    refused(
        "wrong-type.toml",
        "[topics]\ntelemetry = \"t\"\n\n[[rules]]\ncode = \"A\"\nproperty = \"p\"\nlimit = \"hi\"\nvalue = \"seven\"\npriority = \"low\"\n",
        |path| {
            format!(
                "invalid value for \"value\" in [[rules]] #1 at {} line 8: invalid type: string \"seven\"",
                path.display()
            )
        },
    );
}

//! A real schema registry for the schema tests: Apicurio Registry 3.0.9 (in-memory storage)
//! serving the Confluent-compatible API at `/apis/ccompat/v7`, the API twinscope speaks to
//! every registry. The distribution is fetched once by Maven into `target/apicurio` (`.ci/run`
//! does it before the tests; the fixture does it on first use otherwise). Needs `java` 17+
//! (or `$JAVA_HOME`) and `mvn`.
//!
//! Like the Kafka fixture, the JVM runs under [`Watched`], so it dies with the test even when
//! the test process does not unwind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use twinscope::schema::RegistrySettings;

use super::jvm::{self, Watched};

const VERSION: &str = "3.0.9";
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/apicurio");
/// Written into [`DIR`] after a complete download and extraction; holds [`VERSION`].
const MARKER: &str = "download-complete";
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running Apicurio Registry on a free loopback port. Dropping it kills the JVM.
pub struct Registry {
    port: u16,
    jvm: Option<Watched>,
    log: PathBuf,
}

impl Registry {
    /// Fetches the distribution if needed, starts the registry on a port of its own choosing
    /// (port 0; the log says which) and returns once its API answers.
    pub fn start() -> Registry {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let home = ensure_apicurio();
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("apicurio-{}-{n}.log", std::process::id()));
        let mut java = Command::new(jvm::java_bin());
        java.args(["-Xmx384m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"])
            .arg("-Dquarkus.http.host=127.0.0.1")
            .arg("-Dquarkus.http.port=0")
            .arg("-Dquarkus.management.enabled=false")
            // Apicurio quiets Quarkus' own log, which is where the chosen port is printed.
            .arg("-Dquarkus.log.category.\"io.quarkus\".level=INFO")
            .arg("-jar")
            .arg(home.join(format!("apicurio-registry-app-{VERSION}-runner.jar")))
            .current_dir(&home);
        let jvm = Watched::spawn(&java, fs::File::create(&log).unwrap());
        let mut reg = Registry {
            port: 0,
            jvm: Some(jvm),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = reg.jvm.as_mut().map(Watched::try_wait) {
                panic!("apicurio exited ({status}):\n{}", reg.log_tail());
            }
            if reg.port == 0 {
                reg.port = listening_port(&fs::read_to_string(&reg.log).unwrap_or_default());
            }
            if reg.port != 0 && reg.get("subjects").is_ok() {
                return reg;
            }
            assert!(
                Instant::now() < deadline,
                "apicurio did not answer within {START_TIMEOUT:?}:\n{}",
                reg.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The Confluent-compatible base URL, as given to `--schema-registry`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/apis/ccompat/v7", self.port)
    }

    /// The settings twinscope reads this registry with (`retry_s` for the unreachable case).
    pub fn settings(&self, retry_s: u64) -> RegistrySettings {
        RegistrySettings {
            url: self.url(),
            username: None,
            password: None,
            retry_for: Duration::from_secs(retry_s),
        }
    }

    /// Registers a schema under `subject` (type `AVRO`, `PROTOBUF` or `JSON`) with references
    /// `(import name, subject, version)`, and returns its id.
    pub fn register(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
        references: &[(&str, &str, i64)],
    ) -> u32 {
        twinscope::schema::registry::register(
            &self.settings(1),
            subject,
            schema_type,
            schema,
            references,
        )
        .unwrap_or_else(|e| panic!("register {subject}: {e}\n{}", self.log_tail()))
    }

    /// A GET on the Confluent-compatible API.
    pub fn get(&self, path: &str) -> Result<Json, String> {
        ureq::get(format!("{}/{path}", self.url()))
            .call()
            .and_then(|mut r| r.body_mut().read_json::<Json>())
            .map_err(|e| e.to_string())
    }

    /// Kills the registry (it keeps no state: a restart would start empty).
    pub fn stop(&mut self) {
        if let Some(jvm) = self.jvm.take() {
            jvm.kill();
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = fs::remove_file(&self.log);
        }
    }
}

/// The port in Quarkus' `Listening on: http://127.0.0.1:PORT` line, or 0 before it is logged.
fn listening_port(log: &str) -> u16 {
    log.split("Listening on: http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}

/// Fetches and extracts the Apicurio distribution into [`DIR`] once; returns the directory with
/// the runner jar.
fn ensure_apicurio() -> PathBuf {
    let dir = Path::new(DIR);
    jvm::fetch_once(dir, MARKER, VERSION, || {
        jvm::mvn([
            "dependency:copy".to_owned(),
            format!("-Dartifact=io.apicurio:apicurio-registry-app:{VERSION}:tar.gz:all"),
            format!("-DoutputDirectory={DIR}"),
        ]);
        let tar = dir.join(format!("apicurio-registry-app-{VERSION}-all.tar.gz"));
        let status = Command::new("tar")
            .arg("xzf")
            .arg(&tar)
            .arg("-C")
            .arg(dir)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar xzf {} failed", tar.display());
        let _ = fs::remove_file(&tar);
    });
    dir.to_owned()
}

//! Running the Java servers the real-broker and registry fixtures need: the `java` to run, a
//! JVM process that dies with the test, free loopback ports, and a Maven download done once.

use std::ffi::OsStr;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

/// `$JAVA_HOME/bin/java`, or `java` from the `PATH`.
pub fn java_bin() -> PathBuf {
    std::env::var_os("JAVA_HOME").map_or_else(
        || PathBuf::from("java"),
        |h| PathBuf::from(h).join("bin/java"),
    )
}

/// A JVM under a shell that SIGKILLs it as soon as its stdin closes: when the fixture drops or
/// kills it, and also when the test process dies without unwinding (a crash, a CI timeout), so
/// no server outlives the test that started it.
pub struct Watched {
    shell: Child,
    /// Closing it is the kill signal.
    stdin: Option<ChildStdin>,
}

impl Watched {
    /// Runs `cmd` (its program, arguments and working directory) under the watchdog, with
    /// stdout and stderr appended to `log`.
    pub fn spawn(cmd: &Command, log: fs::File) -> Watched {
        // `sh` runs the JVM in the background, kills it when stdin reaches EOF, and exits with
        // the JVM's status, so an early exit (a port taken) is still seen by `try_wait`.
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            // Background jobs get /dev/null as stdin, so the watchdog reads a copy on fd 3.
            .arg(r#"exec 3<&0; "$@" & pid=$!; (read _ignored <&3; kill -9 $pid 2>/dev/null) & wait $pid"#)
            .arg("sh")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(dir) = cmd.get_current_dir() {
            shell.current_dir(dir);
        }
        let mut shell = shell
            .spawn()
            .expect("run sh and java (is a JDK 17+ on PATH or in JAVA_HOME?)");
        let stdin = shell.stdin.take();
        Watched { shell, stdin }
    }

    /// The JVM's exit status, if it has exited.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.shell.try_wait()
    }

    /// SIGKILLs the JVM (through the watchdog) and reaps the shell.
    pub fn kill(mut self) {
        drop(self.stdin.take());
        let _ = self.shell.wait();
    }
}

/// `n` distinct free loopback ports: every listener is held until all are chosen, so no port
/// is picked twice (another process may still take one before the server binds it).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Runs `fetch` to fill `dir` unless its marker file already holds `stamp` (what was fetched:
/// a version, a pom), under a file lock so parallel tests and test binaries wait for a single
/// download; then writes the marker. Surrounding whitespace does not count, because `.ci/run`
/// writes its markers with `echo`.
pub fn fetch_once(dir: &Path, marker: &str, stamp: &str, fetch: impl FnOnce()) {
    let marker = dir.join(marker);
    let done = || fs::read_to_string(&marker).is_ok_and(|m| m.trim() == stamp.trim());
    if done() {
        return;
    }
    fs::create_dir_all(dir).unwrap();
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.with_extension("lock"))
        .unwrap();
    lock.lock().expect("lock the download");
    if done() {
        return;
    }
    fetch();
    fs::write(&marker, stamp).unwrap();
}

/// Runs `mvn -q -B` with `args`; panics with Maven's output if it fails.
pub fn mvn<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) {
    super::run_ok(
        Command::new("mvn").args(["-q", "-B"]).args(args),
        "run mvn (is Maven installed?)",
    );
}

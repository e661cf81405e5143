//! A real Apache Kafka for the tests the in-process demo broker cannot stand in for: SASL
//! (SCRAM-SHA-512 and PLAIN), TLS against a private CA, replication across three nodes, a node
//! dying mid-stream. Each [`RealKafka`] is its own KRaft cluster (every node is broker and
//! controller at once) in a temp dir, run from the jars `tests/kafka/pom.xml` names, which Maven
//! copies into `target/kafka-jars` once. Needs `java` (17+, or `$JAVA_HOME`), `mvn` and `openssl`.
//!
//! Clients must use librdkafka 2.6.1 or newer for SCRAM: older ones (Debian's kcat links 2.0.2)
//! send a client-final nonce that Kafka 4 rejects as "invalid credentials".

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

use super::jvm::{self, Watched};

const JAR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/kafka-jars");
const POM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka/pom.xml");
const LOG4J: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka/log4j2.xml");
/// Written into [`JAR_DIR`] after a complete download; holds the pom the jars came from.
const MARKER: &str = "download-complete";
/// Generous: several clusters may be starting at once on a small machine.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// C1 only and the serial GC: on 2 cores this halves a 3-node start (19 s to 10 s); test
/// brokers never live long enough for C2 to pay off.
const JVM_FLAGS: [&str; 3] = ["-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];
const TAIL_LINES: usize = 80;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How to set up a [`RealKafka`].
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Number of nodes, each both broker and controller (1 or 3).
    pub nodes: usize,
    /// `log.retention.ms`; `None` means -1, keep forever (test records carry old timestamps).
    pub retention_ms: Option<i64>,
    /// Extra `server.properties` entries, written last so they override the defaults.
    pub extra: Vec<(String, String)>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            nodes: 1,
            retention_ms: None,
            extra: Vec::new(),
        }
    }
}

impl super::Broker for RealKafka {
    fn bootstrap(&self) -> String {
        RealKafka::bootstrap(self)
    }
}

/// A one-node cluster with the twin topics, telemetry on `partitions`.
pub fn twin_kafka(partitions: i32) -> RealKafka {
    let kafka = RealKafka::start(KafkaOptions::default());
    eprintln!("one node started in {:?}", kafka.started_in());
    kafka.create_twin_topics(partitions, 1, &[]);
    kafka
}

/// One node: its directory, ports (PLAINTEXT, CONTROLLER, SASL_PLAINTEXT, SSL) and process.
struct Node {
    id: usize,
    dir: PathBuf,
    ports: [u16; 4],
    child: Option<Watched>,
}

/// A running Kafka cluster on loopback. Nodes are numbered from 1 (their `node.id`), so
/// [`RealKafka::node_id_of_leader`] can be passed straight to [`RealKafka::kill`]. Dropping it
/// SIGKILLs every node and removes its temp dir (kept, and its path printed, if the test panics).
pub struct RealKafka {
    dir: PathBuf,
    nodes: Vec<Node>,
    started_in: Duration,
}

impl RealKafka {
    /// The user on the SASL listener, for both SCRAM-SHA-512 and PLAIN.
    pub const USER: &str = "viewer";
    /// [`Self::USER`]'s password.
    pub const PASSWORD: &str = "viewer-secret";

    /// Downloads the jars if needed, generates certificates, formats every node and starts them
    /// all at once, and returns when each node's metadata lists every node. Retries on fresh
    /// ports if one was taken meanwhile; otherwise panics with the tail of each node's log.
    pub fn start(opts: KafkaOptions) -> RealKafka {
        assert!(opts.nodes >= 1, "a cluster needs at least one node");
        let t0 = Instant::now();
        ensure_jars();
        for attempt in 1..=3 {
            let mut kafka = RealKafka::prepare(&opts);
            for id in 1..=opts.nodes {
                kafka.spawn(id);
            }
            let ids: Vec<usize> = (1..=opts.nodes).collect();
            let deadline = Instant::now() + START_TIMEOUT;
            match kafka.wait_until(deadline, "every node to list every node", |k| {
                ids.iter().all(|&id| k.sees_live_nodes(id))
            }) {
                Ok(()) => {
                    kafka.started_in = t0.elapsed();
                    return kafka;
                }
                Err(_) if attempt < 3 && kafka.port_clash() => continue,
                Err(e) => panic!("{e} (dir {})\n{}", kafka.dir.display(), kafka.all_tails()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The PLAINTEXT listeners of all nodes, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.listeners(0)
    }

    /// The SASL_PLAINTEXT listeners (SCRAM-SHA-512 and PLAIN, [`Self::USER`]/[`Self::PASSWORD`]).
    pub fn sasl_bootstrap(&self) -> String {
        self.listeners(2)
    }

    /// The SSL listeners: server certificate for IP 127.0.0.1 signed by [`Self::ca_pem`], no
    /// client authentication.
    pub fn ssl_bootstrap(&self) -> String {
        self.listeners(3)
    }

    /// The CA that signed the SSL listeners' certificate (for `ssl.ca.location`).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("certs/ca.pem")
    }

    /// A CA that did *not* sign the server certificate: verification against it must fail.
    pub fn other_ca_pem(&self) -> PathBuf {
        self.dir.join("certs/other-ca.pem")
    }

    /// How long [`Self::start`] took, jar check, certificates and formatting included.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Creates a topic through the admin API and waits until every partition has a leader and
    /// a full ISR. Panics if the broker refuses it.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i32,
        config: &[(&str, &str)],
    ) {
        let (admin, rt) = self.admin();
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
        for &(k, v) in config {
            topic = topic.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = rt
            .block_on(admin.create_topics([&topic], &opts))
            .expect("CreateTopics");
        for r in results {
            if let Err((t, code)) = r {
                panic!("creating topic {t}: {code}");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = metadata(&self.live_bootstrap(), Some(name)).is_some_and(|md| {
                md.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions().iter().all(|p| {
                            p.error().is_none()
                                && p.leader() >= 0
                                && p.isr().len() >= replication as usize
                        })
                })
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "topic {name}: no leader or ISR for every partition after 60 s"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// The twin topics: `twin.telemetry` with `partitions`, `twin.events` and a compacted
    /// `twin.assets` with one, each on `replication` nodes and with `config`.
    pub fn create_twin_topics(&self, partitions: i32, replication: i32, config: &[(&str, &str)]) {
        self.create_topic("twin.telemetry", partitions, replication, config);
        self.create_topic("twin.events", 1, replication, config);
        let compacted = [config, &[("cleanup.policy", "compact")]].concat();
        self.create_topic("twin.assets", 1, replication, &compacted);
    }

    /// Replaces a topic's configuration (AlterConfigs resets what it does not name, so pass
    /// every setting the topic should keep).
    pub fn alter_topic(&self, name: &str, config: &[(&str, &str)]) {
        let (admin, rt) = self.admin();
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
        for &(k, v) in config {
            alter = alter.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for r in rt
            .block_on(admin.alter_configs([&alter], &opts))
            .expect("AlterConfigs")
        {
            if let Err((_, code)) = r {
                panic!("altering topic {name}: {code}");
            }
        }
    }

    /// A topic's configuration as the broker describes it: `name -> value`.
    pub fn topic_config(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        let (admin, rt) = self.admin();
        let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
        let results = rt
            .block_on(admin.describe_configs([&ResourceSpecifier::Topic(name)], &opts))
            .expect("DescribeConfigs");
        let resource = results
            .into_iter()
            .next()
            .expect("one result")
            .expect("topic config");
        resource
            .entries
            .into_iter()
            .filter_map(|e| Some((e.name, e.value?)))
            .collect()
    }

    /// SIGKILLs node `node` (1-based) and reaps it; its data dir stays for [`Self::restart`].
    pub fn kill(&mut self, node: usize) {
        if let Some(child) = self.node_mut(node).child.take() {
            child.kill();
        }
    }

    /// Starts node `node` again with the same config and data dir (killing it first if it is
    /// still running) and waits until it serves metadata listing every running node.
    pub fn restart(&mut self, node: usize) {
        self.kill(node);
        self.spawn(node);
        let deadline = Instant::now() + START_TIMEOUT;
        if let Err(e) = self.wait_until(deadline, "the restarted node", |k| k.sees_live_nodes(node))
        {
            panic!("{e}\n{}", self.log_tail(node));
        }
    }

    /// Kills node `node` if it runs and starts it again, without waiting: for tests that keep
    /// driving the app meanwhile. [`Self::is_ready`] tells when it serves again.
    pub fn restart_nowait(&mut self, node: usize) {
        self.kill(node);
        self.spawn(node);
    }

    /// Whether node `node` serves metadata listing every running node.
    pub fn is_ready(&self, node: usize) -> bool {
        self.sees_live_nodes(node)
    }

    /// The node id of the current leader of `topic`/`partition`, as the metadata says (right
    /// after a kill it may still name the dead node until the controller fences it, ~4 s).
    pub fn node_id_of_leader(&self, topic: &str, partition: i32) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let leader = metadata(&self.live_bootstrap(), Some(topic)).and_then(|md| {
                let t = md.topics().iter().find(|t| t.name() == topic)?;
                let p = t.partitions().iter().find(|p| p.id() == partition)?;
                usize::try_from(p.leader()).ok()
            });
            if let Some(id) = leader {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}/{partition}: no leader after 30 s"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of node `node`'s broker log and of its stdout/stderr.
    pub fn log_tail(&self, node: usize) -> String {
        let n = self.node(node);
        let mut out = String::new();
        for file in [n.dir.join("logs/server.log"), n.dir.join("stdout.log")] {
            let text = String::from_utf8_lossy(&fs::read(&file).unwrap_or_default()).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(TAIL_LINES);
            let _ = writeln!(
                out,
                "--- node {node}: {} (last {} lines) ---",
                file.display(),
                lines.len() - from
            );
            for line in &lines[from..] {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// A fresh temp dir with certificates, one formatted data dir per node, and no process yet.
    fn prepare(opts: &KafkaOptions) -> RealKafka {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("twinscope-kafka-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let ports = jvm::free_ports(4 * opts.nodes);
        let nodes = (1..=opts.nodes)
            .map(|id| {
                let p = &ports[4 * (id - 1)..4 * id];
                Node {
                    id,
                    dir: dir.join(format!("node{id}")),
                    ports: [p[0], p[1], p[2], p[3]],
                    child: None,
                }
            })
            .collect();
        let kafka = RealKafka {
            dir,
            nodes,
            started_in: Duration::ZERO,
        };
        make_certs(&kafka.dir.join("certs"));
        let cluster_id = cluster_id();
        let scram = format!(
            "SCRAM-SHA-512=[name={},password={}]",
            Self::USER,
            Self::PASSWORD
        );
        let formats: Vec<(usize, Child)> = kafka
            .nodes
            .iter()
            .map(|node| {
                fs::create_dir_all(&node.dir).unwrap();
                fs::write(
                    node.dir.join("server.properties"),
                    kafka.server_properties(node, opts),
                )
                .unwrap();
                let child = java(&node.dir)
                    .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
                    .arg(node.dir.join("server.properties"))
                    .args(["--add-scram", &scram])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run java (is a JDK 17+ on PATH or in JAVA_HOME?)");
                (node.id, child)
            })
            .collect();
        for (id, child) in formats {
            let out = child.wait_with_output().unwrap();
            let text = [out.stdout, out.stderr].concat();
            assert!(
                out.status.success(),
                "formatting node {id}:\n{}",
                String::from_utf8_lossy(&text)
            );
        }
        kafka
    }

    /// Every node is broker and controller; the controllers are a static quorum, which lets all
    /// nodes start at once (no `--standalone`/`--initial-controllers` dance).
    fn server_properties(&self, node: &Node, opts: &KafkaOptions) -> String {
        let voters: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.ports[1]))
            .collect();
        let voters = voters.join(",");
        let [plain, ctrl, sasl, ssl] = node.ports;
        let (id, count) = (node.id, self.nodes.len());
        let data = node.dir.join("data");
        let data = data.display();
        let keystore = self.dir.join("certs/keystore.pem");
        let keystore = keystore.display();
        let retention = opts.retention_ms.unwrap_or(-1);
        let mut p = format!(
            r#"process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{ctrl},SASL_PLAINTEXT://127.0.0.1:{sasl},SSL://127.0.0.1:{ssl}
advertised.listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},SSL://127.0.0.1:{ssl}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs={data}
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{password}";
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.client.auth=none
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor={count}
offsets.topic.num.partitions=5
transaction.state.log.replication.factor={count}
transaction.state.log.num.partitions=5
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.ms={retention}
log.initial.task.delay.ms=500
log.cleaner.dedupe.buffer.size=2097152
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500
"#,
            user = Self::USER,
            password = Self::PASSWORD,
        );
        for (k, v) in &opts.extra {
            let _ = writeln!(p, "{k}={v}");
        }
        p
    }

    fn spawn(&mut self, id: usize) {
        let node = self.node_mut(id);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("stdout.log"))
            .unwrap();
        let mut kafka = java(&node.dir);
        kafka
            .arg("kafka.Kafka")
            .arg(node.dir.join("server.properties"));
        node.child = Some(Watched::spawn(&kafka, log));
    }

    /// Polls `ready` until it holds; fails early if a node process exits.
    fn wait_until(
        &mut self,
        deadline: Instant,
        what: &str,
        ready: impl Fn(&RealKafka) -> bool,
    ) -> Result<(), String> {
        loop {
            for node in &mut self.nodes {
                if let Some(Ok(Some(status))) = node.child.as_mut().map(Watched::try_wait) {
                    return Err(format!(
                        "node {} exited ({status}) while waiting for {what}",
                        node.id
                    ));
                }
            }
            if ready(self) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out after {START_TIMEOUT:?} waiting for {what}"
                ));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether node `id` answers a metadata request (so it is started and unfenced) listing
    /// every node that is running.
    fn sees_live_nodes(&self, id: usize) -> bool {
        let addr = format!("127.0.0.1:{}", self.node(id).ports[0]);
        metadata(&addr, None).is_some_and(|md| {
            self.nodes
                .iter()
                .filter(|n| n.child.is_some())
                .all(|n| md.brokers().iter().any(|b| b.id() as usize == n.id))
        })
    }

    fn port_clash(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| self.log_tail(n.id).contains("Address already in use"))
    }

    fn all_tails(&self) -> String {
        self.nodes.iter().map(|n| self.log_tail(n.id)).collect()
    }

    fn listeners(&self, port: usize) -> String {
        let all: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.ports[port]))
            .collect();
        all.join(",")
    }

    /// An admin client on the running nodes, and a runtime to wait for its answers.
    fn admin(&self) -> (AdminClient<DefaultClientContext>, tokio::runtime::Runtime) {
        let admin = ClientConfig::new()
            .set("bootstrap.servers", self.live_bootstrap())
            .create()
            .expect("admin client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (admin, rt)
    }

    /// PLAINTEXT listeners of the running nodes only, for the fixture's own clients.
    fn live_bootstrap(&self) -> String {
        let live = self.nodes.iter().filter(|n| n.child.is_some());
        let all: Vec<String> = live.map(|n| format!("127.0.0.1:{}", n.ports[0])).collect();
        all.join(",")
    }

    fn node(&self, id: usize) -> &Node {
        assert!(
            (1..=self.nodes.len()).contains(&id),
            "no node {id}: nodes are 1..={}",
            self.nodes.len()
        );
        &self.nodes[id - 1]
    }

    fn node_mut(&mut self, id: usize) -> &mut Node {
        assert!(
            (1..=self.nodes.len()).contains(&id),
            "no node {id}: nodes are 1..={}",
            self.nodes.len()
        );
        &mut self.nodes[id - 1]
    }
}

impl Drop for RealKafka {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.take() {
                child.kill();
            }
        }
        if thread::panicking() {
            eprintln!("real_kafka: kept {} for inspection", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `java` with the heap/JIT flags, the jar classpath and logging into `<node_dir>/logs`.
fn java(node_dir: &Path) -> Command {
    let mut cmd = Command::new(jvm::java_bin());
    cmd.args(JVM_FLAGS)
        .arg(format!("-Dlog4j2.configurationFile={LOG4J}"))
        .arg(format!(
            "-Dkafka.logs.dir={}",
            node_dir.join("logs").display()
        ))
        .arg("-cp")
        .arg(format!("{JAR_DIR}/*"));
    cmd
}

/// Metadata from a fresh client bootstrapped at `bootstrap`, or `None` if none came in 3 s.
fn metadata(bootstrap: &str, topic: Option<&str>) -> Option<Metadata> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    consumer.fetch_metadata(topic, Duration::from_secs(3)).ok()
}

/// Runs Maven once to copy the Kafka jars into [`JAR_DIR`], under a file lock so parallel tests
/// and test binaries wait for a single download. Redone when the pom changes.
fn ensure_jars() {
    let pom = fs::read_to_string(POM).expect("read tests/kafka/pom.xml");
    jvm::fetch_once(Path::new(JAR_DIR), MARKER, &pom, || {
        // Start empty, so no jar from another version stays on the `*` classpath.
        for entry in fs::read_dir(JAR_DIR).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "jar") {
                let _ = fs::remove_file(entry.path());
            }
        }
        jvm::mvn([
            "-f".to_owned(),
            POM.to_owned(),
            "dependency:copy-dependencies".to_owned(),
            format!("-DoutputDirectory={JAR_DIR}"),
        ]);
    });
}

/// A CA, a server certificate for IP 127.0.0.1 it signs, and an unrelated second CA. The PEM
/// keystore is the unencrypted PKCS#8 key followed by the certificate.
fn make_certs(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        super::run_ok(
            Command::new("openssl").args(args).current_dir(dir),
            "run openssl",
        );
    };
    for (name, cn) in [
        ("ca", "twinscope-test-ca"),
        ("other-ca", "twinscope-other-ca"),
    ] {
        let (key, pem, subj) = (
            format!("{name}.key"),
            format!("{name}.pem"),
            format!("/CN={cn}"),
        );
        openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem,
            "-days", "3650", "-subj", &subj,
        ]);
    }
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server-key.pem",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    let ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
               keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
    fs::write(dir.join("server.ext"), ext).unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "3650",
        "-extfile",
        "server.ext",
    ]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "server-key.pem",
        "-out",
        "server.key",
    ]);
    let keystore = [
        fs::read(dir.join("server.key")).unwrap(),
        fs::read(dir.join("server.pem")).unwrap(),
    ]
    .concat();
    fs::write(dir.join("keystore.pem"), keystore).unwrap();
}

/// A random cluster id: 16 bytes in unpadded base64url, as `StorageTool random-uuid` prints,
/// without starting a JVM. The first bit is cleared so it never starts with `-`.
fn cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    for b in &mut bytes {
        *b = fastrand::u8(..);
    }
    bytes[0] &= 0x7f;
    let bits = u128::from_be_bytes(bytes);
    (1..=22)
        .map(|i: u32| {
            let v = if 6 * i <= 128 {
                bits >> (128 - 6 * i)
            } else {
                bits << (6 * i - 128)
            };
            char::from(ALPHABET[(v & 63) as usize])
        })
        .collect()
}

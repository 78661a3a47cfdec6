//! Helpers for the tests of both services (the `testing` feature, a
//! dev-dependency only): reading answers, asserting problem+json, reading
//! one Prometheus series, and capturing logs.

use std::io;
use std::sync::{Arc, Mutex};

use reqwest::{Response, StatusCode};
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

/// A response's status and JSON body (problem bodies included; `null` when
/// the body is not JSON).
pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Asserts a problem+json answer with `status` and `code`; returns its body.
pub async fn expect_problem(response: Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (actual, body["code"].as_str()),
        (status, Some(code)),
        "expected {status} {code}: {body}"
    );
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], status);
    body
}

/// The value of one series in Prometheus text (0 when absent), e.g.
/// `series(&text, r#"checkouts_total{outcome="created"}"#)`.
pub fn series(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find(|line| {
            line.starts_with(name_and_labels) && line[name_and_labels.len()..].starts_with(' ')
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// The text of a service's `/metrics`.
pub async fn scrape(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("the metrics endpoint answers")
        .text()
        .await
        .expect("metrics are text")
}

/// A free loopback port *below* the kernel's ephemeral range, for a server
/// a test starts, kills and restarts (Redis, PostgreSQL). A port from the
/// ephemeral range is unsafe there: while the server is down, a client's
/// connection attempt can be given that very port as its source and
/// connect to itself (TCP simultaneous open), reading back its own bytes
/// as if a server had answered.
pub fn restartable_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let span = u32::from(low.saturating_sub(10_000).max(1));
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..span {
        let port = 10_000 + ((seed.wrapping_add(attempt.wrapping_mul(7919))) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {low}");
}

/// A log writer that keeps everything written, for tests that read logs.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// The JSON lines logged while serving the request `request_id` (its
    /// server span is the first of each line's `spans`).
    pub fn lines_of(&self, request_id: &str) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["spans"][0]["request_id"] == request_id)
            .collect()
    }

    /// Asserts that the request `request_id` logged `message`, with a W3C
    /// trace id beside its request id; returns the line.
    pub fn assert_logged(&self, request_id: &str, message: &str) -> Value {
        let lines = self.lines_of(request_id);
        let Some(line) = lines.iter().find(|line| line["message"] == message) else {
            panic!("request {request_id} did not log {message:?}; it logged {lines:#?}");
        };
        let trace_id = line["spans"][0]["trace_id"].as_str().unwrap_or_default();
        assert!(
            trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()),
            "a trace id beside the request id: {line}"
        );
        line.clone()
    }
}

pub struct CapturedWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for CapturedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CapturedWriter(self.0.clone())
    }
}

/// A NATS server with JetStream of a test's own, on a restartable port,
/// for tests that kill the bus (the machine's shared one is never touched);
/// killed and its store removed on drop.
pub struct NatsServer {
    pub port: u16,
    store: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl NatsServer {
    pub fn start() -> Self {
        let port = restartable_port();
        let store = std::env::temp_dir().join(format!("test-nats-{port}-{}", std::process::id()));
        let mut server = Self {
            port,
            store,
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port and store) and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nats-server");
        let child = std::process::Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server runs (Debian's nats-server package)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    /// Kills it at once (SIGKILL): connections drop without goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// A NATS namespace of a test's own on the machine's shared server.
pub fn nats_namespace() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// The machine's NATS server (`NATS_URL` if set in the test's environment).
pub fn shared_nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Deletes a test namespace's streams (`AUTH`, `COMMERCE`) from `url`.
pub async fn delete_streams(url: &str, namespace: &str) {
    if let Ok(client) = async_nats::connect(url).await {
        let js = async_nats::jetstream::new(client);
        for stream in ["AUTH", "COMMERCE"] {
            let _ = js.delete_stream(format!("{namespace}_{stream}")).await;
        }
    }
}

/// Every message of a stream, in order: its subject without the
/// namespace (which every subject must carry), and its payload as JSON
/// (empty when the stream is missing).
pub async fn stream_events(url: &str, namespace: &str, stream: &str) -> Vec<(String, Value)> {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let Ok(mut stream) = js.get_stream(format!("{namespace}_{stream}")).await else {
        return Vec::new();
    };
    let state = stream.info().await.unwrap().state.clone();
    let prefix = format!("{namespace}.");
    let mut events = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            let subject = message
                .subject
                .strip_prefix(prefix.as_str())
                .unwrap_or_else(|| panic!("{} is outside {namespace}", message.subject));
            let event = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
            events.push((subject.to_owned(), event));
        }
    }
    events
}

/// The TypeScript client (`clients/typescript/`) is generated from the
/// committed copy of each service's OpenAPI document: that copy must be
/// what the service serves now, and every operation must have an id of its
/// own (generators name functions after them). `cargo xtask client`
/// refreshes the copies and the generated code.
pub fn assert_openapi_committed(document: &utoipa::openapi::OpenApi, service: &str) {
    let json = document.to_pretty_json().expect("the document serializes");
    let value: Value = serde_json::from_str(&json).expect("the document is JSON");
    let mut ids = std::collections::BTreeMap::<String, usize>::new();
    for item in value["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for operation in item.as_object().into_iter().flat_map(|o| o.values()) {
            if let Some(id) = operation["operationId"].as_str() {
                *ids.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    let repeated: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "operationIds used twice: {repeated:?}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../clients/typescript/openapi")
        .join(format!("{service}.json"));
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == json.trim_end(),
        "{} is not the document {service} serves: run `cargo xtask client` and commit the result",
        path.display()
    );
}

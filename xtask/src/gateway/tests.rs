//! The gateway configuration, rendered and run by a real nginx: what a
//! client and the logs see.

use super::*;

pub(super) fn values() -> Values {
    Values {
        listen: "127.0.0.1:18080".into(),
        auth_upstreams: vec!["127.0.0.1:18081".into(), "127.0.0.1:18083".into()],
        commerce_upstreams: vec!["127.0.0.1:18082".into()],
        otp_rate: "10r/m".into(),
        otp_burst: "5".into(),
        access_log: "/dev/null".into(),
        tls_dir: std::env::temp_dir()
            .join(format!("gateway-no-tls-{}", std::process::id()))
            .display()
            .to_string(),
        admin_root: super::admin_root().display().to_string(),
        cache_dir: std::env::temp_dir()
            .join(format!("gateway-cache-{}", std::process::id()))
            .display()
            .to_string(),
    }
}

#[test]
fn the_template_renders_and_keeps_nginx_variables() {
    let text = render(&fs::read_to_string(template_path()).unwrap(), &values()).unwrap();
    assert!(text.contains("listen 127.0.0.1:18080;"));
    assert!(text.contains(
        "server 127.0.0.1:18081 max_fails=1 fail_timeout=2s;\n    server 127.0.0.1:18083 max_fails=1 fail_timeout=2s;"
    ));
    assert!(text.contains("rate=10r/m"));
    assert!(text.contains("$remote_addr"));
    assert!(render("x ${UNKNOWN} y", &values()).is_err());
}

#[test]
fn nginx_accepts_the_rendered_configuration() {
    let nginx = nginx_binary().unwrap();
    let prefix = std::env::temp_dir().join(format!("gateway-check-{}", std::process::id()));
    let main = render_local(&prefix, &values()).unwrap();
    let output = std::process::Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&main)
        .output()
        .unwrap();
    let _ = fs::remove_dir_all(&prefix);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A stand-in for both services: answers `200 {}` to every request.
fn stub_upstream() -> std::net::SocketAddr {
    recording_upstream().0
}

/// An upstream that answers `200 {}` to everything and records each
/// request line's target as it arrived.
pub(super) fn recording_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = targets.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let recorded = recorded.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut line = String::new();
                    let mut first = true;
                    let mut body_length = 0usize;
                    let mut seen_any = false;
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        seen_any = true;
                        if line == "\r\n" {
                            break;
                        }
                        if first {
                            let target = line.split(' ').nth(1).unwrap_or_default();
                            recorded.lock().unwrap().push(target.to_owned());
                            first = false;
                        }
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            body_length = value.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    if !seen_any {
                        return;
                    }
                    let mut body = vec![0; body_length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, targets)
}

/// Stops the gateway however the test ends: SIGTERM, so that nginx's
/// master takes its workers down with it.
pub(super) struct Running(std::process::Child);

impl Running {
    /// Renders the configuration under `prefix`, starts nginx with it
    /// and waits until it accepts connections on `port`.
    pub(super) fn start(prefix: &Path, values: &Values, port: u16) -> Self {
        let main = render_local(prefix, values).unwrap();
        let running = Running(
            std::process::Command::new(nginx_binary().unwrap())
                .arg("-p")
                .arg(prefix)
                .arg("-c")
                .arg(&main)
                .arg("-g")
                .arg("daemon off;")
                .stdout(std::process::Stdio::null())
                // Kept, so that a test can read what nginx logged there.
                .stderr(fs::File::create(prefix.join("logs/stderr.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        crate::wait_until(std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .expect("the gateway starts");
        running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_access_log_keeps_no_query_string_or_credential() {
    use std::io::{Read, Write};
    let upstream = stub_upstream().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prefix = std::env::temp_dir().join(format!("gateway-log-{}", std::process::id()));
    let access_log = prefix.join("logs/access.log");
    let gateway = Running::start(
        &prefix,
        &Values {
            listen: format!("127.0.0.1:{port}"),
            auth_upstreams: vec![upstream.clone()],
            commerce_upstreams: vec![upstream],
            access_log: access_log.display().to_string(),
            ..values()
        },
        port,
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = "GET /api/v1/admin/users?q=%2B13125550100&email=ops%40example.com&access_token=tok-secret-123 HTTP/1.1\r\n\
                   Host: shop.test\r\n\
                   Authorization: Bearer hdr-secret-456\r\n\
                   Cookie: session=cookie-secret-789\r\n\
                   Referer: https://shop.test/login?code=492817\r\n\
                   X-Request-Id: log-check-1\r\n\
                   Connection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(gateway);
    let log = fs::read_to_string(&access_log).unwrap();
    let _ = fs::remove_dir_all(&prefix);

    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["request_id"], "log-check-1", "{log}");
    assert_eq!(line["path"], "/api/v1/admin/users", "{log}");
    assert_eq!(line["status"], 200, "{log}");
    for secret in [
        "13125550100",
        "ops%40example.com",
        "ops@example.com",
        "tok-secret-123",
        "hdr-secret-456",
        "cookie-secret-789",
        "492817",
    ] {
        assert!(
            !log.contains(secret),
            "the access log keeps {secret}: {log}"
        );
    }
}

/// An upstream that refuses connections makes nginx log an error that
/// quotes the request line, query string included: none of it may be
/// written. The access log says which upstream failed and how.
#[test]
fn a_failing_upstream_leaves_no_query_string_in_any_log() {
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (listen, refusing) = (port(), port());
    let prefix = std::env::temp_dir().join(format!("gateway-errlog-{}", std::process::id()));
    let access_log = prefix.join("logs/access.log");
    let gateway = Running::start(
        &prefix,
        &Values {
            listen: format!("127.0.0.1:{listen}"),
            auth_upstreams: vec![format!("127.0.0.1:{refusing}")],
            commerce_upstreams: vec![format!("127.0.0.1:{refusing}")],
            access_log: access_log.display().to_string(),
            ..values()
        },
        listen,
    );
    let (code, _) = curl(&[&format!(
        "http://127.0.0.1:{listen}/api/v1/admin/users?q=%2B13125550100"
    )]);
    assert_eq!(code, "503");
    drop(gateway);
    let logs = ["logs/access.log", "logs/error.log", "logs/stderr.log"]
        .map(|name| fs::read_to_string(prefix.join(name)).unwrap_or_default());
    let _ = fs::remove_dir_all(&prefix);
    for (name, log) in ["access", "error", "stderr"].iter().zip(&logs) {
        assert!(
            !log.contains("13125550100"),
            "the {name} log keeps the query: {log}"
        );
    }
    let line: serde_json::Value = serde_json::from_str(logs[0].lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], 503, "{}", logs[0]);
    assert_eq!(
        line["upstream"],
        format!("127.0.0.1:{refusing}"),
        "{}",
        logs[0]
    );
    assert_eq!(line["upstream_status"], "502", "{}", logs[0]);
}

/// `curl` with `args`: the status line's code and the headers.
pub(super) fn curl(args: &[&str]) -> (String, String) {
    let output = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = text.lines().last().unwrap_or_default().to_owned();
    (code, text.to_ascii_lowercase())
}

#[test]
fn https_serves_with_the_certificate_redirects_plain_http_and_sends_hsts() {
    let upstream = stub_upstream().to_string();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (http_port, https_port) = (free(), free());
    let prefix = std::env::temp_dir().join(format!("gateway-tls-{}", std::process::id()));
    let tls_dir = prefix.join("tls");
    write_dev_certificate(&tls_dir).unwrap();
    // The shipped tls.conf listens on 8443; here a free port instead.
    let conf = fs::read_to_string(tls_dir.join("tls.conf")).unwrap();
    fs::write(
        tls_dir.join("tls.conf"),
        conf.replace("8443", &https_port.to_string()),
    )
    .unwrap();
    let gateway = Running::start(
        &prefix,
        &Values {
            listen: format!("127.0.0.1:{http_port}"),
            auth_upstreams: vec![upstream.clone()],
            commerce_upstreams: vec![upstream],
            access_log: prefix.join("logs/access.log").display().to_string(),
            tls_dir: tls_dir.display().to_string(),
            ..values()
        },
        https_port,
    );
    let cacert = tls_dir.join("cert.pem").display().to_string();
    let https = format!("https://localhost:{https_port}/api/v1/products");
    let (code, headers) = curl(&["--cacert", &cacert, &https]);
    assert_eq!(code, "200", "{headers}");
    assert!(
        headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );
    assert!(headers.contains("x-request-id:"), "{headers}");
    // The gateway's own answers (problem+json error pages) too.
    let missing = format!("https://localhost:{https_port}/no/such/page");
    let (code, headers) = curl(&["--cacert", &cacert, &missing]);
    assert_eq!(code, "404", "{headers}");
    assert!(
        headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );
    // Without trusting the certificate there is no answer: real TLS.
    let (code, _) = curl(&[&https]);
    assert_eq!(code, "000");
    // Plain HTTP is a redirect to the same path over HTTPS.
    let (code, headers) = curl(&[&format!(
        "http://localhost:{http_port}/api/v1/products?page=2"
    )]);
    assert_eq!(code, "308", "{headers}");
    assert!(
        headers.contains(&format!(
            "location: https://localhost:{https_port}/api/v1/products?page=2"
        )),
        "{headers}"
    );
    // The container's health probe still answers over plain HTTP.
    let (code, _) = curl(&[&format!("http://127.0.0.1:{http_port}/healthz")]);
    assert_eq!(code, "200");
    drop(gateway);
    let _ = fs::remove_dir_all(&prefix);
}

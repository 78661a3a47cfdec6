//! Hostile input at the gateway, sent as raw bytes (a client library would
//! normalise the paths): every answer nginx makes itself is problem+json
//! with the right status, and `/internal/*` is reached in no spelling.

use std::io::{Read, Write};
use std::time::Duration;

use super::tests::{Running, recording_upstream, values};
use super::*;

/// Sends `request` as it is and reads the whole answer (status, headers
/// in lower case, body).
fn send_raw(port: u16, request: &[u8]) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Percent-decodes (every `%XX`) and removes dot segments, as a server
/// that normalised the path would see it.
fn normalised(target: &str) -> String {
    let path = target.split('?').next().unwrap_or(target);
    let mut bytes = Vec::new();
    let raw = path.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (raw[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                bytes.push(byte);
                i += 3;
            }
            (byte, _) => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&bytes);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/")).to_ascii_lowercase()
}

#[test]
fn odd_requests_get_problem_json_and_internal_is_never_reached() {
    let (upstream, targets) = recording_upstream();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prefix = std::env::temp_dir().join(format!("gateway-hostile-{}", std::process::id()));
    let gateway = Running::start(
        &prefix,
        &Values {
            listen: format!("127.0.0.1:{port}"),
            auth_upstreams: vec![upstream.to_string()],
            commerce_upstreams: vec![upstream.to_string()],
            ..values()
        },
        port,
    );

    let long_path = format!("/api/v1/products/{}", "a".repeat(20_000));
    let big_header = format!(
        "GET /api/v1/products HTTP/1.1\r\nHost: shop.test\r\nCookie: {}\r\nConnection: close\r\n\r\n",
        "c".repeat(40_000)
    );
    let big_body = format!(
        "POST /api/v1/orders HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/json\r\nContent-Length: 70000\r\nConnection: close\r\n\r\n{}",
        " ".repeat(70_000)
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("a NUL in the path", get("/api/v1/products/%00"), 400, "bad_request"),
        ("internal", get("/internal/v1/token-status"), 404, "not_found"),
        ("internal, doubled slash", get("//internal/v1/token-status"), 404, "not_found"),
        ("internal, dot segments", get("/api/v1/../internal/v1/token-status"), 404, "not_found"),
        ("internal, encoded dots", get("/api/v1/%2e%2e/internal/v1/token-status"), 404, "not_found"),
        ("internal, encoded slashes", get("/api/v1/auth/..%2f..%2f..%2finternal/v1/token-status"), 404, "not_found"),
        ("internal, encoded letter", get("/%69nternal/v1/token-status"), 404, "not_found"),
        ("internal, dev outbox", get("/api/v1/auth/../../internal/v1/dev/sms-outbox"), 404, "not_found"),
        ("a path out of the root", get("/../../etc/passwd"), 400, "bad_request"),
        ("an unknown route", get("/wp-login.php"), 404, "not_found"),
        ("a very long URI", get(&long_path), 414, "uri_too_long"),
        ("a very large header", big_header.into_bytes(), 431, "headers_too_large"),
        ("a body over the limit", big_body.into_bytes(), 413, "payload_too_large"),
        (
            "an unknown method",
            b"PROPFIND /api/v1/products HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n".to_vec(),
            405,
            "method_not_allowed",
        ),
        (
            "TRACE",
            b"TRACE /api/v1/products HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n".to_vec(),
            405,
            "method_not_allowed",
        ),
        (
            "a header line without a colon",
            b"GET /api/v1/products HTTP/1.1\r\nHost: shop.test\r\nBroken header\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (
            "no Host header",
            b"GET /api/v1/products HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
    ];
    let mut failures = Vec::new();
    for (what, request, status, code) in &cases {
        let (actual, headers, body) = send_raw(port, request);
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let well_formed = headers.contains("content-type: application/problem+json")
            && problem["code"] == *code
            && problem["status"] == *status
            && problem["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
            && headers.contains("x-request-id:");
        if actual != *status || !well_formed {
            failures.push(format!(
                "{what}: expected {status} {code}, got {actual}\n{headers}\n{body}"
            ));
        }
    }
    drop(gateway);
    let _ = std::fs::remove_dir_all(&prefix);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let reached = targets.lock().unwrap().clone();
    for target in &reached {
        assert!(
            !normalised(target).starts_with("/internal"),
            "an upstream was asked for {target}"
        );
    }
}

#[test]
fn normalising_decodes_and_removes_dot_segments() {
    assert_eq!(normalised("/api/v1/%2e%2e/internal/x"), "/api/internal/x");
    assert_eq!(
        normalised("/api/v1/auth/..%2f..%2f..%2fInternal/x?q=1"),
        "/internal/x"
    );
    assert_eq!(normalised("//internal"), "/internal");
}

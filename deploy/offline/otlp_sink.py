"""A minimal OTLP/HTTP sink for offline compose stacks.

Every POST to /v1/traces, /v1/metrics or /v1/logs on port 4318 is accepted
(an empty export response, as a collector answers) and counted; port 16686
answers GET / with the counts as JSON, where Jaeger's UI would be.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED = {}
LOCK = threading.Lock()
SIGNALS = ("/v1/traces", "/v1/metrics", "/v1/logs")


class Exports(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path not in SIGNALS:
            self.send_error(404)
            return
        with LOCK:
            counts = RECEIVED.setdefault(self.path, {"requests": 0, "bytes": 0})
            counts["requests"] += 1
            counts["bytes"] += length
        json_body = self.headers.get("Content-Type", "").startswith("application/json")
        body = b"{}" if json_body else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if json_body else "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Summary(BaseHTTPRequestHandler):
    def do_GET(self):
        with LOCK:
            body = json.dumps(RECEIVED).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    summary = ThreadingHTTPServer(("0.0.0.0", 16686), Summary)
    threading.Thread(target=summary.serve_forever, daemon=True).start()
    print("otlp sink: OTLP/HTTP on :4318, counts on :16686", file=sys.stderr, flush=True)
    ThreadingHTTPServer(("0.0.0.0", 4318), Exports).serve_forever()


if __name__ == "__main__":
    main()

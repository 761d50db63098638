"""A loopback stand-in for a DynamoDB endpoint that is failing: every request gets the same
error answer, in DynamoDB's JSON wire format, so botocore raises what it raises against AWS.

moto cannot throttle; point the handler here with ``AWS_ENDPOINT_URL_DYNAMODB=fake.url``::

    with FailingDynamoDB(400, "ProvisionedThroughputExceededException") as fake:
        ...
        fake.requests  # how many requests botocore sent (its retries included)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_TYPE_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake = self.server.fake
        with fake.lock:
            fake.requests += 1
        body = json.dumps(
            {"__type": ERROR_TYPE_PREFIX + fake.error, "message": "Injected by the stand-in."}
        ).encode()
        self.send_response(fake.status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "fake-request-id")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FailingDynamoDB) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FailingDynamoDB:
    def __init__(self, status: int, error: str) -> None:
        self.status = status
        self.error = error
        self.requests = 0
        self.lock = threading.Lock()
        self._server = _Server(self)
        # shutdown() waits for the loop's next poll: 0.5 s by default.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FailingDynamoDB:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

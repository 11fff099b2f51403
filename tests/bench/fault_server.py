"""Test-only loopback server that misbehaves on purpose, in both wire protocols.

The model name in the request body picks the behaviour:

``ok``          a normal stream of 5 tokens (``ok-N`` for N tokens)
``http429``     HTTP 429 with an error body          ``http500``  HTTP 500
``cut``         3 tokens, then the socket is closed mid-body (truncated chunked stream)
``cut-clean``   3 tokens, then a clean end of body with no final message / finish_reason
``hang``        reads the request and never answers (until the server stops, at most 60 s)
``slow``        one token every 0.2 s, 100 tokens (for the total-deadline test)
``error-line``  (Ollama) a 200 stream whose second line is ``{"error": ...}``
``leak``        HTTP 500 whose error message echoes the request's Authorization header (a server that
                leaks the key: the harness must still never store or print it)

Endpoints: ``POST /v1/chat/completions`` (SSE), ``POST /api/chat`` and ``/api/generate`` (NDJSON),
``GET /v1/models`` and ``GET /api/tags``. Every request's headers are kept in ``server.seen_headers``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # helpers
    def _send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self):
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def _remember(self):
        with self.server.lock:
            self.server.seen_headers.append(dict(self.headers.items()))

    def do_GET(self):  # noqa: N802
        self._remember()
        if self.path.startswith("/v1/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "ok", "object": "model", "owned_by": "test"}]})
        elif self.path == "/api/tags":
            self._send_json(200, {"models": [{"name": "ok:latest", "model": "ok:latest", "size": 1, "digest": "x",
                                              "modified_at": "2024-01-01T00:00:00Z", "details": {"format": "gguf"}}]})
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        self._remember()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        model = str(body.get("model", "ok")).split(":")[0]
        openai = self.path.startswith("/v1/")
        chat = self.path != "/api/generate"
        if model == "http429":
            self._send_json(429, {"error": {"message": "rate limited", "type": "rate_limit"}} if openai
                            else {"error": "rate limited"})
            return
        if model == "http500":
            self._send_json(500, {"error": {"message": "boom", "type": "server_error"}} if openai else {"error": "boom"})
            return
        if model == "leak":
            auth = self.headers.get("Authorization", "")
            self._send_json(500, {"error": {"message": f"bad credentials {auth}", "type": "server_error"}} if openai
                            else {"error": f"bad credentials {auth}"})
            return
        if model == "hang":
            self.server.stop.wait(60)
            self.close_connection = True
            return
        n, delay = 5, 0.0
        if model.startswith("ok-"):
            n = int(model[3:])
        if model in ("cut", "cut-clean"):
            n = 3
        if model == "slow":
            n, delay = 100, 0.2
        if openai:
            self._start("text/event-stream")
            for i in range(n):
                if delay and self.server.stop.wait(delay):
                    break
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
                         "choices": [{"index": 0, "delta": {"content": f" t{i}"}, "finish_reason": None}]}
                self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            if model == "cut":
                self._abort()
                return
            if model != "cut-clean":
                fin = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self._chunk(f"data: {json.dumps(fin)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
            self._end()
            return
        self._start("application/x-ndjson")
        for i in range(n):
            if delay and self.server.stop.wait(delay):
                break
            if model == "error-line" and i == 1:
                self._chunk(b'{"error": "model runner crashed"}\n')
                self._end()
                return
            line = {"model": model, "created_at": "2024-01-01T00:00:00Z", "done": False}
            if chat:
                line["message"] = {"role": "assistant", "content": f" t{i}"}
            else:
                line["response"] = f" t{i}"
            self._chunk((json.dumps(line) + "\n").encode())
        if model == "cut":
            self._abort()
            return
        if model != "cut-clean":
            final = {"model": model, "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "stop",
                     "total_duration": 2_000_000, "load_duration": 100_000, "prompt_eval_count": 7,
                     "prompt_eval_duration": 1_000_000, "eval_count": n, "eval_duration": 900_000}
            if chat:
                final["message"] = {"role": "assistant", "content": ""}
            else:
                final["response"] = ""
            self._chunk((json.dumps(final) + "\n").encode())
        self._end()


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int = 0):
        super().__init__(("127.0.0.1", port), FaultHandler)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.seen_headers: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def handle_error(self, request, client_address):
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return  # the client gave up on purpose (timeouts, deadlines)
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FaultServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


if __name__ == "__main__":  # manual poking
    s = FaultServer(0).start()
    print(s.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        s.close()

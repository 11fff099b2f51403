"""Test-only bridge that speaks Ollama's native wire protocol, backed by a real llama.cpp server.

No Ollama binary can be installed on the test machines, so the tests start this bridge in front of
the llama.cpp server (OpenAI-compatible API, real SmolLM2-135M model) and point the ``ollama``
backend at it. The harness cannot tell it from Ollama: it implements the documented endpoints

* ``GET /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags``, ``GET /api/ps``
* ``POST /api/chat`` and ``POST /api/generate`` — streaming NDJSON by default (``"stream": false``
  gives one JSON object), ``options.num_predict`` / ``temperature`` / ``seed``, unknown model → 404
  ``{"error": ...}``. Every streamed line carries ``model``, ``created_at``, ``message``
  (chat) or ``response`` (generate), ``done``; the final line adds ``done_reason``, ``total_duration``,
  ``load_duration``, ``prompt_eval_count``, ``prompt_eval_duration``, ``eval_count``, ``eval_duration``
  (nanoseconds), as Ollama does.

Timing fields are measured by the bridge, server-side: ``prompt_eval_duration`` runs from receiving the
request to the first generated token arriving from llama.cpp (prefill + first decode step, i.e. the
server's time to first token), ``eval_duration`` from the first to the last token, ``load_duration`` the
bridge's own request handling before forwarding. ``eval_count`` is the number of tokens llama.cpp streamed
(it streams one token per chunk); ``prompt_eval_count`` is llama.cpp's own token count of the messages
(``/extras/tokenize/count``; the chat-template framing is not included).

Run: ``python tests/bench/ollama_bridge.py --upstream http://127.0.0.1:8080 --upstream-model smollm2-135m
--name smollm2:135m --port 11434``
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class BridgeConfig:
    def __init__(self, upstream: str, upstream_model: str, name: str, model_path: str | None = None):
        self.upstream = upstream.rstrip("/")
        self.upstream_model = upstream_model
        self.name = name if ":" in name else f"{name}:latest"
        self.model_path = model_path
        size = os.path.getsize(model_path) if model_path and os.path.exists(model_path) else 0
        self.size = size
        self.digest = hashlib.sha256(f"{self.name}:{size}".encode()).hexdigest()
        self.client = httpx.Client(base_url=self.upstream, timeout=httpx.Timeout(120.0, connect=5.0))

    def matches(self, model: str) -> bool:
        if not model:
            return False
        want = model if ":" in model else f"{model}:latest"
        return want == self.name


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ollama-bridge"
    cfg: BridgeConfig  # set on the subclass by make_server

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- helpers --------------------------------------------------------------------------------
    def _json(self, status: int, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_ndjson(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _line(self, obj) -> None:
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _model_entry(self):
        cfg = self.cfg
        return {
            "name": cfg.name,
            "model": cfg.name,
            "modified_at": _now_iso(),
            "size": cfg.size,
            "digest": cfg.digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "135M",
                "quantization_level": "Q4_1",
            },
        }

    # -- GET ------------------------------------------------------------------------------------
    def do_GET(self):  # noqa: N802
        if self.path in ("/", ""):
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/api/version":
            self._json(200, {"version": "0.0.0-bridge"})
        elif self.path == "/api/tags":
            self._json(200, {"models": [self._model_entry()]})
        elif self.path == "/api/ps":
            self._json(200, {"models": [{**self._model_entry(), "expires_at": _now_iso(), "size_vram": 0}]})
        else:
            self._json(404, {"error": "not found"})

    # -- POST -----------------------------------------------------------------------------------
    def do_POST(self):  # noqa: N802
        t_recv = time.perf_counter_ns()
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": "invalid JSON body"})
            return
        if self.path not in ("/api/chat", "/api/generate"):
            self._json(404, {"error": "not found"})
            return
        chat = self.path == "/api/chat"
        model = body.get("model", "")
        if not self.cfg.matches(model):
            self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        if chat:
            messages = [{"role": m.get("role", "user"), "content": m.get("content", "")}
                        for m in body.get("messages") or []]
        else:
            messages = []
            if body.get("system"):
                messages.append({"role": "system", "content": body["system"]})
            messages.append({"role": "user", "content": body.get("prompt", "")})
        opts = body.get("options") or {}
        payload = {"model": self.cfg.upstream_model, "messages": messages, "stream": True,
                   "max_tokens": int(opts.get("num_predict", 128)) if int(opts.get("num_predict", 128)) > 0 else None,
                   "temperature": float(opts.get("temperature", 0.8))}
        if "seed" in opts:
            payload["seed"] = int(opts["seed"])
        stream = body.get("stream", True)
        name = model if ":" in model else f"{model}:latest"

        def piece(text: str, done: bool = False) -> dict:
            obj = {"model": name, "created_at": _now_iso()}
            if chat:
                obj["message"] = {"role": "assistant", "content": text}
            else:
                obj["response"] = text
            obj["done"] = done
            return obj

        t_forward = time.perf_counter_ns()
        first_ns = last_ns = None
        eval_count = 0
        finish = "stop"
        pieces: list[str] = []
        try:
            with self.cfg.client.stream("POST", "/v1/chat/completions", json=payload) as up:
                if up.status_code != 200:
                    up.read()
                    self._json(up.status_code, {"error": f"upstream error {up.status_code}: {up.text[:200]}"})
                    return
                if stream:
                    self._start_ndjson()
                for line in up.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            now = time.perf_counter_ns()
                            if first_ns is None:
                                first_ns = now
                            last_ns = now
                            eval_count += 1
                            if stream:
                                self._line(piece(text))
                            else:
                                pieces.append(text)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away
        except httpx.HTTPError as exc:
            if stream:
                try:
                    self._line({"error": f"upstream failed: {type(exc).__name__}"})
                    self._end_chunks()
                except OSError:
                    pass
            else:
                self._json(502, {"error": f"upstream failed: {type(exc).__name__}"})
            return
        t_end = time.perf_counter_ns()
        try:
            count = self.cfg.client.post("/extras/tokenize/count",
                                         json={"model": self.cfg.upstream_model,
                                               "input": "\n".join(m["content"] for m in messages)}).json()["count"]
        except (httpx.HTTPError, KeyError, ValueError):
            count = 0
        first_ns = first_ns or t_end
        last_ns = last_ns or t_end
        final = piece("" if stream else "".join(pieces), True)
        final.update({
            "done_reason": "length" if finish == "length" else "stop",
            "total_duration": time.perf_counter_ns() - t_recv,
            "load_duration": t_forward - t_recv,
            "prompt_eval_count": count,
            "prompt_eval_duration": first_ns - t_forward,
            "eval_count": eval_count,
            "eval_duration": max(last_ns - first_ns, 1),
        })
        if not chat:
            final["context"] = []
        try:
            if stream:
                self._line(final)
                self._end_chunks()
            else:
                self._json(200, final)
        except (BrokenPipeError, ConnectionResetError):
            pass


def make_server(host: str, port: int, cfg: BridgeConfig) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"cfg": cfg})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="llama.cpp server base URL (without /v1)")
    p.add_argument("--upstream-model", required=True, help="model name the llama.cpp server answers to")
    p.add_argument("--name", default="smollm2:135m", help="model name to advertise, Ollama style")
    p.add_argument("--model-path", default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=11434)
    a = p.parse_args(argv)
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        print("ollama_bridge: refusing to listen on a non-loopback address", file=sys.stderr)
        return 2
    server = make_server(a.host, a.port, BridgeConfig(a.upstream, a.upstream_model, a.name, a.model_path))
    print(f"ollama_bridge listening on http://{a.host}:{server.server_address[1]}", flush=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        t.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions API, for tests.

A test gives it a `respond(request_json) -> str | (status, body)` function: a string becomes a
normal completion whose message content is that string; a tuple sends that HTTP status and
JSON body (an error, a malformed reply). Every request body is kept in `.requests`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Response = str | tuple[int, Any]


def completion(text: str, model: str = "test-model") -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def error(status: int, message: str, kind: str = "server_error") -> tuple[int, Any]:
    return status, {"error": {"message": message, "type": kind, "code": status}}


class ChatServer:
    def __init__(self, respond: Callable[[dict[str, Any]], Response]) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.paths.append(self.path)
                if not self.path.endswith("/chat/completions"):
                    status, payload = error(404, f"no route {self.path}")
                else:
                    answer = server.respond(body)
                    if isinstance(answer, str):
                        status, payload = 200, completion(answer, body.get("model", "m"))
                    else:
                        status, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

"""What happens below the app: the listening socket, and answers to requests too malformed to reach Litestar.

uvicorn answers bytes it cannot parse as HTTP (a 100,000-character query string, a broken request line) itself,
with a plain-text 400. :class:`JsonErrorHttpProtocol` answers them in the API's one JSON error envelope instead.
"""

from __future__ import annotations

import json
import socket

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from graphrag.errors import ConfigError

__all__ = ["JsonErrorHttpProtocol", "listening_socket"]

# Beyond this the parser's failure is about the target's length: say so (414) rather than "malformed" (400).
_LONG_TARGET = 8192


class JsonErrorHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering unparseable requests with the JSON error envelope."""

    def send_400_response(self, msg: str) -> None:
        url = getattr(self, "url", b"") or b""
        if len(url) > _LONG_TARGET:
            status, code = STATUS_LINE[414], "uri_too_long"
            message = (
                f"the request target is longer than the server accepts ({len(url):,}+ bytes); "
                "send long input in a JSON body"
            )
        else:
            status, code = STATUS_LINE[400], "bad_request"
            message = "the request is not valid HTTP (a malformed request line or headers, or headers too long)"
        body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode("utf-8")
        content = [status]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or ConfigError saying why not (address in use, no such address), so the
    server says "serving" only once it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot serve on {host}:{port}: unknown host ({exc.strerror})") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # listening now claims the port: a second bind fails here, even with SO_REUSEADDR
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock

"""A few routes over HTTP with the standard library: AnoMed's apps, without a web framework.

AnoMed's apps are falcon 4 apps; ours speak the same routes and bytes with
:mod:`http.server` (a ``ThreadingHTTPServer`` in a daemon thread) and :mod:`urllib`, so the
arena adds no web framework to the project's pins. Errors answer like falcon: a status line
and JSON ``{"title": …, "description": …}``.

::

    app = App({("GET", "/"): lambda req: json_response({"message": "alive"})})
    with serve(app) as server:          # 127.0.0.1, a free port
        get_json(server.url + "/")
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from ..._validate import check_int, check_real
from ...errors import InvalidParameterError, MedprivError, ProtocolError
from .wire import CONTENT_TYPE, _check_expected, arrays_to_bytes, bytes_to_arrays

#: Largest request body accepted (bytes): 5,000 uint8 X-rays of 64 px compressed are ~15 MB.
MAX_BODY = 256 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    """What a route sees: ``query`` (first value of each parameter) and the raw ``body``."""

    method: str
    path: str
    query: dict
    body: bytes

    def param(self, name: str, *, choices: tuple[str, ...] | None = None) -> str:
        """A required query parameter (HTTPError 400 when missing or not one of ``choices``)."""
        if name not in self.query:
            raise HTTPError(400, f"Query parameter '{name}' is missing!")
        value = self.query[name]
        if choices is not None and value not in choices:
            raise HTTPError(400, f"Invalid value for parameter '{name}': {value}. It needs to "
                                 f"be {' or '.join(repr(c) for c in choices)}.")
        return value

    def arrays(self, *, expected: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        try:
            return bytes_to_arrays(self.body, expected=expected)
        except ProtocolError as exc:
            raise HTTPError(400, str(exc)) from None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str


class HTTPError(Exception):
    """Raised by a route: answered as ``status`` with a JSON description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = int(status), description


def json_response(obj, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode(), "application/json")


def arrays_response(arrays: dict, status: int = 200) -> Response:
    return Response(status, arrays_to_bytes(arrays), CONTENT_TYPE)


Route = Callable[[Request], Response]


class App:
    """Routes by (method, path). An unknown path is 404, a known path with another method 405;
    a route's :class:`HTTPError` is its status, our own errors are 400, anything else 500."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        if not isinstance(routes, Mapping):
            raise InvalidParameterError(f"`routes` must be a dict of (method, path) → function, "
                                        f"e.g. {{('GET', '/'): alive}}; got "
                                        f"{type(routes).__name__}.")
        for key, route in routes.items():
            if (not isinstance(key, tuple) or len(key) != 2 or key[0] not in ("GET", "POST")
                    or not isinstance(key[1], str) or not key[1].startswith("/")):
                raise InvalidParameterError(f"Each route's key must be (method, path) with method "
                                            f"'GET' or 'POST' and a path starting with '/'; got "
                                            f"{key!r}.")
            if not callable(route):
                raise InvalidParameterError(f"The route {key!r} must be a function of a Request "
                                            f"that returns a Response; got "
                                            f"{type(route).__name__}.")
        self.routes = dict(routes)

    def __call__(self, req: Request) -> Response:
        route = self.routes.get((req.method, req.path))
        if route is None:
            allowed = [m for m, p in self.routes if p == req.path]
            status = 405 if allowed else 404
            return _error(status, f"{req.method} {req.path} is not served here.")
        try:
            return route(req)
        except HTTPError as exc:
            return _error(exc.status, exc.description)
        except MedprivError as exc:
            return _error(400, str(exc))
        except Exception as exc:  # noqa: BLE001 - answered, the server keeps serving
            return _error(500, f"{type(exc).__name__}: {exc}")


def _error(status: int, description: str) -> Response:
    phrase = HTTPStatus(status).phrase
    return json_response({"title": f"{status} {phrase}", "description": description}, status)


class _Handler(BaseHTTPRequestHandler):
    app: App  # set per server
    protocol_version = "HTTP/1.1"

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            resp = _error(413, f"The body ({length} bytes) is larger than {MAX_BODY}.")
        else:
            body = self.rfile.read(length) if length else b""
            query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            resp = self.server.app(Request(method, url.path or "/", query, body))
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        self.wfile.write(resp.body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, *args) -> None:  # quiet: tests and notebooks read their own output
        pass


class Server:
    """A running app: ``url`` (http://host:port), ``close()`` (also on leaving ``with``)."""

    def __init__(self, app: App, host: str, port: int) -> None:
        if not isinstance(app, App):
            raise InvalidParameterError(f"`app` must be an App; got {type(app).__name__}.")
        if not isinstance(host, str) or not host.strip():
            raise InvalidParameterError(f"`host` must be a host name or address such as "
                                        f"'127.0.0.1'; got {host!r}.")
        port = check_int("port", port, low=0, high=65535, hint="0 picks a free port.")
        try:
            self._httpd = ThreadingHTTPServer((host, port), _Handler)
        except (OSError, OverflowError, UnicodeError) as exc:
            raise ProtocolError(f"Cannot serve on {host[:100]}:{port} "
                                f"({getattr(exc, 'strerror', None) or exc}). Choose another "
                                f"host, or port 0 for a free one.") from None
        self._httpd.daemon_threads = True
        self._httpd.app = app
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serve(app: App, *, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve ``app`` on ``host``:``port`` (0: a free port) in a background thread."""
    return Server(app, host, port)


# ---------------------------------------------------------------------------- client

def _url(url: str, params: dict | None) -> str:
    """``url`` with ``params`` as its query, after checking both."""
    if not isinstance(url, str):
        raise InvalidParameterError(f"`url` must be an address such as 'http://127.0.0.1:8000/' "
                                    f"(a string); got {type(url).__name__}.")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises for a port outside 0–65535
    except ValueError:  # e.g. an unclosed IPv6 bracket, port 99999
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError(f"`url` must be an http:// or https:// address with a host, "
                                    f"such as 'http://127.0.0.1:8000/'; got {url[:200]!r}.")
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParameterError(f"`params` must be a dict of query parameters, e.g. "
                                    f"{{'data_split': 'tuning'}}, or None; got "
                                    f"{type(params).__name__}.")
    return url if not params else f"{url}?{urllib.parse.urlencode(params)}"


def _timeout(timeout) -> float:
    # socket timeouts overflow past ~9e9 s; a day is longer than any part of the protocol needs
    return check_real("timeout", timeout, low=0.0, high=86400.0, low_inclusive=False,
                      hint="Give seconds, e.g. 60.")


def _json(body: bytes, url: str):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{url} answered {len(body)} bytes that are not JSON; check that "
                            f"the address is the AnoMed route you meant.") from None


def _open(req: urllib.request.Request, timeout: float) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            why = json.loads(body).get("description") or body.decode()[:300]
        except (ValueError, AttributeError):
            why = body[:300].decode("utf-8", "replace")
        raise ProtocolError(f"{req.get_method()} {req.full_url} answered {exc.code}: "
                            f"{why}") from None
    except (http.client.InvalidURL, UnicodeError) as exc:  # UnicodeError: a host name too long
        raise InvalidParameterError(f"`url` must be a valid address; {exc}.") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise ProtocolError(f"{req.get_method()} {req.full_url} could not be reached "
                            f"({getattr(exc, 'reason', exc)}). Check that the server is "
                            f"running.") from None
    except http.client.HTTPException as exc:  # a peer that does not speak HTTP
        raise ProtocolError(f"{req.get_method()} {req.full_url} did not answer in HTTP "
                            f"({type(exc).__name__}: {exc}); check the address and port.") from None


def get_arrays(url: str, *, params: dict | None = None, expected: tuple[str, ...] = (),
               timeout: float = 60.0) -> dict[str, np.ndarray]:
    """GET named arrays (ProtocolError on any failure)."""
    full, expected = _url(url, params), _check_expected(expected)
    _, body, _ = _open(urllib.request.Request(full, method="GET"), _timeout(timeout))
    return _arrays(body, full, expected)


def _arrays(body: bytes, url: str, expected) -> dict[str, np.ndarray]:
    try:
        return bytes_to_arrays(body, expected=expected)
    except ProtocolError as exc:
        raise ProtocolError(f"{url} answered: {exc}") from None


def get_json(url: str, *, params: dict | None = None, timeout: float = 60.0):
    """GET a JSON answer (ProtocolError on any failure)."""
    full = _url(url, params)
    _, body, _ = _open(urllib.request.Request(full, method="GET"), _timeout(timeout))
    return _json(body, full)


def post(url: str, *, arrays: dict | None = None, params: dict | None = None,
         timeout: float = 600.0) -> tuple[int, bytes, str]:
    """POST named arrays (or nothing); (status, body, content type); ProtocolError on ≥ 400."""
    full, seconds = _url(url, params), _timeout(timeout)
    data = arrays_to_bytes(arrays) if arrays is not None else b""
    req = urllib.request.Request(full, data=data, method="POST",
                                 headers={"Content-Type": CONTENT_TYPE})
    return _open(req, seconds)


def post_json(url: str, **kwargs):
    """POST and read a JSON answer."""
    _, body, _ = post(url, **kwargs)
    return _json(body, url)


def post_arrays(url: str, *, expected: tuple[str, ...] = (), **kwargs) -> dict[str, np.ndarray]:
    """POST and read named arrays."""
    expected = _check_expected(expected)
    _, body, _ = post(url, **kwargs)
    return _arrays(body, url, expected)


__all__ = ["App", "HTTPError", "Request", "Response", "Server", "arrays_response", "get_arrays",
           "get_json", "json_response", "post", "post_arrays", "post_json", "serve"]

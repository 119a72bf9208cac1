"""Security headers on every response, and compression: one middleware pair added to the app.

- The page and the API get a strict Content-Security-Policy: scripts, styles and connections from
  this origin only, no inline script, no framing (`frame-ancestors 'none'`).
- The API docs (`/docs`, `/redoc`) are HTML pages that start Swagger UI / ReDoc with one inline
  script: their policy allows this origin's assets plus exactly those inline scripts, by sha256
  hash computed from the page being sent (nothing else inline runs there either).
- Every response carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and a
  Referrer-Policy; `/v1/` answers (assessments, history, what-if, metadata behind a key) carry
  `Cache-Control: no-store` so no browser or proxy cache keeps a firm's data.
- GZip for bodies of 1 KiB or more (the page's assets, JSON results, scored CSV files).
"""
from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
# Swagger UI / ReDoc: same-origin assets; their inline start-up script is allowed by its hash.
DOCS_CSP = ("default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 6  # starlette's default 9 costs ~2x the CPU for a few % smaller JSON
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_BASE_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"no-referrer")]


def inline_script_hashes(html: bytes) -> str:
    """CSP source list of the sha256 hashes of `html`'s inline scripts."""
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(m).digest()).decode()}'"
                    for m in _INLINE_SCRIPT.findall(html))


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response (errors, 413s and static files included)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(DOCS_PATHS):
            await self._docs(scope, receive, send)
            return
        extra = [(b"content-security-policy", PAGE_CSP.encode())]
        if path.startswith("/v1/"):
            extra.append((b"cache-control", b"no-store"))

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                msg["headers"] = _merge(msg.get("headers", []), extra)
            await send(msg)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the (small) docs HTML page to hash its inline scripts into the policy; the docs'
        other files (scripts, styles served under /docs) pass straight through."""
        start: Message | None = None
        html = False
        body = bytearray()

        async def buffer(msg: Message) -> None:
            nonlocal start, html
            if msg["type"] == "http.response.start":
                start = msg
                headers = dict(msg.get("headers", []))
                html = headers.get(b"content-type", b"").startswith(b"text/html")
                if not html:
                    csp = DOCS_CSP.format(hashes="").replace("'self' ;", "'self';")
                    msg["headers"] = _merge(msg.get("headers", []), [(b"content-security-policy", csp.encode())])
                    await send(msg)
                return
            if not html:
                await send(msg)
                return
            body.extend(msg.get("body", b""))
            if msg.get("more_body"):
                return
            assert start is not None
            csp = DOCS_CSP.format(hashes=inline_script_hashes(bytes(body)))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            start["headers"] = _merge(headers, [(b"content-security-policy", csp.encode())])
            await send(start)
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, buffer)


def _merge(headers: list[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with `extra` and the base headers set (replacing any earlier value of the same name)."""
    new = extra + _BASE_HEADERS
    names = {k for k, _ in new}
    return [(k, v) for k, v in headers if k.lower() not in names] + new


class GzipIfAccepted:
    """Starlette's GZipMiddleware, entered only by requests that accept gzip: the others (API clients,
    load balancers' probes) go straight to the app instead of through its identity responder."""

    def __init__(self, app: ASGIApp, minimum_size: int, compresslevel: int):
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(k == b"accept-encoding" and b"gzip" in v for k, v in scope["headers"]):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install_security(app: FastAPI) -> None:
    """Security headers around every other middleware (413s included), compression outermost (so the
    docs' inline scripts are hashed before compression)."""
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(GzipIfAccepted, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)

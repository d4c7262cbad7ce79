"""The request pipeline: route, apply faults, authenticate, parse the body, run the method,
render the envelope, log. Control endpoints (/_sandbox/) and OAuth endpoints hang off it."""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from syncd.sandbox import creds, multipart
from syncd.sandbox.auth import AuthError, NonceCache, Principal, authenticate, level_at_least
from syncd.sandbox.call import FILE_SINKS, METHODS, Call
from syncd.sandbox.envelope import (
    ApiError,
    Payload,
    Response,
    check_format_params,
    render,
    safe_format_params,
)
from syncd.sandbox.faults import FaultEffect, FaultInjector, RequestRecord
from syncd.sandbox.profile import Profile
from syncd.sandbox.server import BodyError, BodyReader, Handler
from syncd.sandbox.state import State

# Form-urlencoded bodies larger than this are refused (parameters are small).
MAX_FORM_BYTES = 1 << 20
# Largest single parameter value (query or form) accepted.
MAX_PARAM_BYTES = multipart.MAX_FIELD_BYTES
# Parameters that shape the answer rather than feed the method.
FORMAT_KEYS = ("format", "raw", "varname", "callback")
# Requests kept in the in-memory log (oldest dropped first).
MAX_LOGGED_REQUESTS = 100_000


class CutConnection(Exception):
    """A fault asked to drop the connection without an answer."""


def parse_pairs(raw: bytes | str, where: str) -> list[tuple[str, str]]:
    """Strict UTF-8 urlencoded pairs; ApiError(invalid_input) naming the problem."""
    text = raw if isinstance(raw, str) else raw.decode("latin-1")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ApiError("invalid_input", f"{where} parameters are not valid UTF-8") from None
    for name, value in pairs:
        if len(value.encode()) > MAX_PARAM_BYTES:
            raise ApiError("invalid_input", f"parameter {name!r} is longer than {MAX_PARAM_BYTES}")
    return pairs


class SandboxApp:
    """Everything behind the socket; the Sandbox object owns one."""

    def __init__(
        self,
        state: State,
        faults: FaultInjector,
        domain: Callable[[], str],
        clock: Callable[[], float],
        transcode_seconds: float,
        control: bool,
        profile: Profile,
    ) -> None:
        self.state = state
        self.faults = faults
        self.domain = domain
        self.clock = clock
        self.transcode_seconds = transcode_seconds
        self.control = control
        # Replaced whole (never mutated), so each request reads one consistent set.
        self.profile = profile
        self.nonces = NonceCache()
        self.requests: list[RequestRecord] = []
        self.requests_lock = threading.Lock()
        # Extra routes (OAuth endpoints, control endpoints) by path prefix.
        self.routes: dict[str, Callable[[SandboxApp, Handler, Any, BodyReader], Response]] = {}

    # -- logging -------------------------------------------------------------------------
    def log(self, record: RequestRecord) -> None:
        with self.requests_lock:
            self.requests.append(record)
            if len(self.requests) > MAX_LOGGED_REQUESTS:
                del self.requests[: len(self.requests) - MAX_LOGGED_REQUESTS]

    # -- entry point -----------------------------------------------------------------------
    def handle(self, h: Handler) -> None:
        url = urlsplit(h.path)
        path = url.path
        if path.startswith("/api/"):
            name = path[len("/api/") :].strip("/")
        elif path.startswith("/oauth/"):
            name = path.strip("/")
        else:
            name = path
        control = path.startswith("/_sandbox")
        record = RequestRecord(name, h.command, 0, 0, h.path, None, time.time())
        if not control:
            # Logged as it arrives and filled in as it goes: a test that sees what a request
            # stored (an item) must also see the request, not find it missing for a moment.
            self.log(record)
        try:
            body = BodyReader.for_request(h.rfile, h.headers)
        except BodyError as exc:
            record.status = 400
            h.close_connection = True
            h.send_answer(400, f"{exc}\n".encode(), "text/plain; charset=utf-8", [])
            return
        effect = None if control else self.faults.decide(name)
        if effect is not None:
            record.fault = effect.describe()
        try:
            response = self._respond(h, name, url, body, effect, record)
            if effect is not None and effect.cut_after_store:
                raise CutConnection
            if effect is not None and effect.delay:
                time.sleep(effect.delay)
        except CutConnection:
            record.bytes_received = body.received
            h.reset_connection()
            return
        except (BodyError, OSError) as exc:  # client went away or broke the framing
            record.bytes_received = body.received
            record.fault = record.fault or f"client: {exc}"
            h.close_connection = True
            return
        if not body.done and not body.drain():
            h.close_connection = True
        record.status = response.status
        record.bytes_received = body.received
        try:
            h.send_answer(response.status, response.body, response.content_type, response.headers)
        except OSError:
            h.close_connection = True

    def _respond(
        self,
        h: Handler,
        name: str,
        url: Any,
        body: BodyReader,
        effect: FaultEffect | None,
        record: RequestRecord,
    ) -> Response:
        if effect is not None and effect.cut_after_bytes is not None:
            body.skip(effect.cut_after_bytes)
            raise CutConnection
        if effect is not None and effect.status is not None:
            headers = []
            if effect.retry_after is not None:
                headers.append(("Retry-After", f"{effect.retry_after:g}"))
            body.drain()
            text = f"sandbox fault: HTTP {effect.status}\n".encode()
            return Response(effect.status, text, headers=headers)
        for prefix, route in self.routes.items():
            if url.path.startswith(prefix):
                return route(self, h, url, body)
        if url.path.startswith("/api/"):
            return self.api(h, name, url, body, effect, record)
        return Response(404, b"not found\n")

    # -- helpers shared with the OAuth endpoints -----------------------------------------------
    def signing_url(self, h: Handler, path: str) -> str:
        addr = h.server.server_address[0]
        listen = addr.decode() if isinstance(addr, bytes) else addr
        host = h.headers.get("Host") or f"{listen}:{h.server.server_port}"
        return f"http://{host}{path}"

    def authenticate(
        self, h: Handler, path: str, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> tuple[Principal, dict[str, str]]:
        def token(consumer: str, tok: str) -> Any:
            return creds.token_info(self.state, consumer, tok)

        return authenticate(
            h.command,
            self.signing_url(h, path),
            h.headers.get("Authorization"),
            query,
            form,
            lambda c: creds.consumer_secret(self.state, c),
            token,
            lambda c: "anonymous",
            self.nonces,
            self.clock(),
        )

    # -- /api/ -----------------------------------------------------------------------------
    def api(
        self,
        h: Handler,
        name: str,
        url: Any,
        body: BodyReader,
        effect: FaultEffect | None,
        record: RequestRecord,
    ) -> Response:
        fmt: dict[str, str] = {}
        level = "anonymous"
        files: dict[str, multipart.UploadedFile] = {}
        endpoint = f"/api/{name}"
        try:
            query = parse_pairs(url.query, "query string")
            fmt = {k: v for k, v in query if k in FORMAT_KEYS}
            ctype = (h.headers.get("Content-Type") or "").lower()
            form: list[tuple[str, str]] = []
            if ctype.startswith("application/x-www-form-urlencoded"):
                try:
                    form = parse_pairs(body.read_all(MAX_FORM_BYTES), "form body")
                except BodyError as exc:
                    raise ApiError("invalid_input", str(exc)) from None
                fmt.update({k: v for k, v in form if k in FORMAT_KEYS})
            # Like the platform's PHP front end, the whole multipart body is parsed before any
            # check, so even refusals answer in the format the body asked for.
            fields: list[tuple[str, str]] = []
            if ctype.startswith("multipart/form-data"):
                fields, files = self._multipart(h, body, self._sink_for(name, effect))
                fmt.update({k: v for k, v in fields if k in FORMAT_KEYS})
            # Logged before any check, so a refused call shows what it asked for too.
            params = {k: v for k, v in (*query, *form, *fields) if not k.startswith("oauth_")}
            record.params = dict(params)
            check_format_params(fmt)
            try:
                principal, _ = self.authenticate(h, url.path, query, form)
            except AuthError as exc:
                raise ApiError("invalid_signature", str(exc)) from None
            level = principal.level
            if h.command == "POST" and url.query:
                raise ApiError(
                    "invalid_input",
                    "a POST must carry no query string: put every parameter in the body",
                )
            spec = METHODS.get(name)
            if spec is None:
                raise ApiError("invalid_input", f"unknown API method {name!r} ({endpoint})")
            if not level_at_least(level, spec.level):
                raise ApiError(
                    "permission_denied",
                    f"{name} requires permission level '{spec.level}'; this request has '{level}'",
                )
            call = Call(
                name,
                h.command,
                params,
                files,
                level,
                principal.user_id,
                self.state,
                self.domain(),
                self.clock,
                self.transcode_seconds,
                effect,
                self.profile,
            )
            result = spec.handler(call)
            if isinstance(result, Response):
                return result
            # echo's page shows a bare <response status="ok">: no permission_level.
            bare = call.profile.documented_shapes and name == "echo"
            return self.envelope(fmt, level, endpoint, payload=result, bare=bare)
        except ApiError as exc:
            fmt = safe_format_params(fmt)
            return self.envelope(fmt, level, endpoint, error=exc)
        except (BodyError, OSError):
            raise
        except Exception:  # a sandbox bug: say so plainly, keep serving
            traceback.print_exc()
            return Response(500, b"internal sandbox error (see the sandbox's stderr)\n")
        finally:
            for f in files.values():
                f.discard()

    def _sink_for(self, name: str, effect: FaultEffect | None) -> multipart.SinkFor | None:
        provider = FILE_SINKS.get(name)
        if provider is None:
            return None

        def sink_for(
            part: str, filename: str, ctype: str, raw: list[tuple[str, bytes]]
        ) -> multipart.FileSink | None:
            # Undecodable fields are refused later; "replace" only keeps this choice total.
            params = {k: v.decode("utf-8", "replace") for k, v in raw}
            return provider(self.state, self.clock(), effect, params, part, filename, ctype)

        return sink_for

    def _multipart(
        self, h: Handler, body: BodyReader, sink_for: multipart.SinkFor | None
    ) -> tuple[list[tuple[str, str]], dict[str, multipart.UploadedFile]]:
        try:
            boundary = multipart.boundary_from(h.headers.get("Content-Type") or "")
            tmp_dir = self.state.tmp_dir
            raw_fields, files = multipart.parse(
                body.readinto, boundary, tmp_dir, sink_for, body.remaining_hint
            )
        except multipart.MultipartError as exc:
            raise ApiError("invalid_input", str(exc)) from None
        fields: list[tuple[str, str]] = []
        try:
            for name, value in raw_fields:
                try:
                    fields.append((name, value.decode("utf-8")))
                except UnicodeDecodeError:
                    raise ApiError(
                        "invalid_input", f"parameter {name!r} is not valid UTF-8"
                    ) from None
        except ApiError:
            for f in files.values():
                f.discard()
            raise
        return fields, files

    def envelope(
        self,
        fmt: dict[str, str],
        level: str,
        endpoint: str,
        payload: Payload | None = None,
        error: ApiError | None = None,
        bare: bool = False,
    ) -> Response:
        from syncd.sandbox.api_misc import site_info

        head = {} if bare else {"permission_level": level, "cached": "0"}
        info = site_info(self.domain(), creds.site_id(self.state))
        site = {k: v for k, v in info.items() if k != "site_key"}
        return render(fmt, head, site, endpoint, payload, error)

    def records(self) -> list[dict[str, Any]]:
        with self.requests_lock:
            return [asdict(r) for r in self.requests]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json; charset=utf-8")

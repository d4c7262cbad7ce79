"""Upload and replace tokens: get, update, redeem (whole file or Resumable.js chunks).

What the pages document for a redeem (photo-redeem-upload-token.md, browser-based-uploads.md):
- a token that is invalid, consumed or expired: "a plain, unstyled error message" (no
  status given);
- with `return_url`: an HTTP 301 redirect to it carrying `upload_token` and `domain`, plus
  `photo_id`, `tree_id`, `token` on success or `error_message` on failure;
- with `background_return_p=1` (and a `return_url`, which the server calls itself): the
  plain text `ok <domain> <tree_id> <photo_id> <token> <callback_url>` or
  `error <error_message>` (no status given; the sandbox uses 200 for both);
- chunks: 200 accepted, 500 file type unsupported (cancel), anything else resend; the last
  chunk's answer is the whole-file answer.

Where the pages are silent, the default profile answers (plain text):
- token unknown / expired / used up: HTTP 403, naming which.
- missing `file`: HTTP 400 "no_file: ...".
- file refused (name ends .exe/.dll/.bat/.com/.msi, or the error_processing_upload fault)
  without `return_url`: HTTP 500 "error_processing_upload: ..."; a refused chunk: 500.
- success without `return_url`: HTTP 200 "ok".
- chunk whose number or size contradicts Resumable.js arithmetic: HTTP 400.
- chunk stored, more missing: HTTP 200 "chunk N stored". A chunk of a finished file: 200.
  Chunks are written straight into their upload's file (see chunkstore.py).
- chunk still being written by another request after a minute, or the sandbox reset while
  it streamed in: HTTP 503 (send it again).
- GET with chunk parameters (chunk test, not on the pages): 200 when stored, 204 when not.

The profile's `redeem_error_status` gives every plain-text error of a whole-file redeem
(the first three above) one status, and `redeem_ok_text` the success body; the strict
profile plays the least helpful reading: HTTP 200 for errors and success alike, an empty
body on success, so only a `return_url` redirect or the background line tells them apart.
Chunk answers keep their statuses in every profile (their flow depends on them).
"""

from __future__ import annotations

import secrets
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from syncd.sandbox.api_photos import replace_file, upload_meta
from syncd.sandbox.call import Call, SinkProvider, api_method, file_sink
from syncd.sandbox.chunkstore import ChunkBusy, SessionGone, chunk_store, parse_spec
from syncd.sandbox.envelope import ApiError, Payload, Response
from syncd.sandbox.faults import FaultEffect
from syncd.sandbox.items import check_albums, create_item, get_item, strip_html, unsupported
from syncd.sandbox.multipart import FileSink, UploadedFile
from syncd.sandbox.state import Record, State

# valid_minutes bounds and default (spec section 6).
VALID_MINUTES = (15, 1440, 180)
# max_uploads bounds and default.
MAX_UPLOADS = (1, 100, 1)
# Seconds the sandbox waits for a background_return_p callback to answer.
CALLBACK_TIMEOUT = 5.0


def _text(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, (text + "\n").encode(), headers=headers or [])


def _check_return_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError("invalid_input", "parameter 'return_url' must be an http(s) URL")
    return url


def _token_view(rec: Record) -> dict[str, Any]:
    view: dict[str, Any] = {
        "valid_minutes": rec["valid_minutes"],
        "valid_until": int(rec["valid_until"]),
        "max_uploads": rec["max_uploads"],
        "return_url": rec["return_url"] or "",
    }
    if rec["kind"] == "upload":
        meta = rec["meta"]
        view = {
            "upload_token": rec["token"],
            "title": meta["title"],
            "description": meta["description"],
            "tags": " ".join(f'"{t}"' if " " in t else t for t in meta["tags"]),
            "publish": meta["publish"],
            "user_id": meta["user_id"] or "",
            "album_id": ",".join(str(a) for a in meta["album_ids"]),
            **view,
        }
    else:
        view = {"replace_token": rec["token"], "photo_id": rec["photo_id"], **view}
    return view


def _new_token(call: Call, kind: str, **fields: Any) -> Record:
    minutes = call.int_param("valid_minutes", VALID_MINUTES[2], VALID_MINUTES[0], VALID_MINUTES[1])
    uploads = call.int_param("max_uploads", MAX_UPLOADS[2], MAX_UPLOADS[0], MAX_UPLOADS[1])
    assert minutes is not None and uploads is not None
    rec: Record = {
        "token": secrets.token_hex(16),
        "kind": kind,
        "valid_minutes": minutes,
        "valid_until": call.now() + minutes * 60,
        "max_uploads": uploads,
        "uses": 0,
        "return_url": _check_return_url(call.get("return_url")),
        "background_return_p": call.flag("background_return_p"),
        **fields,
    }
    call.state.put("tokens", rec["token"], rec)
    return rec


@api_method("photo/get-upload-token", "write")
def get_upload_token(call: Call) -> Payload:
    meta = upload_meta(call, for_token=True)
    extras = meta.pop("custom")
    rec = _new_token(call, "upload", meta=meta, extras=extras, custom=extras)
    return Payload("uploadtoken", _token_view(rec))


@api_method("photo/get-replace-token", "write")
def get_replace_token(call: Call) -> Payload:
    item = get_item(call.state, call.get("photo_id"))
    rec = _new_token(call, "replace", photo_id=item["photo_id"], extras={})
    return Payload("replacetoken", _token_view(rec))


@api_method("photo/update-upload-token", "none")
def update_upload_token(call: Call) -> Payload:
    with call.state.lock:
        rec = call.state.get("tokens", call.require("upload_token"))
        if rec is None or rec["kind"] != "upload":
            raise ApiError("invalid_input", "no such upload token")
        meta = dict(rec["meta"])
        if (title := call.get("title")) is not None:
            meta["title"] = strip_html(title)
        if (description := call.get("description")) is not None:
            meta["description"] = description
        if (tags := call.tags()) is not None:
            meta["tags"] = tags
        if (album_ids := call.ids("album_id")) is not None:
            check_albums(call.state, album_ids)
            meta["album_ids"] = album_ids
        if call.get("publish") not in (None, ""):
            meta["publish"] = call.flag("publish")
        if ident := call.get("resumableIdentifier"):
            rec.setdefault("per_file", {})[ident] = meta  # only that chunked file
        else:
            rec["meta"] = meta
        call.state.put("tokens", rec["token"], rec)
    if call.profile.documented_shapes:
        return Payload("photo", {})  # the page's example answer, key and all
    return Payload("uploadtoken", _token_view(rec))


def _refusal(call: Call, status: int, text: str, *, whole: bool = True) -> Response:
    """A plain-text error answer: `status`, unless this is a whole-file redeem and the
    profile gives every such answer one status (the page names none)."""
    fixed = call.profile.redeem_error_status if whole else None
    return _text(status if fixed is None else fixed, text)


def _token_and_file(
    call: Call, rec: Record | None, kind: str, what: str, *, whole: bool
) -> UploadedFile | Response:
    """The redeem's file part, or the answer refusing it: 403 for a token that is no
    good (plain text, like the platform), 400 for a request without a file."""
    problem = _token_problem(call.now(), rec, kind)
    if problem is not None:
        return _refusal(call, 403, problem, whole=whole)
    f = call.files.get("file")
    if f is None:
        return _refusal(call, 400, f"no_file: the {what} carried no 'file' part", whole=whole)
    return f


def _token_problem(now: float, rec: Record | None, kind: str) -> str | None:
    if rec is None or rec["kind"] != kind:
        return f"Invalid {kind} token"
    if now >= rec["valid_until"]:
        return f"The {kind} token has expired"
    if rec["uses"] >= rec["max_uploads"]:
        return f"The {kind} token has already been used (max_uploads={rec['max_uploads']})"
    return None


@api_method("photo/redeem-upload-token", "anonymous")
def redeem_upload_token(call: Call) -> Response:
    return _redeem(call, "upload", "upload_token")


@api_method("photo/redeem-replace-token", "anonymous")
def redeem_replace_token(call: Call) -> Response:
    return _redeem(call, "replace", "replace_token")


def _redeem(call: Call, kind: str, param: str) -> Response:
    token = call.get(param) or ""
    state = call.state
    if call.effect is not None and call.effect.expire_token and state.get("tokens", token):
        with state.lock:
            rec = state.get("tokens", token)
            if rec is not None:
                rec["valid_until"] = call.now() - 1
                state.put("tokens", token, rec)
    rec = state.get("tokens", token) if token else None
    if "resumableChunkNumber" in call.params:
        return _chunk(call, kind, token, rec)
    if call.http_method != "POST":
        return _text(400, f"{kind} redeem needs a multipart POST (or chunk test parameters)")
    f = _token_and_file(call, rec, kind, "request", whole=True)
    if isinstance(f, Response):
        return f
    assert rec is not None
    if _refused(call, f.filename):
        return _answer(call, rec, None, f"file type of {f.filename!r} is not supported")
    if f.size == 0:
        return _answer(call, rec, None, "the uploaded file is empty")
    with state.lock:
        rec = state.get("tokens", token)
        problem = _token_problem(call.now(), rec, kind)
        if problem is not None:
            return _refusal(call, 403, problem)
        assert rec is not None
        item = _finish(call, rec, None, f.path, f.size, f.sha256, f.filename)
    return _answer(call, rec, item, None)


def _refused(call: Call, filename: str) -> bool:
    return unsupported(filename) or bool(call.effect and call.effect.error_processing_upload)


def _finish(
    call: Call, rec: Record, ident: str | None, src: Path, size: int, sha: str, name: str
) -> Record:
    """Create (or replace) the item and count one use of the token. Caller holds state.lock."""
    if rec["kind"] == "replace":
        item = replace_file(call, {"photo_id": rec["photo_id"]}, src, size, sha, name)
    else:
        meta = dict(rec.get("per_file", {}).get(ident or "", rec["meta"]))
        meta["custom"] = rec.get("custom", {})
        item = create_item(
            call.state,
            src=src,
            size=size,
            sha256=sha,
            filename=name,
            meta=meta,
            created_by="redeem-upload-token",
            upload_token=rec["token"],
            user_id=meta.get("user_id") or 1,
            now=call.now(),
            transcode_seconds=call.transcode_seconds,
        )
    rec["uses"] += 1
    call.state.put("tokens", rec["token"], rec)
    return item


def _answer(call: Call, rec: Record, item: Record | None, error: str | None) -> Response:
    """The redeem answer: redirect, background text, or plain 200/500."""
    params: dict[str, Any] = {rec["kind"] + "_token": rec["token"], "domain": call.domain}
    if item is not None:
        params.update(photo_id=item["photo_id"], tree_id=item["tree_id"], token=item["token"])
    else:
        params["error_message"] = error
    params.update(rec.get("extras") or {})
    url = rec["return_url"]
    callback = None
    if url:
        callback = url + ("&" if "?" in url else "?") + urlencode(params)
    if url and rec["background_return_p"]:
        threading.Thread(target=_call_back, args=(callback,), daemon=True).start()
        if item is None:
            return _text(200, f"error {error}")
        return _text(
            200,
            f"ok {call.domain} {item['tree_id']} {item['photo_id']} {item['token']} {callback}",
        )
    if callback:
        return Response(301, b"", headers=[("Location", callback)])
    if item is None:
        return _refusal(call, 500, f"error_processing_upload: {error}")
    ok_text = call.profile.redeem_ok_text
    return _text(200, ok_text) if ok_text else Response(200)


def _call_back(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=CALLBACK_TIMEOUT) as resp:
            resp.read()
    except Exception:  # the callback's failure is its site's problem, not ours
        pass


# -- Resumable.js chunks ---------------------------------------------------------------------
def _chunk_sink(kind: str, param: str) -> SinkProvider:
    """Streams a chunk straight into its upload's file when the fields before the file part
    already make it acceptable; anything doubtful goes to a temporary file and is judged by
    the handler as before."""

    def provider(
        state: State,
        now: float,
        effect: FaultEffect | None,
        params: dict[str, str],
        part: str,
        filename: str,
        ctype: str,
    ) -> FileSink | None:
        if part != "file" or "resumableChunkNumber" not in params:
            return None
        if effect is not None and (effect.error_processing_upload or effect.expire_token):
            return None
        try:
            spec = parse_spec(params)
        except ValueError:
            return None
        token = params.get(param) or ""
        rec = state.get("tokens", token) if token else None
        if _token_problem(now, rec, kind) or unsupported(
            params.get("resumableFilename") or filename
        ):
            return None
        return chunk_store(state).open_in_place(
            f"{token}:{spec.ident}", spec, part, filename, ctype
        )

    return provider


file_sink("photo/redeem-upload-token")(_chunk_sink("upload", "upload_token"))
file_sink("photo/redeem-replace-token")(_chunk_sink("replace", "replace_token"))


def _chunk(call: Call, kind: str, token: str, rec: Record | None) -> Response:
    try:
        spec = parse_spec(call.params)
    except ValueError as exc:
        return _text(400, f"invalid chunk: {exc}")
    number, ident = spec.number, spec.ident
    key = f"{token}:{ident}"
    state = call.state
    session = state.get("sessions", key)
    if session is not None and (
        session["chunk_size"] != spec.chunk_size or session["total_size"] != spec.total_size
    ):
        return _text(
            400,
            "invalid chunk: resumableChunkSize/resumableTotalSize differ from earlier "
            f"chunks of {ident!r} ({session['chunk_size']}/{session['total_size']})",
        )
    if call.http_method in ("GET", "HEAD"):  # chunk test
        done = session is not None and (
            session["completed_photo_id"] is not None or number in session["received"]
        )
        return _text(200, "stored") if done else Response(204)
    if session is not None and session["completed_photo_id"] is not None:
        return _text(200, f"chunk {number} stored (file already complete)")
    f = _token_and_file(call, rec, kind, "chunk", whole=False)
    if isinstance(f, Response):
        return f
    assert rec is not None
    filename = call.params.get("resumableFilename") or f.filename
    if _refused(call, filename):
        return _text(500, f"file type of {filename!r} is not supported")
    if f.size != spec.expected:
        return _text(
            400, f"invalid chunk: chunk {number} must be {spec.expected} bytes, got {f.size}"
        )

    def new_session() -> Record:
        return {
            "token": token,
            "identifier": ident,
            "chunk_size": spec.chunk_size,
            "total_size": spec.total_size,
            "total_chunks": spec.total_chunks,
            "filename": filename,
            "received": [],
            "assembling": False,
            "completed_photo_id": None,
        }

    store = chunk_store(state)
    try:
        session, complete = store.accept(key, spec, f, new_session)
    except (ChunkBusy, SessionGone) as exc:
        return _text(503, f"chunk {number} not stored: {exc}; send it again")
    if not complete:
        return _text(200, f"chunk {number} stored")
    return _complete(call, rec, key, session)


def _complete(call: Call, rec: Record, key: str, session: Record) -> Response:
    """The last missing chunk is in: the file and its hash are ready, hand them to the item."""
    state = call.state
    store = chunk_store(state)
    path, sha = store.digest(key, session["total_size"])
    with state.lock:
        fresh = state.get("tokens", rec["token"])
        problem = _token_problem(call.now(), fresh, rec["kind"])
        if problem is not None:
            session["assembling"] = False
            state.put("sessions", key, session)
            return _text(403, problem)
        assert fresh is not None
        item = _finish(
            call,
            fresh,
            session["identifier"],
            path,
            session["total_size"],
            sha,
            session["filename"],
        )
        session.update(completed_photo_id=item["photo_id"], assembling=False)
        state.put("sessions", key, session)
    store.forget(key)
    return _answer(call, fresh, item, None)

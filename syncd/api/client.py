"""Typed calls to the TwentyThree API.

A Client is used by one thread (each worker makes its own): the session,
`last_server_date` and `last_permission_level` are not shared safely.
Client methods never retry: each call is one request. Retry policy (back-off,
Retry-After, the shared rate gate, the stop flag) lives in one place, syncd/retry.py,
used by uploads, metadata, album lookups and the remote lister alike.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import requests
from requests.structures import CaseInsensitiveDict

from syncd.api import envelope
from syncd.api.body import FileSlice, MultipartBody
from syncd.api.pages import MAX_PAGE_SIZE, Page, iter_pages
from syncd.api.session import make_session, make_signer, make_upload_signer
from syncd.api.transport import check_status, parse_http_date, parse_retry_after, translate
from syncd.config import SiteConfig
from syncd.errors import NotFound, ProtocolError, RateLimited
from syncd.model import RemoteItem, RemoteSection, UploadResult

log = logging.getLogger(__name__)

# Every call asks for plain JSON (the default is XML, `format=json` alone is JavaScript).
FORMAT_FIELDS = (("format", "json"), ("raw", "1"))
# `params` for a request without a query string. requests turns a missing `params` into
# `{}`, and merging and encoding an empty dict costs four runtime typing.Protocol
# isinstance checks per request (requests 2.34: ~20 us, ~1 % of a small upload's CPU);
# an empty string takes the early exits and gives the same URL.
NO_QUERY = ""

Params = Mapping[str, str | int | bool | None]


@dataclass(frozen=True, slots=True)
class RedeemAnswer:
    """The raw answer of an unsigned redeem: no envelope, maybe a redirect."""

    status: int
    text: str
    location: str | None


def _field(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _fields(params: Params | None) -> list[tuple[str, str]]:
    return [(k, _field(v)) for k, v in (params or {}).items() if v is not None]


def parse_tags(value: object) -> tuple[str, ...]:
    """Tags as a list of strings, a list of {"tag": ...}, or a space-separated string."""
    if isinstance(value, list):
        tags = []
        for entry in value:
            tag = entry.get("tag") if isinstance(entry, dict) else entry
            if tag is not None and str(tag):
                tags.append(str(tag))
        return tuple(tags)
    if isinstance(value, str) and value.strip():
        try:
            return tuple(shlex.split(value))
        except ValueError:
            return tuple(value.split())
    return ()


def remote_item(data: Mapping[str, Any]) -> RemoteItem:
    """A RemoteItem from one photo/list entry, values parsed defensively.

    Every field but photo_id may be missing or malformed; it is then None (or "" for
    the text fields). `tags` is read only where a site sends it: the documented answer
    carries just `number_of_tags` (spec section 10).
    """
    photo_id = envelope.parse_str(data.get("photo_id"))
    if not photo_id:
        raise ProtocolError(f"photo/list: item without photo_id: {dict(data)!r:.200}")
    content = data.get("content")
    return RemoteItem(
        photo_id=photo_id,
        title=envelope.parse_str(data.get("title")),
        token=envelope.parse_str(data.get("token")),
        tree_id=envelope.parse_str(data.get("tree_id")),
        published=envelope.parse_flag(data.get("published_p")),
        video_encoded=envelope.parse_flag(data.get("video_encoded_p")),
        video=envelope.parse_flag(data.get("video_p")),
        tags=parse_tags(data["tags"]) if "tags" in data else None,
        original_size=envelope.parse_int(data.get("original_size")),
        description=None if content is None else envelope.parse_str(content),
        number_of_tags=envelope.parse_int(data.get("number_of_tags")),
        number_of_albums=envelope.parse_int(data.get("number_of_albums")),
        video_length=envelope.parse_float(data.get("video_length")),
        created=envelope.parse_time(data.get("creation_date_ansi")),
        original_date=envelope.parse_time(data.get("original_date_ansi")),
        publish_date=envelope.parse_time(data.get("publish_date_ansi")),
    )


def remote_section(data: Any) -> RemoteSection:
    """A RemoteSection from one photo/section/list entry."""
    section_id = envelope.parse_str(data.get("section_id")) if isinstance(data, Mapping) else ""
    if not section_id:
        raise ProtocolError(f"photo/section/list: section without section_id: {data!r:.200}")
    start = envelope.parse_float(data.get("start_time"))
    return RemoteSection(
        section_id=section_id,
        start=start if start is not None else 0.0,
        title=envelope.parse_str(data.get("title")),
        description=envelope.parse_str(data.get("description")),
    )


def upload_result(data: Mapping[str, Any], method: str) -> UploadResult:
    photo_id = envelope.parse_str(data.get("photo_id")) if isinstance(data, Mapping) else ""
    if not photo_id:
        raise ProtocolError(f"{method}: answer carries no photo_id")
    return UploadResult(
        photo_id=photo_id,
        tree_id=envelope.parse_str(data.get("tree_id")),
        token=envelope.parse_str(data.get("token")),
    )


def _page(data: Mapping[str, Any], key: str, method: str, p: int, size: int) -> Page[Any]:
    items = data.get(key) or []
    if isinstance(items, dict):  # a single item may come as an object
        items = [items]
    if not isinstance(items, list):
        raise ProtocolError(f"{method}: {key!r} is not a list")
    total = envelope.parse_int(data.get("total_count"), len(items))
    return Page(
        items=items,
        p=envelope.parse_int(data.get("p"), p) or p,
        size=envelope.parse_int(data.get("size"), size) or size,
        total_count=total if total is not None else len(items),
    )


class Client:
    """One TwentyThree site, signed with the configured credentials. One thread only."""

    def __init__(
        self, site: SiteConfig, *, connect_timeout: float = 10.0, read_timeout: float = 300.0
    ) -> None:
        self.site = site
        self.timeout = (connect_timeout, read_timeout)
        self.session = make_session(site.base_url)
        self._signer = make_signer(site)
        self._upload_signer = make_upload_signer(site, self._signer)
        self.last_server_date: float | None = None  # HTTP Date of the last answer (clock skew)
        self.last_local_date: float | None = None  # our clock when that answer arrived
        self.last_permission_level: str | None = None

    def __repr__(self) -> str:
        return f"Client({self.site.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------

    def url(self, method: str) -> str:
        return f"{self.site.base_url}/api/{method.strip('/')}"

    def _send(
        self,
        http_method: str,
        method: str,
        *,
        signed: bool,
        body: MultipartBody | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One HTTP exchange; transport failures come out as syncd errors."""
        started = time.monotonic()
        if body is not None and kwargs:
            raise TypeError(f"an upload takes no request options: {sorted(kwargs)}")
        kwargs.setdefault("params", NO_QUERY)
        try:
            if body is not None:
                response = self._send_body(http_method, method, body, signed)
            else:
                response = self.session.request(
                    http_method,
                    self.url(method),
                    auth=self._signer if signed else None,
                    timeout=self.timeout,
                    **kwargs,
                )
        except requests.RequestException as exc:
            sent_all = body is None or body.sent >= body.total
            error = translate(exc, self.site.domain, method, sent_all)
            log.debug("%s failed after %.2fs: %s", method, time.monotonic() - started, error)
            raise error from None
        self.last_local_date = time.time()
        server_date = parse_http_date(response.headers.get("Date"))
        if server_date is not None:
            self.last_server_date = server_date
        log.debug(
            "%s %s -> HTTP %d in %.2fs",
            http_method,
            method,
            response.status_code,
            time.monotonic() - started,
        )
        return response

    def _send_body(
        self,
        http_method: str,
        method: str,
        body: MultipartBody,
        signed: bool,
    ) -> requests.Response:
        """An upload, prepared here and handed straight to the session's adapter.

        Session.request would add merging of session and environment settings, cookie jars,
        hooks and redirect handling: none of it applies to an upload (a redirect answer is
        returned as it is, no cookies, proxies resolved once in make_session), and together
        it was about a sixth of a small upload's CPU. Errors are the same requests
        exceptions either way.
        """
        headers = CaseInsensitiveDict(self.session.headers)
        headers["Content-Type"] = body.content_type
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=http_method,
            url=self.url(method),
            headers=headers,
            # requests streams any object with read(); its stubs only know file types.
            data=cast(Any, body),
            params=NO_QUERY,
            auth=self._upload_signer if signed else None,
        )
        assert prepared.url is not None
        response = self.session.get_adapter(prepared.url).send(
            prepared,
            stream=False,
            timeout=self.timeout,
            verify=self.session.verify,
            cert=self.session.cert,
            proxies=self.session.proxies,
        )
        response.content  # noqa: B018 - read the answer now, as Session.send does
        return response

    def _envelope(self, response: requests.Response, method: str) -> dict[str, Any]:
        check_status(response.status_code, response.headers, method)
        try:
            data = envelope.decode(response.text, method)
        except ProtocolError:
            if response.status_code != 200:
                raise ProtocolError(
                    f"{method}: HTTP {response.status_code}: {envelope.snippet(response.text)!r}"
                ) from None
            raise
        level = data.get("permission_level")
        if level is not None:
            self.last_permission_level = envelope.parse_str(level)
        return envelope.check(data, method)

    def _multipart(
        self,
        method: str,
        fields: list[tuple[str, str]],
        part: FileSlice,
        *,
        signed: bool,
    ) -> requests.Response:
        """POST a streamed multipart body: fresh reader and encoder for this attempt."""
        reader = part.open()
        try:
            body = MultipartBody(fields, part, reader)
            return self._send("POST", method, signed=signed, body=body)
        finally:
            reader.close()

    # --- generic calls ----------------------------------------------------

    def call(
        self,
        method: str,
        params: Params | None = None,
        *,
        signed: bool = True,
    ) -> dict[str, Any]:
        """POST form-encoded (all params in the signed body, no query string) -> envelope
        dict. One request: a caller that wants retries runs this under syncd.retry."""
        data = [*FORMAT_FIELDS, *_fields(params)]
        response = self._send("POST", method, signed=signed, data=data)
        return self._envelope(response, method)

    def echo(self, **params: str | int) -> dict[str, Any]:
        return self.call("echo", params)

    def site_get(self) -> dict[str, Any]:
        return envelope.payload(self.call("site/get"), "site", "site/get")

    def user_get(self, user_id: str | None = None) -> dict[str, Any]:
        return envelope.payload(self.call("user/get", {"user_id": user_id}), "user", "user/get")

    # --- items ------------------------------------------------------------

    def photo_upload(self, part: FileSlice, fields: Mapping[str, str]) -> UploadResult:
        """Direct multipart upload, signed with no parameters (multipart fields are unsigned)."""
        method = "photo/upload"
        response = self._multipart(method, [*FORMAT_FIELDS, *_fields(fields)], part, signed=True)
        data = self._envelope(response, method)
        return upload_result(envelope.payload(data, "upload", method), method)

    def photo_replace(self, photo_id: str, part: FileSlice, **fields: str | int) -> UploadResult:
        method = "photo/replace"
        all_fields = [*FORMAT_FIELDS, ("photo_id", photo_id), *_fields(fields)]
        data = self._envelope(self._multipart(method, all_fields, part, signed=True), method)
        return upload_result(envelope.payload(data, "photo", method), method)

    def get_replace_token(self, photo_id: str, **fields: str | int | bool) -> dict[str, Any]:
        method = "photo/get-replace-token"
        data = self.call(method, {"photo_id": photo_id, **fields})
        return envelope.payload(data, "replacetoken", method)

    def redeem_replace_token(self, replace_token: str, part: FileSlice) -> RedeemAnswer:
        """Unsigned whole-file replace under a replace token; answered like a redeem of an
        upload token (never follows the redirect). 429 and 5xx raise; others return."""
        method = "photo/redeem-replace-token"
        fields = [*FORMAT_FIELDS, ("replace_token", replace_token)]
        response = self._multipart(method, fields, part, signed=False)
        check_status(response.status_code, response.headers, method)
        return RedeemAnswer(
            status=response.status_code,
            text=response.text,
            location=response.headers.get("Location"),
        )

    def photo_list(self, **filters: str | int | bool) -> Page[RemoteItem]:
        method = "photo/list"
        data = self.call(method, filters)
        page = _page(data, "photos", method, int(filters.get("p", 1)), int(filters.get("size", 20)))
        return Page(
            items=[remote_item(i) for i in page.items],
            p=page.p,
            size=page.size,
            total_count=page.total_count,
        )

    def iter_photos(self, **filters: str | int | bool) -> Iterator[RemoteItem]:
        """Every matching item, MAX_PAGE_SIZE per request (signed: never served from cache)."""
        filters.pop("p", None)
        filters["size"] = MAX_PAGE_SIZE
        return iter_pages(lambda p: self.photo_list(**filters, p=p))

    def photo_update(self, photo_id: str, **fields: str | int | bool) -> dict[str, Any]:
        data = self.call("photo/update", {"photo_id": photo_id, **fields})
        return data.get("photo", data)

    def photo_token(self, photo_id: str) -> str:
        """The item's secret token (photo/section/list asks for it), from photo/list."""
        for item in self.photo_list(photo_id=photo_id, include_unpublished_p=1).items:
            if item.photo_id == photo_id and item.token:  # a site may ignore the filter
                return item.token
        raise NotFound("no_such_photo", f"photo {photo_id} is not listed", method="photo/list")

    def thumbnail_from_frame(self, photo_id: str, seconds: str) -> UploadResult:
        """photo/replace with `time` and no file: the video's thumbnail becomes the frame at
        `seconds` (photo-replace.md: `file` is optional, `time` picks the frame)."""
        method = "photo/replace"
        data = self.call(method, {"photo_id": photo_id, "time": seconds})
        return upload_result(envelope.payload(data, "photo", method), method)

    def coordinate_add(self, photo_id: str, latitude: str, longitude: str) -> None:
        params = {"photo_id": photo_id, "latitude": latitude, "longitude": longitude}
        self.call("photo/coordinate/add", params)

    def coordinate_delete(self, photo_id: str, latitude: str, longitude: str) -> None:
        params = {"photo_id": photo_id, "latitude": latitude, "longitude": longitude}
        self.call("photo/coordinate/delete", params)

    def section_list(self, photo_id: str, token: str) -> list[RemoteSection]:
        """Every section of a video (the method takes no paging parameters)."""
        method = "photo/section/list"
        data = self.call(method, {"photo_id": photo_id, "token": token})
        sections = data.get("sections") or []
        if isinstance(sections, dict):  # a single section may come as an object
            sections = [sections]
        if not isinstance(sections, list):
            raise ProtocolError(f"{method}: 'sections' is not a list")
        return [remote_section(s) for s in sections]

    def section_call(self, action: str, photo_id: str, params: Mapping[str, str]) -> None:
        """photo/section/create, update or delete; their answers carry nothing to read
        (the pages show `"photo": {}`, and no section_id for a created section)."""
        if action not in ("create", "update", "delete"):
            raise ValueError(f"unknown section action {action!r}")
        self.call(f"photo/section/{action}", {"photo_id": photo_id, **params})

    def photo_delete(self, photo_id: str) -> None:
        self.call("photo/delete", {"photo_id": photo_id})

    def transcoding_progress(self, photo_id: str) -> dict[str, Any]:
        method = "photo/get-transcoding-progress"
        return envelope.payload(self.call(method, {"photo_id": photo_id}), "progress", method)

    # --- upload tokens ----------------------------------------------------

    def get_upload_token(self, **fields: str | int | bool) -> dict[str, Any]:
        method = "photo/get-upload-token"
        return envelope.payload(self.call(method, fields), "uploadtoken", method)

    def update_upload_token(self, upload_token: str, **fields: str | int | bool) -> dict[str, Any]:
        data = self.call("photo/update-upload-token", {"upload_token": upload_token, **fields})
        return data.get("uploadtoken", data)

    def redeem_upload_token(
        self, upload_token: str, part: FileSlice, extra: Mapping[str, str] | None = None
    ) -> RedeemAnswer:
        """Unsigned whole-file redeem. Never follows redirects.

        429 and 5xx raise (RateLimited / ServerError); any other status is returned.
        """
        method = "photo/redeem-upload-token"
        fields = [*FORMAT_FIELDS, ("upload_token", upload_token), *_fields(extra)]
        response = self._multipart(method, fields, part, signed=False)
        check_status(response.status_code, response.headers, method)
        return RedeemAnswer(
            status=response.status_code,
            text=response.text,
            location=response.headers.get("Location"),
        )

    def redeem_chunk(self, upload_token: str, part: FileSlice, resumable: Mapping[str, str]) -> int:
        """One unsigned Resumable.js chunk: 200 accepted, 500 unsupported, other = resend.

        Transport faults raise; so do 429 and 503-with-Retry-After (RateLimited),
        since the server asked us to slow down, not to resend at once.
        """
        return self.redeem_chunk_answer(upload_token, part, resumable).status

    def redeem_chunk_answer(
        self, upload_token: str, part: FileSlice, resumable: Mapping[str, str]
    ) -> RedeemAnswer:
        """`redeem_chunk` with the whole answer: the chunk that completes a file is answered
        like a whole-file redeem (a redirect to the token's `return_url`). Never follows it."""
        method = "photo/redeem-upload-token"
        fields = [*FORMAT_FIELDS, ("upload_token", upload_token), *_fields(resumable)]
        response = self._multipart(method, fields, part, signed=False)
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429 or (status == 503 and retry_after is not None):
            raise RateLimited(f"{method}: chunk answered HTTP {status}", retry_after=retry_after)
        return RedeemAnswer(
            status=status, text=response.text, location=response.headers.get("Location")
        )

    def test_chunk(self, upload_token: str, resumable: Mapping[str, str]) -> bool:
        """Resumable.js GET test: True iff the server says the chunk is stored (200).

        An unsigned GET may be answered from a cache up to 30 minutes old; `time=` (the
        documented cache breaker) makes the site look now.
        """
        method = "photo/redeem-upload-token"
        params = [
            *FORMAT_FIELDS,
            ("upload_token", upload_token),
            *_fields(resumable),
            ("time", str(int(time.time()))),
        ]
        response = self._send("GET", method, signed=False, params=params, allow_redirects=False)
        return response.status_code == 200

    # --- albums and tags --------------------------------------------------

    def album_create(self, title: str, **fields: str | int | bool) -> dict[str, Any]:
        method = "album/create"
        return envelope.payload(self.call(method, {"title": title, **fields}), "album", method)

    def album_list(self, **filters: str | int | bool) -> Page[dict[str, Any]]:
        method = "album/list"
        data = self.call(method, filters)
        return _page(data, "albums", method, int(filters.get("p", 1)), int(filters.get("size", 20)))

    def iter_albums(self, **filters: str | int | bool) -> Iterator[dict[str, Any]]:
        filters.pop("p", None)
        filters["size"] = MAX_PAGE_SIZE
        return iter_pages(lambda p: self.album_list(**filters, p=p))

    def album_update(self, album_id: str, **fields: str | int | bool) -> dict[str, Any]:
        data = self.call("album/update", {"album_id": album_id, **fields})
        return data.get("album", data)

    def tag_list(self, **filters: str | int | bool) -> list[dict[str, Any]]:
        data = self.call("tag/list", filters)
        tags = data.get("tags") or []
        return tags if isinstance(tags, list) else [tags]

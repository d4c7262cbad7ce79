"""Envelope parsing, defensive value parsing, Retry-After: pure functions, table-driven."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

from syncd.api import envelope
from syncd.api.client import parse_tags, remote_item
from syncd.api.transport import check_status, parse_retry_after
from syncd.errors import (
    ApiError,
    CredentialsError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    UploadRejected,
)


@pytest.mark.parametrize(
    ("code", "cls", "stops_run"),
    [
        ("invalid_signature", CredentialsError, True),
        ("permission_denied", CredentialsError, True),
        ("no_such_photo", NotFound, False),
        ("no_such_album", NotFound, False),
        ("no_such_user", NotFound, False),
        ("no_such_tag", NotFound, False),
        ("error_processing_upload", UploadRejected, False),
        ("no_file", UploadRejected, False),
        ("invalid_input", ApiError, False),
        ("couldnt_create_album", ApiError, False),
        ("token_required", ApiError, False),
    ],
)
def test_error_codes_map_to_classes(code: str, cls: type, stops_run: bool) -> None:
    data = {"status": "error", "code": code, "message": "nope", "permission_level": "read"}
    with pytest.raises(ApiError) as info:
        envelope.check(data, "photo/upload")
    assert type(info.value) is cls
    assert info.value.code == code
    assert info.value.retryable is False
    assert info.value.stops_run is stops_run
    assert "photo/upload" in str(info.value) and "nope" in str(info.value)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"code": "no_such_tag"}, "no_such_tag"),
        ({"error_code": "no_such_tag"}, "no_such_tag"),  # the overview's prose spelling
        ({"code": "invalid_signature", "error_code": "no_such_tag"}, "invalid_signature"),
        ({"code": "", "error_code": "no_such_photo"}, "no_such_photo"),
        ({}, "unknown_error"),
    ],
)
def test_error_code_is_read_from_code_then_error_code(fields: dict, code: str) -> None:
    with pytest.raises(ApiError) as info:
        envelope.check({"status": "error", "message": "m", **fields}, "photo/list")
    assert info.value.code == code


def test_ok_envelope_passes_through() -> None:
    data = {"status": "ok", "permission_level": "super", "echo": {"a": "1"}}
    assert envelope.check(data, "echo") is data


@pytest.mark.parametrize(
    "text",
    ["<html>Bad gateway</html>", "<response", "", "[1, 2]", '{"photos": []}', "Internal error"],
)
def test_unparseable_answers_are_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        envelope.check(envelope.decode(text, "photo/list"), "photo/list")
    assert "photo/list" in str(info.value)
    assert info.value.retryable


def test_xml_error_answer_is_understood() -> None:
    text = '<?xml version="1.0"?><response status="error" code="invalid_signature" message="m"/>'
    with pytest.raises(CredentialsError, match="invalid_signature: m"):
        envelope.check(envelope.decode(text, "photo/upload"), "photo/upload")
    ok = envelope.check(envelope.decode("<response status='ok'/>", "x"), "x")
    with pytest.raises(ProtocolError, match="lacks 'upload'"):
        envelope.payload(ok, "upload", "photo/upload")


def test_javascript_wrapper_is_accepted() -> None:
    assert envelope.decode('var visual = {"status": "ok"};', "echo") == {"status": "ok"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, True), (0, False), ("1", True), ("0", False), ("t", True), ("f", False),
     (True, True), ("true", True), ("", False), (None, None), ("maybe", None)],
)  # fmt: skip
def test_parse_flag(value: object, expected: bool | None) -> None:
    assert envelope.parse_flag(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("407", 407), (407, 407), (" 12 ", 12), ("3.0", 3), (2.9, 2), ("x", None), (None, None)],
)
def test_parse_int(value: object, expected: int | None) -> None:
    assert envelope.parse_int(value) == expected


def test_remote_item_parses_strings_and_tags() -> None:
    item = remote_item(
        {
            "photo_id": 60433,
            "title": "T",
            "token": "abc",
            "tree_id": "9",
            "published_p": "f",
            "video_encoded_p": "1",
            "original_size": "1234",
            "tags": ["syncd:abcd", "holiday"],
        }
    )
    assert item.photo_id == "60433" and item.published is False and item.video_encoded is True
    assert item.original_size == 1234 and item.tags == ("syncd:abcd", "holiday")
    assert remote_item({"photo_id": "1"}).video_encoded is None
    with pytest.raises(ProtocolError):
        remote_item({"title": "no id"})


# The JSON example of the platform's photo-list.md, cut to the keys syncd reads (plus two
# it does not): no tags and no albums, only their counts.
DOCUMENTED_ITEM = {
    "photo_id": "60433",
    "title": "",
    "token": "5622160c758c5d18423d31153458b5f7",
    "published_p": 1,
    "one": "/video/60433",
    "creation_date_ansi": "2010-02-16 18:13:32",
    "original_date_ansi": "2010-02-16 17:13:32",
    "view_count": "0",
    "number_of_albums": "0",
    "number_of_tags": "2",
    "video_p": 1,
    "video_encoded_p": 1,
    "video_length": "55.248",
    "original_size": "22124",
    "content": "",
}


def test_remote_item_from_the_documented_list_answer() -> None:
    item = remote_item(DOCUMENTED_ITEM)
    assert item.photo_id == "60433" and item.title == "" and item.published is True
    assert item.tags is None  # the documented answer has none: unknown, not "no tags"
    assert (item.number_of_tags, item.number_of_albums) == (2, 0)
    assert item.video_length == 55.248 and item.original_size == 22124
    assert item.created == dt.datetime(2010, 2, 16, 18, 13, 32)
    assert item.original_date == dt.datetime(2010, 2, 16, 17, 13, 32)
    assert item.publish_date is None and item.description == "" and item.video_encoded is True


@pytest.mark.parametrize(
    "broken",
    [
        {"published_p": "maybe", "video_encoded_p": [], "number_of_tags": "many"},
        {"video_length": "NaN", "original_size": {}, "creation_date_ansi": "yesterday"},
        {"video_length": True, "creation_date_ansi": 1266344012, "content": None},
    ],
)
def test_remote_item_takes_malformed_values_as_unknown(broken: dict[str, object]) -> None:
    item = remote_item({**DOCUMENTED_ITEM, **broken})
    assert item.photo_id == "60433"
    for key, field in [
        ("published_p", "published"),
        ("video_encoded_p", "video_encoded"),
        ("number_of_tags", "number_of_tags"),
        ("video_length", "video_length"),
        ("original_size", "original_size"),
        ("creation_date_ansi", "created"),
        ("content", "description"),
    ]:
        if key in broken:
            assert getattr(item, field) is None, field


@pytest.mark.parametrize(
    ("value", "expected"),
    [("55.248", 55.248), (3, 3.0), (" 0 ", 0.0), ("", None), ("inf", None), (None, None)],
)
def test_parse_float(value: object, expected: float | None) -> None:
    assert envelope.parse_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b"], ("a", "b")),
        ([{"tag": "a"}, {"tag": "b c"}], ("a", "b c")),
        ('a "b c" d', ("a", "b c", "d")),
        ('a "unclosed', ("a", '"unclosed')),
        (None, ()),
        ("", ()),
    ],
)
def test_parse_tags(value: object, expected: tuple[str, ...]) -> None:
    assert parse_tags(value) == expected


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "headers", "cls", "retry_after", "ambiguous"),
    [
        (500, {}, ServerError, None, True),
        (502, {}, ServerError, None, True),
        (504, {}, ServerError, None, True),
        (503, {}, ServerError, None, True),
        (503, {"Retry-After": "5"}, RateLimited, 5.0, False),
        (429, {"Retry-After": "2"}, RateLimited, 2.0, False),
        (429, {}, RateLimited, None, False),
    ],
)
def test_http_status_classification(
    status: int, headers: dict[str, str], cls: type, retry_after: float | None, ambiguous: bool
) -> None:
    with pytest.raises(cls) as info:
        check_status(status, headers, "photo/upload")
    assert info.value.retryable
    assert info.value.retry_after == retry_after
    assert info.value.ambiguous is ambiguous


def test_ok_statuses_do_not_raise() -> None:
    for status in (200, 301, 404):
        check_status(status, {}, "x")

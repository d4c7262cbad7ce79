"""Issue 12, defect 5: a whole-file redeem's answer is read by what the pages document (the
redirect to return_url, or the background line), never by its HTTP status."""

from __future__ import annotations

import pytest

from syncd.model import RemoteItem
from syncd.upload.redeem import read_redeem_answer, return_url

CALLBACK = "http://127.0.0.1:8023/syncd-upload-done"


def test_a_redirect_naming_the_item_is_success_whatever_the_status() -> None:
    location = f"{CALLBACK}?upload_token=t&domain=d&photo_id=42&tree_id=7&token=abc"
    for status in (301, 302, 303):
        outcome = read_redeem_answer(status, location, "")
        assert outcome.item == RemoteItem(photo_id="42", tree_id="7", token="abc")
        assert outcome.error is None


def test_a_redirect_with_error_message_is_the_sites_refusal() -> None:
    location = f"{CALLBACK}?upload_token=t&domain=d&error_message=The+file+type+isn%27t+supported"
    outcome = read_redeem_answer(301, location, "")
    assert outcome.item is None and outcome.error == "The file type isn't supported"


@pytest.mark.parametrize("status", [200, 400, 403, 500])
def test_plain_text_says_nothing_documented(status: int) -> None:
    # "a plain, unstyled error message" has no documented status: 200 may be an error,
    # and an "ok" body is no success either.
    for body in ("Invalid upload token", "ok", "error the token has expired", ""):
        outcome = read_redeem_answer(status, None, body)
        assert not outcome.known, (status, body)
        assert f"HTTP {status}" in outcome.text


def test_the_background_line_is_read_only_when_it_was_asked_for() -> None:
    ok = "ok video.example.com 7 42 abc http://example.com/cb?x=1"
    assert read_redeem_answer(200, None, ok, background=True).item == RemoteItem(
        photo_id="42", tree_id="7", token="abc"
    )
    failed = read_redeem_answer(200, None, "error The file is empty", background=True)
    assert failed.error == "The file is empty"
    assert not read_redeem_answer(200, None, ok).known


def test_a_redirect_without_either_parameter_is_unknown() -> None:
    assert not read_redeem_answer(301, f"{CALLBACK}?upload_token=t&domain=d", "").known


def test_return_url_is_on_the_sites_own_address() -> None:
    assert return_url("https://video.example.com/") == "https://video.example.com/syncd-upload-done"

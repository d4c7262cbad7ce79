"""Issue 12, defect 5: a whole-file redeem is judged by its documented answer (the redirect
to return_url naming photo_id or error_message), never by its HTTP status. The strict
sandbox answers every plain-text error with 200 and a success with an empty 200."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pipeline_helpers import assert_once_each, make_tree

from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import FileRow, ItemState, UploadMode
from syncd.pipeline.report import RunReport
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox
from syncd.sandbox.call import METHODS, Call, MethodSpec

FAST = RetryPolicy(initial_wait=0.01, max_wait=0.05, park_first=0.2, park_max=0.5)
REDEEM = "photo/redeem-upload-token"
TOKEN = "photo/get-upload-token"


def push(config_path: Path, root: Path, **options: object) -> tuple[RunReport, dict[str, FileRow]]:
    config = load_config(config_path)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=FAST).run(
            PushOptions(roots=[root], no_wait=True, **options)  # type: ignore[arg-type]
        )
        rows = {r.path: r for r in journal.rows_in(list(ItemState))}
    return report, rows


@pytest.fixture
def token_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The upload tokens photo/list was asked about (the sandbox's own handler answers)."""
    asked: list[str] = []
    original = METHODS["photo/list"]

    def spy(call: Call) -> Any:
        if "upload_token" in call.params:
            asked.append(call.params["upload_token"])
        return original.handler(call)

    monkeypatch.setitem(METHODS, "photo/list", MethodSpec("photo/list", spy, original.level))
    return asked


def test_an_error_answered_with_http_200_is_not_taken_for_success(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile("strict")
    tree = tmp_path / "tree"
    files = make_tree(tree, 1, size=5000)
    # The token runs out as the redeem arrives: "a plain, unstyled error message", HTTP 200.
    sandbox.faults.add(REDEEM, expire_token=True, count=1)

    report, rows = push(sandbox_config, tree, mode=UploadMode.TOKEN)

    assert report.all_landed, (report.failed, report.waiting)
    assert [r.state for r in rows.values()] == [ItemState.SYNCED]
    # Not taken for success: the site was asked, then a new token carried the file.
    assert sandbox.count_requests(TOKEN) == 2
    assert [r.status for r in sandbox.requests if r.method == REDEEM] == [200, 301]
    assert_once_each(sandbox, files)


def test_a_500_from_a_whole_file_redeem_is_asked_about_and_sent_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, token_lookups: list[str]
) -> None:
    """A 5xx may come from a proxy after the site stored the file: transient, not a refusal."""
    sandbox.set_profile("strict")
    tree = tmp_path / "tree"
    files = make_tree(tree, 1, size=5000)
    sandbox.faults.add(REDEEM, status=500, count=1)

    report, rows = push(sandbox_config, tree, mode=UploadMode.TOKEN)

    assert report.all_landed, (report.failed, report.waiting)
    assert [r.state for r in rows.values()] == [ItemState.SYNCED]
    [token] = [t["token"] for t in sandbox.state.values("tokens")]
    assert token in token_lookups  # asked before sending again
    assert [r.status for r in sandbox.requests if r.method == REDEEM] == [500, 301]
    assert_once_each(sandbox, files)


def test_the_redirect_names_the_item_so_no_lookup_is_needed(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, token_lookups: list[str]
) -> None:
    sandbox.set_profile("strict")
    tree = tmp_path / "tree"
    whole = make_tree(tree / "whole", 1, 5000)
    chunked = make_tree(tree / "chunked", 1, 5000, prefix="chunky")

    report, rows = push(sandbox_config, tree / "whole", mode=UploadMode.TOKEN)
    report2, rows2 = push(
        sandbox_config, tree / "chunked", mode=UploadMode.CHUNKED, chunk_size=2000
    )

    assert report.all_landed and report2.all_landed
    assert token_lookups == []
    redirects = [r for r in sandbox.requests if r.method == REDEEM and r.status == 301]
    assert len(redirects) == 2  # the whole file's answer, and the last chunk's
    items = {str(i["photo_id"]) for i in sandbox.items()}
    assert {r.photo_id for r in [*rows.values(), *rows2.values()]} == items
    assert_once_each(sandbox, [*whole, *chunked])


def test_the_return_url_is_the_sites_own_address(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    make_tree(tree, 1, size=5000)
    config = load_config(sandbox_config)
    push(sandbox_config, tree, mode=UploadMode.TOKEN)
    [token] = [t for t in sandbox.state.values("tokens")]
    url = urlsplit(token["return_url"])
    assert f"{url.scheme}://{url.netloc}" == config.site.base_url
    assert parse_qs(url.query) == {}


def test_a_refusal_in_the_redirect_fails_the_file_without_resending(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile("strict")
    tree = tmp_path / "tree"
    (tree).mkdir()
    (tree / "a.mp4").write_bytes(os.urandom(5000))
    sandbox.faults.add(REDEEM, error_processing_upload=True)

    _, rows = push(sandbox_config, tree, mode=UploadMode.TOKEN)

    [row] = rows.values()
    assert (row.state, row.error_code) == (ItemState.FAILED, "error_processing_upload")
    assert "could not process the file" in (row.error_message or "")
    assert sandbox.count_requests(REDEEM) == 1
    assert sandbox.items() == []

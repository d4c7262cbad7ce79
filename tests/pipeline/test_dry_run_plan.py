"""`push --dry-run` prints the plan the real push then follows (issue 11, defect 3).

For each mode (direct, token, chunked), a file with one album and a file with several:
run `syncd push --dry-run`, then `syncd push`, and compare every printed plan line with
the sandbox's request log: the fields sent with the upload request (photo/upload, or
get-upload-token for the token modes), the follow-up photo/update (a direct upload takes
one album; the rest follow), and the chunk layout. Albums in a plan are shown by title
(`<album TITLE>`), the log's album ids are mapped to titles through the sandbox.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pipeline_helpers import Plan, make_tree, parse_fields, parse_plan, run_syncd, sha256_of

from syncd.model import identity_tag
from syncd.sandbox import RequestRecord, Sandbox

CHUNK = 64 * 1024
# Parameters that shape the answer, the token's lifetime and use count (not in a plan:
# the lifetime follows the rate measured during the run), and the return_url every token
# carries so that the site's answer comes back as a redirect (syncd/upload/redeem.py).
NOT_PLANNED = {"format", "raw", "valid_minutes", "max_uploads", "return_url"}
REDEEM = "photo/redeem-upload-token"


def as_planned(sandbox: Sandbox, params: dict[str, str], drop: set[str]) -> dict[str, str]:
    """A request's parameters as a plan shows them: album ids as `<album TITLE>`, the
    description by length."""
    titles = {str(a["album_id"]): a["title"] for a in sandbox.state.values("albums")}
    shown = {k: v for k, v in params.items() if k not in drop}
    if "album_id" in shown:
        shown["album_id"] = ",".join(f"<album {titles[i]}>" for i in shown["album_id"].split(","))
    if "description" in shown:
        shown["description"] = f"<{len(shown['description'])} chars>"
    return shown


def sent_for(requests: list[RequestRecord], method: str, sha256: str) -> list[RequestRecord]:
    return [
        r
        for r in requests
        if r.method == method and identity_tag(sha256) in r.params.get("tags", "").split()
    ]


def check_followed(sandbox: Sandbox, plan: Plan) -> None:
    """The request log holds exactly what `plan` says for its file."""
    # (A redeem that completes an upload is answered with a redirect to its return_url.)
    log = [r for r in sandbox.requests if r.status < 400]
    sha = sha256_of(Path(plan.path))
    [item] = [i for i in sandbox.items() if i["sha256"] == sha]
    photo_id = str(item["photo_id"])
    updates = [r for r in log if r.method == "photo/update" and r.params["photo_id"] == photo_id]
    if plan.mode == "direct":
        [upload] = sent_for(log, "photo/upload", sha)
        assert as_planned(sandbox, upload.params, NOT_PLANNED) == plan.fields
        assert not sent_for(log, "photo/get-upload-token", sha)
    else:
        [token_request] = sent_for(log, "photo/get-upload-token", sha)
        assert as_planned(sandbox, token_request.params, NOT_PLANNED) == plan.fields
        assert token_request.params["max_uploads"] == "1"
        assert not sent_for(log, "photo/upload", sha)
        token = item["upload_token"]
        redeems = [r for r in log if r.method == REDEEM and r.params["upload_token"] == token]
        if plan.mode == "token":
            [whole] = redeems
            assert not any(k.startswith("resumable") for k in whole.params)
        else:
            numbers = [int(r.params["resumableChunkNumber"]) for r in redeems]
            assert sorted(numbers) == list(range(1, (plan.chunks or 0) + 1))
            assert {r.params["resumableChunkSize"] for r in redeems} == {str(plan.chunk_size)}
            assert {r.params["resumableTotalChunks"] for r in redeems} == {str(plan.chunks)}
            assert {r.params["resumableTotalSize"] for r in redeems} == {str(plan.size)}
    if plan.follow_up is None:
        assert updates == []
    else:
        [update] = updates
        assert as_planned(sandbox, update.params, NOT_PLANNED | {"photo_id"}) == plan.follow_up


@pytest.mark.parametrize("mode", ["direct", "token", "chunked"])
def test_the_real_push_follows_the_printed_plan(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, mode: str
) -> None:
    root = tmp_path / "tree"
    one, several = make_tree(root, 2, size=3 * CHUNK + 1000)
    (root / f"{one.name}.json").write_text(
        json.dumps({"title": "Only one", "album": "Solo", "tags": ["a tag", "b"]})
    )
    (root / f"{several.name}.json").write_text(
        json.dumps(
            {
                "albums": ["Solo", "Duo", "Trio"],
                "description": "<p>three albums</p>",
                "publish": False,
                "custom": {"recorded_by": "Ann"},
            }
        )
    )
    args = ("--no-wait", "--json", "--mode", mode, "--chunk-size", str(CHUNK), root)

    dry = run_syncd(sandbox_config, "push", "--dry-run", *args)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert sandbox.requests == []  # a plan asks nothing of the site
    plans = {p.path: p for p in map(parse_plan, json.loads(dry.stdout)["plan"])}
    assert set(plans) == {str(one), str(several)}
    real = run_syncd(sandbox_config, "push", *args)
    assert real.returncode == 0, real.stdout + real.stderr

    assert {p.mode for p in plans.values()} == {mode}
    assert plans[str(one)].fields["album_id"] == "<album Solo>"
    if mode == "direct":  # one album rides with the upload; the rest follow
        assert plans[str(several)].fields["album_id"] == "<album Solo>"
        assert plans[str(several)].follow_up == {
            "album_id": "<album Solo>,<album Duo>,<album Trio>"
        }
    else:  # the token carries them all
        assert plans[str(several)].fields["album_id"] == "<album Solo>,<album Duo>,<album Trio>"
        assert plans[str(several)].follow_up is None
    if mode == "chunked":
        assert plans[str(one)].chunks == 3 and plans[str(one)].chunk_size == CHUNK
    for plan in plans.values():
        check_followed(sandbox, plan)
    assert len(sandbox.items()) == 2


def test_a_dry_run_of_edited_metadata_prints_the_update_the_push_sends(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    assert run_syncd(sandbox_config, "push", "--no-wait", root).returncode == 0
    (root / f"{clip.name}.json").write_text(json.dumps({"title": "Later", "albums": ["X", "Y"]}))
    before = len(sandbox.requests)

    dry = run_syncd(sandbox_config, "push", "--no-wait", "--dry-run", "--json", root)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert len(sandbox.requests) == before
    [line] = json.loads(dry.stdout)["plan"]
    m = re.match(r"^update (\S+) photo (\d+) (.*)$", line)
    assert m and m[1] == str(clip), line
    assert run_syncd(sandbox_config, "push", "--no-wait", root).returncode == 0

    [update] = [r for r in sandbox.requests[before:] if r.method == "photo/update"]
    assert update.params["photo_id"] == m[2]
    assert as_planned(sandbox, update.params, NOT_PLANNED | {"photo_id"}) == parse_fields(m[3])
    assert parse_fields(m[3])["album_id"] == "<album X>,<album Y>"

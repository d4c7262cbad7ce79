"""Items by upload token, and the filter checks a caller asks for again before it believes
items (issue 12: an empty careless site passes the first check)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ListSpy

from syncd.api import Client, FileSlice
from syncd.config import SiteConfig
from syncd.errors import UntrustedAnswer
from syncd.remote import RemoteFolder
from syncd.sandbox import Sandbox


@pytest.fixture
def client(site: SiteConfig) -> Iterator[Client]:
    with Client(site) as c:
        yield c


def uploaded_under_token(client: Client, tmp_path: Path) -> tuple[str, str]:
    """(upload token, photo_id) of one whole-file redeem."""
    media = tmp_path / "clip.mp4"
    media.write_bytes(hashlib.sha256(b"clip").digest() * 40)
    token = client.get_upload_token(title="clip", return_url="http://127.0.0.1/done")
    answer = client.redeem_upload_token(str(token["upload_token"]), FileSlice(media))
    assert answer.location is not None and "photo_id=" in answer.location
    photo_id = answer.location.split("photo_id=")[1].split("&")[0]
    return str(token["upload_token"]), photo_id


def test_items_by_upload_token(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy, client: Client, tmp_path: Path
) -> None:
    token, photo_id = uploaded_under_token(client, tmp_path)
    for _ in range(3):
        sandbox.add_item()
    with RemoteFolder.for_site(site) as folder:
        assert [i.photo_id for i in folder.find_upload_token(token)] == [photo_id]
        assert folder.find_upload_token("f" * 40) == ()
        folder.check_upload_token_filter()
    assert [p["upload_token"] for p in spy.photo_lists()][:2] == [token, "f" * 40]


def test_a_site_ignoring_the_upload_token_filter_is_not_believed(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    sandbox.add_item()
    spy.ignore_filters = frozenset({"upload_token"})
    with (
        RemoteFolder.for_site(site) as folder,
        pytest.raises(UntrustedAnswer, match="upload_token"),
    ):
        folder.check_upload_token_filter()


def test_the_tag_filter_check_can_be_made_again(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    spy.ignore_filters = frozenset({"tags"})
    with RemoteFolder.for_site(site) as folder:
        folder.check_tag_filter()  # an empty site: a careless one cannot show itself yet
        sandbox.add_item()
        with pytest.raises(UntrustedAnswer, match="ignores the tags filter"):
            folder.check_tag_filter()

"""Asking the site whether a file's content landed, and believing the answer only after
checking it. One `LandedCheck` per run, shared by its workers.

Three questions, each a `photo/list` lookup (through `SiteLookups`, which the pipeline
provides from `syncd.remote.RemoteFolder`):

- before a file's first upload, and before any upload that follows one whose outcome is
  unknown: is an item with its identity marker on the site already? (a second host, a
  lost or emptied journal, a file moved after an unknown outcome, a cut after the store);
- when an upload through a token may have completed: did an item land under the token?
- right after an upload: did another host upload the same content at the same moment?
  Then the oldest copy wins everywhere: a host whose copy is newer deletes its own and
  records the older one.

A lookup's answer is a claim (spec section 10). `no_such_tag` means "not there". Before
the first lookup of a run, and again before any answer that found items is believed, a
marker (or token) invented on the spot is looked up: a site that finds items for it
ignores the filter, and from then on this run believes no lookup of that kind. Items
found are judged by `syncd.plan.identity`; what cannot be believed holds the file
(`Held`), naming the candidates: it is neither sent again nor recorded against an item.

On a site that ignores the filter a file with no earlier attempt is still uploaded (the
lookup was a safety net for a lost journal; it cannot be had there), with one warning per
run saying what is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from syncd.errors import Held, UntrustedAnswer
from syncd.journal import Journal
from syncd.model import FileRow, RemoteItem, identity_tag
from syncd.plan.identity import Expected, judge, judge_copies, names
from syncd.text import printable

log = logging.getLogger(__name__)


class SiteLookups(Protocol):
    """The read-only lookups `LandedCheck` asks (`syncd.remote.RemoteFolder` has them)."""

    def find_identities(self, sha256s: Iterable[str]) -> dict[str, tuple[RemoteItem, ...]]: ...

    def check_tag_filter(self) -> None: ...

    def find_upload_token(self, token: str) -> tuple[RemoteItem, ...]: ...

    def check_upload_token_filter(self) -> None: ...


class _FilterTrust:
    """Whether one kind of lookup filter is honoured, as far as this run has seen."""

    def __init__(self, check: Callable[[], None]) -> None:
        self._check = check
        self._lock = threading.Lock()
        self._checked = False
        self.untrusted: str | None = None  # why not, once seen: kept for the run

    def problem(self, *, again: bool) -> str | None:
        """None when the filter is honoured; checked on first use, and again when asked."""
        with self._lock:
            if self.untrusted is not None:
                return self.untrusted
            if self._checked and not again:
                return None
            try:
                self._check()
            except UntrustedAnswer as exc:
                self.untrusted = str(exc)
                return self.untrusted
            self._checked = True
            return None


class LandedCheck:
    """The run's lookups of landed uploads, checked before they are believed."""

    def __init__(
        self,
        site: SiteLookups,
        journal: Journal,
        *,
        warn_once: Callable[[str, str], None],
    ) -> None:
        self._site = site
        self._journal = journal
        self._warn_once = warn_once
        # What the run learnt of the site's filters holds whatever clients ask it.
        self._markers = _FilterTrust(lambda: self._site.check_tag_filter())
        self._tokens = _FilterTrust(lambda: self._site.check_upload_token_filter())

    def use(self, site: SiteLookups) -> None:
        """Ask through `site` from now on (new credentials after a reload)."""
        self._site = site

    # --- by identity marker ------------------------------------------------------------

    def _candidates(self, row: FileRow, sha256: str) -> tuple[RemoteItem, ...]:
        """Items carrying the marker, less those the journal gives to other paths (with
        `duplicates = "upload"` copies at other paths share a marker)."""
        taken = {
            r.photo_id
            for r in self._journal.find_by_sha(sha256, exclude_path=row.path)
            if r.photo_id
        }
        found = self._site.find_identities([sha256])[sha256]
        return tuple(item for item in found if item.photo_id not in taken)

    def by_marker(
        self, row: FileRow, expected: Expected, *, earlier_attempt: bool
    ) -> RemoteItem | None:
        """The item that holds this row's content, None when the site has none.

        `earlier_attempt`: an attempt of ours may have stored it. Raises Held when the
        answer cannot be believed and the file may be on the site; on a site that ignores
        the filter a file with no earlier attempt is not held (None: upload it)."""
        assert row.sha256, f"{row.path}: looked up without a hash"
        marker = identity_tag(row.sha256)
        problem = self._markers.problem(again=False)
        if problem is None:
            candidates = self._candidates(row, row.sha256)
            if not candidates:
                return None
            problem = self._markers.problem(again=True)  # about to believe items: ask again
        if problem is not None:
            return self._untrusted(row, marker, problem, earlier_attempt)
        verdict = judge(candidates, expected, marker)
        if verdict.held is not None:
            raise Held(f"{printable(row.path)}: {verdict.held}")
        return verdict.item

    def _untrusted(
        self, row: FileRow, marker: str, problem: str, earlier_attempt: bool
    ) -> RemoteItem | None:
        if earlier_attempt:
            raise Held(
                f"{printable(row.path)}: an earlier attempt may have stored it, and the site's "
                f"answer cannot tell: {problem}. Look for an item tagged {marker} on the site"
            )
        self._warn_once(
            "untrusted-markers",
            f"{problem}. Files are uploaded without asking whether another host or a lost "
            "journal already uploaded them, and files whose earlier attempt may have "
            "landed are held",
        )
        return None

    def older_copy(self, row: FileRow, own: RemoteItem, expected: Expected) -> RemoteItem | None:
        """After `own` was uploaded: the one older copy of the same content, if another host
        uploaded it at the same moment (or just before). The caller records that one and
        deletes `own`, so every host ends on the same single item."""
        assert row.sha256, f"{row.path}: uploaded without a hash"
        others = [i for i in self._candidates(row, row.sha256) if i.photo_id != own.photo_id]
        if not others:
            return None
        if self._markers.problem(again=True) is not None:
            return None  # nothing can be believed: ours is certainly ours
        verdict = judge_copies(own, others, expected)
        if verdict.duplicates:
            log.warning(
                "%s: uploaded as photo %s; the site holds the same content as %s too",
                printable(row.path),
                own.photo_id,
                names(verdict.duplicates),
            )
        return verdict.adopt

    # --- by upload token -----------------------------------------------------------------

    def by_token(self, row: FileRow, token: str, expected: Expected) -> RemoteItem | None:
        """The item uploaded under `token`, None when none is; Held when the answer cannot
        be believed (the upload may have completed, and nobody can tell)."""
        problem = self._tokens.problem(again=False)
        if problem is None:
            found = self._site.find_upload_token(token)
            if not found:
                return None
            problem = self._tokens.problem(again=True)
            if problem is None:
                verdict = judge(found, expected, "its upload token")
                if verdict.held is not None:
                    raise Held(f"{printable(row.path)}: {verdict.held}")
                return verdict.item
        raise Held(
            f"{printable(row.path)}: the upload under its token may have completed, and the "
            f"site's answer cannot tell: {problem}. Look for the file's item on the site"
        )

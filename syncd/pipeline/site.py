"""Which site a journal describes, checked before a run trusts a word of it.

Every answer a journal gives (this file is synced, that one is a copy of a file already
on the site, this album has that id) is about one site. The first run that uses a journal
records the site in it: the configured domain and the `site_id` that `site/get` answers.
A later run at that same domain with the same consumer key trusts the record and asks
nothing (an unchanged re-push must cost zero requests). A run at any other domain, or with
other credentials (a site re-created at the same address), asks `site/get` and refuses
(SiteMismatch, exit status 2, both sites named) when the journal belongs to another site.
The same site_id at another domain is the same site (a second domain, or a corrected typo
that pointed at the same site): the journal follows the new domain.

When `site/get` cannot be reached (or a dry run, which sends nothing), the domains are
compared instead, and an unbound journal stays unbound until a run can ask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncd.api import Client
from syncd.api.envelope import parse_str, payload
from syncd.config import SiteConfig
from syncd.errors import ApiError, Interrupted, SiteMismatch, SyncdError
from syncd.journal import Journal, SiteBinding
from syncd.text import printable

log = logging.getLogger(__name__)


def _mismatch(journal_path: Path, bound: SiteBinding, site: SiteConfig, asked: str) -> SiteMismatch:
    return SiteMismatch(
        f"journal {printable(str(journal_path))} belongs to {bound.describe()}, but the "
        f"config points at {asked}. A journal describes one site: give this site its own "
        "journal ([journal] path, or leave it out for the per-site default), or point the "
        "config back at the journal's site. Nothing was sent."
    )


def check_site(
    site: SiteConfig,
    journal: Journal,
    site_get: Callable[[], dict[str, Any]] | None,
) -> SiteBinding | None:
    """Bind an unbound journal to `site`, or check it is bound to `site`.

    `site_get` answers `site/get` (None: do not ask, compare domains only). Raises
    SiteMismatch naming both sites. Returns the binding (None: unbound, and the site could
    not be asked)."""
    bound = journal.site()
    if (
        bound is not None
        and bound.site_id
        and bound.domain.lower() == site.domain.lower()
        and bound.consumer_key == site.consumer_key
    ):
        return bound
    info: dict[str, Any] | None = None
    if site_get is not None:
        try:
            info = site_get()
        except Interrupted:
            raise
        except SyncdError as exc:
            # Credentials or an address that cannot work are reported by the run's own
            # requests, where they always were; the journal is checked by domain meanwhile.
            log.warning("site/get failed (%s): the journal's site is checked by domain only", exc)
    site_id = parse_str(info.get("site_id")) or None if info else None
    site_name = parse_str(info.get("site_name")) or None if info else None
    asked = SiteBinding(site.domain, site_id, site_name, 0.0).describe()
    if bound is None:
        if info is None:
            return None
        # Another process may bind it at the same moment: the first binding holds, and is
        # compared below like any other.
        bound = journal.bind_site(site.domain, site_id, site_name, site.consumer_key)
        log.info("journal %s belongs to %s", printable(str(journal.path)), bound.describe())
    if bound.site_id and site_id:
        same = bound.site_id == site_id
    else:
        same = bound.domain.lower() == site.domain.lower()
    if not same:
        raise _mismatch(journal.path, bound, site, asked)
    if not site_id:
        return bound  # not confirmed by the site: nothing new to remember
    if bound.domain != site.domain:
        log.info(
            "%s answers as the journal's site (%s): the journal follows the new domain",
            site.domain,
            bound.describe(),
        )
    if bound.domain != site.domain or bound.consumer_key != site.consumer_key:
        journal.confirm_site(site.domain, site_name, site.consumer_key)
    return journal.site()


def site_getter(
    client_factory: Callable[[], Client], retry: Callable[..., Any]
) -> Callable[[], dict[str, Any]]:
    """`site/get` through the run's retry engine, with a client made for the call.

    Asked unsigned first (the method needs only `anonymous`, and the site's id is no
    secret): credentials are judged where they are used, so a bad secret stops a run the
    way it always did. A site that refuses anonymous callers is asked signed."""

    def get() -> dict[str, Any]:
        with client_factory() as client:

            def ask() -> dict[str, Any]:
                try:
                    data = client.call("site/get", signed=False)
                except ApiError:
                    return client.site_get()
                return payload(data, "site", "site/get")

            answer: dict[str, Any] = retry(ask, what="site/get")
            return answer

    return get

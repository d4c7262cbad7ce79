"""The site a journal describes: recorded when the journal is first used against a site,
compared by every later run (see syncd.pipeline.site)."""

from __future__ import annotations

from dataclasses import dataclass

from syncd.journal.db import JournalDb, _text


@dataclass(frozen=True, slots=True)
class SiteBinding:
    """The site a journal belongs to: its domain, and the site_id `site/get` gave (None
    when the site did not say); `consumer_key` is the OAuth consumer key the site was last
    confirmed with (not a secret: it travels in every request's header)."""

    domain: str
    site_id: str | None
    site_name: str | None
    bound_at: float
    consumer_key: str | None = None

    def describe(self) -> str:
        """`video.example.com (site_id 123, "Example")`."""
        extra = []
        if self.site_id:
            extra.append(f"site_id {self.site_id}")
        if self.site_name:
            extra.append(repr(self.site_name))
        return self.domain + (f" ({', '.join(extra)})" if extra else "")


class Sites(JournalDb):
    """The journal's site binding: one row, written once."""

    def site(self) -> SiteBinding | None:
        found = self._read(
            "SELECT domain, site_id, site_name, bound_at, consumer_key FROM site WHERE id = 1"
        )
        if not found:
            return None
        domain, site_id, site_name, bound_at, consumer_key = found[0]
        return SiteBinding(domain, site_id, site_name, float(bound_at), consumer_key)

    def bind_site(
        self, domain: str, site_id: str | None, site_name: str | None, consumer_key: str
    ) -> SiteBinding:
        """Record the site unless one is recorded already; returns the binding that holds
        (two processes binding at once agree on the first)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO site (id, domain, site_id, site_name, bound_at, consumer_key)"
                " VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                (_text(domain), site_id, _text(site_name), self._clock.time(), consumer_key),
            )
        binding = self.site()
        assert binding is not None
        return binding

    def confirm_site(self, domain: str, site_name: str | None, consumer_key: str) -> None:
        """The journal's site (same site_id) answered at `domain` with `consumer_key`:
        remember both, so the next run there needs not ask again."""
        with self._write() as conn:
            conn.execute(
                "UPDATE site SET domain = ?, site_name = COALESCE(?, site_name), consumer_key = ?"
                " WHERE id = 1",
                (_text(domain), _text(site_name), consumer_key),
            )

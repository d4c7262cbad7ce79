"""The site a journal describes: recorded when the journal is first used against a site,
compared by every later run (see syncd.pipeline.site)."""

from __future__ import annotations

from dataclasses import dataclass

from syncd.journal.db import JournalDb, _text


@dataclass(frozen=True, slots=True)
class SiteBinding:
    """The site a journal belongs to: its domain, and the site_id `site/get` gave (None
    when the site did not say)."""

    domain: str
    site_id: str | None
    site_name: str | None
    bound_at: float

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
        found = self._read("SELECT domain, site_id, site_name, bound_at FROM site WHERE id = 1")
        if not found:
            return None
        domain, site_id, site_name, bound_at = found[0]
        return SiteBinding(domain, site_id, site_name, float(bound_at))

    def bind_site(self, domain: str, site_id: str | None, site_name: str | None) -> SiteBinding:
        """Record the site unless one is recorded already; returns the binding that holds
        (two processes binding at once agree on the first)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO site (id, domain, site_id, site_name, bound_at)"
                " VALUES (1, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                (_text(domain), site_id, _text(site_name), self._clock.time()),
            )
        binding = self.site()
        assert binding is not None
        return binding

    def rename_site(self, domain: str, site_name: str | None) -> None:
        """The same site (same site_id) answers at another domain now: remember that one."""
        with self._write() as conn:
            conn.execute(
                "UPDATE site SET domain = ?, site_name = COALESCE(?, site_name) WHERE id = 1",
                (_text(domain), _text(site_name)),
            )

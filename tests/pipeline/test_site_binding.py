"""Issue 12, defect 6: a journal knows which site it describes. It records the site when
first used (the domain and site/get's site_id); a run against another site refuses with
exit status 2 naming both sites and sends nothing; the default journal is one per site;
`syncd sandbox --write-config` writes a journal path of its own."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_helpers import (
    SandboxProcess,
    assert_once_each,
    free_port,
    journal_path,
    make_tree,
    run_syncd,
    upload_requests,
)

from syncd.config import load_config
from syncd.journal import Journal
from syncd.sandbox import Sandbox


@pytest.fixture
def other_site(tmp_path: Path) -> Iterator[Sandbox]:
    """A second, empty site: another domain (port) and other credentials."""
    sb = Sandbox(data_dir=tmp_path / "other-site-data", control=True, seed=99)
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()


def site_id(sandbox: Sandbox) -> str:
    from syncd.sandbox import creds

    return creds.site_id(sandbox.state)


def test_a_journal_of_one_site_refuses_a_push_to_another(
    sandbox: Sandbox, other_site: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = make_tree(tree, 4)
    first = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert first.returncode == 0, first.stderr
    # The config now points at the other site, the journal path kept.
    moved = other_site.write_config(tmp_path / "other.toml", journal_path=tmp_path / "journal.db")

    result = run_syncd(moved, "push", "--no-wait", tree)

    assert result.returncode == 2, result.stdout + result.stderr
    for site in (sandbox, other_site):
        assert site.domain in result.stderr and f"site_id {site_id(site)}" in result.stderr
    assert "synced" not in result.stdout  # no report of files "already synced"
    assert [r.method for r in other_site.requests] == ["site/get"]  # nothing sent
    before = len(other_site.requests)
    dry = run_syncd(moved, "push", "--no-wait", "--dry-run", tree)
    assert dry.returncode == 2 and sandbox.domain in dry.stderr, dry.stdout + dry.stderr
    for command in (("reconcile", "--no-wait"), ("reconcile", "--dry-run")):
        other = run_syncd(moved, *command, tree)
        assert other.returncode == 2, other.stdout + other.stderr
        assert sandbox.domain in other.stderr and other_site.domain in other.stderr
    assert {r.method for r in other_site.requests[before:]} <= {"site/get"}
    assert_once_each(sandbox, files)
    assert other_site.items() == []


def test_a_site_recreated_at_the_same_address_is_asked_about_and_refused(
    tmp_path: Path,
) -> None:
    """A re-push at the journal's own domain with its own credentials asks nothing; other
    credentials at the same domain (a site re-created there, a test site swapped for
    production behind one name) make the run ask site/get, and refuse another site."""
    tree = tmp_path / "tree"
    make_tree(tree, 2)
    journal = tmp_path / "journal.db"
    first = Sandbox(data_dir=tmp_path / "first-data", control=True, seed=1)
    first.start()
    try:
        config = first.write_config(tmp_path / "first.toml", journal_path=journal)
        assert run_syncd(config, "push", "--no-wait", tree).returncode == 0
        before = len(first.requests)
        again = run_syncd(config, "push", "--no-wait", tree)
        assert again.returncode == 0, again.stdout + again.stderr
        assert first.requests[before:] == []  # trusted at its own domain: nothing asked
        port, first_site = first.port, site_id(first)
    finally:
        first.stop()
    second = Sandbox(data_dir=tmp_path / "second-data", control=True, seed=2, port=port)
    second.start()
    try:
        assert second.domain == first.domain
        moved = second.write_config(tmp_path / "second.toml", journal_path=journal)
        result = run_syncd(moved, "push", "--no-wait", tree)
        assert result.returncode == 2, result.stdout + result.stderr
        for named in (first_site, site_id(second)):
            assert f"site_id {named}" in result.stderr, result.stderr
        assert [r.method for r in second.requests] == ["site/get"]  # and nothing else
        assert second.items() == []
    finally:
        second.stop()


def test_the_same_tree_with_default_journal_paths_lands_on_both_sites_once(
    sandbox: Sandbox, other_site: Sandbox, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {"HOME": str(home)}
    tree = tmp_path / "tree"
    files = make_tree(tree, 4)
    configs = [
        site.write_config(tmp_path / f"site-{i}.toml")
        for i, site in enumerate((sandbox, other_site))
    ]
    for config in (*configs, *configs):  # each twice: the second push sends nothing
        result = run_syncd(config, "push", "--no-wait", tree, env=env)
        assert result.returncode == 0, result.stdout + result.stderr

    assert_once_each(sandbox, files)
    assert_once_each(other_site, files)
    assert upload_requests(sandbox) == upload_requests(other_site) == len(files)
    sites = home / ".local/state/syncd/sites"
    assert len(list(sites.glob("*/journal.db"))) == 2
    for site in (sandbox, other_site):
        with Journal.open(sites / site.domain.replace(":", "_") / "journal.db") as journal:
            bound = journal.site()
        assert bound is not None
        assert (bound.domain, bound.site_id) == (site.domain, site_id(site))


def test_the_same_site_under_another_domain_keeps_its_journal(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """127.0.0.1:PORT and localhost:PORT are one site (one site_id): the journal follows."""
    tree = tmp_path / "tree"
    files = make_tree(tree, 2)
    assert run_syncd(sandbox_config, "push", "--no-wait", tree).returncode == 0
    alias = tmp_path / "alias.toml"
    alias.write_text(
        sandbox_config.read_text().replace(f'"{sandbox.domain}"', f'"localhost:{sandbox.port}"')
    )
    result = run_syncd(alias, "push", "--no-wait", tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_once_each(sandbox, files)
    with Journal.open(load_config(alias).journal_path) as journal:
        bound = journal.site()
    assert bound is not None and bound.domain == f"localhost:{sandbox.port}"


def test_status_names_the_journals_site(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    make_tree(tmp_path / "tree", 1)
    assert run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree").returncode == 0
    status = run_syncd(sandbox_config, "status")
    assert f"site: {sandbox.domain} (site_id {site_id(sandbox)}" in status.stdout, status.stdout


def test_sandbox_write_config_gives_each_site_its_own_journal(tmp_path: Path) -> None:
    journals = []
    for name in ("one", "two"):
        site = SandboxProcess(tmp_path / f"{name}-data", free_port())
        config = tmp_path / f"{name}.toml"
        site.start(config=config)
        try:
            data = tomllib.loads(config.read_text())
            assert Path(data["journal"]["path"]).parent == tmp_path / f"{name}-data"
            journals.append(journal_path(config))
        finally:
            site.stop()
    assert journals[0] != journals[1]

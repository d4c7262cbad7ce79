"""Thin click commands. Each parses options, calls one module, maps the outcome to an exit code.

Exit codes (shared by every command):
  0  everything asked for is done
  1  some files failed (each listed with its reason)
  2  configuration, credentials or usage error
  130 interrupted (Ctrl-C); the journal is consistent, a rerun continues
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console

from syncd import __version__
from syncd.config import (
    MAX_CONCURRENCY,
    MIN_CHUNK_SIZE,
    Config,
    legacy_journal_hint,
    load_config,
    parse_size,
)
from syncd.errors import (
    ConfigError,
    CredentialsError,
    InvalidRequest,
    JournalError,
    SidecarError,
    SiteMismatch,
    SyncdError,
)
from syncd.journal import Journal
from syncd.model import ItemState, UploadMode
from syncd.pipeline.lifecycle import Lifecycle
from syncd.service.logs import LogFormat, hide_secrets, setup_logging
from syncd.status import DEFAULT_LIST_LIMIT, collect_status, journal_status
from syncd.text import printable
from syncd.ui import (
    PlainProgress,
    RichProgress,
    render_journal,
    render_report,
    render_status,
    report_dict,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def _setup_logging(verbose: int, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Human lines on a terminal; no timestamp and journald priority prefixes when stderr is
    the journal stream; one JSON object per line with --log-format json."""
    setup_logging(logging.WARNING - 10 * min(verbose, 2), log_format)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncd")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option(
    "--log-format",
    type=click.Choice([f.value for f in LogFormat]),
    envvar="SYNCD_LOG_FORMAT",
    default=LogFormat.TEXT.value,
    show_default=True,
    help="Log lines as text, or as one JSON object per line for log shippers.",
)
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="SYNCD_CONFIG",
    default=None,
    help="Config file (default: $SYNCD_CONFIG, ./syncd.toml, ~/.config/syncd/syncd.toml).",
)
@click.pass_context
def main(ctx: click.Context, verbose: int, log_format: str, config_path: str | None) -> None:
    """syncd: get every file onto a TwentyThree site exactly once, and keep it there."""
    _setup_logging(verbose, LogFormat(log_format))
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["verbose"] = verbose


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def sandbox(ctx: click.Context) -> None:
    """Run the local TwentyThree-compatible sandbox server (see `syncd sandbox --help`)."""
    from syncd.sandbox.__main__ import main as sandbox_main

    sys.exit(sandbox_main(list(ctx.args)))


# --- shared plumbing for the commands below ---------------------------------------


def _roots(paths: Sequence[Path], config: Config, verb: str) -> list[Path]:
    """The PATHs given, else the [[watch]] folders; a usage error when there are neither.
    abspath, not resolve(): rows are named as the scanner walks the root the user gave
    (symlinks kept), and [[watch]] roots match by the same rule."""
    roots = [Path(os.path.abspath(p)) for p in paths] or [w.path for w in config.watch]
    if not roots:
        raise click.UsageError(f"give PATH... or configure [[watch]] folders to {verb}")
    return roots


def _load_config_or_exit(ctx: click.Context) -> Config:
    try:
        config = load_config(ctx.obj.get("config_path"))
    except ConfigError as exc:
        click.echo(f"syncd: configuration error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_CONFIG)
    hide_secrets(config.site.consumer_secret.reveal(), config.site.access_token_secret.reveal())
    return config


@contextmanager
def _exit_on_journal_errors() -> Iterator[None]:
    """A journal that cannot be used, or one that belongs to another site: say why and
    exit with the configuration status."""
    try:
        yield
    except JournalError as exc:
        click.echo(f"syncd: journal error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_CONFIG)
    except SiteMismatch as exc:
        click.echo(f"syncd: wrong journal: {printable(str(exc))}", err=True)
        sys.exit(EXIT_CONFIG)


def _open_journal_or_exit(config: Config) -> Journal:
    hint = legacy_journal_hint(config)
    if hint is not None:
        logging.getLogger("syncd").warning("%s", hint)
    with _exit_on_journal_errors():
        return Journal.open(config.journal_path, event_retention_days=config.event_retention_days)


def _size_option(value: str | None, name: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    try:
        size = parse_size(value)
    except (ConfigError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None
    if size < minimum:
        unit = "byte" if minimum == 1 else "bytes"
        raise click.BadParameter(f"must be at least {minimum} {unit}, got {size}", param_hint=name)
    return size


def _journal_path_arg(path: Path) -> Path:
    """A PATH argument named the way push names files: absolute and normalised
    (`./a/../a/x.mp4` is `a/x.mp4`), symlinks kept (rows carry the path the scan walked)."""
    return Path(os.path.abspath(path))


def _install_stop_handlers(lifecycle: Lifecycle) -> None:
    """First SIGINT/SIGTERM: stop gently (journal stays consistent). Second: exit at once.
    The handlers only set flags (and say so); the run's loop does the rest."""

    def notice() -> None:
        click.echo("\nstopping: finishing the journal; press Ctrl-C again to quit now", err=True)

    lifecycle.install(on_first=notice)


@main.command()
@click.argument(
    "paths",
    nargs=-1,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--dry-run", is_flag=True, help="Scan and print the upload plan; send nothing.")
@click.option(
    "--concurrency", type=click.IntRange(1, MAX_CONCURRENCY), help="Files uploading at once."
)
@click.option("--no-wait", is_flag=True, help="The tree is closed: skip the stability wait.")
@click.option(
    "--bwlimit",
    metavar="RATE",
    help="Total upload rate cap per second, e.g. 20MiB; 0 = unlimited (overrides the config).",
)
@click.option(
    "--mode",
    type=click.Choice([m.value for m in UploadMode]),
    help="Upload mode for this run (overrides the config).",
)
@click.option("--chunk-size", metavar="SIZE", help="Chunk size for chunked uploads, e.g. 8MiB.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.pass_context
def push(
    ctx: click.Context,
    paths: tuple[Path, ...],
    dry_run: bool,
    concurrency: int | None,
    no_wait: bool,
    bwlimit: str | None,
    mode: str | None,
    chunk_size: str | None,
    as_json: bool,
) -> None:
    """Upload what is new under PATH... (default: the [[watch]] folders) once, then exit.

    Exit status: 0 all synced, 1 some files did not land (each listed with its
    reason), 2 configuration or credentials error, 130 interrupted.
    """
    # Imported here: the upload machinery (requests, the pipeline) is ~60 ms of start-up
    # that `syncd status` and the other commands do not need.
    from syncd.check import explain_stop
    from syncd.push import Push, PushOptions

    config = _load_config_or_exit(ctx)
    roots = _roots(paths, config, "push")
    options = PushOptions(
        roots=roots,
        no_wait=no_wait,
        dry_run=dry_run,
        concurrency=concurrency,
        mode=UploadMode(mode) if mode else None,
        chunk_size=_size_option(chunk_size, "--chunk-size", minimum=MIN_CHUNK_SIZE),
        # --bwlimit wins over [upload] bwlimit; 0 lifts the cap for this run.
        bwlimit=_size_option(bwlimit, "--bwlimit"),
    )
    journal = _open_journal_or_exit(config)
    console = Console(stderr=True)
    live = console.is_terminal and not as_json
    progress = RichProgress(console) if live else PlainProgress()
    lifecycle = Lifecycle()
    run = Push(config, journal, progress=progress, lifecycle=lifecycle)
    _install_stop_handlers(lifecycle)
    with _exit_on_journal_errors(), closing(journal):
        if isinstance(progress, RichProgress):
            with progress:
                report = run.run(options)
        else:
            report = run.run(options)
    if as_json:
        click.echo(json.dumps(report_dict(report), indent=2))
    else:
        # soft_wrap: a piped report keeps each file on one line (grep, logs).
        render_report(Console(soft_wrap=True), report)
    if report.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if report.stopped_by is not None and report.stopped_by.stops_run:
        click.echo(explain_stop(report.stopped_by, config), err=True)
        sys.exit(EXIT_CONFIG)
    sys.exit(EXIT_OK if report.all_landed else EXIT_FAILED)


@main.command()
@click.pass_context
def watch(ctx: click.Context) -> None:
    """Run as a service: watch the [[watch]] folders and upload what appears, for ever.

    New files are uploaded once complete; renamed and moved files follow their items;
    sidecar edits update them. First SIGTERM/Ctrl-C: finish what is in flight (up to
    [daemon] stop_timeout), then exit 0; a second: at once. SIGHUP re-reads the config.
    Under systemd (Type=notify) it reports READY, STATUS and WATCHDOG.
    """
    from syncd.watch import watch_main

    config = _load_config_or_exit(ctx)
    if not config.watch:
        raise click.UsageError("configure [[watch]] folders for syncd watch to watch")
    if ctx.obj.get("verbose", 0) == 0:  # a service says what it does: one line per file
        logging.getLogger().setLevel(logging.INFO)
    journal = _open_journal_or_exit(config)
    with _exit_on_journal_errors(), closing(journal):
        code = watch_main(config, journal)
    sys.exit(code)


@main.command()
@click.argument(
    "paths",
    nargs=-1,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing anywhere.")
@click.option(
    "--adopt",
    is_flag=True,
    help="Rebuild the journal: link each file to the item carrying its identity marker; "
    "upload, delete and update nothing.",
)
@click.option(
    "--dedupe", is_flag=True, help="Delete copies of an item beyond the oldest (max_delete)."
)
@click.option(
    "--max-delete",
    type=click.IntRange(0),
    help="Most items this run may delete; more planned deletes none (overrides the config).",
)
@click.option(
    "--concurrency", type=click.IntRange(1, MAX_CONCURRENCY), help="Files uploading at once."
)
@click.option("--no-wait", is_flag=True, help="The tree is closed: skip the stability wait.")
@click.option("--json", "as_json", is_flag=True, help="Every action and outcome as JSON.")
@click.pass_context
def reconcile(
    ctx: click.Context,
    paths: tuple[Path, ...],
    dry_run: bool,
    adopt: bool,
    dedupe: bool,
    max_delete: int | None,
    concurrency: int | None,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Compare the site with the archive under PATH... (default: the [[watch]] folders)
    and the journal; repair what [reconcile] says to repair, report the rest.

    Exit status: 0 in step (or everything repaired), 1 differences left unrepaired
    (report-only classes, the max_delete cap, files that did not land), 2 errors,
    130 interrupted.
    """
    from syncd.check import explain_stop
    from syncd.reconcile import Reconcile, ReconcileOptions
    from syncd.reconcile.display import PlainPhases, RichPhases, render_reconcile

    config = _load_config_or_exit(ctx)
    roots = _roots(paths, config, "reconcile")
    options = ReconcileOptions(
        roots=roots,
        dry_run=dry_run,
        adopt=adopt,
        dedupe=dedupe,
        max_delete=max_delete,
        concurrency=concurrency,
        no_wait=no_wait,
    )
    journal = _open_journal_or_exit(config)
    console = Console(stderr=True)
    phases = RichPhases(console) if console.is_terminal and not as_json else PlainPhases()
    lifecycle = Lifecycle()
    run = Reconcile(config, journal, phases=phases, lifecycle=lifecycle)
    _install_stop_handlers(lifecycle)
    try:
        with _exit_on_journal_errors():
            report = run.run(options)
    finally:
        if isinstance(phases, RichPhases):
            phases.close()
        journal.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        render_reconcile(Console(soft_wrap=True), report)
    stopped = report.error or (report.pipeline.stopped_by if report.pipeline else None)
    if stopped is not None and stopped.stops_run:
        click.echo(explain_stop(stopped, config), err=True)
    sys.exit(report.exit_status())


@main.command()
@click.argument(
    "paths",
    nargs=-1,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--no-wait", is_flag=True, help="The tree is closed: skip the stability wait.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.pass_context
def scan(ctx: click.Context, paths: tuple[Path, ...], no_wait: bool, as_json: bool) -> None:
    """Index PATH... (default: the [[watch]] folders) into the journal without uploading:
    new and changed files are hashed and queued, so `syncd status` shows the size of the
    job before a push starts it.

    Exit status: 0 done, 1 some files or folders could not be read (each listed),
    2 configuration error, 130 interrupted (a rerun continues).
    """
    from syncd.index import count_media, index_archive
    from syncd.ui import PlainScanProgress, RichScanProgress, render_index

    config = _load_config_or_exit(ctx)
    roots = _roots(paths, config, "scan")
    journal = _open_journal_or_exit(config)
    lifecycle = Lifecycle()
    _install_stop_handlers(lifecycle)
    console = Console(stderr=True)
    with _exit_on_journal_errors(), closing(journal):
        if console.is_terminal and not as_json:
            total = count_media(roots, config, lifecycle.stop.is_set)
            with RichScanProgress(console, total) as bar:
                result = index_archive(
                    config, journal, roots, no_wait=no_wait, lifecycle=lifecycle, progress=bar
                )
        else:
            result = index_archive(
                config,
                journal,
                roots,
                no_wait=no_wait,
                lifecycle=lifecycle,
                progress=PlainScanProgress(),
            )
    data = render_index(Console(soft_wrap=True), result, as_json=as_json)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_FAILED if result.report.problems else EXIT_OK)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=DEFAULT_LIST_LIMIT,
    show_default=True,
    help="Failed and parked files listed, most recent first (0: all).",
)
@click.option("--journal", "about_journal", is_flag=True, help="The journal's size on disk.")
@click.pass_context
def status(
    ctx: click.Context, path: Path | None, as_json: bool, limit: int, about_journal: bool
) -> None:
    """Counts per state and failures; with a file PATH, that file's history; with
    --journal, the journal's size (file, WAL, files, events, bytes per file)."""
    config = _load_config_or_exit(ctx)
    journal = _open_journal_or_exit(config)
    try:
        if about_journal:
            data = journal_status(journal)
        else:
            target = _journal_path_arg(path) if path else None
            data = collect_status(journal, target, limit=limit)
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    elif about_journal:
        render_journal(Console(soft_wrap=True), data)
    else:
        render_status(Console(soft_wrap=True), data)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--all", "all_", is_flag=True, help="Every failed or parked file.")
@click.pass_context
def retry(ctx: click.Context, path: Path | None, all_: bool) -> None:
    """Put failed (and parked) files back in the queue: PATH (a file or folder) or --all."""
    if (path is None) == (not all_):
        raise click.UsageError("give a PATH or --all (not both)")
    config = _load_config_or_exit(ctx)
    journal = _open_journal_or_exit(config)
    try:
        if all_:
            n = journal.reset_failed(None)
        else:
            assert path is not None
            target = str(_journal_path_arg(path))
            rows = journal.rows_in([ItemState.FAILED, ItemState.RETRY], root=target)
            n = journal.reset_failed([r.path for r in rows]) if rows else 0
    finally:
        journal.close()
    click.echo(f"{n} file(s) queued again; run `syncd push` to send them")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The folder PATH is pushed from, where folder defaults start (default: the deepest "
    "[[watch]] folder holding PATH, else PATH's own folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the same as JSON on stdout.")
@click.pass_context
def metadata(ctx: click.Context, path: Path, root: Path | None, as_json: bool) -> None:
    """Show the metadata syncd would send for the media file PATH, and where each value
    comes from (the config, a folder-defaults file, a sidecar and its format).

    Exit status: 0 shown, 1 a sidecar or folder-defaults file is bad (the message says
    which and why), 2 configuration or usage error.
    """
    from syncd.metadata.base import config_base
    from syncd.metadata.desired import is_sidecar, read_metadata_with_sources
    from syncd.metadata.explain import explain_dict, explain_lines

    try:  # nothing is sent: credentials need not be complete
        config = load_config(ctx.obj.get("config_path"), require_tokens=False)
    except ConfigError as exc:
        click.echo(f"syncd: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    path = Path(os.path.abspath(path))
    if is_sidecar(path):
        raise click.UsageError(f"{path} is a metadata file; give the media file it describes")
    if root is None:
        watch = config.watch_root_for(path)
        root = watch.path if watch else path.parent
    root = Path(os.path.abspath(root))
    if root not in path.parents:
        raise click.UsageError(f"{path} is not under --root {root}")
    base, base_sources = config_base(config, path)
    try:
        meta, sources = read_metadata_with_sources(path, root, base, config.metadata, base_sources)
    except SidecarError as exc:
        click.echo(f"syncd: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(explain_dict(path, root, meta, sources), indent=2))
    else:
        for line in explain_lines(path, root, meta, sources):
            click.echo(line)


# --- check and auth -----------------------------------------------------------


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Check config, credentials, permission level and clock against the site.

    Exit status: 0 ready to upload, 1 the site could not be reached or
    answered badly, 2 configuration or credentials error.
    """
    from syncd.check import main as check_main

    sys.exit(
        check_main(
            ctx.obj.get("config_path"),
            echo=click.echo,
            err=lambda text: click.echo(text, err=True),
        )
    )


@main.command()
@click.option("--consumer-key", help="The API consumer key (default: from the config).")
@click.option(
    "--oauth-base-url",
    metavar="URL",
    help="Where to run the OAuth flow (default: site.oauth_base_url, else "
    "https://api.visualplatform.net).",
)
@click.option("--verifier", help="The verification code (for scripts; else you are prompted).")
@click.option(
    "--start",
    "start_only",
    is_flag=True,
    help="Print the authorise URL, save the request token and exit; finish with --verifier.",
)
@click.option(
    "--print", "print_only", is_flag=True, help="Print the access token instead of saving it."
)
@click.pass_context
def auth(
    ctx: click.Context,
    consumer_key: str | None,
    oauth_base_url: str | None,
    verifier: str | None,
    start_only: bool,
    print_only: bool,
) -> None:
    """Get an access token (three-legged OAuth) and write it into the config's [site].

    The consumer secret comes from $SYNCD_CONSUMER_SECRET, the config, or a prompt.
    """
    from syncd.auth import AuthOptions, run_auth

    opts = AuthOptions(
        config_path=ctx.obj.get("config_path"),
        consumer_key=consumer_key,
        oauth_base_url=oauth_base_url,
        verifier=verifier,
        start_only=start_only,
        print_only=print_only,
    )
    try:
        code = run_auth(
            opts,
            echo=click.echo,
            prompt=lambda text, hide: click.prompt(text, hide_input=hide),
        )
    except (ConfigError, CredentialsError, InvalidRequest) as exc:
        click.echo(f"syncd auth: {printable(exc.message)}", err=True)
        code = EXIT_CONFIG
    except SyncdError as exc:
        click.echo(f"syncd auth: {printable(exc.message)}", err=True)
        code = EXIT_FAILED
    sys.exit(code)


# --- the process entry point ------------------------------------------------------


def run() -> None:
    """The `syncd` command: `main`, then leave without the interpreter's teardown.

    When a command has returned, its journal is closed and its workers joined; what normal
    exit still does is free every module and object one by one, ~30 ms of each command's
    wall time (a sixth of a one-file push). Exit handlers run and output is flushed first.
    Python's normal exit is kept for an uncaught exception, an exit code that is not a
    number, a thread still running, stdout that cannot be flushed (Python reports that and
    exits 120) and a profiler, debugger, `python -i` or dev mode watching the process.
    """
    try:
        main()  # standalone click: always ends in SystemExit
    except SystemExit as exc:
        code = exc.code
        if not isinstance(code, int) or _threads_still_running() or _interpreter_watched():
            raise
        atexit._run_exitfuncs()  # logging.shutdown and the like, as a normal exit would
        if not _flushed(sys.stdout):
            raise
        _flushed(sys.stderr)  # a failing stderr does not change the exit status (as in Python)
        os._exit(code)


def _threads_still_running() -> bool:
    """Non-daemon threads other than this one: a normal exit would wait for them."""
    main_thread = threading.main_thread()
    return any(t is not main_thread and not t.daemon for t in threading.enumerate())


def _interpreter_watched() -> bool:
    """Tools that act at normal exit: a profiler's report, a debugger, `-i`'s prompt,
    dev mode's resource warnings."""
    watched = sys.getprofile() is not None or sys.gettrace() is not None
    return watched or bool(sys.flags.inspect or sys.flags.dev_mode)


def _flushed(stream: TextIO | None) -> bool:
    """Flush a standard stream; False if that failed. None (the descriptor was closed when
    the process started, `syncd push >&-`) has nothing to flush."""
    if stream is None:
        return True
    try:
        stream.flush()
    except (OSError, ValueError):
        return False
    return True

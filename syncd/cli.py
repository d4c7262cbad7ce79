"""Thin click commands. Each parses options, calls one module, maps the outcome to an exit code.

Exit codes (shared by every command):
  0  everything asked for is done
  1  some files failed (each listed with its reason)
  2  configuration, credentials or usage error
  130 interrupted (Ctrl-C); the journal is consistent, a rerun continues
"""

from __future__ import annotations

import logging
import sys

import click

from syncd import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncd")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
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
def main(ctx: click.Context, verbose: int, config_path: str | None) -> None:
    """syncd: get every file onto a TwentyThree site exactly once, and keep it there."""
    _setup_logging(verbose)
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

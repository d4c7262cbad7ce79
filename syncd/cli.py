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
    from syncd.errors import ConfigError, CredentialsError, SyncdError

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
    except (ConfigError, CredentialsError) as exc:
        click.echo(f"syncd auth: {exc.message}", err=True)
        code = EXIT_CONFIG
    except SyncdError as exc:
        click.echo(f"syncd auth: {exc.message}", err=True)
        code = EXIT_FAILED
    sys.exit(code)

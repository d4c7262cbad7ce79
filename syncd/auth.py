"""`syncd auth`: three-legged OAuth 1.0a (oauth_callback=oob) -> access token in the config.

request_token (signed with the consumer) -> the user approves at the
authorise URL and pastes the verifier -> access_token (signed with consumer +
request token), which also names the site's `domain`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER
from requests_oauthlib import OAuth1

from syncd.api.envelope import snippet
from syncd.api.session import make_session
from syncd.api.transport import translate
from syncd.config import (
    DEFAULT_OAUTH_BASE_URL,
    USER_CONFIG_PATH,
    Secret,
    find_config_path,
    is_loopback_host,
    load_config,
)
from syncd.errors import ConfigError, CredentialsError

log = logging.getLogger(__name__)

# The token endpoints answer at once; a long wait means something is wrong.
AUTH_TIMEOUT = (10.0, 60.0)
# A new config file is readable by its owner only: it holds secrets.
NEW_FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class RequestToken:
    token: str
    secret: Secret


@dataclass(frozen=True, slots=True)
class AccessGrant:
    domain: str
    access_token: str
    access_token_secret: Secret
    user_id: str = ""


def _get(url: str, auth: OAuth1, step: str) -> dict[str, str]:
    """Signed GET of a token endpoint; the form-encoded answer as a dict."""
    host = urlsplit(url).netloc
    with make_session(url) as session:
        try:
            response = session.get(url, auth=auth, timeout=AUTH_TIMEOUT)
        except requests.RequestException as exc:
            raise translate(exc, host, step, sent_all=True) from None
    if response.status_code != 200:
        raise CredentialsError(
            "oauth_failed",
            f"{url} answered HTTP {response.status_code}: {snippet(response.text)!r}"
            " (check the consumer key/secret and the verifier)",
            method=step,
        )
    values = {k: v[0] for k, v in parse_qs(response.text, keep_blank_values=True).items()}
    if not values.get("oauth_token") or not values.get("oauth_token_secret"):
        raise CredentialsError(
            "oauth_failed", f"{url} answered without oauth_token/oauth_token_secret", method=step
        )
    return values


def fetch_request_token(consumer_key: str, consumer_secret: Secret, base_url: str) -> RequestToken:
    auth = OAuth1(
        consumer_key,
        client_secret=consumer_secret.reveal(),
        callback_uri="oob",
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )
    values = _get(f"{base_url.rstrip('/')}/oauth/request_token", auth, "oauth/request_token")
    return RequestToken(values["oauth_token"], Secret(values["oauth_token_secret"]))


def authorize_url(base_url: str, request_token: RequestToken) -> str:
    return f"{base_url.rstrip('/')}/oauth/authorize?oauth_token={quote(request_token.token)}"


def fetch_access_token(
    consumer_key: str,
    consumer_secret: Secret,
    request_token: RequestToken,
    verifier: str,
    base_url: str,
) -> AccessGrant:
    auth = OAuth1(
        consumer_key,
        client_secret=consumer_secret.reveal(),
        resource_owner_key=request_token.token,
        resource_owner_secret=request_token.secret.reveal(),
        verifier=verifier.strip(),
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )
    values = _get(f"{base_url.rstrip('/')}/oauth/access_token", auth, "oauth/access_token")
    domain = values.get("domain", "")
    if not domain:
        raise CredentialsError("oauth_failed", "access_token answer names no domain")
    return AccessGrant(
        domain=domain,
        access_token=values["oauth_token"],
        access_token_secret=Secret(values["oauth_token_secret"]),
        user_id=values.get("user_id", ""),
    )


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


_HEADER = re.compile(r"^\s*\[")
_SITE_HEADER = re.compile(r"^\s*\[\s*site\s*\]\s*(#.*)?$")


def update_site_section(
    text: str, values: dict[str, str], drop: frozenset[str] = frozenset()
) -> str:
    """Set `values` (already TOML-encoded) in [site], remove `drop` keys, keep everything else."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _SITE_HEADER.match(line)), None)
    if start is None:
        body = ["[site]", *(f"{k} = {v}" for k, v in values.items())]
        return "\n".join([*body, "", *lines]).rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    section = lines[start + 1 : end]
    pending = dict(values)
    kept: list[str] = []
    for line in section:
        match = re.match(r"^\s*([A-Za-z0-9_-]+)\s*=", line)
        key = match.group(1) if match else None
        if key in drop:
            continue
        if key in pending:
            kept.append(f"{key} = {pending.pop(key)}")
            continue
        kept.append(line)
    # New keys go after the last non-blank line of the section.
    insert_at = len(kept)
    while insert_at > 0 and not kept[insert_at - 1].strip():
        insert_at -= 1
    kept[insert_at:insert_at] = [f"{k} = {v}" for k, v in pending.items()]
    return "\n".join([*lines[: start + 1], *kept, *lines[end:]]) + "\n"


def write_credentials(
    path: Path,
    grant: AccessGrant,
    *,
    oauth_base_url: str,
    consumer_key: str | None = None,
    consumer_secret: Secret | None = None,
) -> None:
    """Write domain and access token (and consumer credentials when given) into [site].

    A new file is created 0600; an existing file keeps its mode and other content.
    """
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    values = {
        "domain": toml_string(grant.domain),
        "access_token": toml_string(grant.access_token),
        "access_token_secret": toml_string(grant.access_token_secret.reveal()),
    }
    drop = {"access_token_file", "access_token_secret_file"}
    if urlsplit(oauth_base_url).scheme == "http" and is_loopback_host(grant.domain):
        values["scheme"] = toml_string("http")  # the sandbox: plain HTTP on loopback
    if oauth_base_url.rstrip("/") != DEFAULT_OAUTH_BASE_URL:
        values["oauth_base_url"] = toml_string(oauth_base_url.rstrip("/"))
    if consumer_key is not None:
        values["consumer_key"] = toml_string(consumer_key)
        drop.add("consumer_key_file")
    if consumer_secret is not None:
        values["consumer_secret"] = toml_string(consumer_secret.reveal())
        drop.add("consumer_secret_file")
    text = update_site_section(existing, values, frozenset(drop))
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: could not update [site] safely ({exc}); edit it by hand"
        ) from None
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else NEW_FILE_MODE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Write a temp file then rename: a crash never leaves a half-written config.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def grant_lines(grant: AccessGrant) -> list[str]:
    """The [site] lines for --print (the operator asked to see the secret)."""
    return [
        "[site]",
        f"domain = {toml_string(grant.domain)}",
        f"access_token = {toml_string(grant.access_token)}",
        f"access_token_secret = {toml_string(grant.access_token_secret.reveal())}",
    ]


# --- the command ------------------------------------------------------------
# Two ways to run it: interactively (print the URL, prompt for the verifier),
# or in two steps for scripts: `--start` saves the request token next to the
# config file (0600), a later `--verifier V` finishes from it.

PENDING_SUFFIX = ".auth-pending"


def pending_path(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + PENDING_SUFFIX)


def save_pending(path: Path, token: RequestToken, consumer_key: str, base_url: str) -> None:
    data = {
        "oauth_token": token.token,
        "oauth_token_secret": token.secret.reveal(),
        "consumer_key": consumer_key,
        "oauth_base_url": base_url,
    }
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, NEW_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def load_pending(path: Path) -> tuple[RequestToken, str, str] | None:
    """(request token, consumer key, oauth base url) saved by --start, if any."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        token = RequestToken(data["oauth_token"], Secret(data["oauth_token_secret"]))
        return token, data["consumer_key"], data["oauth_base_url"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}: unreadable pending auth state; delete it and rerun") from None


@dataclass(frozen=True, slots=True)
class AuthOptions:
    config_path: str | None
    consumer_key: str | None
    oauth_base_url: str | None
    verifier: str | None
    start_only: bool
    print_only: bool


def _target_path(explicit: str | None) -> Path:
    """The config file to read and update; a new one goes to the user config path."""
    try:
        return find_config_path(explicit)
    except ConfigError:
        return USER_CONFIG_PATH.expanduser()


def run_auth(
    opts: AuthOptions,
    *,
    echo: Callable[[str], None],
    prompt: Callable[[str, bool], str],
    env: Mapping[str, str] | None = None,
) -> int:
    """The whole command. Returns the exit code (0 ok, 1 network, 2 config/credentials)."""
    env = os.environ if env is None else env
    path = _target_path(opts.config_path)
    site = load_config(path, env=env, require_tokens=False).site if path.exists() else None
    pending_file = pending_path(path)

    pending = load_pending(pending_file) if opts.verifier and not opts.start_only else None
    key_given = opts.consumer_key or env.get("SYNCD_CONSUMER_KEY")
    consumer_key = (
        key_given or (site.consumer_key if site else "") or (pending[1] if pending else "")
    )
    if not consumer_key:
        raise ConfigError(
            f"{path}: site.consumer_key: no consumer key; pass --consumer-key or set it in the"
            " config (the site owner creates one under Settings > API)"
        )
    base_url = (
        opts.oauth_base_url
        or (pending[2] if pending else None)
        or (site.oauth_base_url if site else None)
        or DEFAULT_OAUTH_BASE_URL
    )
    secret_text = env.get("SYNCD_CONSUMER_SECRET") or (
        site.consumer_secret.reveal() if site and site.consumer_key == consumer_key else ""
    )
    prompted_secret = not secret_text
    if prompted_secret:
        secret_text = prompt("Consumer secret", True)
    consumer_secret = Secret(secret_text)

    if pending is not None:
        request_token = pending[0]
    else:
        request_token = fetch_request_token(consumer_key, consumer_secret, base_url)
        echo("Open this URL in a browser, sign in and approve syncd:")
        echo(f"  {authorize_url(base_url, request_token)}")
        if opts.start_only:
            save_pending(pending_file, request_token, consumer_key, base_url)
            echo(f"Then run: syncd --config {path} auth --verifier <code>")
            return 0
    verifier = opts.verifier or prompt("Verifier code shown after approving", False)
    grant = fetch_access_token(consumer_key, consumer_secret, request_token, verifier, base_url)
    pending_file.unlink(missing_ok=True)
    if opts.print_only:
        for line in grant_lines(grant):
            echo(line)
        return 0
    write_credentials(
        path,
        grant,
        oauth_base_url=base_url,
        consumer_key=consumer_key if key_given else None,
        # Persist a typed secret; one from the environment stays there.
        consumer_secret=consumer_secret if prompted_secret else None,
    )
    echo(f"Wrote the access token for {grant.domain} to {path}. Now run: syncd check")
    return 0

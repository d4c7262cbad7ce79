"""Credentials the sandbox issues: one privileged set per level (read, write, admin, super),
a consumer for the 3-legged flow, and the access tokens that flow creates (level write).
Generated once and kept in the state database, so a restart with the same data dir keeps them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from syncd.sandbox.auth import TokenInfo
from syncd.sandbox.state import State

PRIVILEGED_LEVELS = ("read", "write", "admin", "super")
FLOW_CONSUMER = "flow"
# Level and user of access tokens created by the 3-legged flow.
FLOW_TOKEN_LEVEL = "write"
FLOW_USER_ID = 2
OWNER_USER_ID = 1


@dataclass(frozen=True)
class Credentials:
    """One set of OAuth credentials. The secrets never show in repr()."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str
    access_token_secret: str = field(repr=False)
    level: str


def ensure(state: State) -> None:
    """Create the credential sets and the site's id once (first start of a data dir)."""
    with state.lock:
        if state.get("creds", "site") is None:
            # Each data dir is its own site: two sandboxes are told apart by site/get's
            # site_id, as two real sites are (a client binds its journal to it).
            state.put("creds", "site", {"site_id": str(secrets.randbelow(900_000) + 100_000)})
        for name in (*PRIVILEGED_LEVELS, FLOW_CONSUMER):
            if state.get("creds", f"set:{name}") is not None:
                continue
            consumer = f"sb-{name}-{secrets.token_hex(6)}"
            c_secret = secrets.token_hex(16)
            state.put("creds", f"consumer:{consumer}", {"secret": c_secret})
            record = {"consumer_key": consumer, "consumer_secret": c_secret}
            if name != FLOW_CONSUMER:
                token = f"sb-token-{name}-{secrets.token_hex(6)}"
                t_secret = secrets.token_hex(16)
                add_token(state, consumer, token, t_secret, name, OWNER_USER_ID)
                record.update(access_token=token, access_token_secret=t_secret)
            state.put("creds", f"set:{name}", record)


def add_token(state: State, consumer: str, token: str, secret: str, level: str, user: int) -> None:
    state.put(
        "creds",
        f"token:{consumer}:{token}",
        {"secret": secret, "level": level, "user_id": user},
    )


def credentials(state: State, level: str) -> Credentials:
    if level not in PRIVILEGED_LEVELS and level != FLOW_CONSUMER:
        raise ValueError(f"credentials: level must be one of {PRIVILEGED_LEVELS} or 'flow'")
    rec = state.get("creds", f"set:{level}")
    assert rec is not None, "credentials not generated"
    return Credentials(
        rec["consumer_key"],
        rec["consumer_secret"],
        rec.get("access_token", ""),
        rec.get("access_token_secret", ""),
        level if level != FLOW_CONSUMER else "anonymous",
    )


def consumer_secret(state: State, consumer: str) -> str | None:
    rec = state.get("creds", f"consumer:{consumer}")
    return None if rec is None else rec["secret"]


def token_info(state: State, consumer: str, token: str) -> TokenInfo | None:
    rec = state.get("creds", f"token:{consumer}:{token}")
    if rec is None:
        return None
    return TokenInfo(rec["secret"], rec["level"], rec["user_id"])


def revoke(state: State, consumer: str, token: str) -> None:
    state.delete("creds", f"token:{consumer}:{token}")


def site_id(state: State) -> str:
    rec = state.get("creds", "site")
    assert rec is not None, "site not generated"
    return str(rec["site_id"])

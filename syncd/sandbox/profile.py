"""How literally the sandbox reads the platform's pages: a named profile plus switches.

The sandbox and syncd were written by the same hands, so the sandbox's helpful extras can
hide a client's wrong assumptions. A profile decides which extras the sandbox offers:

- `default`: today's sandbox. photo/list items carry `tags`, `album_ids` and
  `variable_<name>` (the pages document none of them); whole-file redeem errors have
  telling HTTP statuses (403 token, 400 no file, 500 unprocessable); upload tags may be
  double-quoted; a tag filter nobody uses finds an empty list.
- `strict`: only the documented answers, each in the least helpful documented reading.
  It turns on `no_such_tag`, `documented_shapes`, `split_tags`, `redeem_error_status=200`
  and `redeem_ok_text=` (empty). It does not turn on `careless`: that plays a different,
  broken site rather than a strict one.

Switches, each on its own or on top of a profile:

  no_such_tag            a photo/list `tags` filter naming a tag that no item uses answers
                         the API error `no_such_tag`, "This tag isn't being used on the
                         site." (error-codes.md) instead of an empty list. With
                         tag_mode=and one unused tag is enough; with `any`, all must be.
  documented_shapes      answers hold only what the pages show: photo/list items without a
                         tag list, album ids, custom variables or `publish_date_ansi`
                         (`number_of_tags` and `number_of_albums` stay); photo/update and
                         photo/update-upload-token answer `"photo": {}` and echo a bare
                         `status="ok"` (no permission_level), as their pages' examples do.
  careless[=F|G]         photo/list ignores the filters F, G (default: `tags`) and returns
                         what they would have excluded, as a site that does not know them
                         would. Filters: see CARELESS_FILTERS.
  split_tags             tags sent to photo/upload, get-upload-token, update-upload-token and
                         photo/update are split on whitespace, quotes kept as characters
                         (`"slow tv"` becomes `"slow` and `tv"`): the pages say
                         "space-separated" and document quoting for the list filter only.
  redeem_error_status=N  every plain-text error answer of a whole-file redeem (token
                         invalid, expired or used up; no file; file refused without a
                         `return_url`) has HTTP status N. The page says "a plain, unstyled
                         error message" and gives no status; strict uses 200.
  redeem_ok_text=T       the body of a successful whole-file redeem without `return_url` (the
                         page documents only "a plain HTTP 200"); default "ok", strict empty.

A spec string names a profile and/or switches, separated by `,` or `;`:
`strict`, `default,no_such_tag`, `strict,careless=tags|upload_token`. The environment
variable SYNCD_SANDBOX_PROFILE holds such a spec; every Sandbox created without an explicit
profile (the tests' fixture, `python -m syncd.sandbox`, the benchmarks' child processes)
uses it, so a whole test run can be repeated against the strict profile.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PROFILE_ENV = "SYNCD_SANDBOX_PROFILE"
# photo/list parameters a careless site may ignore.
CARELESS_FILTERS = frozenset(
    {
        "tags",
        "tag_mode",
        "upload_token",
        "photo_id",
        "album_id",
        "token",
        "user_id",
        "search",
        "video_encoded_p",
    }
)
# What `careless` alone ignores: the identity-marker lookup's filter.
DEFAULT_CARELESS = frozenset({"tags"})
# HTTP statuses a redeem error answer may be given.
REDEEM_STATUSES = range(200, 600)


@dataclass(frozen=True)
class Profile:
    """One set of answers; frozen, so a request reads one consistent set."""

    name: str = "default"
    no_such_tag: bool = False
    documented_shapes: bool = False
    careless: frozenset[str] = field(default_factory=frozenset)
    split_tags: bool = False
    redeem_error_status: int | None = None
    redeem_ok_text: str = "ok"

    def with_switches(self, switches: Mapping[str, Any]) -> Profile:
        """A copy with the given switches set (ValueError naming a bad one)."""
        changes: dict[str, Any] = {}
        for key, value in switches.items():
            if key not in SWITCHES:
                raise ValueError(
                    f"unknown sandbox profile or switch {key!r} (profiles: "
                    f"{', '.join(sorted(PROFILES))}; switches: {', '.join(sorted(SWITCHES))})"
                )
            changes[key] = SWITCHES[key](value)
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """`strict`, or `default + careless=tags`: the name and what differs from it."""
        base = PROFILES.get(self.name, Profile())
        changed = [
            f"{k}={','.join(sorted(v)) if isinstance(v, frozenset) else v}"
            for k, v in dataclasses.asdict(self).items()
            if k != "name" and getattr(base, k) != getattr(self, k)
        ]
        return " + ".join([self.name, *changed])

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["careless"] = sorted(self.careless)
        return data


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "1", "true", "yes", "on"):  # a bare switch name turns it on
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected on/off (1/0), got {value!r}")


def _careless(value: Any) -> frozenset[str]:
    if value is True or value == "":
        return DEFAULT_CARELESS
    if value is False or value is None:
        return frozenset()
    items = value if isinstance(value, list | tuple | set | frozenset) else None
    if items is None:
        text = str(value)
        if text.lower() in ("0", "false", "no", "off"):
            return frozenset()
        if text.lower() in ("1", "true", "yes", "on"):
            return DEFAULT_CARELESS
        items = [p for p in text.replace(",", "|").split("|") if p]
    names = frozenset(str(i).strip() for i in items)
    unknown = names - CARELESS_FILTERS
    if unknown:
        raise ValueError(
            f"careless: unknown photo/list filter(s) {sorted(unknown)} "
            f"(known: {', '.join(sorted(CARELESS_FILTERS))})"
        )
    return names


def _status(value: Any) -> int | None:
    if value is None or str(value).strip().lower() in ("", "none", "default"):
        return None
    try:
        status = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"redeem_error_status: expected an HTTP status, got {value!r}") from None
    if status not in REDEEM_STATUSES:
        raise ValueError(f"redeem_error_status: {status} is not an HTTP status (200..599)")
    return status


def _switch_flag(name: str) -> Callable[[Any], bool]:
    def parse(value: Any) -> bool:
        try:
            return _flag(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    return parse


# Switch name -> parser of its value (a bare name in a spec passes "").
SWITCHES: dict[str, Callable[[Any], Any]] = {
    "no_such_tag": _switch_flag("no_such_tag"),
    "documented_shapes": _switch_flag("documented_shapes"),
    "careless": _careless,
    "split_tags": _switch_flag("split_tags"),
    "redeem_error_status": _status,
    "redeem_ok_text": str,
}

PROFILES: dict[str, Profile] = {
    "default": Profile(),
    "strict": Profile(
        name="strict",
        no_such_tag=True,
        documented_shapes=True,
        split_tags=True,
        redeem_error_status=200,
        redeem_ok_text="",
    ),
}


def parse_spec(spec: str) -> tuple[str | None, dict[str, Any]]:
    """(profile name or None, switches) from `strict,careless=tags` or a JSON object
    (`{"profile": "strict", "no_such_tag": true}`); ValueError naming the problem."""
    text = spec.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"sandbox profile spec is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("sandbox profile spec JSON must be an object")
        return _split(data)
    name: str | None = None
    switches: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep and key in PROFILES:
            if name is not None:
                raise ValueError(f"sandbox profile spec names two profiles: {name}, {key}")
            name = key
        elif key == "profile":
            name = value.strip()
        else:
            switches[key] = value.strip() if sep else ""
    return name, switches


def _split(data: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    name = data.get("profile")
    if name is not None and not isinstance(name, str):
        raise ValueError("sandbox profile: 'profile' must be a name")
    return name, {k: v for k, v in data.items() if k != "profile"}


def named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown sandbox profile {name!r} (known: {', '.join(sorted(PROFILES))})"
        ) from None


def resolve(spec: str | Profile | None) -> Profile:
    """A Profile from a Profile, a spec string, or None (= $SYNCD_SANDBOX_PROFILE, else
    default). A spec that names no profile starts from the default one."""
    if isinstance(spec, Profile):
        return spec
    if spec is None:
        spec = os.environ.get(PROFILE_ENV, "")
    name, switches = parse_spec(spec)
    return named(name or "default").with_switches(switches)


def update(current: Profile, data: Mapping[str, Any]) -> Profile:
    """`current` changed by a control request: `profile` (if given) restarts from that
    profile, then the switches apply."""
    name, switches = _split(data)
    base = named(name) if name else current
    return base.with_switches(switches)

"""Fault injection: rules matched per API method name, fired for the next N requests or a
seeded random fraction. The HTTP layer applies the chosen effect (status, cut, delay, ...).

Spec language (`--faults`, POST /_sandbox/faults): JSON (an object or a list of objects with the
keyword arguments of `FaultInjector.add`), or compact rules separated by `;`. A form-encoded
POST (`curl -d 'method=photo/upload&status=503&count=2'`) is one rule by the same keywords
(flags as `cut_after_store=1`, kinds as `kinds=500|cut_after_store`), or `spec=<spec>`.
Compact rules:
    METHOD[:TOKEN]...   where TOKEN is a status (500), a flag (cut_after_store,
    error_processing_upload, expire_token) or key=value (count=3, fraction=0.2,
    retry_after=2, cut_after_bytes=1000, delay=0.5, kinds=500|cut_after_store)
e.g. `photo/upload:500:count=3;photo/redeem-upload-token:cut_after_bytes=4096:count=1`.
METHOD may be a glob (`photo/*`, `*`).
"""

from __future__ import annotations

import fnmatch
import json
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

# Statuses a status fault may answer with (transport-level failures and rate limiting).
ALLOWED_STATUSES = frozenset({429, 500, 502, 503, 504})
# Kinds a rule with `kinds=[...]` picks from at random; statuses are given as "500" etc.
KINDS = frozenset(
    {"cut_after_bytes", "cut_after_store", "delay", "error_processing_upload", "expire_token"}
)
# Bytes read before a `cut_after_bytes` kind picked at random (when the rule gives none).
DEFAULT_CUT_BYTES = 4096
# Seconds of a `delay` kind picked at random (when the rule gives none).
DEFAULT_DELAY = 1.0


@dataclass
class FaultEffect:
    """What to do to one request."""

    rule_id: int
    status: int | None = None
    retry_after: float | None = None
    cut_after_bytes: int | None = None
    cut_after_store: bool = False
    delay: float | None = None
    error_processing_upload: bool = False
    expire_token: bool = False

    def describe(self) -> str:
        parts = [k for k, v in asdict(self).items() if k != "rule_id" and v not in (None, False)]
        return ",".join(parts)


@dataclass
class FaultRule:
    """One rule; `fired` counts the requests it has affected."""

    id: int
    method: str = "*"
    status: int | None = None
    retry_after: float | None = None
    count: int | None = None
    fraction: float | None = None
    cut_after_bytes: int | None = None
    cut_after_store: bool = False
    delay: float | None = None
    error_processing_upload: bool = False
    expire_token: bool = False
    kinds: list[str] | None = None
    fired: int = 0

    def validate(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise ValueError("fault rule: method must be a non-empty string")
        if self.status is not None and self.status not in ALLOWED_STATUSES:
            raise ValueError(
                f"fault rule: status {self.status} not one of {sorted(ALLOWED_STATUSES)}"
            )
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise ValueError("fault rule: count must be an integer >= 1")
        if self.fraction is not None and not 0.0 < float(self.fraction) <= 1.0:
            raise ValueError("fault rule: fraction must be in (0, 1]")
        if self.cut_after_bytes is not None and self.cut_after_bytes < 0:
            raise ValueError("fault rule: cut_after_bytes must be >= 0")
        if self.delay is not None and not 0 <= self.delay <= 3600:
            raise ValueError("fault rule: delay must be between 0 and 3600 seconds")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("fault rule: retry_after must be >= 0")
        for kind in self.kinds or []:
            if kind not in KINDS and not (kind.isdigit() and int(kind) in ALLOWED_STATUSES):
                raise ValueError(f"fault rule: unknown kind {kind!r}")
        has_effect = (
            self.status is not None
            or self.cut_after_bytes is not None
            or self.cut_after_store
            or self.delay is not None
            or self.error_processing_upload
            or self.expire_token
            or bool(self.kinds)
        )
        if not has_effect:
            raise ValueError("fault rule has no effect (give status, cut_after_bytes, ...)")

    def effect(self, rng: random.Random) -> FaultEffect:
        if not self.kinds:
            return FaultEffect(
                self.id,
                self.status,
                self.retry_after,
                self.cut_after_bytes,
                self.cut_after_store,
                self.delay,
                self.error_processing_upload,
                self.expire_token,
            )
        kind = rng.choice(sorted(self.kinds))
        eff = FaultEffect(self.id)
        if kind.isdigit():
            eff.status = int(kind)
            eff.retry_after = self.retry_after
        elif kind == "cut_after_bytes":
            eff.cut_after_bytes = (
                DEFAULT_CUT_BYTES if self.cut_after_bytes is None else self.cut_after_bytes
            )
        elif kind == "delay":
            eff.delay = DEFAULT_DELAY if self.delay is None else self.delay
        else:
            setattr(eff, kind, True)
        return eff


_FIELDS = {f for f in FaultRule.__dataclass_fields__ if f not in ("id", "fired")}
_FLAGS = ("cut_after_store", "error_processing_upload", "expire_token")


def parse_spec(spec: str) -> list[dict[str, Any]]:
    """Turn the spec language (JSON or compact) into a list of keyword dicts for add()."""
    text = spec.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"fault spec is not valid JSON: {exc}") from exc
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(i, dict) for i in items):
            raise ValueError("fault spec JSON must be an object or a list of objects")
        return items
    rules: list[dict[str, Any]] = []
    for chunk in filter(None, (c.strip() for c in text.split(";"))):
        method, *tokens = chunk.split(":")
        rule: dict[str, Any] = {"method": method}
        for token in tokens:
            key, sep, value = token.partition("=")
            if not sep:
                if key.isdigit():
                    rule["status"] = int(key)
                elif key in _FLAGS:
                    rule[key] = True
                else:
                    raise ValueError(f"fault spec {chunk!r}: unknown token {token!r}")
            elif key in ("count", "cut_after_bytes", "status"):
                rule[key] = _number(chunk, key, value, int)
            elif key in ("fraction", "retry_after", "delay"):
                rule[key] = _number(chunk, key, value, float)
            elif key == "kinds":
                rule[key] = [k for k in value.split("|") if k]
            else:
                raise ValueError(f"fault spec {chunk!r}: unknown key {key!r}")
        rules.append(rule)
    return rules


def rule_from_form(fields: dict[str, str]) -> dict[str, Any]:
    """One rule's keywords from form fields (all strings); ValueError naming a bad one."""
    rule: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("count", "cut_after_bytes", "status"):
            rule[key] = _number("form", key, value, int)
        elif key in ("fraction", "retry_after", "delay"):
            rule[key] = _number("form", key, value, float)
        elif key in _FLAGS:
            if value.strip().lower() not in ("", "1", "0", "true", "false"):
                raise ValueError(f"fault form: {key} must be 1 or 0, got {value!r}")
            rule[key] = value.strip().lower() in ("", "1", "true")
        elif key == "kinds":
            rule[key] = [k for k in value.replace(",", "|").split("|") if k]
        elif key == "method":
            rule[key] = value
        else:
            known = sorted(["method", *_FIELDS])
            raise ValueError(f"fault form: unknown field {key!r} (known: {', '.join(known)})")
    return rule


def _number(chunk: str, key: str, value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError as exc:
        raise ValueError(f"fault spec {chunk!r}: {key} must be a number, got {value!r}") from exc


class FaultInjector:
    """Rules in the order added; the first rule that matches and triggers wins."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, method: str = "*", **kwargs: Any) -> FaultRule:
        unknown = set(kwargs) - _FIELDS
        if unknown:
            raise ValueError(f"fault rule: unknown option(s) {sorted(unknown)}")
        with self._lock:
            rule = FaultRule(id=self._next_id, method=method, **kwargs)
            rule.validate()
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def load(self, spec: str) -> list[FaultRule]:
        """Add every rule of a spec string (see module doc); all-or-nothing on error."""
        return self.add_all(parse_spec(spec))

    def add_all(self, items: list[dict[str, Any]]) -> list[FaultRule]:
        """Add rules given as keyword dicts; all-or-nothing on error."""
        for item in items:  # validate all before adding any
            unknown = set(item) - _FIELDS
            if unknown:
                raise ValueError(f"fault rule: unknown option(s) {sorted(unknown)}")
            FaultRule(id=0, **item).validate()
        return [self.add(**item) for item in items]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r.id != rule.id]

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rules]

    def decide(self, method: str) -> FaultEffect | None:
        """The effect for one request to `method`, counting the rule as fired; None = no fault."""
        with self._lock:
            for rule in self._rules:
                if not fnmatch.fnmatchcase(method, rule.method):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.fraction is not None and self._rng.random() >= rule.fraction:
                    continue
                rule.fired += 1
                return rule.effect(self._rng)
        return None


@dataclass
class RequestRecord:
    """One request as the sandbox saw it.

    `params` are the API parameters (query string, form and multipart fields) of an /api/
    call, so a test can compare what was asked for with what a plan said. Never secrets:
    the oauth_* parameters (signature, token, nonce) are left out, and so are file parts
    (a file's bytes are only counted, in `bytes_received`)."""

    method: str  # API method name ("photo/upload"), "oauth/request_token", or the raw path
    http_method: str
    status: int  # 0 until answered, and when the connection was cut without an answer
    bytes_received: int
    path: str
    fault: str | None = None
    time: float = field(default=0.0)
    params: dict[str, str] = field(default_factory=dict)

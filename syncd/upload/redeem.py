"""Reading a redeem answer (photo/redeem-upload-token) by what the pages document.

The pages give the HTTP status of none of the answers to a whole-file redeem: a token that
is invalid, used up or expired gets "a plain, unstyled error message"; otherwise the
client is sent to `return_url` by an HTTP 301 whose `Location` carries `photo_id`,
`tree_id` and `token` on success, or `error_message` on failure; with
`background_return_p=1` the body is one line, `ok <domain> <tree_id> <photo_id> <token>
<callback_url>` or `error <error_message>`. syncd therefore always gives a `return_url`
and decides from the redirect (or the background line), never from the status: a site
may answer its error text with 200, and a proxy a stored upload with 500.

Anything else is `UNKNOWN`: the caller asks the site (`photo/list upload_token=`) what
happened rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from syncd.model import RemoteItem

# Where the site is told to send the uploader after a redeem. syncd never follows the
# redirect (it reads the Location header), so the address only has to be a valid URL; the
# site's own address keeps it from pointing anywhere else.
RETURN_PATH = "/syncd-upload-done"


def return_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}{RETURN_PATH}"


@dataclass(frozen=True, slots=True)
class RedeemOutcome:
    """`item`: stored as that item; `error`: the site refused the file, saying why; neither:
    the answer says nothing documented (`text` shows what it was)."""

    item: RemoteItem | None = None
    error: str | None = None
    text: str = ""

    @property
    def known(self) -> bool:
        return self.item is not None or self.error is not None


UNKNOWN = RedeemOutcome()


def read_redeem_answer(
    status: int, location: str | None, body: str, *, background: bool = False
) -> RedeemOutcome:
    """The documented meaning of a redeem answer (a whole file, or a file's last chunk).
    `background`: the token asked for `background_return_p=1`, so a body line is that
    answer (otherwise an `error ...` line could be a plain error message)."""
    if location and 300 <= status < 400:
        return _from_redirect(location)
    line = body.strip().splitlines()[0].strip() if body.strip() else ""
    word, _, rest = line.partition(" ")
    if not background:
        return RedeemOutcome(text=f"HTTP {status} {line[:200]!r}".rstrip())
    if word == "ok":
        parts = rest.split()
        if len(parts) >= 4 and parts[2]:
            # ok <domain> <tree_id> <photo_id> <token> <callback_url>
            return RedeemOutcome(
                item=RemoteItem(photo_id=parts[2], tree_id=parts[1], token=parts[3])
            )
    if word == "error" and rest.strip():
        return RedeemOutcome(error=rest.strip())
    return RedeemOutcome(text=f"HTTP {status} {line[:200]!r}".rstrip())


def _from_redirect(location: str) -> RedeemOutcome:
    query = parse_qs(urlsplit(location).query)

    def first(name: str) -> str:
        values = query.get(name) or [""]
        return values[0].strip()

    photo_id = first("photo_id")
    if photo_id:
        return RedeemOutcome(
            item=RemoteItem(photo_id=photo_id, tree_id=first("tree_id"), token=first("token"))
        )
    error = first("error_message")
    if error:
        return RedeemOutcome(error=error)
    return RedeemOutcome(text=f"a redirect without photo_id or error_message: {location[:200]}")

"""One exception hierarchy for syncd.

Every error knows whether retrying may help (`retryable`) and, when the
server said so, after how long (`retry_after`, seconds). Callers decide by
asking the error, never by matching messages. `stops_run` marks errors that
must halt all uploading at once (bad credentials): retrying them only burns
the queue.
"""

from __future__ import annotations


class SyncdError(Exception):
    """Base class. `retryable` and `stops_run` are class-level defaults."""

    retryable: bool = False
    stops_run: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


# --- local problems -------------------------------------------------------


class ConfigError(SyncdError):
    """The configuration is invalid. The message names file, key and problem."""


class JournalError(SyncdError):
    """The journal cannot be opened or written (path, permissions, locking)."""


class LocalFileError(SyncdError):
    """A local file cannot be used (unreadable, vanished, changed while sent).

    `requeue` is True when the file should go back to the scanner rather
    than fail (it changed or vanished; a later scan decides).
    """

    def __init__(self, path: str, message: str, *, requeue: bool = False) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.requeue = requeue


class SidecarError(SyncdError):
    """A sidecar or folder-defaults file is malformed. Fails that file only."""


class InvalidRequest(SyncdError):
    """The request cannot be sent as built: the URL is malformed (a port out of range, a
    host name that is not one), its scheme unsupported, a header invalid. No retry can
    change that, and every request is built from the same settings, so it stops the run
    rather than fail or park file after file. The message names the setting to check."""

    stops_run = True


# --- the wire: transport faults (retryable) -------------------------------


class TransportError(SyncdError):
    """The request did not produce an API answer: retry may help.

    `ambiguous` is True when the request body may have been fully received
    and acted on (connection cut after sending, read timeout): the caller
    must ask the site whether the attempt landed before sending again.
    """

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, ambiguous: bool = False
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.ambiguous = ambiguous


class ConnectError(TransportError):
    """Could not connect (refused, DNS, TLS): nothing was sent."""


class TimeoutError_(TransportError):
    """Connect or read timeout."""


class ConnectionCut(TransportError):
    """Connection reset or closed mid-request or before the answer."""


class ServerError(TransportError):
    """HTTP 5xx (500, 502, 503, 504, ...) from the server or a proxy.

    Always ambiguous: a proxy may answer 5xx after the site stored the upload, so
    the site is asked before anything is sent again (it costs one list call).
    """

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after, ambiguous=True)
        self.status = status


class RateLimited(TransportError):
    """HTTP 429, or 503 with Retry-After: slow down."""


# --- the API said no (not retryable) --------------------------------------


class ApiError(SyncdError):
    """The API answered status="error". `code` is the platform's error code."""

    def __init__(self, code: str, message: str, *, method: str = "") -> None:
        where = f" ({method})" if method else ""
        super().__init__(f"{code}: {message}{where}")
        self.code = code
        self.api_message = message
        self.method = method


class CredentialsError(ApiError):
    """invalid_signature or permission_denied: stop the whole run."""

    stops_run = True


class NotFound(ApiError):
    """no_such_photo / no_such_album / no_such_user / no_such_tag."""


class UploadRejected(ApiError):
    """error_processing_upload and friends: this file fails, the run goes on."""


class ProtocolError(SyncdError):
    """The server answered something we cannot parse (not JSON, missing keys)."""

    retryable = True


class UntrustedAnswer(SyncdError):
    """The site answered, but the answer cannot be what was asked: a filter was ignored
    (a marker nobody uses matched items, a photo_id lookup returned other items). Not
    retryable: asking again gets the same answer, and acting on it would adopt or
    re-upload the wrong items."""


class Held(SyncdError):
    """The site's answer about whether a file landed cannot be believed (several items carry
    its marker, the item found contradicts the file, the site ignores the lookup's filter):
    the file is neither sent again nor recorded against an item. Not retryable: asking
    again gets the same answer; the message names the candidates for an operator."""

    code = "held"


class SiteMismatch(SyncdError):
    """The journal belongs to another site than the config names. Every answer the journal
    gives (synced, duplicate of, ...) would be about the other site: the run refuses at
    once (exit status 2), naming both sites."""

    stops_run = True


CREDENTIAL_CODES = frozenset({"invalid_signature", "permission_denied"})
NOT_FOUND_CODES = frozenset({"no_such_photo", "no_such_album", "no_such_user", "no_such_tag"})
UPLOAD_REJECTED_CODES = frozenset({"error_processing_upload", "no_file"})


def api_error_for(code: str, message: str, method: str = "") -> ApiError:
    """The ApiError subclass for a platform error code."""
    if code in CREDENTIAL_CODES:
        return CredentialsError(code, message, method=method)
    if code in NOT_FOUND_CODES:
        return NotFound(code, message, method=method)
    if code in UPLOAD_REJECTED_CODES:
        return UploadRejected(code, message, method=method)
    return ApiError(code, message, method=method)


class WorkerFailed(SyncdError):
    """An error outside any one file's handling (the journal cannot be written, a bug) ended
    a worker: the run stops rather than wait for a worker that is gone. Exit status 1; what
    was in flight keeps its lease and is recovered by the next run."""


class Interrupted(SyncdError):
    """The run is stopping (signal): abandon the current transfer, keep the journal."""

"""The HTTP session: connection pooling with large socket blocks, User-Agent, OAuth1 signer.

Secrets are revealed only here, into the OAuth1 signer and the upload signer, which mask
them in their repr.
"""

from __future__ import annotations

from typing import Any

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1

from syncd.api.upload_signer import UploadSigner
from syncd.config import SiteConfig

# urllib3 reads a streamed body in blocks of this size before each sendall().
# The default 16 KiB costs a syscall and a Python round trip per 16 KiB;
# 1 MiB keeps large uploads near wire speed with bounded memory.
BLOCKSIZE = 1024 * 1024


def _version() -> str:
    import syncd

    found = getattr(syncd, "__version__", None)
    if isinstance(found, str):
        return found
    # A stale editable install can expose `syncd` as a namespace package without its
    # __init__: ask the installed metadata (a ~10 ms lookup, so only then).
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syncd")
    except PackageNotFoundError:
        return "0"


USER_AGENT = f"syncd/{_version()}"


class BlockSizeAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections send bodies in `blocksize` blocks."""

    def __init__(self, blocksize: int = BLOCKSIZE, **kwargs: Any) -> None:
        self.blocksize = blocksize  # set before super().__init__, which builds the pool
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("blocksize", self.blocksize)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def make_session(base_url: str, blocksize: int = BLOCKSIZE) -> requests.Session:
    """A Session that never retries by itself (retry policy lives above) and says who it is.

    Proxy settings ($HTTPS_PROXY, $NO_PROXY, ...) are read once here, for the one site
    this session talks to, instead of on every request (trust_env re-reads the
    environment and ~/.netrc per request: a measurable share of a small upload's CPU).
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.trust_env = False
    adapter = BlockSizeAdapter(blocksize=blocksize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def make_signer(site: SiteConfig) -> OAuth1:
    """OAuth 1.0a HMAC-SHA1 in the Authorization header; fresh nonce/timestamp per request.

    requests-oauthlib signs the body's parameters only when the body is
    form-urlencoded, so multipart uploads are signed as if they had none.
    """
    return OAuth1(
        site.consumer_key,
        client_secret=site.consumer_secret.reveal(),
        resource_owner_key=site.access_token or None,
        resource_owner_secret=site.access_token_secret.reveal() or None,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )


def make_upload_signer(site: SiteConfig, general: OAuth1) -> UploadSigner:
    """The same credentials, for uploads: signed without body parameters, much cheaper."""
    return UploadSigner(
        site.consumer_key,
        site.consumer_secret.reveal(),
        site.access_token or None,
        site.access_token_secret.reveal() or None,
        general,
    )

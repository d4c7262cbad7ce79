"""The TwentyThree API client: OAuth1 session, envelope and error translation, typed calls."""

from syncd.api.body import FileSlice
from syncd.api.client import Client, RedeemAnswer
from syncd.api.pages import Page

__all__ = ["Client", "FileSlice", "Page", "RedeemAnswer"]

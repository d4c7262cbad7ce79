"""A local TwentyThree-compatible server: the other end of the wire for syncd's tests, demos
and benchmarks. Imports nothing from the rest of syncd, so a passing test checks two
independent ends. See core.Sandbox for the Python API, __main__ for the command line, and
profile.py for the strict profile and the switches that make it answer like a stricter (or
careless) site."""

from syncd.sandbox.core import Sandbox
from syncd.sandbox.creds import Credentials
from syncd.sandbox.faults import FaultInjector, FaultRule, RequestRecord
from syncd.sandbox.profile import PROFILE_ENV, Profile

__all__ = [
    "PROFILE_ENV",
    "Credentials",
    "FaultInjector",
    "FaultRule",
    "Profile",
    "RequestRecord",
    "Sandbox",
]

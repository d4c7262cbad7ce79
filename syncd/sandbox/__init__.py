"""A local TwentyThree-compatible server: the other end of the wire for syncd's tests, demos
and benchmarks. Imports nothing from the rest of syncd, so a passing test checks two
independent ends. See core.Sandbox for the Python API and __main__ for the command line."""

from syncd.sandbox.core import Sandbox
from syncd.sandbox.creds import Credentials
from syncd.sandbox.faults import FaultInjector, FaultRule, RequestRecord

__all__ = ["Credentials", "FaultInjector", "FaultRule", "RequestRecord", "Sandbox"]

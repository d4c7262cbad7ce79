"""`python -m syncd.sandbox`: run the sandbox server until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from syncd.sandbox import profile as profiles
from syncd.sandbox.core import Sandbox
from syncd.sandbox.process import READY_LINE

DEFAULT_PORT = 8023


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="syncd sandbox", description="Local TwentyThree-compatible server for syncd."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 = any free port)")
    p.add_argument("--data", type=Path, default=None, help="state dir (default: a temp dir)")
    p.add_argument("--control", action="store_true", help="enable /_sandbox/ endpoints")
    p.add_argument("--faults", default=None, help="fault rules (JSON or compact spec)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    p.add_argument(
        "--profile",
        default=None,
        help=f"answers: {' or '.join(sorted(profiles.PROFILES))}, optionally with switches"
        f" (strict,careless=tags); default ${profiles.PROFILE_ENV}, else default",
    )
    p.add_argument(
        "--switches",
        default=None,
        help="switches on top of the profile, e.g. no_such_tag,careless=tags|upload_token"
        f" (known: {', '.join(sorted(profiles.SWITCHES))})",
    )
    p.add_argument("--transcode-seconds", type=float, default=0.0, help="simulated transcoding")
    p.add_argument("--domain", default=None, help="domain to report (default host:port)")
    p.add_argument("--write-config", type=Path, default=None, help="write a syncd config here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.transcode_seconds < 0:
        print("syncd sandbox: --transcode-seconds must be >= 0", file=sys.stderr)
        return 2
    try:
        profile = profiles.resolve(args.profile)
        if args.switches:
            name, switches = profiles.parse_spec(args.switches)
            if name:
                raise ValueError(f"--switches names a profile ({name}); use --profile")
            profile = profile.with_switches(switches)
    except ValueError as exc:
        print(f"syncd sandbox: --profile/--switches: {exc}", file=sys.stderr)
        return 2
    sb = Sandbox(
        args.data,
        host=args.host,
        port=args.port,
        control=args.control,
        seed=args.seed,
        transcode_seconds=args.transcode_seconds,
        domain=args.domain,
        profile=profile,
    )
    if args.faults:
        try:
            sb.faults.load(args.faults)
        except ValueError as exc:
            print(f"syncd sandbox: --faults: {exc}", file=sys.stderr)
            return 2
    try:
        sb.start()
    except OSError as exc:
        print(f"syncd sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    c = sb.credentials("super")
    # A local test server printing its own generated credentials is intended.
    print(f"sandbox listening on {sb.base_url}")
    print(f"domain: {sb.domain}")
    print(f"consumer_key: {c.consumer_key}")
    print(f"consumer_secret: {c.consumer_secret}")
    print(f"access_token: {c.access_token}")
    print(f"access_token_secret: {c.access_token_secret}")
    if args.write_config:
        # Its own journal, next to the site's data: never the default one of another site.
        written = sb.write_config(args.write_config, journal_path=sb.client_journal)
        print(f"config: {written}")
        print(f"journal: {sb.client_journal}")
    print(f"profile: {sb.profile.describe()}")
    print(READY_LINE)  # last line: whoever started us may go (see process.py)
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

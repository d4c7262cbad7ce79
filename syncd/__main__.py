"""`python -m syncd` is the `syncd` command (handy where the script is not on PATH)."""

from syncd.cli import run

run()

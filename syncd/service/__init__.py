"""How syncd talks to its host when it runs as a service: systemd's notification socket
(notify), journald-aware or JSON logs (logs) and a Prometheus endpoint (metrics).

A package of its own, beside `pipeline/` rather than inside it: these parts know nothing
about uploads or the journal, so the pipeline and the commands call them and they call
nothing back (import-linter keeps it so).
"""

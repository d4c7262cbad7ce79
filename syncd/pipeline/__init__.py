"""The machinery push, watch and reconcile share.

- `lifecycle`: the stop and reload flags; signal handlers only set them.
- `context`: what one run shares (journal, clock, retry engine, throttle, rate meter,
  album resolver, per-root settings).
- `tasks`: what a worker does with one piece of work: an upload, or a metadata update.
- `pool`: workers that claim work from the journal (uploads: `ready`, or `retry` when due;
  metadata: `uploaded`, or `synced` with desired != applied metadata), under leases.
- `feeds`: what supplies work (the scan feed; `syncd watch` adds a watch feed).
- `stop`: when a run is over: burst (nothing left) or forever.
- `run`: the loop that composes a feed, the pool and a stop rule.
- `report`: what a run tells the operator at the end.
"""

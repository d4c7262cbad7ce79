"""`syncd reconcile`: is the site what the archive says it should be? Compare, repair what
`[reconcile]` says to repair, report the rest (see docs/reconcile.md).

- `gather`: the three sides, read-only (journal rows, archive files, site items);
- `act`: journal changes and the few changes made on the site directly;
- `run`: the composition (scan, gather, plan, act, then the workers' burst);
- `report`: outcomes, the summary and the exit status;
- `phases`: progress while listing and hashing.
The decisions themselves are `syncd.plan.reconcile`.
"""

from syncd.reconcile.report import ActionResult, Outcome, ReconcileReport
from syncd.reconcile.run import Reconcile, ReconcileOptions

__all__ = ["ActionResult", "Outcome", "Reconcile", "ReconcileOptions", "ReconcileReport"]

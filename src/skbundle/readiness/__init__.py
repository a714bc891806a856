"""Deployment readiness: the checklist items, the probes, and :func:`check` that gates a deploy.

``check(path)`` loads the bundle, runs the validation and boundary probes and an in-process
load probe of the HTTP app, computes every checklist item from its evidence, stores the
checklist in the bundle and re-renders its reports (:func:`refresh`). ``outcome.ok()`` is what
a CI pipeline gates on.
"""

from __future__ import annotations

from skbundle.readiness.check import CheckOutcome, check, compute, compute_for_build
from skbundle.readiness.refresh import read_readiness, refresh

__all__ = ["CheckOutcome", "check", "compute", "compute_for_build", "read_readiness", "refresh"]

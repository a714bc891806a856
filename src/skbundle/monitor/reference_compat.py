"""Reading ``reference.json`` files of earlier reference versions as the current layout.

Version 1 (skbundle 0.1.0) knew numeric features and classifiers with probabilities only.
Its content is version 2's without the fields version 2 added, each of which has a value
that means what version 1 meant: every feature ``"kind": "numeric"``, ``"output":
"probabilities"``, ``"task": "classification"``, the predictions ``"kind": "probabilities"``.
Nothing else is changed, so an old bundle drifts exactly as it did.
"""

from __future__ import annotations

from typing import Any


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 reference as version 2 data (a new dict; ``data`` is not changed)."""
    upgraded = dict(data)
    upgraded["version"] = 2
    upgraded["task"] = "classification"
    upgraded["output"] = "probabilities"
    upgraded["features"] = {
        name: {"kind": "numeric", **feature} for name, feature in data["features"].items()
    }
    for key in ("predictions", "predictions_train"):
        if isinstance(data.get(key), dict):
            upgraded[key] = {"kind": "probabilities", **data[key]}
    return upgraded

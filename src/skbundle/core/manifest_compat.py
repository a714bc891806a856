"""Reading manifests of earlier format versions as the current models.

Version 1 (skbundle 0.1.0) is version 2 without the fields version 2 added, so a version 1
manifest is read by checking that it holds none of them and validating it as version 2 (every
added field has a default that means what version 1 meant: a numeric feature, a classifier
served by probabilities, no interval, no feature descriptions or units, no positive class, no
example record). A version 1 file that names a version 2 field is
refused: a version 1 reader would have refused it too.
"""

from __future__ import annotations

from typing import Any

ADDED_IN_V2 = frozenset({"output", "interval", "positive_class", "example", "example_label"})
FEATURE_FIELDS_ADDED_IN_V2 = frozenset(
    {"kind", "categories", "unknown", "missing_as", "description", "unit"}
)


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 manifest's JSON as version 2 data; ValueError names a field v1 lacked."""
    added = sorted(ADDED_IN_V2 & data.keys())
    if added:
        raise ValueError(f"format version 1 has no field {added[0]!r}")
    if data.get("task", "classification") != "classification":
        raise ValueError(f"format version 1 has no task {data.get('task')!r}")
    features = data.get("features")
    if isinstance(features, list):
        for k, feature in enumerate(features):
            extra = (
                sorted(FEATURE_FIELDS_ADDED_IN_V2 & feature.keys())
                if isinstance(feature, dict)
                else []
            )
            if extra:
                raise ValueError(f"format version 1 has no field 'features.{k}.{extra[0]}'")
    return data

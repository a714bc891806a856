"""The names of the files in a bundle directory: one home, so every reader and writer agrees.

Model files are named by their format handler (``skbundle.formats``); everything else a
bundle may hold is named here.
"""

from __future__ import annotations

MANIFEST_NAME = "bundle.json"
"""The manifest: the single source of truth, listing every other file with its hash."""
SIGNATURE_NAME = "signature.json"
"""Optional: a signature over the exact bytes of the manifest."""
REQUIREMENTS_NAME = "requirements.txt"
"""The default runtime's pinned requirements (before skbundle 0.2: the whole build
environment's)."""
RUNTIME_REQUIREMENTS = "requirements-{format}.txt"
"""One runtime's pinned requirements, e.g. ``requirements-onnx.txt``; absent from older
bundles."""
REFERENCE_NAME = "reference.json"
"""Training statistics for drift monitoring."""
READINESS_NAME = "readiness.json"
"""The evaluation data, importances and last checklist that the reports are rendered from."""
REPORT_NAME = "report.html"
IMPORTANCE_PNG = "feature_importance.png"
CHECKLIST_NAME = "checklist.md"
MODEL_CARD_NAME = "model_card.md"

NOT_LISTED = frozenset({MANIFEST_NAME, SIGNATURE_NAME})
"""Files that are not artifacts: the manifest cannot list its own hash, and a signature is made
over the manifest after it is written."""

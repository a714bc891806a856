"""The files that show a bundle's readiness, rendered from its manifest and ``readiness.json``.

Pure rendering: the caller decides where the bytes go (a bundle being built, or an atomic
update of a published one, see :mod:`skbundle.readiness.refresh`).
"""

from __future__ import annotations

from typing import Any

import orjson

from skbundle.core.layout import CHECKLIST_NAME, MODEL_CARD_NAME, READINESS_NAME, REPORT_NAME
from skbundle.core.manifest import Manifest
from skbundle.core.update import NewFile
from skbundle.report import html, model_card
from skbundle.report.checklist import Checklist, to_markdown


def readiness_json(data: dict[str, Any]) -> bytes:
    """``readiness.json`` as written: sorted keys, two-space indent, a final newline."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def stored_checklist(data: dict[str, Any]) -> Checklist | None:
    """The checklist stored in ``readiness.json`` data, if one was computed."""
    raw = data.get("checklist")
    return Checklist.from_dict(raw) if isinstance(raw, dict) else None


def render_files(
    manifest: Manifest, data: dict[str, Any], *, importance_png: bytes | None = None
) -> dict[str, NewFile]:
    """The files that show readiness, rendered from the manifest and ``readiness.json``."""
    checklist = stored_checklist(data)
    files = {
        READINESS_NAME: NewFile(readiness_json(data), "readiness", "json"),
        MODEL_CARD_NAME: NewFile(
            model_card.render(manifest, data, checklist).encode(), "model-card", "markdown"
        ),
        REPORT_NAME: NewFile(
            html.render(manifest, data, checklist, importance_png=importance_png).encode(),
            "report",
            "html",
        ),
    }
    if checklist is not None:
        files[CHECKLIST_NAME] = NewFile(to_markdown(checklist).encode(), "checklist", "markdown")
    return files

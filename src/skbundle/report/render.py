"""Rendering the readiness files, at save time and afterwards.

``write_reports`` is the ``build.WRITERS`` entry: at save time it computes the evaluation
data (``readiness.json``), draws ``feature_importance.png`` and renders ``checklist.md``,
``model_card.md`` and ``report.html``. Later measurements (a benchmark, a checklist run, a
persistence comparison) change what those files show, so :func:`refresh` is the one function
that re-renders them and updates their manifest entries, in one atomic step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from skbundle.errors import SkbundleError
from skbundle.manifest import Manifest, read_manifest
from skbundle.report import html, model_card
from skbundle.report.checklist import CHECKLIST_NAME, MODEL_CARD_NAME, Checklist, to_markdown
from skbundle.report.evaluation import READINESS_NAME, evaluate
from skbundle.report.plots import feature_importance_png
from skbundle.update import NewFile, UpdateResult, update_bundle

if TYPE_CHECKING:
    from skbundle.build import BuildContext

REPORT_NAME = "report.html"
IMPORTANCE_PNG = "feature_importance.png"
_UNSET: Any = object()


class ReadinessError(SkbundleError, ValueError):
    """The bundle's readiness data is missing or unreadable."""

    def __init__(self, path: str, problem: str, hint: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"Cannot read the readiness data {path}: {problem}. {hint}")


def _json(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def read_readiness(bundle_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``readiness.json`` of a bundle (evaluation data, importances, last checklist).

    Raises
    ------
    ReadinessError
        The file is missing (a bundle built before reports existed) or not a JSON object.
    """
    path = Path(bundle_dir) / READINESS_NAME
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise ReadinessError(
            str(path),
            "the file is missing",
            "The bundle was built before reports existed; rebuild it with skbundle.save().",
        ) from exc
    except orjson.JSONDecodeError as exc:
        raise ReadinessError(
            str(path), f"it is not valid JSON ({exc})", "Rebuild the bundle."
        ) from exc
    if not isinstance(data, dict):
        raise ReadinessError(str(path), "expected a JSON object", "Rebuild the bundle.")
    return data


def stored_checklist(data: dict[str, Any]) -> Checklist | None:
    raw = data.get("checklist")
    return Checklist.from_dict(raw) if isinstance(raw, dict) else None


def render_files(
    manifest: Manifest, data: dict[str, Any], *, importance_png: bytes | None = None
) -> dict[str, NewFile]:
    """The files that show readiness, rendered from the manifest and ``readiness.json``."""
    checklist = stored_checklist(data)
    files = {
        READINESS_NAME: NewFile(_json(data), "readiness", "json"),
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


def refresh(
    path: str | os.PathLike[str],
    *,
    checklist: Checklist | None = None,
    benchmarks: dict[str, Any] | None = _UNSET,
    persistence: list[dict[str, Any]] | None = None,
) -> UpdateResult:
    """Store new readiness measurements in a bundle and re-render every file that shows them.

    Parameters
    ----------
    path
        The bundle directory.
    checklist
        A freshly computed checklist to store (otherwise the stored one is re-rendered).
    benchmarks
        A benchmark result for the manifest's ``benchmarks`` section.
    persistence
        Rows of a persistence comparison (see :mod:`skbundle.persistence`).

    Returns
    -------
    UpdateResult
        Says whether the bundle's signature must be renewed.

    A bundle saved before reports existed (no ``readiness.json``) gets the files its
    manifest alone can fill: no curves or importances, the rest as usual.

    Raises
    ------
    ManifestError, ReadinessError
        The manifest cannot be read, or ``readiness.json`` exists but is not valid.
    """
    root = Path(path)
    manifest = read_manifest(root)
    try:
        data = read_readiness(root)
    except ReadinessError:
        if (root / READINESS_NAME).exists():
            raise
        # A bundle saved before reports existed: render what its manifest alone can show.
        data = {}
    if checklist is not None:
        data["checklist"] = checklist.to_dict()
    if persistence is not None:
        data["persistence"] = persistence
    if benchmarks is not _UNSET:
        manifest = manifest.model_copy(update={"benchmarks": benchmarks})
    png_path = root / IMPORTANCE_PNG
    png = png_path.read_bytes() if png_path.is_file() else None
    files = render_files(manifest, data, importance_png=png)
    if benchmarks is _UNSET:
        return update_bundle(root, files)
    return update_bundle(root, files, benchmarks=benchmarks)


def write_reports(ctx: BuildContext) -> None:
    """``build.WRITERS`` entry: evaluation data, importance plot, checklist, card and report.

    Runs last, so the checklist sees every other file of the bundle.
    """
    from skbundle.report.readiness import compute_for_build

    data = evaluate(
        ctx.pipeline,
        ctx.X_train,
        ctx.y_train,
        ctx.X_test,
        ctx.y_test,
        ctx.class_values,
        ctx.classes,
    )
    png = feature_importance_png(data["importance"])
    (ctx.directory / IMPORTANCE_PNG).write_bytes(png)
    ctx.add_file(IMPORTANCE_PNG, role="plot", fmt="png")
    # The checklist looks for the model card among the bundle's files, and the card shows the
    # checklist: write the card once without it, compute it, then write every file.
    card = model_card.render(ctx.manifest(), data, None).encode()
    _write(ctx, {MODEL_CARD_NAME: NewFile(card, "model-card", "markdown")})
    data["checklist"] = compute_for_build(ctx).to_dict()
    _write(ctx, render_files(ctx.manifest(), data, importance_png=png))


def _write(ctx: BuildContext, files: dict[str, NewFile]) -> None:
    for relpath, new in files.items():
        (ctx.directory / relpath).write_bytes(new.content)
        ctx.artifacts = [a for a in ctx.artifacts if a.path != relpath]
        ctx.add_file(relpath, role=new.role, fmt=new.format)

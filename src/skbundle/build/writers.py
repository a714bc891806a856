"""The files a bundle holds besides its model formats, each written by one writer.

``WRITERS`` run in order after the model formats; each writes into the bundle directory and
lists what it wrote in the build context. ``write_reports`` renders the checklist, which
inspects every other file: it stays last.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from skbundle.build.context import BuildContext, estimators
from skbundle.build.evaluation import evaluate
from skbundle.build.parity import FittedModel
from skbundle.bundle import auto_format
from skbundle.core import environment
from skbundle.core.codes import Codec
from skbundle.core.layout import (
    IMPORTANCE_PNG,
    MODEL_CARD_NAME,
    REFERENCE_NAME,
    REQUIREMENTS_NAME,
    RUNTIME_REQUIREMENTS,
)
from skbundle.core.update import NewFile
from skbundle.monitor.reference import DEFAULT_BINS, build_reference
from skbundle.readiness.check import compute_for_build
from skbundle.report import model_card
from skbundle.report.files import render_files
from skbundle.report.plots import feature_importance_png


def write_requirements(ctx: BuildContext) -> None:
    """One ``requirements-<format>.txt`` per model format, each pinning what that runtime
    needs at the versions that built the bundle, and ``requirements.txt``: the default
    runtime's (the one ``load()`` picks without trusting a pickle)."""
    formats = [a.format for a in ctx.artifacts if a.role == "model"]
    objects = estimators(ctx.pipeline)
    texts = {}
    for fmt in formats:
        filename = RUNTIME_REQUIREMENTS.format(format=fmt)
        texts[fmt] = environment.requirements_txt(
            ctx.environment,
            name=ctx.name,
            version=ctx.version,
            created_at=ctx.created_at,
            pins=environment.runtime_pins(fmt, objects),
            runtime=fmt,
            filename=filename,
        )
        (ctx.directory / filename).write_text(texts[fmt], encoding="utf-8")
        ctx.add_file(filename, role="runtime-requirements", fmt="pip-requirements")
    manifest = ctx.manifest()
    default = auto_format(manifest) or auto_format(manifest, trusted_pickle=True)
    text = (
        texts[default].replace(RUNTIME_REQUIREMENTS.format(format=default), REQUIREMENTS_NAME)
        if default in texts
        else environment.requirements_txt(
            ctx.environment, name=ctx.name, version=ctx.version, created_at=ctx.created_at
        )
    )
    (ctx.directory / REQUIREMENTS_NAME).write_text(text, encoding="utf-8")
    ctx.add_file(REQUIREMENTS_NAME, role="requirements", fmt="pip-requirements")


def write_reference(ctx: BuildContext) -> None:
    """``reference.json``: the training statistics drift monitoring compares new data with.

    Written for every output (probabilities, labels, values): see
    :mod:`skbundle.monitor.reference`.
    """
    bins = int(ctx.options.get("reference_bins", DEFAULT_BINS))
    stats = build_reference(
        ctx.codes_train,
        list(ctx.features),
        ctx.y_train,
        output=ctx.output,
        classes=ctx.classes,
        class_values=ctx.class_values,
        out_test=ctx.out_test,
        out_train=ctx.out_train,
        bins=bins,
    )
    (ctx.directory / REFERENCE_NAME).write_bytes(orjson.dumps(stats))
    ctx.add_file(REFERENCE_NAME, role="reference", fmt="skbundle-reference")


def write_reports(ctx: BuildContext) -> None:
    """Evaluation data, importance plot, checklist, model card and report.

    Runs last, so the checklist sees every other file of the bundle.
    """
    data = evaluate(
        ctx.pipeline,
        ctx.X_train,
        ctx.y_train,
        ctx.X_test,
        ctx.y_test,
        ctx.class_values,
        ctx.classes,
        codec=Codec(ctx.features),
        output=ctx.output,
        out_test=ctx.out_test,
        positive=ctx.positive_class,
    )
    png = feature_importance_png(data["importance"])
    (ctx.directory / IMPORTANCE_PNG).write_bytes(png)
    ctx.add_file(IMPORTANCE_PNG, role="plot", fmt="png")
    # The checklist looks for the model card among the bundle's files, and the card shows the
    # checklist: write the card once without it, compute it, then write every file.
    card = model_card.render(ctx.manifest(), data, None).encode()
    _write(ctx, {MODEL_CARD_NAME: NewFile(card, "model-card", "markdown")})
    predictor = FittedModel(ctx.pipeline, Codec(ctx.features), ctx.output)
    data["checklist"] = compute_for_build(ctx.directory, ctx.manifest(), predictor).to_dict()
    _write(ctx, render_files(ctx.manifest(), data, importance_png=png))


def _write(ctx: BuildContext, files: dict[str, NewFile]) -> None:
    for relpath, new in files.items():
        (ctx.directory / relpath).write_bytes(new.content)
        ctx.artifacts = [a for a in ctx.artifacts if a.path != relpath]
        ctx.add_file(relpath, role=new.role, fmt=new.format)


WRITERS: list[Callable[[BuildContext], None]] = [write_requirements, write_reference, write_reports]
"""Writers that add files after the model formats; each lists what it writes in the context."""

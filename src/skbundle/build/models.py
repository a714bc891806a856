"""Writing the model in every registered format, and measuring each file's parity as written."""

from __future__ import annotations

from typing import Any

from skbundle.build.context import BuildContext
from skbundle.build.parity import FittedModel, evaluation_sets, measure_sets
from skbundle.core.codes import Codec
from skbundle.core.integrity import read_verified
from skbundle.core.runtime import Signature
from skbundle.errors import FormatUnavailable, PipelineError, SkbundleError, UntrustedArtifactError
from skbundle.formats import FORMATS, SaveContext, shorten


def format_options(options: dict[str, Any]) -> dict[str, Any]:
    """The save options, each checked by the format that reads it (ValueError names a bad one)."""
    checked: dict[str, Any] = {}
    for handler in FORMATS.values():
        checked.update(handler.check_options(options))
    return checked


def _cause(exc: UntrustedArtifactError) -> str:
    """What the format's own library said, when it was the library that failed."""
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, SkbundleError):
        return f"{type(cause).__name__}: {cause}"
    return exc.reason


def write_formats(ctx: BuildContext) -> None:
    """Write the pipeline in every registered format and record each file's parity.

    A format that cannot store or read back this pipeline is left out, and the manifest says
    why (``unavailable_formats``); at least one format must succeed.
    """
    names = [str(c) for c in ctx.X_train.columns]
    codec = Codec(ctx.features)
    sets = evaluation_sets(ctx.pipeline, ctx.codes_test, ctx.codes_train, codec)
    fitted = FittedModel(ctx.pipeline, codec, ctx.output)
    references = [fitted.predict_output(s.X) for s in sets]
    signature = Signature(tuple(ctx.features), ctx.output)
    save_ctx = SaveContext(
        feature_names=tuple(names),
        sample=ctx.codes_train,
        options=ctx.options,
        signature=signature,
    )
    for name, handler in FORMATS.items():
        try:
            written = handler.save(ctx.pipeline, ctx.directory, save_ctx)
            relpath = written.relative_to(ctx.directory).as_posix()
            artifact = ctx.add_file(relpath, role="model", fmt=name)
            # Parity is measured on the bytes as written and re-read, exactly as load() will.
            # A file written a moment ago into our own temporary directory is trusted: every
            # name it imports is the pipeline's own (the pickle is still audited).
            data = read_verified(ctx.directory, artifact)
            try:
                trusted = handler.imports(data, source=relpath)
                runtime = handler.load(data, source=relpath, signature=signature, trusted=trusted)
            except UntrustedArtifactError as exc:
                raise FormatUnavailable(
                    shorten(f"{name} wrote the pipeline but cannot read it back: {_cause(exc)}")
                ) from exc
            try:
                ctx.parity[name] = measure_sets(references, runtime, sets, ctx.output)
            except Exception as exc:
                # A runtime that fails on rows the fitted pipeline answers cannot serve it,
                # whatever its library raises (onnxruntime's Fail is a bare Exception): the
                # format is left out with the library's words, as for a failed write.
                raise FormatUnavailable(
                    shorten(
                        f"{name} wrote the pipeline but its runtime fails on the parity rows: "
                        f"{type(exc).__name__}: {exc}"
                    )
                ) from exc
        except FormatUnavailable as exc:
            ctx.unavailable[name] = str(exc)
            # Only this handler's file: every format's file is called model.<something>.
            (ctx.directory / handler.filename).unlink(missing_ok=True)
            ctx.artifacts = [a for a in ctx.artifacts if a.format != name]
    if not ctx.parity:
        raise PipelineError(
            "pipeline",
            "a pipeline at least one format can store",
            "; ".join(f"{k}: {v}" for k, v in ctx.unavailable.items()),
        )

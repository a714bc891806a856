"""The ONNX self-containment check: a bundle's graph may not read data from outside its file.

ONNX tensors can name an external file for their data; that path comes from the file's
author. The model is parsed with ``onnx`` (protobuf, no code runs) and every tensor it holds
is inspected before onnxruntime sees the bytes.
"""

from __future__ import annotations

from typing import Any

from skbundle.errors import UntrustedArtifactError, preview


def _tensors(graph: Any) -> Any:
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def check_self_contained(data: bytes, *, source: str) -> None:
    """Refuse a model that points at external data files: those paths come from the file.

    Raises
    ------
    UntrustedArtifactError
        The model does not parse, or a tensor's data lives outside the file.
    """
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError, whose module has no type stubs
        raise UntrustedArtifactError(
            source, f"it is not an ONNX model ({exc})", "Rebuild the bundle."
        ) from exc
    external = [t.name for t in _tensors(model.graph) if t.data_location == 1]
    if external:
        raise UntrustedArtifactError(
            source,
            f"tensors {preview(sorted(external))} read their data from files outside the model",
            "A bundle's ONNX model must be self-contained; rebuild the bundle.",
        )

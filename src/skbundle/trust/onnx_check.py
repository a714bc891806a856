"""The ONNX self-containment check: a bundle's graph runs standard operators on its own data.

An ONNX tensor can say that its bytes live in another file (``data_location = EXTERNAL`` and
``external_data`` entries naming a path); onnxruntime then reads that file when the session is
created, and a graph can hand those bytes back as a prediction. The path comes from the file's
author, so a bundle's model may hold no such tensor anywhere. Tensors hide in many places:
initializers, sparse initializers (their values and their indices), node attributes (``t``,
``tensors``, ``sparse_tensor``, ``sparse_tensors``), the subgraphs of ``If`` / ``Loop`` /
``Scan`` (``g``, ``graphs``, recursively), model-local function bodies and training info.
Rather than list those fields, the check walks the parsed protobuf generically: every message
field of every message, whatever its name, and judges each ``TensorProto`` it meets, so a field
cannot be forgotten (``tests/test_onnx_trust.py`` enumerates the descriptors to prove that
every message type that can hold a tensor is reached).

The model is refused, before onnxruntime sees its bytes, when:

- it holds fields the installed ``onnx`` does not know (onnxruntime may know them, and the
  walk could not see inside them), nests subgraphs more than ``MAX_SUBGRAPH_DEPTH`` deep, has
  more than ``MAX_NODES`` nodes or ``MAX_MESSAGES`` protobuf messages: what the check cannot
  walk completely it never passes;
- any tensor reads its data from outside the file;
- it defines model-local functions (``model.functions``). skbundle's exact writer
  (``formats/onnx_graph``) never emits them, nor does skl2onnx for the demo pipeline;
  skl2onnx does for some steps (``KNNImputer``), whose bundles then record ONNX as
  unavailable (``save()`` reads every format back through this check) and are served by
  skops;
- any node, in any graph or function, uses an operator domain other than the standard ones
  (``""`` / ``"ai.onnx"`` and ``"ai.onnx.ml"``). Contrib and custom domains are where operators
  that read files live (``com.microsoft.EPContext`` names a binary to load).

Parsing with ``onnx`` is protobuf only: no code from the file runs. onnxruntime is also told to
resolve external data in a folder that cannot hold files (``formats/onnx_format``), so a model
that got past this check still could not read one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skbundle.errors import MAX_LISTED, UntrustedArtifactError

STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
"""The operator domains a bundle's graph may use: the ONNX standard and its ML operators."""

MAX_SUBGRAPH_DEPTH = 4
"""How deep subgraphs may nest below the main graph (skbundle's own writer emits none)."""

MAX_NODES = 10_000
"""Nodes in all graphs and functions together (the demo graph has 7; skl2onnx's KNNImputer
pipeline 210)."""

MAX_MESSAGES = 100_000
"""Protobuf messages walked in all (demo model 45, KNNImputer 452): bounds the walk's time."""

_SELF_CONTAINED = "A bundle's ONNX model must be self-contained; rebuild the bundle."
_STANDARD = (
    "A bundle's ONNX model may use only standard ONNX operators; rebuild the bundle with "
    "skbundle.save(), which records ONNX as unavailable for pipelines that need others."
)
_WALKABLE = (
    "skbundle refuses an ONNX model it cannot check completely; rebuild the bundle with "
    "skbundle.save() in this environment."
)


def _listing(entries: Sequence[str]) -> str:
    """Sorted, capped like :func:`skbundle.errors.preview`, without quoting each entry again."""
    ordered = sorted(entries)
    shown = ", ".join(ordered[:MAX_LISTED])
    more = f", ... ({len(ordered) - MAX_LISTED} more)" if len(ordered) > MAX_LISTED else ""
    return shown + more


def _label(text: str) -> str:
    """An author-chosen name, quoted (repr escapes control characters) and kept short."""
    return repr(text[:40] + "..." if len(text) > 40 else text)


def _is_repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 5.29; ``label`` is gone in 7
    if flag is not None:
        return bool(flag)
    return bool(field.label == field.LABEL_REPEATED)


def _reads_outside(tensor: Any) -> bool:
    """Either marker is enough: onnxruntime reads ``external_data`` whatever the location says."""
    return bool(tensor.data_location != tensor.DEFAULT or len(tensor.external_data))


# Where a message sits: (parent place, field name, index in a repeated field or -1, message).
# Paths are only spelled out for a message that is refused, so the walk stays cheap.
_Place = tuple[Any, str, int, Any]


def _path(place: _Place | None) -> str:
    """``graph.node[1].attribute['then_branch'].g.initializer[0]``: attributes by their name."""
    parts: list[str] = []
    while place is not None:
        parent, field, index, message = place
        if index < 0:
            parts.append(field)
        elif message.DESCRIPTOR.full_name == "onnx.AttributeProto" and message.name:
            parts.append(f"{field}[{_label(message.name)}]")
        else:
            parts.append(f"{field}[{index}]")
        place = parent
    return ".".join(reversed(parts))


class _Walk:
    """Everything the check needs, gathered in one pass over every message of the model."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.external: list[str] = []
        self.foreign: list[str] = []
        self.messages = 0
        self.nodes = 0

    def refuse(self, reason: str) -> UntrustedArtifactError:
        return UntrustedArtifactError(self.source, reason, _WALKABLE)

    def run(self, model: Any) -> None:
        import onnx
        from google.protobuf.unknown_fields import UnknownFieldSet  # type: ignore[import-untyped]

        graph, node, tensor = (
            onnx.GraphProto.DESCRIPTOR,
            onnx.NodeProto.DESCRIPTOR,
            onnx.TensorProto.DESCRIPTOR,
        )
        # Depth-first, children pushed in reverse so entries come out in file order.
        stack: list[tuple[Any, _Place | None, int]] = [(model, None, 0)]
        while stack:
            message, place, depth = stack.pop()
            self.messages += 1
            if self.messages > MAX_MESSAGES:
                raise self.refuse(f"it has more than {MAX_MESSAGES} protobuf messages")
            if len(UnknownFieldSet(message)):
                # onnxruntime's copy of onnx.proto may know the field, and the walk cannot
                # see inside it.
                where = _path(place) or "the model itself"
                raise self.refuse(
                    f"it holds fields the installed onnx does not know (in {where}), so their "
                    "content cannot be checked"
                )
            kind = message.DESCRIPTOR
            if kind is graph:
                depth += 1
                if depth > MAX_SUBGRAPH_DEPTH + 1:
                    raise self.refuse(
                        f"its subgraphs nest more than {MAX_SUBGRAPH_DEPTH} deep "
                        f"(at {_path(place)})"
                    )
            elif kind is node:
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    raise self.refuse(f"it has more than {MAX_NODES} nodes")
                if message.domain not in STANDARD_DOMAINS:
                    self.foreign.append(
                        f"{_path(place)} {_label(message.domain)}::{_label(message.op_type)}"
                    )
            elif kind is tensor and _reads_outside(message):
                name = f" {_label(message.name)}" if message.name else ""
                self.external.append(_path(place) + name)
            children: list[tuple[Any, _Place | None, int]] = []
            for field, value in message.ListFields():
                if field.type != field.TYPE_MESSAGE:
                    continue
                if _is_repeated(field):
                    children.extend(
                        (item, (place, field.name, i, item), depth) for i, item in enumerate(value)
                    )
                else:
                    children.append((value, (place, field.name, -1, value), depth))
            stack.extend(reversed(children))


def check_self_contained(data: bytes, *, source: str) -> None:
    """Refuse a model that reads outside its file, uses non-standard operators, or hides fields.

    Parameters
    ----------
    data
        The verified bytes of ``model.onnx``.
    source
        The file's path, for messages.

    Raises
    ------
    UntrustedArtifactError
        The model does not parse; holds fields unknown to the installed ``onnx``; is deeper or
        larger than the walk's caps; has a tensor whose data lives outside the file; defines
        model-local functions; or uses an operator domain outside ``STANDARD_DOMAINS``. The
        message names the field (``graph.node[0].attribute[0].sparse_tensor.values``) and the
        tensor or operator.
    """
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError, whose module has no type stubs
        raise UntrustedArtifactError(
            source, f"it is not an ONNX model ({exc})", "Rebuild the bundle."
        ) from exc
    walk = _Walk(source)
    walk.run(model)
    if walk.external:
        count = len(walk.external)
        raise UntrustedArtifactError(
            source,
            f"{count} tensor{'s' if count != 1 else ''} read{'' if count != 1 else 's'} "
            f"data from a file outside the model: {_listing(walk.external)}",
            _SELF_CONTAINED,
        )
    if model.functions:
        names = [f"{_label(f.domain)}::{_label(f.name)}" for f in model.functions]
        raise UntrustedArtifactError(
            source,
            f"it defines {len(names)} model-local function{'s' if len(names) != 1 else ''} "
            f"({_listing(names)}), which skbundle does not run",
            _STANDARD,
        )
    if walk.foreign:
        raise UntrustedArtifactError(
            source,
            f"{len(walk.foreign)} node{'s use' if len(walk.foreign) != 1 else ' uses'} "
            f"operator domains outside {list(STANDARD_DOMAINS)}: {_listing(walk.foreign)}",
            _STANDARD,
        )

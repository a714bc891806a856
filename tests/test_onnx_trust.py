"""A forged model.onnx may not read the host's files, whatever field it hides the tensor in.

Every forged bundle here is the demo bundle with ``model.onnx`` replaced by a crafted graph,
its hash recomputed (``rehash``) and its ONNX parity claimed exact, so that ``auto`` picks it.
The graph's ``probabilities`` would be the bytes of ``signing.key``, a file placed next to the
bundle in the working directory, exactly where onnxruntime resolves external data for a model
loaded from bytes. ``test_the_forged_models_are_real_attacks`` proves that onnxruntime with its
default options does hand those bytes back; the other tests prove that skbundle never does.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

import skbundle
from skbundle.core.manifest import read_manifest, write_manifest
from skbundle.errors import UntrustedArtifactError
from skbundle.formats.onnx_format import session_options
from skbundle.trust.onnx_check import (
    MAX_MESSAGES,
    MAX_NODES,
    MAX_SUBGRAPH_DEPTH,
    STANDARD_DOMAINS,
    check_self_contained,
)
from tests.tampering import rehash

SECRET_FILE = "signing.key"
SECRET = b"Q7x9Zp2L: a private key that must stay on this host, padded past 64 bytes ........"
N = 8  # bytes of the secret each forged graph reads: enough to recognise, and no more
LEAKED = SECRET[:N]

SELF_CONTAINED = "A bundle's ONNX model must be self-contained; rebuild the bundle."
STANDARD = (
    "A bundle's ONNX model may use only standard ONNX operators; rebuild the bundle with "
    "skbundle.save(), which records ONNX as unavailable for pipelines that need others."
)
WALKABLE = (
    "skbundle refuses an ONNX model it cannot check completely; rebuild the bundle with "
    "skbundle.save() in this environment."
)


# -- building forged models -------------------------------------------------------------------
def external(
    name: str, *, location: str = SECRET_FILE, dtype: int = TensorProto.UINT8, length: int = N
) -> TensorProto:
    """A tensor whose bytes onnxruntime would read from ``location``, marked by hand."""
    tensor = TensorProto(name=name, data_type=dtype, dims=[N])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def sparse(name: str, *, external_indices: bool = False) -> onnx.SparseTensorProto:
    """A sparse [N] tensor: external values, or (``external_indices``) external indices."""
    if external_indices:
        values = numpy_helper.from_array(np.zeros(N, np.uint8), name)
        indices = external(f"{name}_indices", dtype=TensorProto.INT64, length=N * 8)
    else:
        values = external(name)
        indices = numpy_helper.from_array(np.arange(N, dtype=np.int64), f"{name}_indices")
    return helper.make_sparse_tensor(values, indices, [N])


def leak_graph(
    nodes: list[onnx.NodeProto],
    *,
    initializers: tuple[TensorProto, ...] = (),
    sparse_initializers: tuple[onnx.SparseTensorProto, ...] = (),
) -> onnx.GraphProto:
    """The demo's interface (X: float64 [n, 30] -> probabilities) returning ``leak`` as numbers."""
    shape = numpy_helper.from_array(np.array([-1, 2], np.int64), "shape")
    tail = [
        helper.make_node("Cast", ["leak"], ["leak_f"], to=TensorProto.DOUBLE),
        helper.make_node("Reshape", ["leak_f", "shape"], ["probabilities"]),
    ]
    return helper.make_graph(
        [*nodes, *tail],
        "forged",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, 30])],
        [helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 2])],
        initializer=[shape, *initializers],
        sparse_initializer=list(sparse_initializers),
    )


def model(
    graph: onnx.GraphProto,
    *,
    functions: tuple[onnx.FunctionProto, ...] = (),
    domains: tuple[str, ...] = (),
) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", 21), *(helper.make_opsetid(d, 1) for d in domains)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=10, functions=functions)


def branch(
    nodes: list[onnx.NodeProto], out: str, *, initializers: tuple[TensorProto, ...] = ()
) -> Any:
    """A subgraph with no inputs and one uint8 [N] output."""
    return helper.make_graph(
        nodes,
        f"branch_{out}",
        [],
        [helper.make_tensor_value_info(out, TensorProto.UINT8, [N])],
        initializer=list(initializers),
    )


def constant(out: str, **attr: Any) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [out], **attr)


def zeros(out: str) -> onnx.NodeProto:
    return constant(out, value=numpy_helper.from_array(np.zeros(N, np.uint8), f"{out}_zeros"))


def if_nodes(then_branch: onnx.GraphProto, out: str = "leak") -> list[onnx.NodeProto]:
    """``out = If(true, then_branch, zeros)``."""
    return [
        constant(f"{out}_cond", value=numpy_helper.from_array(np.array(True), f"{out}_true")),
        helper.make_node(
            "If",
            [f"{out}_cond"],
            [out],
            then_branch=then_branch,
            else_branch=branch([zeros(f"{out}_else")], f"{out}_else"),
        ),
    ]


def nested_ifs(levels: int) -> list[onnx.NodeProto]:
    """``levels`` Ifs inside one another, the innermost then-branch reading the secret."""
    inner = branch(
        [helper.make_node("Identity", ["deep"], ["t0"])], "t0", initializers=(external("deep"),)
    )
    for level in range(1, levels):
        inner = branch(if_nodes(inner, out=f"t{level}"), f"t{level}")
    return if_nodes(inner)


def local_function(body: list[onnx.NodeProto]) -> onnx.FunctionProto:
    return helper.make_function(
        "skbundle.forged", "Leak", [], ["leak"], body, [helper.make_opsetid("", 21)]
    )


def with_training_info(m: onnx.ModelProto) -> onnx.ModelProto:
    info = m.training_info.add()
    info.initialization.CopyFrom(
        branch(
            [helper.make_node("Identity", ["w"], ["w_out"])], "w_out", initializers=(external("w"),)
        )
    )
    return m


def with_unknown_field(m: onnx.ModelProto) -> bytes:
    """A field number this onnx does not define (99, varint 1): onnxruntime's onnx may."""
    return m.SerializeToString() + bytes([0x98, 0x06, 0x01])


def with_unknown_field_in_a_node(m: onnx.ModelProto) -> bytes:
    node = onnx.NodeProto.FromString(
        m.graph.node[0].SerializeToString() + bytes([0x98, 0x06, 0x01])
    )
    m.graph.node[0].CopyFrom(node)
    return m.SerializeToString()


def _leak_model() -> onnx.ModelProto:
    return model(leak_graph([], initializers=(external("leak"),)))


def _many_nodes() -> onnx.ModelProto:
    nodes = [helper.make_node("Identity", ["x0"], ["leak"])]
    nodes += [helper.make_node("Identity", [f"x{i + 1}"], [f"x{i}"]) for i in range(MAX_NODES)]
    return model(
        leak_graph(
            nodes, initializers=(numpy_helper.from_array(np.zeros(N, np.uint8), f"x{MAX_NODES}"),)
        )
    )


THEN = ".node[1].attribute['then_branch'].g"  # one level of nested_ifs, as the check names it
LEAK_FN = local_function([constant("leak", value=external("f"))])
BENIGN_FN = local_function([zeros("leak")])
CALL_FN = helper.make_node("Leak", [], ["leak"], domain="skbundle.forged")

# id -> (the forged model.onnx bytes, the reason skbundle gives, its hint)
FORGED: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "initializer": (
        lambda: _leak_model().SerializeToString(),
        "1 tensor reads data from a file outside the model: graph.initializer[1] 'leak'",
        SELF_CONTAINED,
    ),
    "initializer-at-a-memory-address": (
        lambda: model(
            leak_graph([], initializers=(external("leak", location="*/_ORT_MEM_ADDR_/*"),))
        ).SerializeToString(),
        "1 tensor reads data from a file outside the model: graph.initializer[1] 'leak'",
        SELF_CONTAINED,
    ),
    "sparse-initializer-values": (
        lambda: model(leak_graph([], sparse_initializers=(sparse("leak"),))).SerializeToString(),
        "1 tensor reads data from a file outside the model: graph.sparse_initializer[0].values "
        "'leak'",
        SELF_CONTAINED,
    ),
    "sparse-initializer-indices": (
        lambda: model(
            leak_graph([], sparse_initializers=(sparse("leak", external_indices=True),))
        ).SerializeToString(),
        "1 tensor reads data from a file outside the model: graph.sparse_initializer[0].indices "
        "'leak_indices'",
        SELF_CONTAINED,
    ),
    "constant-value": (
        lambda: model(leak_graph([constant("leak", value=external("c"))])).SerializeToString(),
        "1 tensor reads data from a file outside the model: graph.node[0].attribute['value'].t 'c'",
        SELF_CONTAINED,
    ),
    "constant-sparse-value": (
        lambda: model(leak_graph([constant("leak", sparse_value=sparse("c"))])).SerializeToString(),
        "1 tensor reads data from a file outside the model: "
        "graph.node[0].attribute['sparse_value'].sparse_tensor.values 'c'",
        SELF_CONTAINED,
    ),
    "if-subgraph-initializer": (
        lambda: model(leak_graph(nested_ifs(1))).SerializeToString(),
        "1 tensor reads data from a file outside the model: "
        "graph.node[1].attribute['then_branch'].g.initializer[0] 'deep'",
        SELF_CONTAINED,
    ),
    "if-subgraph-sparse-constant": (
        lambda: model(
            leak_graph(if_nodes(branch([constant("t", sparse_value=sparse("s"))], "t")))
        ).SerializeToString(),
        "1 tensor reads data from a file outside the model: graph.node[1].attribute"
        "['then_branch'].g.node[0].attribute['sparse_value'].sparse_tensor.values 's'",
        SELF_CONTAINED,
    ),
    "nested-subgraphs-within-the-cap": (
        lambda: model(leak_graph(nested_ifs(MAX_SUBGRAPH_DEPTH))).SerializeToString(),
        "1 tensor reads data from a file outside the model: "
        + "graph"
        + THEN * MAX_SUBGRAPH_DEPTH
        + ".initializer[0] 'deep'",
        SELF_CONTAINED,
    ),
    "function-body": (
        lambda: model(
            leak_graph([CALL_FN]), functions=(LEAK_FN,), domains=("skbundle.forged",)
        ).SerializeToString(),
        "1 tensor reads data from a file outside the model: functions[0].node[0].attribute"
        "['value'].t 'f'",
        SELF_CONTAINED,
    ),
    "training-info": (
        lambda: with_training_info(model(leak_graph([zeros("leak")]))).SerializeToString(),
        "1 tensor reads data from a file outside the model: "
        "training_info[0].initialization.initializer[0] 'w'",
        SELF_CONTAINED,
    ),
    "every-place-at-once": (
        lambda: with_training_info(
            model(
                leak_graph(
                    [CALL_FN, constant("c_out", value=external("c"))],
                    initializers=(external("a"), external("b")),
                ),
                functions=(LEAK_FN,),
                domains=("skbundle.forged",),
            )
        ).SerializeToString(),
        "5 tensors read data from a file outside the model: functions[0].node[0].attribute"
        "['value'].t 'f', graph.initializer[1] 'a', graph.initializer[2] 'b', graph.node[1]"
        ".attribute['value'].t 'c', training_info[0].initialization.initializer[0] 'w'",
        SELF_CONTAINED,
    ),
    "local-function-without-external-data": (
        lambda: model(
            leak_graph([CALL_FN]), functions=(BENIGN_FN,), domains=("skbundle.forged",)
        ).SerializeToString(),
        "it defines 1 model-local function ('skbundle.forged'::'Leak'), which skbundle does "
        "not run",
        STANDARD,
    ),
    "custom-domain": (
        lambda: model(
            leak_graph(
                [helper.make_node("ReadFile", [], ["leak"], domain="evil.ops", path=SECRET_FILE)]
            ),
            domains=("evil.ops",),
        ).SerializeToString(),
        "1 node uses operator domains outside ['', 'ai.onnx', 'ai.onnx.ml']: "
        "graph.node[0] 'evil.ops'::'ReadFile'",
        STANDARD,
    ),
    "contrib-domain-in-a-subgraph": (
        lambda: model(
            leak_graph(
                if_nodes(
                    branch(
                        [
                            helper.make_node(
                                "EPContext",
                                [],
                                ["t"],
                                domain="com.microsoft",
                                embed_mode=0,
                                ep_cache_context=SECRET_FILE,
                            )
                        ],
                        "t",
                    )
                )
            ),
            domains=("com.microsoft",),
        ).SerializeToString(),
        "1 node uses operator domains outside ['', 'ai.onnx', 'ai.onnx.ml']: "
        "graph.node[1].attribute['then_branch'].g.node[0] 'com.microsoft'::'EPContext'",
        STANDARD,
    ),
    "nested-subgraphs-beyond-the-cap": (
        lambda: model(leak_graph(nested_ifs(MAX_SUBGRAPH_DEPTH + 1))).SerializeToString(),
        f"its subgraphs nest more than {MAX_SUBGRAPH_DEPTH} deep (at "
        + "graph"
        + THEN * MAX_SUBGRAPH_DEPTH
        + ".node[1].attribute['else_branch'].g)",  # in file order, the else branch comes first
        WALKABLE,
    ),
    "a-field-this-onnx-does-not-know-in-a-node": (
        lambda: with_unknown_field_in_a_node(model(leak_graph([zeros("leak")]))),
        "it holds fields the installed onnx does not know (in graph.node[0]), so their "
        "content cannot be checked",
        WALKABLE,
    ),
    "too-many-nodes": (
        lambda: _many_nodes().SerializeToString(),
        f"it has more than {MAX_NODES} nodes",
        WALKABLE,
    ),
    "a-field-this-onnx-does-not-know": (
        lambda: with_unknown_field(_leak_model()),
        "it holds fields the installed onnx does not know (in the model itself), so their "
        "content cannot be checked",
        WALKABLE,
    ),
}

# Forged models that onnxruntime, left to its defaults, really does read the secret through.
REAL_ATTACKS = [
    "initializer",
    "sparse-initializer-values",
    "constant-value",
    "constant-sparse-value",
    "if-subgraph-initializer",
    "if-subgraph-sparse-constant",
    "nested-subgraphs-within-the-cap",
    "nested-subgraphs-beyond-the-cap",
    "function-body",
    "every-place-at-once",
    "a-field-this-onnx-does-not-know",
]


# onnxruntime's errors share no base class but Exception.
ORT_REFUSALS = (
    ort_errors.Fail,
    ort_errors.InvalidGraph,
    ort_errors.InvalidArgument,
    ort_errors.NotImplemented,
)


@pytest.fixture
def in_server_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working directory of a server, with a signing key in it."""
    (tmp_path / SECRET_FILE).write_bytes(SECRET)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def forge(bundle: Path, data: bytes) -> None:
    """Replace the bundle's model.onnx, claim exact parity for it, and fix the hashes."""
    (bundle / "model.onnx").write_bytes(data)
    manifest = read_manifest(bundle)
    claimed = manifest.parity["onnx"].model_copy(
        update={"exact": True, "max_abs_diff": 0.0, "label_agreement": 1.0}
    )
    write_manifest(
        bundle, manifest.model_copy(update={"parity": {**manifest.parity, "onnx": claimed}})
    )
    rehash(bundle, "model.onnx")


def _run(data: bytes, options: Any) -> bytes:
    """What onnxruntime answers for the forged model, as the bytes the graph returned."""
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    out = session.run(None, {"X": np.zeros((1, 30))})[0]
    return bytes(np.asarray(out).astype(np.uint8).ravel())


# -- skbundle.load refuses every forged bundle ------------------------------------------------
@pytest.mark.parametrize(("make", "reason", "hint"), list(FORGED.values()), ids=list(FORGED))
def test_forged_onnx_bundles_are_refused(
    bundle_copy: Path, in_server_dir: Path, make: Callable[[], bytes], reason: str, hint: str
) -> None:
    forge(bundle_copy, make())
    assert read_manifest(bundle_copy).parity["onnx"].exact  # auto would pick it
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy)
    source = bundle_copy / "model.onnx"
    assert str(info.value) == f"Refusing to load {source}: {reason}. {hint}"
    told = "".join(traceback.format_exception(info.value))
    assert LEAKED not in told.encode()
    with pytest.raises(UntrustedArtifactError, match=r"^Refusing to load"):
        skbundle.load(bundle_copy, runtime="onnx")


def test_the_forged_models_are_real_attacks(in_server_dir: Path) -> None:
    """With onnxruntime's default options, each of these graphs returns the secret's bytes."""
    leaked = {name: _run(FORGED[name][0](), ort.SessionOptions()) for name in REAL_ATTACKS}
    assert leaked == dict.fromkeys(REAL_ATTACKS, LEAKED)


@pytest.mark.parametrize("name", list(FORGED))
def test_onnxruntime_with_our_options_reads_no_file_even_without_the_check(
    in_server_dir: Path, name: str
) -> None:
    """The second wall: the session options alone keep the secret in its file."""
    data = FORGED[name][0]()
    if name in REAL_ATTACKS:  # refused: the file is looked for where no file can be
        with pytest.raises(ORT_REFUSALS, match=re.escape(f"{os.devnull}/{SECRET_FILE}")) as info:
            _run(data, session_options())
        assert LEAKED not in str(info.value).encode()
        return
    try:  # the rest never reach a file anyway: onnxruntime refuses them or returns no secret
        answer = _run(data, session_options())
    except ORT_REFUSALS as exc:
        assert LEAKED not in str(exc).encode()
    else:
        assert LEAKED not in answer


def test_the_demo_model_passes_and_loads_with_the_new_options(cancer: Any) -> None:
    data = (cancer.path / "model.onnx").read_bytes()
    check_self_contained(data, source="model.onnx")
    proba = skbundle.load(cancer.path, runtime="onnx").predict_proba(cancer.X_test)
    assert np.array_equal(proba, cancer.pipeline.predict_proba(cancer.X_test))


# -- the walk cannot miss a field ------------------------------------------------------------
TENSOR_TYPES = ("onnx.TensorProto", "onnx.SparseTensorProto")


def _message_fields(descriptor: Any) -> list[Any]:
    return [f for f in descriptor.fields if f.message_type is not None]


def _reachable(root: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    todo = [root]
    while todo:
        d = todo.pop()
        if d.full_name in seen:
            continue
        seen[d.full_name] = d
        todo += [f.message_type for f in _message_fields(d)]
    return seen


def _holds_tensors(types: dict[str, Any]) -> set[str]:
    """Message types that can contain a tensor, at any depth."""
    holds = set(TENSOR_TYPES)
    grew = True
    while grew:
        grew = False
        for name, d in types.items():
            if name not in holds and any(
                f.message_type.full_name in holds for f in _message_fields(d)
            ):
                holds.add(name)
                grew = True
    return holds


def _tensor_paths(descriptor: Any, on_path: frozenset[str] = frozenset()) -> Iterator[list[Any]]:
    """Every chain of fields from ``descriptor`` to a TensorProto, each type at most once."""
    for field in _message_fields(descriptor):
        child = field.message_type
        if child.full_name == "onnx.TensorProto":
            yield [field]
        elif child.full_name not in on_path | {descriptor.full_name}:
            for rest in _tensor_paths(child, on_path | {descriptor.full_name}):
                yield [field, *rest]


def _is_repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def test_every_field_that_can_hold_a_tensor_is_listed_here() -> None:
    """An onnx upgrade that adds a place for tensors shows up here, to be looked at."""
    types = _reachable(onnx.ModelProto.DESCRIPTOR)
    holds = _holds_tensors(types)
    fields = sorted(
        f"{name.removeprefix('onnx.')}.{f.name}"
        for name, d in types.items()
        for f in _message_fields(d)
        if f.message_type.full_name in holds
    )
    assert fields == [
        "AttributeProto.g",
        "AttributeProto.graphs",
        "AttributeProto.sparse_tensor",
        "AttributeProto.sparse_tensors",
        "AttributeProto.t",
        "AttributeProto.tensors",
        "FunctionProto.attribute_proto",
        "FunctionProto.node",
        "GraphProto.initializer",
        "GraphProto.node",
        "GraphProto.sparse_initializer",
        "ModelProto.functions",
        "ModelProto.graph",
        "ModelProto.training_info",
        "NodeProto.attribute",
        "SparseTensorProto.indices",
        "SparseTensorProto.values",
        "TrainingInfoProto.algorithm",
        "TrainingInfoProto.initialization",
    ]
    # The walk treats a repeated message field as a list: no map field may hide an entry.
    maps = [
        f"{name}.{f.name}"
        for name, d in types.items()
        for f in _message_fields(d)
        if f.message_type.GetOptions().map_entry
    ]
    assert maps == []


def _place_external(path: list[Any]) -> tuple[onnx.ModelProto, str]:
    """A ModelProto with one external tensor at the end of ``path``, and where it is."""
    m = onnx.ModelProto()
    node: Any = m
    where = []
    for field in path:
        if _is_repeated(field):
            node = getattr(node, field.name).add()
            where.append(f"{field.name}[0]")
        else:
            node = getattr(node, field.name)
            where.append(field.name)
    node.name = "hidden"
    node.data_location = TensorProto.EXTERNAL
    entry = node.external_data.add()
    entry.key, entry.value = "location", SECRET_FILE
    return m, ".".join(where)


def test_an_external_tensor_is_found_in_every_place_the_proto_has_for_one() -> None:
    """Generated from the descriptors: every chain of fields that ends in a tensor."""
    paths = list(_tensor_paths(onnx.ModelProto.DESCRIPTOR))
    found = []
    for path in paths:
        m, where = _place_external(path)
        with pytest.raises(UntrustedArtifactError) as info:
            check_self_contained(m.SerializeToString(), source="m")
        assert info.value.reason == (
            f"1 tensor reads data from a file outside the model: {where} 'hidden'"
        )
        found.append(where)
    # Spot-check that the generator itself reaches the places this issue was about.
    for expected in (
        "graph.initializer[0]",
        "graph.sparse_initializer[0].values",
        "graph.sparse_initializer[0].indices",
        "graph.node[0].attribute[0].t",
        "graph.node[0].attribute[0].tensors[0]",
        "graph.node[0].attribute[0].sparse_tensor.values",
        "graph.node[0].attribute[0].sparse_tensors[0].indices",
        "functions[0].node[0].attribute[0].t",
        "functions[0].attribute_proto[0].sparse_tensor.values",
        "training_info[0].algorithm.initializer[0]",
    ):
        assert expected in found
    assert len(found) == len(set(found)) > 30


def test_a_subgraph_s_tensors_are_found_at_any_allowed_depth() -> None:
    for levels in range(1, MAX_SUBGRAPH_DEPTH + 1):
        m = onnx.ModelProto()
        graph = m.graph
        for _ in range(levels):
            graph = graph.node.add().attribute.add().graphs.add()
        graph.initializer.append(external("deep"))
        with pytest.raises(UntrustedArtifactError) as info:
            check_self_contained(m.SerializeToString(), source="m")
        where = "graph" + ".node[0].attribute[0].graphs[0]" * levels
        assert info.value.reason.endswith(f": {where}.initializer[0] 'deep'")


def test_a_model_with_more_messages_than_the_walk_takes_is_refused() -> None:
    m = model(leak_graph([zeros("leak")]))
    for _ in range(MAX_MESSAGES):
        m.graph.value_info.add()
    with pytest.raises(UntrustedArtifactError) as info:
        check_self_contained(m.SerializeToString(), source="m")
    assert str(info.value) == (
        f"Refusing to load m: it has more than {MAX_MESSAGES} protobuf messages. {WALKABLE}"
    )


def test_the_standard_domains() -> None:
    assert STANDARD_DOMAINS == ("", "ai.onnx", "ai.onnx.ml")
    m = model(leak_graph([zeros("leak")]))
    m.graph.node[0].domain = "ai.onnx"
    check_self_contained(m.SerializeToString(), source="m")


# -- what auto may conclude from a claim -------------------------------------------------------
def test_auto_does_not_believe_an_exact_flag_its_figures_contradict(bundle_copy: Path) -> None:
    manifest = read_manifest(bundle_copy)
    claimed = manifest.parity["onnx"].model_copy(update={"exact": True, "max_abs_diff": 0.01})
    write_manifest(
        bundle_copy, manifest.model_copy(update={"parity": {**manifest.parity, "onnx": claimed}})
    )
    assert skbundle.load(bundle_copy).runtime.reason == (
        "auto: skops, because it reproduces the fitted pipeline; not onnx (parity not exact: "
        "max |diff| 0.01, labels 100.00%)"
    )


def test_a_claim_of_exact_parity_never_makes_auto_unpickle(bundle_copy: Path) -> None:
    manifest = read_manifest(bundle_copy)
    parity = dict(manifest.parity)
    for fmt in ("onnx", "skops"):  # only the pickle claims to be exact
        parity[fmt] = parity[fmt].model_copy(
            update={"exact": False, "label_agreement": 0.5, "max_abs_diff": 0.5}
        )
    write_manifest(bundle_copy, manifest.model_copy(update={"parity": parity}))
    with pytest.raises(UntrustedArtifactError, match="pass trust_pickle=True"):
        skbundle.load(bundle_copy)


def test_a_pipeline_skl2onnx_writes_with_local_functions_is_served_by_skops(
    iris: Any, tmp_path: Path
) -> None:
    """skl2onnx writes KNNImputer as model-local functions; the bundle says so and uses skops."""
    from sklearn.impute import KNNImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([("impute", KNNImputer()), ("model", LogisticRegression(max_iter=500))])
    pipe.fit(iris.X_train, iris.y_train)
    path = tmp_path / "knn"
    skbundle.save(pipe, path, **iris.save_kwargs())
    why = read_manifest(path).unavailable_formats["onnx"]
    assert why.startswith(
        "onnx wrote the pipeline but cannot read it back: it defines 9 model-local functions "
        "('local_domain'::"
    ), why
    assert not (path / "model.onnx").exists()
    assert skbundle.load(path).runtime.format == "skops"

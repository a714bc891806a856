"""skops files are trusted by what their type names resolve to, and capped before they inflate.

Each forged bundle is the demo bundle with one extra attribute planted in the pipeline's skops
schema (and the manifest re-hashed, as a forger would): an object of a type that truncates a
file, creates a directory, opens a connection or runs a command when skops constructs it.
A control test proves each forgery is live when skops is told to trust it; the refusal tests
prove skbundle refuses it with the exact message and that nothing happened.
"""

from __future__ import annotations

import io
import json
import socket
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from typer.testing import CliRunner

import skbundle
from skbundle import UntrustedArtifactError
from skbundle.cli import app
from skbundle.core.manifest import read_manifest, write_manifest
from skbundle.formats import FORMATS
from skbundle.trust import skops_types
from tests.tampering import rehash

HINT = (
    "Nothing was constructed. If you trust those types, pass them as trusted_types=[...] to "
    "skbundle.load() (CLI: --trust-type NAME, once per type); never take that list from the file."
)


def _refusal(path: Path, names: list[str]) -> str:
    s = "s" if len(names) != 1 else ""
    return (
        f"Refusing to load {path}: it would construct {len(names)} type{s} outside skbundle's "
        f"allowlist: {names!r}. {HINT}"
    )


# -- skops schema nodes, written by hand the way an attacker would -----------------------------
def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, tuple):
        return {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [_value(v) for v in value],
        }
    if isinstance(value, list):
        return {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": [_value(v) for v in value],
        }
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _call(module: str, name: str, *args: Any) -> dict[str, Any]:
    """A node that skops loads as ``module.name(*args)``."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": _value(args),
    }


def _empty_dict_of(module: str, name: str) -> dict[str, Any]:
    """A DictNode typed as ``module.name``: skops constructs ``module.name()``."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "DictNode",
        "content": {},
        "key_types": _value([]),
    }


def _with_hook(skops_bytes: bytes, node: dict[str, Any]) -> bytes:
    """The same skops file with one more attribute, ``hook``, on the pipeline."""
    with zipfile.ZipFile(io.BytesIO(skops_bytes)) as src:
        schema = json.loads(src.read("schema.json"))
        attrs = schema["content"]
        attrs["content"]["hook"] = node
        attrs["key_types"]["content"].append(
            {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            dst.writestr("schema.json", json.dumps(schema))
            for info in src.infolist():
                if info.filename != "schema.json":
                    dst.writestr(info, src.read(info))
    return out.getvalue()


def _only_skops_and_joblib(bundle: Path) -> None:
    """Drop model.onnx, so that a default load() takes skops: the path an attacker wants."""
    manifest = read_manifest(bundle)
    (bundle / "model.onnx").unlink()
    kept = [a for a in manifest.artifacts if a.path != "model.onnx"]
    write_manifest(bundle, manifest.model_copy(update={"artifacts": kept}))


# -- the attacks and what each would leave behind ------------------------------------------------
@dataclass
class Scene:
    """Where an attack would leave its traces."""

    tmp: Path
    victim: Path
    listener: socket.socket

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def connections(self) -> int:
        self.listener.setblocking(False)
        count = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def traces(self) -> dict[str, Any]:
        return {
            "victim": self.victim.read_bytes(),
            "created": sorted(p.name for p in self.tmp.iterdir() if p != self.victim),
            "connections": self.connections(),
        }


UNTOUCHED = {"victim": b"precious data\n", "created": [], "connections": 0}


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    area = tmp_path / "area"
    area.mkdir()
    victim = area / "victim.txt"
    victim.write_bytes(UNTOUCHED["victim"])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield Scene(area, victim, listener)
    listener.close()


@dataclass(frozen=True)
class Attack:
    name: str  # the name skbundle must refuse
    node: Callable[[Scene], dict[str, Any]]
    effect: dict[str, Any] | None  # the traces when skops constructs it; None: not observable


ATTACKS = {
    "gzip-truncates-a-file": Attack(
        "sklearn.datasets._covtype.GzipFile",
        # mode "wb" truncates (the gzip header stays in the open file's buffer)
        lambda s: _call("sklearn.datasets._covtype", "GzipFile", str(s.victim), "wb"),
        {**UNTOUCHED, "victim": b""},
    ),
    "memory-creates-a-directory": Attack(
        "sklearn.datasets._lfw.Memory",
        lambda s: _call("sklearn.datasets._lfw", "Memory", str(s.tmp / "cachedir")),
        {**UNTOUCHED, "created": ["cachedir"]},
    ),
    "callback-client-connects": Attack(
        "sklearn.callback._transport.Client",
        lambda s: _call("sklearn.callback._transport", "Client", ("127.0.0.1", s.port)),
        {**UNTOUCHED, "connections": 1},
    ),
    "os-system": Attack(
        "os.system",
        lambda s: _call("os", "system", f"touch {s.tmp / 'system-ran'}"),
        {**UNTOUCHED, "created": ["system-ran"]},
    ),
    "builtins-eval": Attack(
        "builtins.eval",
        lambda s: _call(
            "builtins", "eval", f"__import__('pathlib').Path({str(s.tmp / 'eval-ran')!r}).touch()"
        ),
        {**UNTOUCHED, "created": ["eval-ran"]},
    ),
    "dict-node-typed-as-thread": Attack(
        "threading.Thread", lambda s: _empty_dict_of("threading", "Thread"), None
    ),
    "attribute-chain-to-popen": Attack(
        "sklearn.base.np.f2py.subprocess.Popen",
        lambda s: _call(
            "sklearn.base.np.f2py.subprocess", "Popen", ["touch", str(s.tmp / "popen-ran")]
        ),
        None,  # skops' importer cannot follow the chain; pickle's can (see test_allowlist)
    ),
    "reexported-sklearn-class": Attack(
        "sklearn.ensemble.RandomForestClassifier",
        lambda s: _call("sklearn.ensemble", "RandomForestClassifier"),
        None,  # harmless itself: it shows the rule is "defined here", not "reachable here"
    ),
}


def _forge(bundle: Path, attack: Attack, scene: Scene) -> Path:
    path = bundle / "model.skops"
    path.write_bytes(_with_hook(path.read_bytes(), attack.node(scene)))
    rehash(bundle, "model.skops")
    _only_skops_and_joblib(bundle)
    return path


@pytest.mark.parametrize(
    "attack", [pytest.param(a, id=i) for i, a in ATTACKS.items() if a.effect is not None]
)
def test_each_forgery_is_live_when_skops_trusts_it(
    bundle_copy: Path, scene: Scene, attack: Attack, cancer: Any
) -> None:
    """Control: the same bytes, loaded by skops with every type trusted, do the damage."""
    data = _forge(bundle_copy, attack, scene).read_bytes()
    trusted = sio.get_untrusted_types(data=data)
    assert attack.name in trusted
    loaded = sio.loads(data, trusted=trusted)
    assert scene.traces() == attack.effect
    # and the model still answers normally: nothing would tell the victim
    assert np.array_equal(
        loaded.predict_proba(cancer.X_test), cancer.pipeline.predict_proba(cancer.X_test)
    )


@pytest.mark.parametrize("attack", [pytest.param(a, id=i) for i, a in ATTACKS.items()])
def test_the_default_load_refuses_each_forgery_and_nothing_happens(
    bundle_copy: Path, scene: Scene, attack: Attack
) -> None:
    path = _forge(bundle_copy, attack, scene)
    assert skbundle.verify(bundle_copy).ok  # the forgery passes integrity
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy)
    assert str(info.value) == _refusal(path, [attack.name])
    assert scene.traces() == UNTOUCHED


def test_the_cli_names_its_option_and_nothing_happens(
    bundle_copy: Path, scene: Scene, cancer: Any
) -> None:
    _forge(bundle_copy, ATTACKS["gzip-truncates-a-file"], scene)
    record = json.dumps(cancer.X_test.iloc[0].to_dict())
    result = CliRunner().invoke(app, ["predict", str(bundle_copy), record], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "['sklearn.datasets._covtype.GzipFile']" in output
    assert "(CLI: --trust-type NAME, once per type)" in output
    assert scene.traces() == UNTOUCHED


# -- pipelines that load by default --------------------------------------------------------------
PIPELINES = {
    "hist-gradient-boosting": (
        lambda: make_pipeline(HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        [
            "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            "sklearn._loss.loss.HalfBinomialLoss",
        ],
    ),
    "calibrated": (
        lambda: make_pipeline(
            StandardScaler(), CalibratedClassifierCV(LogisticRegression(max_iter=500))
        ),
        ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"],
    ),
    "grid-search": (
        lambda: GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
            {"logisticregression__C": [0.1, 1.0]},
        ),
        ["sklearn.metrics._scorer._PassthroughScorer"],
    ),
    "knn-kd-tree": (
        lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(algorithm="kd_tree")),
        ["sklearn.neighbors._kd_tree.KDTree"],
    ),
    "knn-ball-tree": (
        lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(algorithm="ball_tree")),
        ["sklearn.neighbors._ball_tree.BallTree"],
    ),
    "function-transformer-log1p": (
        lambda: make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=5000)),
        ["numpy.log1p"],
    ),
    "logistic-regression": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        ["sklearn.linear_model._logistic.LogisticRegression"],
    ),
}


@pytest.mark.parametrize(("make", "helpers"), list(PIPELINES.values()), ids=list(PIPELINES))
def test_scikit_learn_pipelines_load_by_default_via_skops(
    cancer: Any, tmp_path: Path, make: Callable[[], Any], helpers: list[str]
) -> None:
    # Fitted on a plain array: the runtime forgets the column names only of a pipeline's
    # first step, and a search or a FunctionTransformer hands them on to later steps.
    X_test = cancer.X_test.to_numpy()
    pipe = make().fit(cancer.X_train.to_numpy(), cancer.y_train)
    skbundle.save(pipe, tmp_path / "b", **cancer.save_kwargs())
    data = (tmp_path / "b" / "model.skops").read_bytes()
    # the file really holds the helper classes this case is about
    assert set(helpers) <= FORMATS["skops"].imports(data, source="model.skops")
    bundle = skbundle.load(tmp_path / "b", runtime="skops")
    assert np.array_equal(bundle.predict_proba(cancer.X_test), pipe.predict_proba(X_test))


def test_the_demo_forest_loads_by_default_via_skops(cancer: Any) -> None:
    bundle = skbundle.load(cancer.path, runtime="skops")
    got = bundle.predict_proba(cancer.X_test)
    assert np.array_equal(got, cancer.pipeline.predict_proba(cancer.X_test))


def test_a_user_defined_step_still_needs_trusted_types(cancer: Any, tmp_path: Path) -> None:
    from tests.custom_steps import Log1p

    pipe = make_pipeline(Log1p(), clone(cancer.pipeline)).fit(cancer.X_train, cancer.y_train)
    skbundle.save(pipe, tmp_path / "b", **cancer.save_kwargs())
    path = tmp_path / "b" / "model.skops"
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(tmp_path / "b", runtime="skops")
    assert str(info.value) == _refusal(path, ["tests.custom_steps.Log1p"])
    bundle = skbundle.load(
        tmp_path / "b", runtime="skops", trusted_types=["tests.custom_steps.Log1p"]
    )
    assert np.array_equal(bundle.predict_proba(cancer.X_test), pipe.predict_proba(cancer.X_test))


# -- decompression bombs -------------------------------------------------------------------------
SPACES = 128 << 20  # inflates 128 MiB from ~130 KB: a ratio near 1000, far past 200


def _bomb(skops_bytes: bytes, *, padding: int) -> bytes:
    """The same skops file whose schema.json is followed by ``padding`` spaces (still valid
    JSON), written first and streamed, so that building it holds no large buffer."""
    with zipfile.ZipFile(io.BytesIO(skops_bytes)) as src:
        schema = src.read("schema.json")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            with dst.open("schema.json", "w") as fh:
                fh.write(schema)
                chunk = b" " * (1 << 20)
                for _ in range(padding // len(chunk)):
                    fh.write(chunk)
            for info in src.infolist():
                if info.filename != "schema.json":
                    dst.writestr(info, src.read(info))
    return out.getvalue()


def _declare_size(archive: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size the central directory declares for ``member``."""
    data = bytearray(archive)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_len] == member.encode():
            data[at + 24 : at + 28] = size.to_bytes(4, "little")
            return bytes(data)
        at = data.find(b"PK\x01\x02", at + 46)
    raise LookupError(member)


def test_a_real_bomb_is_refused_before_it_inflates(bundle_copy: Path) -> None:
    path = bundle_copy / "model.skops"
    real = path.read_bytes()
    bomb = _bomb(real, padding=SPACES)
    assert len(bomb) < len(real) + (SPACES >> 9)  # it compresses more than 500-fold
    path.write_bytes(bomb)
    rehash(bundle_copy, "model.skops")
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        inflates = archive.getinfo("schema.json").file_size
    tracemalloc.start()
    try:
        with pytest.raises(UntrustedArtifactError) as info:
            skbundle.load(bundle_copy, runtime="skops")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"Refusing to load {path}: its member 'schema.json' inflates to {inflates} bytes, "
        f"bringing the archive to {inflates} bytes: more than the {200 * len(bomb)} allowed for "
        f"a {len(bomb)}-byte archive (200 times its size, at most 1073741824 bytes); it looks "
        "like a decompression bomb. The file is not what the manifest says it is; rebuild the "
        "bundle."
    )
    assert peak < 32 << 20  # nothing near the 128 MiB was ever held


def test_a_schema_declared_at_4_gib_is_refused_by_its_header(bundle_copy: Path) -> None:
    """The brief's 4 MB file whose schema.json inflates to 4 GiB, declared (not built)."""
    path = bundle_copy / "model.skops"
    forged = _declare_size(path.read_bytes(), "schema.json", (4 << 30) - 1)
    path.write_bytes(forged)
    rehash(bundle_copy, "model.skops")
    with zipfile.ZipFile(io.BytesIO(forged)) as archive:
        names = archive.namelist()
        before = sum(i.file_size for i in archive.infolist()[: names.index("schema.json")])
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy, runtime="skops")
    assert str(info.value) == (
        f"Refusing to load {path}: its member 'schema.json' inflates to 4294967295 bytes, "
        f"bringing the archive to {before + 4294967295} bytes: more than the "
        f"{200 * len(forged)} allowed for a {len(forged)}-byte archive (200 times its size, at "
        "most 1073741824 bytes); it looks like a decompression bomb. The file is not what the "
        "manifest says it is; rebuild the bundle."
    )


def test_a_header_that_understates_the_schema_stops_the_read(bundle_copy: Path) -> None:
    """A lying small size passes the caps, but no read goes past it: zipfile stops there and
    the CRC no longer matches."""
    path = bundle_copy / "model.skops"
    forged = _declare_size(_bomb(path.read_bytes(), padding=SPACES), "schema.json", 1000)
    path.write_bytes(forged)
    rehash(bundle_copy, "model.skops")
    tracemalloc.start()
    try:
        with pytest.raises(UntrustedArtifactError) as info:
            skbundle.load(bundle_copy, runtime="skops")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"Refusing to load {path}: it is not a skops archive with a readable schema.json (Bad "
        "CRC-32 for file 'schema.json'). The file is not what the manifest says it is; rebuild "
        "the bundle."
    )
    assert peak < 32 << 20


@pytest.mark.parametrize(
    ("caps", "reason"),
    [
        pytest.param(
            {"max_inflated": 1_000_000},
            "its member '{member}' inflates to {size} bytes, bringing the archive to {total} "
            "bytes: more than the 1000000 allowed for a {archive}-byte archive (200 times its "
            "size, at most 1000000 bytes); it looks like a decompression bomb",
            id="absolute-cap",
        ),
        pytest.param(
            {"max_ratio": 5},
            "its member '{member}' inflates to {size} bytes, bringing the archive to {total} "
            "bytes: more than the {ratio_cap} allowed for a {archive}-byte archive (5 times its "
            "size, at most 1073741824 bytes); it looks like a decompression bomb",
            id="ratio-cap",
        ),
        pytest.param(
            {"max_members": 10},
            "the archive has {members} members, more than the 10 allowed",
            id="too-many-members",
        ),
    ],
)
def test_the_caps_are_parameters(cancer: Any, caps: dict[str, int], reason: str) -> None:
    data = (cancer.path / "model.skops").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    cap = min(caps.get("max_ratio", 200) * len(data), caps.get("max_inflated", 1 << 30))
    total = 0
    for crossing in members:  # the first member that brings the total past the cap
        total += crossing.file_size
        if total > cap:
            break
    expected = reason.format(
        member=crossing.filename,
        size=crossing.file_size,
        total=total,
        archive=len(data),
        ratio_cap=5 * len(data),
        members=len(members),
    )
    with pytest.raises(UntrustedArtifactError) as info:
        skops_types.types_in(data, source="model.skops", **caps)
    assert str(info.value) == (
        f"Refusing to load model.skops: {expected}. The file is not what the manifest says it "
        "is; rebuild the bundle."
    )


def test_the_default_caps_leave_room_for_the_demo(cancer: Any) -> None:
    data = (cancer.path / "model.skops").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        inflated = sum(i.file_size for i in archive.infolist())
        members = len(archive.infolist())
    assert inflated * 10 < skops_types.inflated_cap(len(data))
    assert members * 100 < skops_types.MAX_MEMBERS


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        pytest.param(
            b"[" * 100_000 + b"]" * 100_000,
            "maximum recursion depth exceeded while decoding a JSON array from a unicode string",
            id="nested-too-deep",
        ),
        pytest.param(
            b"{",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            id="not-json",
        ),
    ],
)
def test_a_schema_that_cannot_be_walked_is_refused(schema: bytes, reason: str) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", schema)
    with pytest.raises(UntrustedArtifactError) as info:
        skops_types.types_in(out.getvalue(), source="model.skops")
    assert str(info.value) == (
        f"Refusing to load model.skops: it is not a skops archive with a readable schema.json "
        f"({reason}). The file is not what the manifest says it is; rebuild the bundle."
    )

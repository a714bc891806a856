"""The allowlist trusts what a name resolves to: a class defined exactly there, in an allowed
package, outside its excluded parts. A name pattern is not an allowlist."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import pickle
import pkgutil
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import sklearn
from sklearn.utils import all_estimators

import skbundle
from skbundle import UntrustedArtifactError
from skbundle.trust import audit
from skbundle.trust.allowlist import (
    EXACT,
    FUNCTIONS,
    PACKAGES,
    UFUNCS,
    is_trusted,
    refusal_hint,
    resolves_to_allowed_class,
    untrusted,
)
from tests.tampering import rehash

# Classes fitted estimators hold that all_estimators() does not list: they must load by default.
HELPERS = [
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.utils._bunch.Bunch",
]


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        *[pytest.param(name, True, id=name.rsplit(".", 1)[1]) for name in HELPERS],
        pytest.param("sklearn.pipeline.Pipeline", True, id="Pipeline"),
        pytest.param("numpy.log1p", True, id="ufunc-log1p"),
        pytest.param("numpy.ma.MaskedArray", True, id="MaskedArray-numpy2-name"),
        pytest.param("numpy.ma.core.MaskedArray", True, id="MaskedArray-numpy1-name"),
        # classes of other libraries that a scikit-learn module merely imports
        pytest.param("sklearn.datasets._covtype.GzipFile", False, id="reexport-GzipFile"),
        pytest.param("sklearn.datasets._lfw.Memory", False, id="reexport-joblib-Memory"),
        pytest.param("sklearn.callback._transport.Client", False, id="reexport-socket-client"),
        pytest.param("sklearn.callback._transport.Thread", False, id="reexport-Thread"),
        pytest.param("sklearn.utils.fixes.parse_version", False, id="reexport-function"),
        # a re-export of scikit-learn's own class: files name the defining module
        pytest.param("sklearn.ensemble.RandomForestClassifier", False, id="reexport-sklearn"),
        # attribute chains, resolved by pickle protocol 4 one attribute at a time
        pytest.param("sklearn.base.np.f2py.subprocess.Popen", False, id="chain-Popen"),
        pytest.param("sklearn.base.np.ndarray", False, id="chain-ndarray"),
        pytest.param("sklearn.pipeline.Pipeline.fit", False, id="chain-method"),
        pytest.param("sklearn.base.BaseEstimator.__class__", False, id="chain-metaclass"),
        # defined in scikit-learn, and still out
        pytest.param("sklearn.utils._testing.TempMemmap", False, id="test-helper"),
        pytest.param("sklearn.utils._mocking.CheckingClassifier", False, id="mock-estimator"),
        pytest.param("sklearn.utils.parallel.Parallel", False, id="worker-pool"),
        pytest.param("sklearn.callback._progressbar.ProgressBar", False, id="callback"),
        pytest.param("sklearn.externals._arff.ArffDecoder", False, id="vendored"),
        pytest.param("sklearn.datasets._base.RemoteFileMetadata", False, id="dataset-fetcher"),
        pytest.param("sklearn.metrics._plot.roc_curve.RocCurveDisplay", False, id="display"),
        pytest.param("sklearn.calibration.CalibrationDisplay", False, id="display-in-module"),
        pytest.param("sklearn.exceptions.NotFittedError", False, id="exception"),
        pytest.param("sklearn.utils.extmath.safe_sparse_dot", False, id="function"),
        pytest.param("sklearn.metrics._scorer.get_scorer", False, id="function-scorer"),
        pytest.param("sklearn.tree._criterion.Gini", False, id="fit-time-compiled"),
        pytest.param("sklearn.tree._tree.DepthFirstTreeBuilder", False, id="fit-time-builder"),
        pytest.param("sklearn.utils._fast_dict.IntFloatDict", False, id="fit-time-buffers"),
        # outside every allowed package
        pytest.param("threading.Thread", False, id="threading"),
        pytest.param("builtins.eval", False, id="eval"),
        pytest.param("os.system", False, id="os-system"),
        pytest.param("numpy.load", False, id="numpy-function"),
        pytest.param("numpy.testing._private.utils.runstring", False, id="numpy-exec"),
        pytest.param("sklearnx.Evil", False, id="lookalike-package"),
        pytest.param("xgboost.core.Booster", False, id="booster-reads-files"),
        # not names at all
        pytest.param("sklearn..Pipeline", False, id="empty-part"),
        pytest.param("sklearn.pipeline.Pipe line", False, id="not-identifier"),
        pytest.param("sklearn", False, id="package-alone"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_trusted(name: str, trusted: bool) -> None:
    assert is_trusted(name) is trusted


def test_the_caller_can_trust_more_names_exactly() -> None:
    assert untrusted(["tests.custom_steps.Log1p", "sklearn.pipeline.Pipeline"]) == [
        "tests.custom_steps.Log1p"
    ]
    assert untrusted(["tests.custom_steps.Log1p"], {"tests.custom_steps.Log1p"}) == []
    assert is_trusted("sklearn.datasets._covtype.GzipFile", {"sklearn.datasets._covtype.GzipFile"})


def test_every_estimator_and_helper_is_trusted_by_its_defining_name() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimators = all_estimators()
    names = [f"{cls.__module__}.{cls.__qualname__}" for _, cls in estimators]
    assert len(names) > 150
    assert untrusted(names) == []
    assert untrusted(HELPERS) == []


def _sklearn_modules() -> dict[str, ModuleType]:
    """Every importable module of scikit-learn but its test suites and build scripts."""
    modules: dict[str, ModuleType] = {"sklearn": sklearn}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for info in pkgutil.walk_packages(sklearn.__path__, "sklearn.", onerror=lambda _: None):
            if {"tests", "conftest", "_build_utils"} & set(info.name.split(".")):
                continue
            try:
                modules[info.name] = importlib.import_module(info.name)
            except ImportError:  # optional array libraries (cupy, torch, dask) not installed
                continue
    return modules


# Where the classes an accepted class inherits from may come from: no file, socket, thread or
# process machinery (GzipFile, Thread, joblib.Parallel, ...) anywhere in the hierarchy.
_SAFE_BASES = frozenset(
    {"builtins", "abc", "collections", "enum", "numbers", "numpy", "scipy", "sklearn", "typing"}
)


def test_every_class_the_allowlist_accepts_is_defined_where_it_says() -> None:
    """Audits the whole list: every class reachable as an attribute of any scikit-learn module
    (re-exports included) and every two-step attribute chain through an imported module."""
    candidates: dict[str, Any] = {}
    for module_name, module in _sklearn_modules().items():
        for attr, obj in vars(module).items():
            if isinstance(obj, type):
                candidates[f"{module_name}.{attr}"] = obj
            elif isinstance(obj, ModuleType) and not obj.__name__.startswith(module_name):
                for inner, value in list(vars(obj).items())[:50]:
                    if isinstance(value, type):
                        candidates[f"{module_name}.{attr}.{inner}"] = value
    accepted = {name: obj for name, obj in candidates.items() if is_trusted(name)}
    refused = sorted(set(candidates) - set(accepted))
    # the generated set holds the attacks this list exists for
    for attack in (
        "sklearn.datasets._covtype.GzipFile",
        "sklearn.datasets._lfw.Memory",
        "sklearn.callback._transport.Thread",
        "sklearn.ensemble.RandomForestClassifier",
    ):
        assert attack in refused
    assert len(accepted) > 300
    problems = []
    for name, obj in sorted(accepted.items()):
        module, _, qualname = name.rpartition(".")
        bases = {base.__module__.partition(".")[0] for base in obj.__mro__}
        if not (
            obj.__module__ == module
            and obj.__qualname__ == qualname
            and PACKAGES["sklearn"].covers(module)
            and bases <= _SAFE_BASES
        ):
            problems.append((name, obj.__module__, sorted(bases - _SAFE_BASES)))
    assert problems == []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("antigravity.fly", id="antigravity-opens-a-browser"),
        pytest.param("this.s", id="this-prints"),
        pytest.param("sklearn.datasets._covtype.GzipFile", id="excluded-sklearn-module"),
        pytest.param("sklearn.utils._testing.TempMemmap", id="test-helpers"),
    ],
)
def test_resolution_never_imports_a_module_outside_the_allowed_parts(name: str) -> None:
    """In a fresh interpreter: deciding must not import the module the name points into."""
    module = name.rpartition(".")[0]
    code = (
        "import sys\n"
        "from skbundle.trust.allowlist import is_trusted\n"
        f"assert {module!r} not in sys.modules\n"
        f"print(is_trusted({name!r}), {module!r} in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_resolution_is_cached() -> None:
    resolves_to_allowed_class.cache_clear()
    assert is_trusted("sklearn.pipeline.Pipeline")
    assert is_trusted("sklearn.pipeline.Pipeline")
    info = resolves_to_allowed_class.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def _resolve(name: str) -> Any:
    """What ``name`` names, importing its longest importable prefix (for the fixed lists)."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise LookupError(name)


def test_every_exact_name_resolves_to_what_it_claims() -> None:
    """The fixed list holds no typo and no function of the dangerous kind: each entry is a
    class, or one of the reconstruction helpers pickle and skops need."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core on numpy 2
        resolved = {name: _resolve(name) for name in sorted(EXACT)}
    helpers = {n for n, obj in resolved.items() if not isinstance(obj, type)}
    assert helpers == {
        "copyreg._reconstructor",
        "numpy._core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy._core.numeric._frombuffer",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "sklearn.metrics._dist_metrics.newObj",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
    }
    assert resolved["numpy.ma.MaskedArray"] is np.ma.MaskedArray
    assert resolved["functools.partial"] is functools.partial


def test_every_allowed_function_is_defined_where_its_name_says() -> None:
    """Each entry of FUNCTIONS is a plain function of scikit-learn, under exactly that name
    (a typo, a re-export or a class would fail here)."""
    for name in sorted(FUNCTIONS):
        obj = _resolve(name)
        module, _, qualname = name.rpartition(".")
        assert isinstance(obj, types.FunctionType), name
        assert (obj.__module__, obj.__qualname__) == (module, qualname), name
        assert PACKAGES["sklearn"].covers(module), name
    assert is_trusted("sklearn.feature_selection._univariate_selection.f_classif")
    assert is_trusted("sklearn.feature_selection._univariate_selection.f_regression")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "sklearn.feature_selection._univariate_selection.SelectKBest.fit", id="method"
        ),
        pytest.param("sklearn.feature_selection.f_classif", id="re-export"),
        pytest.param("sklearn.utils.validation.check_memory", id="neighbour-of-check-array"),
        pytest.param("sklearn.utils._testing.assert_allclose", id="test-helper"),
        pytest.param("numpy.load", id="numpy-function-reads-files"),
        pytest.param("functools.reduce", id="functools-other-than-partial"),
    ],
)
def test_functions_are_allowed_only_by_their_exact_name(name: str) -> None:
    assert not is_trusted(name)


@pytest.mark.parametrize(
    ("names", "hint"),
    [
        pytest.param(
            ["tests.custom_steps.Log1p"],
            "Nothing was X. Trust them.",
            id="an-importable-class-keeps-the-trust-hint",
        ),
        pytest.param(
            ["__main__.<lambda>"],
            "Nothing was X. ['__main__.<lambda>'] is not importable by name (a lambda, a "
            "function defined inside another, or one of __main__): name the function in an "
            "importable module of your own and trust it with --trust-type module.function "
            "(Python: trusted_types=[...]), or use a numpy ufunc such as np.log1p.",
            id="lambda",
        ),
        pytest.param(
            ["tests.steps.make.<locals>.double", "__main__.halve", "tests.custom_steps.Log1p"],
            "Nothing was X. ['__main__.halve', 'tests.steps.make.<locals>.double'] are not "
            "importable by name (a lambda, a function defined inside another, or one of "
            "__main__): name the function in an importable module of your own and trust it with "
            "--trust-type module.function (Python: trusted_types=[...]), or use a numpy ufunc "
            "such as np.log1p.",
            id="local-and-main-functions",
        ),
    ],
)
def test_the_refusal_hint_gives_a_way_forward(names: list[str], hint: str) -> None:
    assert refusal_hint(names, nothing="Nothing was X.", otherwise="Trust them.") == hint


def test_frombuffer_cannot_make_an_array_of_pointers() -> None:
    """Trusted for gradient boosting's pickles: numpy refuses an object dtype from raw bytes."""
    from numpy._core.numeric import _frombuffer

    with pytest.raises(ValueError, match="cannot create an OBJECT array from memory buffer"):
        _frombuffer(b"\0" * 16, np.dtype(object), (2,), "C")


def test_every_allowed_ufunc_is_a_numpy_ufunc() -> None:
    assert sorted(n for n in UFUNCS if not isinstance(getattr(np, n, None), np.ufunc)) == []


def test_the_gradient_boosting_libraries_are_data() -> None:
    """xgboost and lightgbm are not installed here: their wrappers are trusted once they are,
    by the same rule, and refused until then."""
    assert {name: p.modules for name, p in PACKAGES.items()} == {
        "sklearn": ("sklearn",),
        "xgboost": ("xgboost.sklearn",),
        "lightgbm": ("lightgbm.sklearn",),
    }
    for top in ("xgboost", "lightgbm"):
        if importlib.util.find_spec(top) is None:
            assert not is_trusted(f"{top}.sklearn.XGBClassifier")


# -- the pickle audit holds the same line --------------------------------------------------------
def _stack_global_pickle(module: str, qualname: str, *args: Any) -> bytes:
    """A protocol-4 pickle of ``module`` + ``qualname`` (called with ``args`` when given)."""

    def short(s: str) -> bytes:
        return b"\x8c" + bytes([len(s)]) + s.encode()  # SHORT_BINUNICODE

    body = short(module) + short(qualname) + b"\x93"  # STACK_GLOBAL
    if args:
        body += pickle.dumps(args, protocol=4)[2:-1] + b"R"  # the tuple, then REDUCE
    return b"\x80\x04" + body + b"."


def test_a_protocol_4_attribute_chain_is_live_in_pickle() -> None:
    """Control: pickle resolves sklearn.base + np.f2py.subprocess.Popen to Popen itself."""
    assert pickle.loads(_stack_global_pickle("sklearn.base", "np.f2py.subprocess.Popen")) is (
        subprocess.Popen
    )


def test_a_protocol_4_attribute_chain_is_refused_by_the_audit(
    bundle_copy: Path, tmp_path: Path
) -> None:
    sentinel = tmp_path / "popen-ran"
    data = _stack_global_pickle(
        "sklearn.base", "np.f2py.subprocess.Popen", ["touch", str(sentinel)]
    )
    (bundle_copy / "model.joblib").write_bytes(data)
    rehash(bundle_copy, "model.joblib")
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy, runtime="joblib", trust_pickle=True)
    assert str(info.value) == (
        f"Refusing to load {bundle_copy / 'model.joblib'}: the pickle would import 1 name outside "
        "skbundle's allowlist: ['sklearn.base.np.f2py.subprocess.Popen']. Nothing was unpickled. "
        "If you wrote this model and trust those names, pass trusted_types=[...] with them to "
        "skbundle.load() (CLI: --trust-type NAME, once per name); otherwise do not load it."
    )
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("module", "qualname"),
    [
        pytest.param("sklearn.datasets._covtype", "GzipFile", id="GzipFile"),
        pytest.param("sklearn.datasets._lfw", "Memory", id="Memory"),
        pytest.param("sklearn.callback._transport", "Client", id="socket-client"),
        pytest.param("sklearn.base", "np.load", id="chain-numpy-load"),
    ],
)
def test_the_audit_refuses_what_the_skops_check_refuses(module: str, qualname: str) -> None:
    name = f"{module}.{qualname}"
    with pytest.raises(UntrustedArtifactError, match=re.escape(f"allowlist: [{name!r}]")):
        audit.check(_stack_global_pickle(module, qualname), source="x")


def test_a_name_split_elsewhere_is_the_same_class() -> None:
    """pickle may split a name after the package (sklearn.ensemble + _forest.X): it reaches
    the same class through the submodule attributes, so the joined name is trusted."""
    from sklearn.ensemble._forest import RandomForestClassifier

    data = _stack_global_pickle("sklearn.ensemble", "_forest.RandomForestClassifier")
    assert audit.check(data, source="x").imports == {
        "sklearn.ensemble._forest.RandomForestClassifier"
    }
    assert pickle.loads(data) is RandomForestClassifier


def test_a_function_transformer_pickle_passes_the_audit() -> None:
    import joblib
    from sklearn.preprocessing import FunctionTransformer

    buf = io.BytesIO()
    joblib.dump(FunctionTransformer(np.log1p), buf)
    assert audit.check(buf.getvalue(), source="x").imports == {
        "numpy.log1p",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
    }

"""The names skbundle lets a model file import: its own allowlist, never the file's.

Both the pickle audit (``skbundle.trust.audit``) and the skops loader (``formats.skops_format``) ask
:func:`is_trusted` about every fully qualified name a file would import. The answer depends
only on this module and on the names the caller passes (``trusted_types=``): a list of
"trusted types" stored inside a model file would let its author vouch for themselves.

A name is trusted by what it **resolves to**, not by how it is spelled. A module of
scikit-learn imports ``GzipFile``, ``joblib.Memory`` or a socket client for its own use, so
``sklearn.datasets._covtype.GzipFile`` is a valid path to a class that truncates files; and
pickle protocol 4 resolves ``sklearn.base`` + ``np.f2py.subprocess.Popen`` attribute by
attribute. So a name is trusted when:

- it is one of :data:`EXACT` (numpy, scipy, joblib and builtin names that files of fitted
  pipelines need, each written out: a numpy prefix would not do, ``numpy.testing`` has a
  helper that ``exec``\\ s a string), one of the scikit-learn functions in :data:`FUNCTIONS`
  (score functions of feature selection), or one of the numpy ufuncs in :data:`UFUNCS`; or
- it is ``module.qualname`` where ``module`` is the longest importable prefix, inside one of
  the :data:`PACKAGES` that are installed and outside their excluded parts (checked on the
  name *before* anything is imported, so no other module is ever imported), ``qualname`` is a
  single identifier (attribute chains and nested classes are refused), the attribute is a
  class, and that class says it is defined exactly there: ``cls.__module__ == module`` and
  ``cls.__qualname__ == qualname``. A re-export, even of a scikit-learn class, is refused:
  skops and pickle both write the defining module.

Being defined in scikit-learn is necessary, not sufficient: its test helpers, dataset
fetchers, vendored code, callbacks (sockets and threads), worker pools, plotting displays,
HTML/printing helpers and the compiled machinery of fit() are excluded (:data:`PACKAGES`).
Functions are never allowed by this rule: a pickle can call any allowed name with arguments
of its choosing.

Results are cached per process (:func:`functools.lru_cache`): a name always resolves the same
way once its module is imported.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from skbundle.errors import preview

EXACT: frozenset[str] = frozenset(
    {
        # numpy arrays, dtypes and scalars (numpy 1.x and 2.x spell the module differently)
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray._reconstruct",
        # numpy >= 2 pickles bytes-backed arrays (inside gradient boosting's nested streams) as
        # _frombuffer(buffer, dtype, shape, order); numpy refuses an object dtype there, and
        # the audit rebuilds every dtype itself (trust/_dtypes.py)
        "numpy._core.numeric._frombuffer",
        "numpy.core.numeric._frombuffer",
        "numpy._core.multiarray.scalar",
        # numpy scalar types that appear in skops files and pickled attributes
        "numpy.bool_",
        "numpy.float16",
        "numpy.float32",
        "numpy.float64",
        "numpy.int8",
        "numpy.int16",
        "numpy.int32",
        "numpy.int64",
        "numpy.intc",
        "numpy.uint8",
        "numpy.uint16",
        "numpy.uint32",
        "numpy.uint64",
        "numpy.str_",
        # masked arrays: numpy 2 names the class numpy.ma.MaskedArray (what skops writes),
        # numpy 1 numpy.ma.core.MaskedArray
        "numpy.ma.core._mareconstruct",
        "numpy.ma.MaskedArray",
        "numpy.ma.core.MaskedArray",
        # random state held by estimators (random_state=RandomState(...)) and the generators
        # and seed sequences of HistGradientBoosting's early stopping
        "numpy.random.mtrand.RandomState",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._generator.Generator",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        # joblib's placeholders for arrays written beside the pickle stream
        # (not the joblib<0.10 NDArrayWrapper: it reads further files named inside the pickle)
        "joblib.numpy_pickle.NumpyArrayWrapper",
        # scipy sparse containers (sparse coefficients, one-hot encoders' output types)
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csc.csc_matrix",
        "scipy.sparse._coo.coo_matrix",
        "scipy.sparse._csr.csr_array",
        "scipy.sparse._csc.csc_array",
        "scipy.sparse._coo.coo_array",
        # scikit-learn's compiled trees pickle through these: newObj(cls) is cls.__new__(cls)
        "sklearn.metrics._dist_metrics.newObj",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.neighbors._kd_tree.newObj",
        # the multinomial loss of multi-class gradient boosting, through Cython's own
        # unpickler: CyHalfMultinomialLoss.__new__(cls) (a TypeError for any other class)
        # after a checksum of its layout, which has no C fields (its state is empty); the
        # other losses pickle as their class
        "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
        # functools.partial calls nothing when it is built (pickle and skops both set its
        # func, args and keywords as state): called later, it calls what it wraps, a name the
        # audit had to allow on its own. Histogram gradient boosting with categorical features
        # holds FunctionTransformer(partial(check_array, ...)).
        "functools.partial",
        # abstract numpy scalar types, as make_column_selector(dtype_include=np.number) holds
        # them; calling one raises TypeError
        "numpy.number",
        "numpy.integer",
        "numpy.floating",
        # plain containers that the pickle protocol reaches through these names
        "builtins.slice",
        "builtins.set",
        "builtins.frozenset",
        "builtins.complex",
        "builtins.bytearray",
        "builtins.range",
        "builtins.object",
        "collections.OrderedDict",
        "collections.defaultdict",
        "copyreg._reconstructor",
    }
)
"""Names allowed exactly as written (each one checked by hand; a test resolves them all)."""

UFUNCS: frozenset[str] = frozenset(
    {
        "abs", "absolute", "arcsinh", "cbrt", "ceil", "exp", "exp2", "expm1", "fabs", "floor",
        "log", "log10", "log1p", "log2", "negative", "reciprocal", "rint", "sign", "sqrt",
        "square", "tanh",
    }
)  # fmt: skip
"""numpy ufuncs a ``FunctionTransformer`` commonly holds, named ``numpy.<name>`` by pickle and
skops alike (``FunctionTransformer(np.log1p)`` stores ``numpy.log1p``). A ufunc computes on
numbers only; numpy *functions* are not allowed (``numpy.load`` reads files)."""

FUNCTIONS: frozenset[str] = frozenset(
    {
        # the score functions of scikit-learn's univariate feature selection (SelectKBest,
        # SelectPercentile, ... hold one as score_func): each computes statistics from the
        # arrays it is given and reads nothing else
        "sklearn.feature_selection._univariate_selection.chi2",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.feature_selection._univariate_selection.f_oneway",
        "sklearn.feature_selection._univariate_selection.f_regression",
        "sklearn.feature_selection._univariate_selection.r_regression",
        "sklearn.feature_selection._mutual_info.mutual_info_classif",
        "sklearn.feature_selection._mutual_info.mutual_info_regression",
        # the input check of histogram gradient boosting's numeric columns, wrapped in a
        # functools.partial (validation of an array it is given; no I/O)
        "sklearn.utils.validation.check_array",
    }
)
"""scikit-learn functions a fitted model holds as a value, allowed exactly as written (a test
resolves each to a function defined there). Functions are otherwise never allowed: a pickle can
call any allowed name with arguments of its choosing, so each one here computes on its
arguments only."""

SKOPS_CONTAINERS: frozenset[str] = frozenset(
    f"builtins.{name}"
    for name in (
        "dict", "list", "tuple", "str", "int", "float", "bool", "NoneType", "bytes",
        "bytearray", "set", "frozenset", "complex",
    )
)  # fmt: skip
"""Plain values a skops file stores as JSON or builds from JSON: no code runs to make them."""


@dataclass(frozen=True)
class Package:
    """A package whose own classes a model file may name, and the parts of it that are out."""

    modules: tuple[str, ...]
    """Module prefixes whose classes are trusted (the whole package, or some modules of it)."""
    excluded: tuple[str, ...] = ()
    """Module prefixes refused even inside ``modules``."""
    excluded_classes: frozenset[str] = frozenset()
    """Fully qualified classes refused even inside a trusted module."""

    def covers(self, module: str) -> bool:
        """True when classes defined in ``module`` may be trusted (decided on the name)."""
        return (
            _under(module, self.modules)
            and not _under(module, self.excluded)
            and not EXCLUDED_PARTS.intersection(module.split("."))
        )


EXCLUDED_PARTS: frozenset[str] = frozenset(
    {
        "tests", "test", "conftest", "_testing", "_test_common", "_mocking", "estimator_checks",
        "externals", "_build_utils", "__check_build", "_plot", "_plotting",
    }
)  # fmt: skip
"""Module path components refused in every package: test helpers (``TempMemmap``, mock
estimators), vendored third-party code, build helpers and plotting displays."""

PACKAGES: dict[str, Package] = {
    "sklearn": Package(
        modules=("sklearn",),
        excluded=(
            "sklearn.datasets",  # fetchers: files, network, joblib.Memory, GzipFile
            "sklearn.callback",  # progress bars and monitors: sockets, threads
            "sklearn.experimental",  # enable_* switches: import side effects only
            "sklearn.exceptions",  # warnings and errors: never part of a fitted model
            "sklearn.utils.fixes",  # compatibility shims over other libraries
            "sklearn.utils.parallel",  # joblib.Parallel wrappers: worker processes
            "sklearn.utils.deprecation",  # a decorator class, not model state
            "sklearn.utils.discovery",  # imports every module of scikit-learn
            "sklearn.utils._show_versions",
            "sklearn.utils._repr_html",
            "sklearn.utils._pprint",
            "sklearn.utils._user_interface",
            "sklearn.utils._optional_dependencies",
            # Compiled machinery that fit() builds and throws away: a fitted model never holds
            # it, and its constructors take buffer sizes on trust (no bounds checks in C).
            "sklearn.tree._criterion",
            "sklearn.tree._splitter",
            "sklearn.tree._partitioner",
            "sklearn.tree._utils",
            "sklearn.ensemble._hist_gradient_boosting.histogram",
            "sklearn.ensemble._hist_gradient_boosting.splitting",
            "sklearn.ensemble._hist_gradient_boosting.grower",
            "sklearn.metrics._pairwise_distances_reduction",
            "sklearn.cluster._hierarchical_fast",
            "sklearn.cluster._hdbscan._tree",
            "sklearn.neighbors._quad_tree",
            "sklearn.utils._seq_dataset",
            "sklearn.utils._weight_vector",
            "sklearn.utils._vector_sentinel",
            "sklearn.utils._fast_dict",
        ),
        excluded_classes=frozenset(
            {
                "sklearn.calibration.CalibrationDisplay",  # a plotting display
                # the tree builders and pruners beside Tree in its module (fit-time, compiled)
                "sklearn.tree._tree.TreeBuilder",
                "sklearn.tree._tree.DepthFirstTreeBuilder",
                "sklearn.tree._tree.BestFirstTreeBuilder",
                "sklearn.tree._tree._CCPPruneController",
                "sklearn.tree._tree._AlphaPruner",
                "sklearn.tree._tree._PathFinder",
            }
        ),
    ),
    # The scikit-learn wrappers of the gradient-boosting libraries, when they are installed.
    # Their Booster classes are left out: ``Booster(model_file=...)`` reads a file named by
    # its arguments. A bundle that needs one passes it in trusted_types.
    "xgboost": Package(modules=("xgboost.sklearn",)),
    "lightgbm": Package(modules=("lightgbm.sklearn",)),
}
"""Packages (by top-level import name) whose own classes are trusted, and what is left out."""


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _import(name: str) -> ModuleType | None:
    """The module ``name``, or None when it is not a module (a class or attribute path)."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@functools.lru_cache(maxsize=4096)
def resolves_to_allowed_class(name: str) -> bool:
    """True when ``name`` is a class defined in an allowed, non-excluded module of
    :data:`PACKAGES`, under exactly that name.

    Only modules of the allowed packages are ever imported: the package and its excluded
    parts are checked on the name first.
    """
    parts = name.split(".")
    package = PACKAGES.get(parts[0])
    if package is None or len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return False
    # The longest prefix that is a module is what the name's last part is looked up in.
    # Prefixes outside the trusted modules are never imported; skipping them only leaves a
    # dotted remainder, which is refused below.
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        if not package.covers(module_name):
            continue
        module = _import(module_name)
        if module is None:
            continue
        if cut != len(parts) - 1:
            return False  # an attribute chain (np.f2py.subprocess.Popen) or a nested class
        if not _reached_by_attributes(parts[:cut]):
            return False
        qualname = parts[-1]
        obj = getattr(module, qualname, None)
        return (
            isinstance(obj, type)
            and obj.__module__ == module_name
            and obj.__qualname__ == qualname
            and name not in package.excluded_classes
        )
    return False


def _reached_by_attributes(parts: list[str]) -> bool:
    """True when each package's attribute is its submodule: a pickle that splits the same
    name elsewhere (``sklearn.ensemble`` + ``_forest.X``) then reaches the same object."""
    for i in range(1, len(parts)):
        parent = sys.modules.get(".".join(parts[:i]))
        child = sys.modules.get(".".join(parts[: i + 1]))
        if parent is None or child is None or getattr(parent, parts[i], None) is not child:
            return False
    return True


def _is_allowed_ufunc(name: str) -> bool:
    module, _, attr = name.rpartition(".")
    return module == "numpy" and attr in UFUNCS and isinstance(getattr(np, attr, None), np.ufunc)


def is_trusted(name: str, extra: Collection[str] = ()) -> bool:
    """True when ``name`` (``module.qualname``) may be imported from a model file.

    Parameters
    ----------
    name
        A fully qualified name, e.g. ``"sklearn.ensemble._forest.RandomForestClassifier"``.
    extra
        Names the caller trusts in addition (``load(..., trusted_types=...)``), exactly.

    Examples
    --------
    >>> is_trusted("sklearn.preprocessing._data.StandardScaler")
    True
    >>> is_trusted("sklearn.datasets._covtype.GzipFile")  # gzip's class, imported there
    False
    >>> is_trusted("os.system")
    False
    """
    if name in EXACT or name in FUNCTIONS or name in extra:
        return True
    return _is_allowed_ufunc(name) or resolves_to_allowed_class(name)


_NO_IMPORT_PARTS = frozenset({"<lambda>", "<locals>"})

FUNCTION_HINT = (
    "name the function in an importable module of your own and trust it with --trust-type "
    "module.function (Python: trusted_types=[...]), or use a numpy ufunc such as np.log1p."
)
"""The way forward for a model that holds a lambda or a locally defined function."""


def not_importable(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that no loader can import, sorted: a lambda, a function
    defined inside another (``outer.<locals>.f``, or ``module.f`` where an imported module has
    no ``f``), or one of ``__main__`` (the script that saved the model, not the one that loads
    it). Trusting such a name cannot help."""
    return sorted(
        {
            n
            for n in names
            if n.startswith("__main__.")
            or not _NO_IMPORT_PARTS.isdisjoint(n.split("."))
            or _missing_from_imported_module(n)
        }
    )


def _missing_from_imported_module(name: str) -> bool:
    """True when ``name``'s module is already imported and has no such attribute (skops names
    a local function ``module.f``). Nothing is imported to find out: the name is refused."""
    module_name, _, attr = name.rpartition(".")
    module = sys.modules.get(module_name)
    return module is not None and attr.isidentifier() and not hasattr(module, attr)


def refusal_hint(refused: Iterable[str], *, nothing: str, otherwise: str) -> str:
    """The hint of a refusal: ``otherwise``, unless some refused name cannot be imported by
    any loader, which trusting it would not change (then: :data:`FUNCTION_HINT`).

    ``nothing`` opens the hint (``"Nothing was unpickled."``).
    """
    odd = not_importable(refused)
    if not odd:
        return f"{nothing} {otherwise}{_served_by_onnx(refused)}"
    verb = "is" if len(odd) == 1 else "are"
    return (
        f"{nothing} {preview(odd)} {verb} not importable by name (a lambda, a function defined "
        f"inside another, or one of __main__): {FUNCTION_HINT}"
    )


PARSED_MODELS = {"lightgbm.basic.Booster": "LightGBM", "xgboost.core.Booster": "XGBoost"}
"""Types left off the allowlist because constructing one parses a model string in their
library's C++ code, which skbundle cannot vouch for against a forged file; the exact ONNX
writer converts their models instead (``formats/onnx_graph``)."""


def _served_by_onnx(refused: Iterable[str]) -> str:
    """The way forward for a LightGBM or XGBoost model: its ONNX graph, if any is refused."""
    libraries = sorted({PARSED_MODELS[n] for n in refused if n in PARSED_MODELS})
    if not libraries:
        return ""
    return (
        f" Without them, ONNX serves such a bundle by default: skbundle.load() with no runtime "
        f"picks model.onnx when its parity is exact, and {' and '.join(libraries)}'s model "
        "parser never reads the bundle ('skbundle inspect' shows whether this bundle has one, "
        "and why not)."
    )


def untrusted(names: Iterable[str], extra: Collection[str] = ()) -> list[str]:
    """The names among ``names`` that :func:`is_trusted` refuses, sorted and deduplicated."""
    return sorted({n for n in names if not is_trusted(n, extra)})

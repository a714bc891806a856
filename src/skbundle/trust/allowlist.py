"""The names skbundle lets a model file import: its own allowlist, never the file's.

Both the pickle audit (``skbundle.trust.audit``) and the skops loader (``formats.skops_format``) ask
:func:`is_trusted` about every fully qualified name a file would import. The answer depends
only on this module and on the names the caller passes (``trusted_types=``): a list of
"trusted types" stored inside a model file would let its author vouch for themselves.

What is allowed:

- classes of scikit-learn, recognised by their qualified name: a module under ``sklearn.``
  outside its test helpers, and a class-like last component (it starts with an upper-case
  letter or is one of sklearn's compiled types such as ``Tree``). Functions are not allowed:
  a pickle can call any allowed name with arguments of its choosing, and scikit-learn has
  helpers that run subprocesses (``sklearn.utils._testing``).
- an explicit list of numpy, scipy, joblib and builtin names that pickles of fitted pipelines
  need (array and dtype reconstruction, random-state constructors, sparse matrices). A numpy
  prefix would not do: ``numpy.testing`` has a helper that ``exec``s a string.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

EXACT: frozenset[str] = frozenset(
    {
        # numpy arrays, dtypes and scalars (numpy 1.x and 2.x spell the module differently)
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray._reconstruct",
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
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        # random state held by estimators (random_state=RandomState(...))
        "numpy.random.mtrand.RandomState",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._generator.Generator",
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
"""Names allowed exactly as written."""

SKOPS_CONTAINERS: frozenset[str] = frozenset(
    f"builtins.{name}"
    for name in (
        "dict", "list", "tuple", "str", "int", "float", "bool", "NoneType", "bytes",
        "bytearray", "set", "frozenset", "complex",
    )
)  # fmt: skip
"""Plain values a skops file stores as JSON or builds from JSON: no code runs to make them."""

# scikit-learn's compiled types whose names are not capitalised like classes.
_SKLEARN_COMPILED = re.compile(r"^sklearn\.(tree\._tree\.Tree|_loss\._loss\.\w+|neighbors\._\w+)$")
_SKLEARN_CLASS = re.compile(r"^sklearn(\.[A-Za-z_][A-Za-z0-9_]*)*\.[A-Z][A-Za-z0-9_]*$")
# Modules of scikit-learn that hold test helpers and vendored code, not estimators.
_SKLEARN_EXCLUDED = re.compile(r"\.(tests?|_testing|externals|_build_utils)(\.|$)")


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
    >>> is_trusted("os.system")
    False
    """
    if name in EXACT or name in extra:
        return True
    if not name.startswith("sklearn.") or _SKLEARN_EXCLUDED.search(name):
        return False
    return bool(_SKLEARN_CLASS.match(name) or _SKLEARN_COMPILED.match(name))


def untrusted(names: Iterable[str], extra: Collection[str] = ()) -> list[str]:
    """The names among ``names`` that :func:`is_trusted` refuses, sorted and deduplicated."""
    return sorted({n for n in names if not is_trusted(n, extra)})

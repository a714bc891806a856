"""The C library's float32 math functions, which XGBoost's compiled code calls."""

from __future__ import annotations

from typing import Any

from skbundle.errors import ExactConversionUnsupported


def libm_float32(name: str) -> Any:
    """The C library's float32 function ``name`` (``expf``, ``logf``) via ctypes: what
    XGBoost's compiled code calls, which numpy's float32 ufuncs do not always match.

    Raises
    ------
    ExactConversionUnsupported
        No C math library is found (the XGBoost links cannot then be reproduced).
    """
    return _libm_functions().get(name) or _missing_libm(name)


def _missing_libm(name: str) -> Any:
    raise ExactConversionUnsupported(f"the C library's {name} is not available through ctypes")


_LIBM: dict[str, Any] = {}


def _libm_functions() -> dict[str, Any]:
    if _LIBM:
        return _LIBM
    import ctypes
    import ctypes.util

    path = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    if path is None:
        return _LIBM
    library = ctypes.CDLL(path)
    for name in ("expf", "logf"):
        function = getattr(library, name, None)
        if function is not None:
            function.restype = ctypes.c_float
            function.argtypes = [ctypes.c_float]
            _LIBM[name] = function
    return _LIBM

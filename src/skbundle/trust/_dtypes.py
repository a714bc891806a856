"""Pickled numpy dtypes, made the way numpy itself would make them, and refused otherwise.

joblib's reader decides from ``dtype.hasobject`` whether an array's bytes are raw data or a
nested pickle stream, and numpy's ``dtype.__setstate__`` copies the pickled flags as given: a
forged state can make a float64 "hold objects" or an object dtype deny it (numpy then reads
raw bytes as object pointers), and some malformed states crash the process. So a dtype is
made here from the layout its plain state describes, by numpy's constructor, and accepted only
when numpy pickles that dtype exactly as the file does; ``__setstate__`` is never called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from skbundle.errors import PickleAuditUnfollowable


@dataclass(eq=False)
class Dtype:
    """A ``numpy.dtype`` the pickle would make; ``value`` is it rebuilt once its state is set.

    ``args`` is None when it is made another way than numpy pickles one (then no state may be
    set on it).
    """

    args: Any
    value: np.dtype[Any] | None = None


def _plain(value: Any) -> Any:
    """A dtype's pickled state as numpy will see it: plain values and dtypes already rebuilt."""
    kind = type(value)
    if value is None or kind in (str, int, bool, float, bytes):
        return value
    if kind is tuple:
        return tuple(_plain(v) for v in value)
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if kind is Dtype and value.value is not None:
        return value.value
    raise PickleAuditUnfollowable(
        "a numpy dtype's state holds something other than plain values and dtypes"
    )


_ALIGNED_STRUCT = 0x80  # numpy's NPY_ALIGNED_STRUCT flag, as dtype.__reduce__ writes it


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``dtype == 'f8'`` is True in numpy)."""
    if isinstance(a, np.dtype) or isinstance(b, np.dtype):
        return isinstance(a, np.dtype) and isinstance(b, np.dtype) and a == b
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    return bool(a == b)


_CODE = re.compile(r"[biufcmMOSUV]\d{1,5}\Z")  # what numpy's dtype.__reduce__ writes
_UNIT = re.compile(r"[A-Za-z]{1,7}\Z")


def _not_numpy() -> PickleAuditUnfollowable:
    return PickleAuditUnfollowable("a numpy dtype's state is not one numpy writes")


def _is_shape(value: Any) -> bool:
    return type(value) is tuple and all(type(n) is int and n >= 0 for n in value)


def _field(entry: Any) -> bool:
    """(dtype, offset) or (dtype, offset, title), as in ``dtype.fields``."""
    return (
        type(entry) is tuple
        and len(entry) in (2, 3)
        and isinstance(entry[0], np.dtype)
        and type(entry[1]) is int
        and (len(entry) == 2 or type(entry[2]) is str)
    )


def _from_layout(code: str, state: tuple[Any, ...]) -> np.dtype[Any]:
    """The dtype a pickled state describes, made by numpy's constructor from checked plain
    values (never by ``__setstate__``, which trusts the flags it is given and crashes on some
    malformed states)."""
    version, endian, subarray, names, fields, elsize, _alignment, flags, *extra = state
    if not (
        _CODE.match(code)
        and endian in ("<", ">", "|")
        and type(elsize) is int
        and type(flags) is int
    ):
        raise _not_numpy()
    if subarray is not None:
        if not (
            type(subarray) is tuple
            and len(subarray) == 2
            and isinstance(subarray[0], np.dtype)
            and _is_shape(subarray[1])
        ):
            raise _not_numpy()
        return np.dtype(subarray)
    if names is not None:
        if not (
            type(names) is tuple and type(fields) is dict and all(type(n) is str for n in names)
        ):
            raise _not_numpy()
        entries: list[Any] = [fields.get(name) for name in names]
        if not all(_field(entry) for entry in entries):
            raise _not_numpy()
        spec = {
            "names": list(names),
            "formats": [entry[0] for entry in entries],
            "offsets": [entry[1] for entry in entries],
            "titles": [entry[2] if len(entry) > 2 else None for entry in entries],
            "itemsize": elsize,
        }
        return np.dtype(spec, align=bool(flags & _ALIGNED_STRUCT))  # type: ignore[call-overload,no-any-return]
    if version == 4 and code[0] in "Mm":  # datetime: (metadata, (unit, num, den, events))
        meta = extra[0]
        if not (
            type(meta) is tuple
            and len(meta) == 2
            and type(meta[1]) is tuple
            and len(meta[1]) == 4
            and type(meta[1][0]) is bytes
            and _UNIT.match(meta[1][0].decode("ascii", "replace"))
            and type(meta[1][1]) is int
            and meta[1][1] > 0
        ):
            raise _not_numpy()
        unit, num = meta[1][0].decode("ascii"), meta[1][1]
        step = "" if unit == "generic" else f"[{num if num != 1 else ''}{unit}]"
        return np.dtype(f"{endian}{code}{step}")
    return np.dtype(f"{endian}{code}")


def build_dtype(target: Dtype, state: Any) -> None:
    """The dtype joblib's numpy will make from ``numpy.dtype(code, align, True)`` and this
    state, accepted only when the state is exactly what numpy writes for such a dtype.

    numpy copies the pickled flags as they are: a dtype could claim to hold no objects while
    it does (raw bytes read as object pointers) or the reverse (raw bytes that are really a
    nested pickle). So the dtype is made from its layout by numpy's constructor, and its own
    pickled form must match the file's, field by field and type by type.
    """
    args = target.args
    if not (
        type(args) is tuple
        and len(args) == 3
        and type(args[0]) is str
        and type(args[1]) is bool
        and args[2] is True
    ):
        raise PickleAuditUnfollowable(
            "it sets the state of a numpy dtype made otherwise than numpy.dtype(code, align, True)"
        )
    plain = _plain(state)
    if not (type(plain) is tuple and len(plain) in (8, 9) and plain[0] == len(plain) - 5):
        raise PickleAuditUnfollowable("a numpy dtype's state is not one numpy writes")
    try:
        # numpy's constructor meets checked but forged values here: an error means "cannot
        # rebuild". (No warnings filter: changing it is not thread-safe, and these inputs
        # are of the plain forms numpy itself writes.)
        dtype = _from_layout(args[0], plain)
        _, made_args, made_state = dtype.__reduce__()  # type: ignore[str-unpack]
    except PickleAuditUnfollowable:
        raise
    except Exception as exc:
        raise PickleAuditUnfollowable(
            f"numpy cannot rebuild a dtype from its pickled state ({type(exc).__name__}: {exc})"
        ) from exc
    if not (_same(made_args, args) and _same(made_state, plain)):
        raise PickleAuditUnfollowable(
            f"a pickled numpy dtype {args[0]!r} has the state {_short(plain)}, but numpy "
            f"pickles the dtype of that layout ({dtype}) as {_short(made_state)} (a forged "
            "state can hide objects from numpy, or claim some)"
        )
    target.value = dtype


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."

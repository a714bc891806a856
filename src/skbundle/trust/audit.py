"""Audit a joblib file before it is unpickled: which names would it import?

Unpickling runs code: every ``GLOBAL``/``STACK_GLOBAL`` opcode imports a name, and ``REDUCE``
calls it with arguments chosen by the file's author. This module reads the opcodes with
:mod:`pickletools` and never executes one: it follows the pickle stack symbolically (literals,
containers and opaque objects) only far enough to know each imported name, even when the module
and name strings come from the memo, and to step over the raw array bytes that joblib writes
between opcodes. Every imported name is then checked against :mod:`skbundle.trust.allowlist`.

Anything it cannot follow (persistent ids, extension codes, out-of-band buffers, a computed
global, a truncated stream) is refused: the audit fails closed.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickletools
import re
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from skbundle.errors import PickleAuditUnfollowable, UntrustedArtifactError, preview
from skbundle.trust.allowlist import untrusted

# The first bytes of each container joblib writes: a raw pickle, or one of its compressors.
MAGIC = {
    b"\x80": "pickle",
    b"\x78": "zlib",
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x5d\x00\x00": "lzma",
    b"\x04\x22\x4d\x18": "lz4",
}


def sniff(data: bytes) -> str | None:
    """The container a joblib file uses, from its magic bytes; None when it is not one."""
    for magic, kind in sorted(MAGIC.items(), key=lambda item: -len(item[0])):
        if data.startswith(magic):
            return kind
    return None


MAX_DECOMPRESSED = 4 << 30
"""Refuse a file that inflates to more than this (4 GiB): a decompression bomb, not a model."""

_NUMPY_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_DTYPE = "numpy.dtype"
_SIMPLE_DTYPE = re.compile(r"^[<>|=]?([?bBhHiIlLqQpPefdgFDGbiufcmM])(\d*)$")


class _Mark:
    """The MARK sentinel on the symbolic stack."""


_MARK = _Mark()


@dataclass
class _Obj:
    """An object the pickle would build: which callable, with what arguments and state."""

    callable: Any
    args: Any = None
    state: Any = None


@dataclass(frozen=True)
class _Global:
    name: str


@dataclass
class AuditReport:
    """What a pickle would import, and what it would construct with those names."""

    imports: set[str] = field(default_factory=set)
    arrays: int = 0


def decompress(data: bytes, *, source: str) -> bytes:
    """The raw pickle stream of a joblib file, decompressed according to its magic bytes.

    Raises
    ------
    UntrustedArtifactError
        The bytes are neither a pickle nor a container joblib writes, or they do not inflate.
    """
    kind = sniff(data)
    try:
        if kind == "pickle":
            return data
        if kind == "zlib":
            inflater = zlib.decompressobj()
            raw = inflater.decompress(data, MAX_DECOMPRESSED)
            if inflater.unconsumed_tail:
                raise PickleAuditUnfollowable(f"it inflates to more than {MAX_DECOMPRESSED} bytes")
            return raw
        if kind == "gzip":
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                raw = fh.read(MAX_DECOMPRESSED + 1)
        elif kind == "bz2":
            raw = bz2.BZ2Decompressor().decompress(data, MAX_DECOMPRESSED + 1)
        elif kind in ("xz", "lzma"):
            raw = lzma.LZMADecompressor().decompress(data, MAX_DECOMPRESSED + 1)
        else:
            raise PickleAuditUnfollowable(
                f"its first bytes {data[:4]!r} are not those of a pickle or of a compressed "
                "container the audit can open"
            )
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UntrustedArtifactError(
            source, f"it does not decompress as {kind} ({exc})", "Rebuild the bundle."
        ) from exc
    except PickleAuditUnfollowable as exc:
        raise UntrustedArtifactError(source, str(exc), "Rebuild the bundle.") from exc
    if len(raw) > MAX_DECOMPRESSED:
        raise UntrustedArtifactError(
            source, f"it inflates to more than {MAX_DECOMPRESSED} bytes", "Rebuild the bundle."
        )
    return raw


def _pop_mark(stack: list[Any]) -> list[Any]:
    items: list[Any] = []
    while stack:
        item = stack.pop()
        if item is _MARK:
            items.reverse()
            return items
        items.append(item)
    raise PickleAuditUnfollowable("MARK expected on the stack")


def _name_of(value: Any) -> str:
    return value.name if isinstance(value, _Global) else ""


def _dtype_of(value: Any) -> tuple[int, bool]:
    """(itemsize, holds Python objects) of a pickled ``numpy.dtype``, from its arguments."""
    if not (isinstance(value, _Obj) and _name_of(value.callable) == _DTYPE):
        raise PickleAuditUnfollowable("an array wrapper without a dtype")
    args = value.args if isinstance(value.args, tuple) else ()
    code = args[0] if args and isinstance(args[0], str) else ""
    state = value.state if isinstance(value.state, tuple) else ()
    if code.startswith("O"):
        return 8, True
    # Flexible and structured types (S, U, V) record their size in the state.
    elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
    if code[:1] in ("S", "U", "V") and elsize > 0:
        fields = state[4] if len(state) > 4 else None
        has_object = isinstance(fields, dict) and any(
            isinstance(v, tuple) and v and _dtype_of(v[0])[1] for v in fields.values()
        )
        return elsize, has_object
    match = _SIMPLE_DTYPE.match(code)
    if match is None:
        raise PickleAuditUnfollowable(f"an array of dtype {code!r}")
    import numpy as np

    return int(np.dtype(code).itemsize), False


def _skip_array(state: Any, stream: io.BytesIO, report: AuditReport) -> None:
    """Step over the bytes joblib wrote after a NumpyArrayWrapper (see joblib's read_array)."""
    if not isinstance(state, dict):
        raise PickleAuditUnfollowable("an array wrapper without its state")
    shape = state.get("shape")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise PickleAuditUnfollowable(f"an array of shape {shape!r}")
    itemsize, has_object = _dtype_of(state.get("dtype"))
    report.arrays += 1
    if has_object:
        # Object arrays are a nested pickle stream at this position: audit it the same way.
        _scan(stream, report)
        return
    if state.get("numpy_array_alignment_bytes") is not None:
        padding = stream.read(1)
        if len(padding) != 1:
            raise PickleAuditUnfollowable("the stream ends inside an array")
        stream.seek(padding[0], io.SEEK_CUR)
    count = 1
    for n in shape:
        count *= n
    end = stream.tell() + count * itemsize
    if end > len(stream.getbuffer()):
        raise PickleAuditUnfollowable("the stream ends inside an array")
    stream.seek(end)


_LITERALS = frozenset(
    {
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
        "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
    }
)  # fmt: skip
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_REFUSED = frozenset(
    {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"}
)


def _scan(stream: io.BytesIO, report: AuditReport) -> None:
    """Follow one pickle stream to its STOP, recording every name it imports."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    items: Any
    try:
        for op, arg, _pos in pickletools.genops(stream):
            name = op.name
            if name in _LITERALS:
                stack.append(arg)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name in ("PROTO", "FRAME"):
                continue
            elif name == "STOP":
                return
            elif name in _REFUSED:
                raise PickleAuditUnfollowable(f"it uses the {name} opcode")
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                _pop_mark(stack)
            elif name == "DUP":
                stack.append(stack[-1])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "TUPLE":
                stack.append(tuple(_pop_mark(stack)))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(_pop_mark(stack))
            elif name == "APPEND":
                item = stack.pop()
                if isinstance(stack[-1], list):
                    stack[-1].append(item)
            elif name == "APPENDS":
                items = _pop_mark(stack)
                if isinstance(stack[-1], list):
                    stack[-1].extend(items)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "DICT":
                items = _pop_mark(stack)
                stack.append(_as_dict(items))
            elif name == "SETITEM":
                value = stack.pop()
                key = stack.pop()
                _setitems(stack[-1], [key, value])
            elif name == "SETITEMS":
                items = _pop_mark(stack)
                _setitems(stack[-1], items)
            elif name == "EMPTY_SET":
                stack.append(_Obj(_Global("builtins.set")))
            elif name == "ADDITEMS":
                _pop_mark(stack)
            elif name == "FROZENSET":
                _pop_mark(stack)
                stack.append(_Obj(_Global("builtins.frozenset")))
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[int(arg or 0)])
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg or 0)] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GLOBAL", "INST"):
                module, _, qualname = str(arg).partition(" ")
                target = _Global(f"{module}.{qualname}")
                report.imports.add(target.name)
                if name == "INST":
                    stack.append(_Obj(target, tuple(_pop_mark(stack))))
                else:
                    stack.append(target)
            elif name == "STACK_GLOBAL":
                qualname = stack.pop()
                module = stack.pop()
                if not (isinstance(module, str) and isinstance(qualname, str)):
                    raise PickleAuditUnfollowable("it computes the name of a global")
                target = _Global(f"{module}.{qualname}")
                report.imports.add(target.name)
                stack.append(target)
            elif name == "OBJ":
                items = _pop_mark(stack)
                stack.append(_Obj(items[0], tuple(items[1:])))
            elif name in ("REDUCE", "NEWOBJ"):
                args = stack.pop()
                stack.append(_Obj(stack.pop(), args))
            elif name == "NEWOBJ_EX":
                stack.pop()
                args = stack.pop()
                stack.append(_Obj(stack.pop(), args))
            elif name == "BUILD":
                state = stack.pop()
                target_obj = stack[-1]
                if isinstance(target_obj, _Obj):
                    target_obj.state = state
                    if _name_of(target_obj.callable) == _NUMPY_WRAPPER:
                        _skip_array(state, stream, report)
            else:
                raise PickleAuditUnfollowable(f"it uses the {name} opcode")
    except (IndexError, KeyError) as exc:
        raise PickleAuditUnfollowable(f"its opcodes do not form a valid pickle ({exc!r})") from exc
    except ValueError as exc:  # pickletools' own errors on a damaged stream
        raise PickleAuditUnfollowable(f"its opcodes do not parse ({exc})") from exc
    raise PickleAuditUnfollowable("the stream ends before its STOP opcode")


def _as_dict(items: list[Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    _setitems(out, items)
    return out


def _setitems(target: Any, items: list[Any]) -> None:
    if not isinstance(target, dict):
        return  # a dict subclass under construction: its contents do not matter here
    for key, value in zip(items[::2], items[1::2], strict=True):
        if isinstance(key, (str, int, float, bool, bytes, tuple)) or key is None:
            target[key] = value


def scan(data: bytes, *, source: str) -> AuditReport:
    """Every name a joblib file would import, read from its opcodes without executing any.

    Raises
    ------
    UntrustedArtifactError
        The file is not a pickle the audit can follow (it is then refused, not loaded).
    """
    stream = io.BytesIO(decompress(data, source=source))
    report = AuditReport()
    try:
        _scan(stream, report)
    except (PickleAuditUnfollowable, RecursionError, TypeError, ValueError, OverflowError) as exc:
        # Fail closed: whatever confuses the audit is refused, never passed on to pickle.
        reason = (
            str(exc) if isinstance(exc, PickleAuditUnfollowable) else f"{type(exc).__name__}: {exc}"
        )
        raise UntrustedArtifactError(
            source,
            f"the pickle audit cannot follow it: {reason}",
            "skbundle only loads pickles whose every import it can check; rebuild the bundle "
            "with skbundle.save().",
        ) from exc
    return report


def check(data: bytes, *, source: str, trusted: Collection[str] = ()) -> AuditReport:
    """Refuse a joblib file that would import anything outside the allowlist.

    Parameters
    ----------
    data
        The file's bytes, possibly compressed (detected by magic bytes).
    source
        The file's path, for messages.
    trusted
        Fully qualified names the caller trusts in addition to :mod:`skbundle.trust.allowlist`.

    Raises
    ------
    UntrustedArtifactError
        Listing every name found outside the allowlist; nothing was unpickled.

    Examples
    --------
    >>> check(Path("model.joblib").read_bytes(), source="model.joblib")
    AuditReport(imports={'sklearn.pipeline.Pipeline', ...}, arrays=12)
    """
    report = scan(data, source=source)
    refused = untrusted(report.imports, trusted)
    if refused:
        raise UntrustedArtifactError(
            source,
            f"the pickle would import {len(refused)} name"
            f"{'s' if len(refused) != 1 else ''} outside skbundle's allowlist: {preview(refused)}",
            "Nothing was unpickled. If you wrote this model and trust those names, pass "
            "trusted_types=[...] with them to skbundle.load() (CLI: --trust-type NAME, once "
            "per name); otherwise do not load it.",
        )
    return report

"""Audit a joblib file before it is unpickled: which names would it import?

Unpickling runs code: every ``GLOBAL``/``STACK_GLOBAL`` opcode imports a name, and ``REDUCE``
calls it with arguments chosen by the file's author. This module reads the opcodes with
:mod:`pickletools` and never executes one: it follows the pickle stack symbolically (literals,
containers and opaque objects) only far enough to know each imported name, even when the module
and name strings come from the memo. Every imported name is then checked against
:mod:`skbundle.trust.allowlist`.

A joblib file is not one pickle stream, and the audit reads it the way joblib's
``NumpyUnpickler`` will (``joblib/numpy_pickle.py``):

- every ``BUILD`` that leaves a ``NumpyArrayWrapper`` on the stack makes joblib read an array
  from the file right there (``read_array``), outside the pickle's own framing: raw bytes
  (after a padding byte), or, when the array's dtype holds Python objects
  (``dtype.hasobject``), a whole nested pickle stream read by a plain ``pickle.Unpickler``. The
  audit steps over the raw bytes and audits the nested stream in place, like the outer one;
- so it must know which objects are wrappers: only those joblib writes (``NEWOBJ`` of the
  class) or ``copyreg._reconstructor(NumpyArrayWrapper, object, None)``. The class itself may
  not be handed to any other code (``numpy.ma.core._mareconstruct`` would make one);
- whether an array holds objects is numpy's own answer (``dtype.hasobject``): each pickled
  ``numpy.dtype(code, align, True)`` is made from the layout its plain state describes by
  numpy's constructor, and refused unless numpy pickles that dtype exactly as the file does.
  numpy's ``__setstate__`` is never called: it copies the pickled flags as given (a dtype
  could hide its objects, and numpy would read raw bytes as object pointers) and crashes on
  some malformed states. A dtype must get its state before any other code runs;
- frames are followed: joblib reads an array from the file after the current frame, so an
  array must start where its frame ends, and no frame may go on past a STOP;
- the outer stream must end at the STOP the audit saw, with nothing after it, and a compressed
  file must inflate to exactly one stream within :data:`DEFAULT_INFLATE_LIMIT`.

Anything it cannot follow (persistent ids, extension codes, out-of-band buffers, a computed
global, a truncated stream) is refused: the audit fails closed.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickletools
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from skbundle.errors import PickleAuditUnfollowable, UntrustedArtifactError, preview
from skbundle.trust._dtypes import Dtype, build_dtype
from skbundle.trust._inflate import CODECS, InflateLimit, inflate
from skbundle.trust.allowlist import refusal_hint, untrusted

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


DEFAULT_INFLATE_LIMIT = InflateLimit()
"""How far a compressed joblib file may inflate: 200x its size, at least 64 MiB, at most 2 GiB."""

_DTYPE = "numpy.dtype"
_RECONSTRUCTOR = "copyreg._reconstructor"
_OBJECT = "builtins.object"
_WRAPPER = "NumpyArrayWrapper"
_LEGACY_WRAPPERS = frozenset({"NDArrayWrapper", "ZNDArrayWrapper"})


class _Mark:
    """The MARK sentinel on the symbolic stack."""


_MARK = _Mark()


@dataclass(frozen=True)
class _Global:
    name: str


class _WrapperClass(_Global):
    """joblib's ``NumpyArrayWrapper`` class: any instance of it makes joblib read an array."""


class _WrapperArgs(tuple):  # type: ignore[type-arg]
    """A tuple holding the wrapper class: allowed only as ``copyreg._reconstructor``'s args."""


_TAINTED = frozenset({_WrapperClass, _WrapperArgs})


@dataclass(eq=False)
class _Obj:
    """An object the pickle would build: which callable, with what arguments and state."""

    callable: Any
    args: Any = None
    state: Any = None


@dataclass(eq=False)
class _Wrapper:
    """An instance of ``NumpyArrayWrapper``: the attributes its BUILDs gave it so far."""

    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditReport:
    """What a pickle would import, and what it would construct with those names."""

    imports: set[str] = field(default_factory=set)
    arrays: int = 0
    nested: int = 0
    """How many of the arrays are nested pickle streams (arrays of Python objects)."""


def decompress(data: bytes, *, source: str, limit: InflateLimit | None = None) -> bytes:
    """The raw pickle stream of a joblib file, decompressed according to its magic bytes.

    Raises
    ------
    UntrustedArtifactError
        The bytes are neither a pickle nor a container joblib writes, they do not inflate,
        or they inflate past ``limit`` (default :data:`DEFAULT_INFLATE_LIMIT`).
    """
    return _open(data, source=source, limit=limit).getvalue()


def _open(data: bytes, *, source: str, limit: InflateLimit | None) -> io.BytesIO:
    kind = sniff(data)
    if kind == "pickle":
        return io.BytesIO(data)
    if kind is None or kind not in CODECS:
        raise UntrustedArtifactError(
            source,
            f"its first bytes {data[:4]!r} are not those of a pickle or of a compressed "
            "container the audit can open",
            "Rebuild the bundle.",
        )
    return inflate(data, kind, source=source, limit=limit or DEFAULT_INFLATE_LIMIT)


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


def _bytes(n: int) -> str:
    return "there is 1 byte" if n == 1 else f"there are {n} bytes"


def _wrapper_misuse() -> PickleAuditUnfollowable:
    return PickleAuditUnfollowable(
        f"it uses joblib's {_WRAPPER} other than the way joblib writes one (every object of "
        "that class makes joblib read array bytes from the stream)"
    )


def _untainted(items: Any) -> None:
    """Refuse when the wrapper class would reach code other than what creates a wrapper."""
    if not _TAINTED.isdisjoint(map(type, items)):
        raise _wrapper_misuse()


def _names_at(stream: io.BytesIO, pos: int | None) -> tuple[str, str]:
    """The module and name lines of the GLOBAL or INST opcode at ``pos``, decoded as the
    unpickler decodes them (UTF-8, no escapes: pickletools' own decoding differs)."""
    here = stream.tell()
    stream.seek((pos or 0) + 1)  # genops gives every opcode's position on a seekable stream
    module = stream.readline()[:-1].decode("utf-8")
    qualname = stream.readline()[:-1].decode("utf-8")
    stream.seek(here)
    return module, qualname


def _global(module: str, qualname: str, proto: int, report: AuditReport) -> _Global:
    """The global the unpickler's ``find_class`` would import (with its Python 2 renames)."""
    if proto < 3:  # pickle.Unpickler(fix_imports=True), as joblib uses it
        renamed = _compat_pickle.NAME_MAPPING.get((module, qualname))
        if renamed is not None:
            module, qualname = renamed
        else:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    name = f"{module}.{qualname}"
    report.imports.add(name)
    last = qualname.rpartition(".")[2]
    if last == _WRAPPER:
        return _WrapperClass(name)
    if last in _LEGACY_WRAPPERS:
        raise PickleAuditUnfollowable(
            f"it names {name}, joblib's pre-0.10 array wrapper, which reads other files"
        )
    return _Global(name)


# -- the arrays joblib reads between opcodes ------------------------------------------------
_ARRAY = _Global("numpy.ndarray")


def _read_array(
    wrapper: _Wrapper,
    state: Any,
    stream: io.BytesIO,
    report: AuditReport,
    proto: list[int],
    size: int,
) -> Any:
    """Step over (or audit) what joblib's ``NumpyArrayWrapper.read_array`` reads here, and
    return what joblib puts on the stack in the wrapper's place."""
    if type(state) is not dict or not all(type(key) is str for key in state):
        raise PickleAuditUnfollowable("an array wrapper whose state is not a dict of attributes")
    attrs = wrapper.attrs
    attrs.update(state)
    shape = attrs.get("shape")
    if type(shape) is not tuple or not all(type(n) in (int, bool) and n >= 0 for n in shape):
        raise PickleAuditUnfollowable(f"an array of shape {shape!r}")
    dtype = attrs.get("dtype")
    if type(dtype) is not Dtype or dtype.value is None:
        raise PickleAuditUnfollowable("an array wrapper without a dtype")
    report.arrays += 1
    if dtype.value.hasobject:
        # joblib reads a whole pickle stream here, with a plain pickle.Unpickler, and puts
        # whatever it returns in the wrapper's place (a wrapper too, which a BUILD would read).
        report.nested += 1
        return _scan(stream, report, proto, size=size, joblib_reads=False)
    itemsize = dtype.value.itemsize
    if itemsize == 0:
        raise PickleAuditUnfollowable("an array of 0-byte items")
    if attrs.get("numpy_array_alignment_bytes") is not None:
        padding = stream.read(1)
        if len(padding) != 1:
            raise PickleAuditUnfollowable("the stream ends inside an array")
        stream.seek(padding[0], io.SEEK_CUR)
    count = 1
    for n in shape:
        count *= n
    end = stream.tell() + count * itemsize
    if end > size:
        raise PickleAuditUnfollowable("the stream ends inside an array")
    stream.seek(end)
    return _Obj(_ARRAY)


_LITERALS = frozenset(
    {
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
        "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
    }
)  # fmt: skip
_BYTEARRAY = _Global("builtins.bytearray")
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_REFUSED = frozenset(
    {"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"}
)
_HALF_BUILT = "it runs code while a numpy dtype is half-built (between its creation and state)"


def _scan(
    stream: io.BytesIO, report: AuditReport, proto: list[int], *, size: int, joblib_reads: bool
) -> Any:
    """Follow one pickle stream to its STOP, recording every name it imports; return the
    (symbolic) value the unpickler returns.

    ``joblib_reads``: this is the stream joblib's own unpickler reads (arrays follow its
    wrappers' BUILDs, and nothing may follow its STOP); a nested stream is read by a plain
    ``pickle.Unpickler`` that still resolves names with the outer one (``proto[0]`` is the
    outer stream's protocol, which decides Python 2 renames).
    """
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    pending: list[Dtype] = []  # dtypes made, state not yet set; innermost last
    frame_end = 0
    items: Any
    try:
        for op, value, pos in pickletools.genops(stream):
            name = op.name
            arg: Any = value
            if name == "BYTEARRAY8":
                # numpy's protocol-5 buffers in nested streams (gradient boosting's trees):
                # their bytes are data, never a name, so only a placeholder is kept (the
                # stream holds them once; the audit's memory stays one payload at a time).
                # pickletools has read the length it declares only as far as the stream goes.
                stack.append(_Obj(_BYTEARRAY))
            elif name in _LITERALS:
                stack.append(arg)
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                stack.append(memo[arg])
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"):
                if name == "TUPLE":
                    items = _pop_mark(stack)
                else:
                    n = int(name[-1])
                    items = stack[-n:]
                    if len(items) != n or any(item is _MARK for item in items):
                        raise PickleAuditUnfollowable(f"{name} finds fewer than {n} values")
                    del stack[-n:]
                if _TAINTED.isdisjoint(map(type, items)):
                    stack.append(tuple(items))
                elif _WrapperArgs in map(type, items):
                    raise _wrapper_misuse()
                else:
                    stack.append(_WrapperArgs(items))
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "SETITEM" or name == "SETITEMS":
                items = [stack.pop(), stack.pop()][::-1] if name == "SETITEM" else _pop_mark(stack)
                _untainted(items)
                target = stack[-1]
                if type(target) is dict:
                    _setitems(target, items)
                elif pending:
                    raise PickleAuditUnfollowable(_HALF_BUILT)
            elif name == "APPEND" or name == "APPENDS":
                items = [stack.pop()] if name == "APPEND" else _pop_mark(stack)
                _untainted(items)
                target = stack[-1]
                if type(target) is list:
                    target.extend(items)
                elif pending:
                    raise PickleAuditUnfollowable(_HALF_BUILT)
            elif name in ("REDUCE", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST"):
                # While a dtype waits for its state, the only call allowed makes another one.
                if pending and (name != "REDUCE" or _name_of(stack[-2]) != _DTYPE):
                    raise PickleAuditUnfollowable(_HALF_BUILT)
                made = _call(
                    stack, name, _names_at(stream, pos) if name == "INST" else arg, proto, report
                )
                stack.append(made)
                if type(made) is Dtype and made.args is not None:
                    pending.append(made)
            elif name == "BUILD":
                state = stack.pop()
                target = stack[-1]
                if type(state) in _TAINTED:
                    raise _wrapper_misuse()
                if pending:
                    if target is not pending[-1]:
                        raise PickleAuditUnfollowable(_HALF_BUILT)
                    build_dtype(pending.pop(), state)
                elif type(target) is _Obj:
                    target.state = state
                elif type(target) is _Wrapper:
                    if joblib_reads:
                        if stream.tell() < frame_end:
                            raise PickleAuditUnfollowable(
                                "an array's bytes start inside a pickle frame (joblib reads "
                                "them after the frame)"
                            )
                        stack[-1] = _read_array(target, state, stream, report, proto, size)
                    elif type(state) is dict:
                        target.attrs.update(state)
                elif type(target) is Dtype:
                    raise PickleAuditUnfollowable(
                        "it sets the state of a numpy dtype twice, or after using it"
                        if target.args is not None
                        else "it sets the state of a numpy dtype made otherwise than "
                        "numpy.dtype(code, align, True)"
                    )
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, qualname = _names_at(stream, pos)
                else:
                    qualname = stack.pop()
                    module = stack.pop()
                    if not (type(module) is str and type(qualname) is str):
                        raise PickleAuditUnfollowable("it computes the name of a global")
                stack.append(_global(module, qualname, proto[0], report))
            elif name in ("PROTO", "FRAME"):
                if name == "FRAME":
                    here = stream.tell()
                    if here < frame_end:
                        raise PickleAuditUnfollowable("a pickle frame starts inside another")
                    frame_end = here + int(arg)
                elif joblib_reads:
                    proto[0] = int(arg)
            elif name == "STOP":
                here = stream.tell()
                if here < frame_end:
                    raise PickleAuditUnfollowable(
                        f"{_bytes(frame_end - here)} after its STOP inside the same frame"
                    )
                if len(stack) != 1 or stack[0] is _MARK:
                    raise PickleAuditUnfollowable(
                        f"its STOP finds {len(stack)} values on the stack (a pickle ends with "
                        "exactly one)"
                    )
                if joblib_reads and here != size:
                    raise PickleAuditUnfollowable(
                        f"{_bytes(size - here)} after its final STOP (joblib stops reading "
                        "there: a file joblib writes ends with its STOP)"
                    )
                return stack[0]
            elif name in _REFUSED:
                raise PickleAuditUnfollowable(f"it uses the {name} opcode")
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                _pop_mark(stack)
            elif name == "DUP":
                stack.append(stack[-1])
            elif name == "LIST":
                items = _pop_mark(stack)
                _untainted(items)
                stack.append(items)
            elif name == "DICT":
                items = _pop_mark(stack)
                _untainted(items)
                stack.append(_as_dict(items))
            elif name == "EMPTY_SET":
                stack.append(_Obj(_Global("builtins.set")))
            elif name in ("ADDITEMS", "FROZENSET"):
                _untainted(_pop_mark(stack))
                if name == "FROZENSET":
                    stack.append(_Obj(_Global("builtins.frozenset")))
                elif pending:  # ADDITEMS calls the target's add()
                    raise PickleAuditUnfollowable(_HALF_BUILT)
            else:
                raise PickleAuditUnfollowable(f"it uses the {name} opcode")
    except (IndexError, KeyError) as exc:
        raise PickleAuditUnfollowable(f"its opcodes do not form a valid pickle ({exc!r})") from exc
    except ValueError as exc:  # pickletools' own errors on a damaged stream
        raise PickleAuditUnfollowable(f"its opcodes do not parse ({exc})") from exc
    raise PickleAuditUnfollowable("the stream ends before its STOP opcode")


def _call(stack: list[Any], name: str, arg: Any, proto: list[int], report: AuditReport) -> Any:
    """What a REDUCE, NEWOBJ, NEWOBJ_EX, OBJ or INST leaves on the stack."""
    kwargs: Any = {}
    if name == "REDUCE" or name == "NEWOBJ":
        args = stack.pop()
        target = stack.pop()
    elif name == "NEWOBJ_EX":
        kwargs = stack.pop()
        args = stack.pop()
        target = stack.pop()
    elif name == "OBJ":
        items = _pop_mark(stack)
        target, args = items[0], tuple(items[1:])
        _untainted(args)
    else:  # INST: arg is (module, qualname)
        module, qualname = arg
        target, args = _global(module, qualname, proto[0], report), tuple(_pop_mark(stack))
        _untainted(args)
    if type(args) is _WrapperArgs and name == "REDUCE" and _name_of(target) == _RECONSTRUCTOR:
        if (
            len(args) == 3
            and type(args[0]) is _WrapperClass
            and _name_of(args[1]) == _OBJECT
            and args[2] is None
        ):
            return _Wrapper()  # what object.__new__(NumpyArrayWrapper) gives
        raise _wrapper_misuse()
    if type(args) in _TAINTED or type(kwargs) in _TAINTED:
        raise _wrapper_misuse()
    if type(target) is _WrapperClass:
        if name in ("NEWOBJ", "NEWOBJ_EX"):
            return _Wrapper()  # cls.__new__(cls): joblib's own form; the arguments are ignored
        raise _wrapper_misuse()  # calling the class runs __init__ with the file's arguments
    if _name_of(target) == _DTYPE:
        return Dtype(args if name == "REDUCE" else None)
    return _Obj(target, args)


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


def scan(data: bytes, *, source: str, limit: InflateLimit | None = None) -> AuditReport:
    """Every name a joblib file would import, read from its opcodes without executing any.

    Parameters
    ----------
    data
        The file's bytes, possibly compressed (detected by magic bytes).
    source
        The file's path, for messages.
    limit
        How far a compressed file may inflate; default :data:`DEFAULT_INFLATE_LIMIT`.

    Raises
    ------
    UntrustedArtifactError
        The file is not a pickle the audit can follow (it is then refused, not loaded).
    """
    stream = _open(data, source=source, limit=limit)
    report = AuditReport()
    try:
        # the size by seeking: getbuffer() would copy a stream that still shares its bytes
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        _scan(stream, report, [0], size=size, joblib_reads=True)
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
            refusal_hint(
                refused,
                nothing="Nothing was unpickled.",
                otherwise="If you wrote this model and trust those names, pass "
                "trusted_types=[...] with them to skbundle.load() (CLI: --trust-type NAME, once "
                "per name); otherwise do not load it.",
            ),
        )
    return report

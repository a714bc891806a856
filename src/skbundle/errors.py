"""The one exception hierarchy of skbundle: every exception class of the package is here.

Every error builds its own message from structured fields, so the CLI and the server can
render it (or its fields) without parsing strings::

    SkbundleError
     ├── ManifestError(ValueError)             bundle.json missing, unparseable, wrong version
     ├── BundleIntegrityError                  a file changed, went missing, or was added
     │    └── BundleFileError                  a bundle file is a link, not a regular file,
     │                                         too large, or outside the bundle: not read
     ├── BundleExistsError(FileExistsError)    save() would overwrite without overwrite=True
     ├── IncompatibleEnvironmentError          the running packages differ from the recorded ones
     ├── UntrustedArtifactError                a file would run code, read outside the bundle,
     │    │                                    or cannot be loaded; nothing vouches for it
     │    ├── SignatureError                   a required signature is missing or does not match
     │    └── KeyFileError                     a key given by the caller cannot be read
     ├── PipelineError(ValueError)             save() was given a pipeline or data it cannot bundle
     ├── InputValidationError(ValueError)      prediction input does not fit the feature schema
     │    └── BatchValidationError             ... and it was read from a file, which it names
     ├── RuntimeUnavailableError(ValueError)   the requested runtime is not in the bundle
     ├── MonitoringError(ValueError)           drift cannot be computed (no reference, bad log)
     ├── ReadinessError(ValueError)            readiness.json is missing or unreadable
     ├── BenchmarkError(RuntimeError)          a benchmark could not run
     ├── BatchInputError(ValueError)           the input to score cannot be read
     ├── FormatUnavailable                     a format cannot store this pipeline (recorded
     │    │                                    in the manifest; save() goes on without it)
     │    └── ExactConversionUnsupported       the exact ONNX writer does not know a step
     ├── PickleAuditUnfollowable               the pickle audit cannot follow a stream (internal:
     │                                         reported as UntrustedArtifactError)
     ├── ApiKeyError(ValueError)               the server's API key is empty, unreadable, or
     │                                         given in more than one way
     ├── NoProbabilitiesError(ValueError)      probabilities were asked of a regressor, or of a
     │                                         classifier without predict_proba
     ├── ThresholdError(ValueError)            a check threshold was given for the other task
     │                                         (--min-r2 on a classifier, --min-accuracy on a
     │                                         regressor)
     ├── RegistryError(ValueError)             the model registry refused an operation: a bad
     │    │                                    reference, name or alias, or a wrong setting
     │    ├── RegistryLookupError(LookupError) no such model, version or alias in the registry
     │    ├── RegistryConflictError            the operation contradicts what is stored: a
     │    │                                    version pushed again with other bytes, a
     │    │                                    version deleted while an alias points at it
     │    ├── RegistryUnavailableError         the registry's database or blob store cannot
     │    │                                    be opened or used
     │    ├── RegistryIntegrityError           a stored blob no longer matches its SHA-256
     │    │                                    (also a BundleIntegrityError): nothing written
     │    └── PromotionRefusedError            an alias move failed its gate (readiness
     │                                         checklist, required signature); force=True
     │                                         overrides and is recorded
     ├── ModelSourceError(ValueError)          a server's model source cannot be opened or read,
     │                                         or its new version cannot replace the served one
     ├── MissingExtraError(ImportError)        a command needs an optional part of skbundle
     │                                         (pip install 'skbundle[build]') not installed
     ├── ExportError(ValueError)               an export cannot be written (target exists, no
     │                                         skbundle wheel can be built or found)
     ├── BatchOptionError(ValueError)          a batch option cannot be honoured (an unknown
     │                                         or inapplicable output column, a kept column
     │                                         that collides with one)
     └── ClusterJobError(RuntimeError)         a Dask or Spark scoring job cannot run or did
                                               not finish (no scheduler, output exists, a
                                               part lost); nothing was committed

    HttpError                                  a 4xx answer of the server, with its JSON body
                                               (internal to skbundle.serve; not an SkbundleError,
                                               so it never escapes as a library error)

One warning class, ``EnvironmentMismatchWarning``: patch-level version differences, or a
mismatch the caller allowed. Values outside the training range are not Python warnings: they
travel with each prediction result, where a server or a batch job can see them.

Third-party exceptions are translated at one boundary each: the format libraries in
``skbundle.formats._boundary``, the server's request parsing in ``skbundle.serve.http``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_LISTED = 5
"""How many items an error message lists before it says '...'; the structured fields keep all."""


def preview(items: Sequence[Any], limit: int = MAX_LISTED) -> str:
    """Render a short, deterministic list for a message: the first ``limit`` items, then '...'."""
    shown = ", ".join(repr(item) for item in items[:limit])
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return f"[{shown}{more}]"


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class SkbundleError(Exception):
    """Base class of every error skbundle raises on purpose.

    Every subclass survives pickling (a process pool, a Dask worker, a Spark executor sends
    it back to the caller) with its message and structured fields: it is rebuilt from its
    state, not by calling ``__init__`` again with the message.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class EnvironmentMismatchWarning(UserWarning):
    """The running package versions differ from the ones the bundle was built with."""


class ManifestError(SkbundleError, ValueError):
    """``bundle.json`` is missing, does not parse, or is of a format this skbundle cannot read."""

    def __init__(self, path: str, problem: str, hint: str) -> None:
        self.path = path
        self.problem = problem
        self.hint = hint
        super().__init__(f"Cannot read the manifest {path}: {problem}. {hint}")


@dataclass(frozen=True)
class IntegrityProblem:
    """One file of a bundle that does not match its manifest."""

    path: str
    kind: str  # "changed", "missing", "unlisted", "unsafe", "size", "path"
    expected: str | None = None
    actual: str | None = None

    def reason(self) -> str:
        """What is wrong with the file, as a phrase that follows its name."""
        if self.kind == "missing":
            return "is listed in the manifest but missing"
        if self.kind == "unlisted":
            return f"is not listed in the manifest (sha256 {self.actual})"
        if self.kind == "unsafe":  # actual: what the file is instead, e.g. "a symbolic link"
            return f"is {self.actual}, not a regular file (a bundle holds regular files only)"
        if self.kind == "size":  # actual, expected: byte counts
            return f"is {self.actual} bytes, more than the {self.expected} bytes allowed"
        if self.kind == "path":  # actual: why the path leaves the bundle
            return f"is not a path inside the bundle ({self.actual})"
        return f"has sha256 {self.actual}, the manifest expects {self.expected}"

    def describe(self) -> str:
        return f"{self.path} {self.reason()}"


class BundleIntegrityError(SkbundleError):
    """Files of the bundle do not match the hashes in its manifest; nothing was deserialized."""

    def __init__(self, bundle: str, problems: Sequence[IntegrityProblem]) -> None:
        self.bundle = bundle
        self.problems = list(problems)
        lines = "; ".join(p.describe() for p in self.problems[:MAX_LISTED])
        more = (
            f"; ... ({len(self.problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        )
        super().__init__(
            f"Bundle {bundle} failed verification ({len(self.problems)} problem"
            f"{'s' if len(self.problems) != 1 else ''}): {lines}{more}. Nothing was loaded. "
            "Rebuild the bundle with skbundle.save(), or fetch an intact copy from its source."
        )


class BundleExistsError(SkbundleError, FileExistsError):
    """A bundle already exists where save() was asked to write one."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"A bundle already exists at {path}. Pass overwrite=True (CLI: --overwrite) to "
            "replace it atomically, or choose another path."
        )


class IncompatibleEnvironmentError(SkbundleError):
    """The running environment cannot be trusted to reproduce the bundle's predictions."""

    def __init__(self, package: str, recorded: str, running: str, hint: str) -> None:
        self.package = package
        self.recorded = recorded
        self.running = running
        super().__init__(
            f"The bundle was built with {package} {recorded}, but {running} is installed: "
            f"a different major.minor version may change predictions or fail to load. {hint}"
        )


class UntrustedArtifactError(SkbundleError):
    """Loading this artifact could run code, and nothing vouches for it."""

    def __init__(self, path: str, reason: str, hint: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"Refusing to load {path}: {reason}. {hint}")


class PipelineError(SkbundleError, ValueError):
    """save() was given a pipeline, data or options it cannot turn into a bundle."""

    def __init__(self, what: str, expected: str, got: str, hint: str = "") -> None:
        self.what = what
        self.expected = expected
        self.got = got
        tail = f" {hint}" if hint else ""
        super().__init__(f"{what}: expected {expected}, got {got}.{tail}")


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with prediction input, located by record and field.

    ``record`` is the 0-based index of the record (None when the problem concerns the input
    as a whole); ``field`` is the feature name (None when it concerns a whole record).
    """

    record: int | None
    field: str | None
    problem: str
    expected: str

    def describe(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where) + ": " if where else ""
        return f"{prefix}{self.problem}; expected {self.expected}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "field": self.field,
            "problem": self.problem,
            "expected": self.expected,
        }


MISSING = "feature is missing"


def _group_missing(problems: Sequence[InputProblem]) -> list[str]:
    """One line per problem, except that a record's missing features share one line."""
    entries: list[str | tuple[int | None, list[str]]] = []
    by_record: dict[int | None, list[str]] = {}
    for p in problems:
        if p.problem != MISSING or p.field is None:
            entries.append(p.describe())
            continue
        if p.record not in by_record:
            by_record[p.record] = []
            entries.append((p.record, by_record[p.record]))
        by_record[p.record].append(p.field)
    lines = []
    for entry in entries:
        if isinstance(entry, str):
            lines.append(entry)
            continue
        record, names = entry
        if len(names) == 1:
            lines.append(InputProblem(record, names[0], MISSING, "a number").describe())
        else:
            lines.append(
                f"record {record}: {len(names)} features are missing: {preview(names)}; "
                "expected a number for each"
            )
    return lines


class InputValidationError(SkbundleError, ValueError):
    """Prediction input does not fit the bundle's feature schema.

    ``problems`` holds every problem found (up to the validator's cap, see ``truncated``);
    the message shows the first ten.
    """

    def __init__(
        self, bundle: str, problems: Sequence[InputProblem], *, truncated: bool = False
    ) -> None:
        self.bundle = bundle
        self.problems = list(problems)
        self.truncated = truncated
        described = _group_missing(self.problems)
        shown = described[:10]
        lines = "\n".join(f"  - {line}" for line in shown)
        more = len(described) - len(shown)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        if truncated:
            tail += " (stopped counting; fix these first)"
        count = len(self.problems)
        super().__init__(
            f"Input does not fit the bundle {bundle!r} ({count} problem"
            f"{'s' if count != 1 else ''}):\n{lines}{tail}\n"
            "Send every feature listed by 'skbundle inspect' (or GET /metadata), each as the "
            "schema says: a number, or one of its categories."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": "input_validation",
            "message": str(self),
            "problems": [p.to_dict() for p in self.problems],
            "truncated": self.truncated,
        }


class RuntimeUnavailableError(SkbundleError, ValueError):
    """The requested runtime is not in this bundle, or unknown."""

    def __init__(self, requested: str, available: Sequence[str], why: str = "") -> None:
        self.requested = requested
        self.available = list(available)
        extra = f" ({why})" if why else ""
        super().__init__(
            f"Runtime {requested!r} is not available for this bundle{extra}: expected one of "
            f"{['auto', *available]}."
        )


class SignatureError(UntrustedArtifactError):
    """A signature is required or checked, and it is missing, malformed, or does not match."""


class KeyFileError(UntrustedArtifactError):
    """A key given by the caller cannot be read as an Ed25519 key."""


class MonitoringError(SkbundleError, ValueError):
    """Drift cannot be computed: no reference statistics, unreadable log, unusable input."""

    def __init__(self, what: str, problem: str, hint: str = "") -> None:
        self.what = what
        self.problem = problem
        self.hint = hint
        tail = f" {hint}" if hint else ""
        super().__init__(f"{what}: {problem}.{tail}")


class ReadinessError(SkbundleError, ValueError):
    """The bundle's readiness data is missing or unreadable."""

    def __init__(self, path: str, problem: str, hint: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"Cannot read the readiness data {path}: {problem}. {hint}")


class BenchmarkError(SkbundleError, RuntimeError):
    """A benchmark could not run: no runtime could be loaded, or a measurement failed."""

    def __init__(self, bundle: str, problem: str, hint: str) -> None:
        self.bundle = bundle
        self.problem = problem
        super().__init__(f"Cannot benchmark {bundle}: {problem}. {hint}")


class BatchInputError(SkbundleError, ValueError):
    """The input to score cannot be read: wrong kind, unreadable, or not valid JSON."""

    def __init__(self, source: str, problem: str, hint: str) -> None:
        self.source = source
        super().__init__(f"Cannot read input {source}: {problem}. {hint}")


class FormatUnavailable(SkbundleError):
    """A handler cannot represent this pipeline; the message says why (recorded in the manifest)."""


class ExactConversionUnsupported(FormatUnavailable):
    """The converter does not know this step; the message names it."""


class PickleAuditUnfollowable(SkbundleError):
    """The stream does something the audit does not model; it is refused."""


class HttpError(Exception):
    """A 4xx answer with a structured body: ``{"error", "message", "problems": [...]}``.

    ``code`` is a short machine-readable name (``malformed_json``, ``body_too_large``...);
    ``problems`` follow ``InputProblem.to_dict()``: record, field, problem, expected.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: list[dict[str, Any]] | None = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems if problems is not None else []
        self.headers = headers or []

    @classmethod
    def simple(
        cls, status: int, code: str, problem: str, expected: str, *, field: str | None = None
    ) -> HttpError:
        """An error about the request as a whole (or one field), with one problem."""
        where = f"field {field!r}: " if field else ""
        return cls(
            status,
            code,
            f"{where}{problem}; expected {expected}",
            [{"record": None, "field": field, "problem": problem, "expected": expected}],
        )

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "problems": self.problems}


class BundleFileError(BundleIntegrityError):
    """A file of a bundle cannot be read safely, so nothing was read from it: it is a link,
    not a regular file (a FIFO, a device, a directory), larger than skbundle reads, or named by
    a path that leaves the bundle directory. ``problems`` holds the one IntegrityProblem."""

    def __init__(self, bundle: str, problem: IntegrityProblem) -> None:
        super().__init__(bundle, [problem])
        self.path = problem.path
        self.reason = problem.reason()
        self.args = (
            f"Cannot read {problem.path} in the bundle {bundle}: it {self.reason}. Nothing was "
            "read from it. Rebuild the bundle with skbundle.save(), or fetch an intact copy "
            "from its source.",
        )


class ApiKeyError(SkbundleError, ValueError):
    """The API key for ``skbundle serve`` is empty, unreadable, or given in more than one way."""

    def __init__(self, source: str, problem: str, hint: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"API key from {source}: {problem}. {hint}")


class NoProbabilitiesError(SkbundleError, ValueError):
    """``predict_proba`` was called on a bundle that does not estimate probabilities."""

    def __init__(self, bundle: str, task: str, output: str) -> None:
        self.bundle = bundle
        self.task = task
        what = (
            "a regressor: it predicts values"
            if task == "regression"
            else "a classifier without predict_proba: it predicts labels"
        )
        super().__init__(
            f"The bundle {bundle} has no probabilities: it is {what} (output {output!r}). Use "
            "bundle.predict(...), whose results hold what the model gives."
        )


class ThresholdError(SkbundleError, ValueError):
    """A readiness threshold was given that does not apply to the bundle's task."""

    def __init__(
        self, bundle: str, task: str, given: Sequence[str], expected: Sequence[str]
    ) -> None:
        self.bundle = bundle
        self.task = task
        self.given = list(given)
        self.expected = list(expected)

        def option(name: str) -> str:
            return f"{name} (--{name.replace('_', '-')})"

        what = "a regressor" if task == "regression" else "a classifier"
        other = "a classifier" if task == "regression" else "a regressor"
        names = ", ".join(option(n) for n in self.given)
        verb = "does" if len(self.given) == 1 else "do"
        plural = "" if len(self.given) == 1 else "s"
        super().__init__(
            f"Threshold{plural} {names} {verb} not apply to the bundle {bundle!r}: it is {what}; "
            f"expected {what}'s threshold{'s' if len(self.expected) > 1 else ''} "
            f"{' or '.join(option(n) for n in self.expected)}. Leave "
            f"{', '.join(self.given)} out, or check {other}."
        )


class RegistryError(SkbundleError, ValueError):
    """The model registry refused an operation: ``<what>: <problem>. <hint>``."""

    def __init__(self, what: str, problem: str, hint: str = "") -> None:
        self.what = what
        self.problem = problem
        self.hint = hint
        tail = f" {hint}" if hint else ""
        super().__init__(f"{what}: {problem}.{tail}")


class RegistryLookupError(RegistryError, LookupError):
    """No such model, version or alias in the registry."""


class RegistryConflictError(RegistryError):
    """The operation contradicts what the registry holds (same version, other bytes; a
    version deleted while an alias points at it)."""


class RegistryUnavailableError(RegistryError):
    """The registry's database or blob store cannot be opened or used."""


class RegistryIntegrityError(BundleIntegrityError):
    """A blob of a registered version does not match the SHA-256 recorded for it: the blob
    store was changed outside skbundle. Nothing was written."""

    def __init__(self, ref: str, registry: str, problems: Sequence[IntegrityProblem]) -> None:
        super().__init__(ref, problems)
        self.ref = ref
        self.registry = registry
        lines = "; ".join(p.describe() for p in self.problems[:MAX_LISTED])
        self.args = (
            f"{ref} in the registry {registry} failed verification: {lines}. Nothing was "
            "written. The blob store was changed outside skbundle: push an intact copy of the "
            "bundle again (it rewrites blobs that do not match their hash).",
        )


@dataclass(frozen=True)
class GateFailure:
    """One reason a gate refused an alias move: a checklist item, or the signature."""

    key: str
    title: str
    status: str
    evidence: str

    def describe(self) -> str:
        return f"{self.key} ({self.title}: {self.status}: {self.evidence})"


class PromotionRefusedError(RegistryError):
    """An alias move was refused by its gate: the version's readiness checklist does not
    pass, or a required signature does not verify. ``failures`` names each reason."""

    def __init__(
        self, name: str, alias: str, version: str, failures: Sequence[GateFailure]
    ) -> None:
        self.name = name
        self.alias = alias
        self.version = version
        self.failures = list(failures)
        count = len(self.failures)
        listed = "; ".join(f.describe() for f in self.failures[:MAX_LISTED])
        more = f"; ... ({count - MAX_LISTED} more)" if count > MAX_LISTED else ""
        super().__init__(
            f"Refusing to move {name}@{alias} to {version}",
            f"its gate failed ({count} item{'s' if count != 1 else ''} blocking: {listed}{more})",
            f"Fix the items (run 'skbundle registry pull {name}@{version} --out DIR' then "
            "'skbundle check DIR' to see the evidence), or override with force=True and a "
            "reason (CLI: --force --reason TEXT); a forced move is recorded in the audit log.",
        )


class ModelSourceError(SkbundleError, ValueError):
    """What a server follows (a bundle directory, ``models:/NAME@ALIAS``) cannot be opened or
    read, or the version it now names cannot replace the one being served."""

    def __init__(self, source: str, problem: str, hint: str) -> None:
        self.source = source
        self.problem = problem
        self.hint = hint
        super().__init__(f"Model source {source}: {problem}. {hint}")


class MissingExtraError(SkbundleError, ImportError):
    """What was asked needs an optional extra of skbundle that is not installed.

    ``pip install skbundle`` installs the light core that verifies, loads and serves an ONNX
    bundle; building bundles, scoring files and the other runtimes need extras.
    """

    def __init__(self, module: str, extra: str, what: str = "") -> None:
        self.module = module
        self.extra = extra
        self.what = what
        needs = f"{what} needs" if what else "This needs"
        super().__init__(
            f"{needs} skbundle's {extra!r} extra, which is not installed: the module "
            f"{module!r} cannot be imported. Install it with: pip install 'skbundle[{extra}]'",
            name=module,
        )


class ExportError(SkbundleError, ValueError):
    """An export (MLflow model, container recipe) cannot be written."""

    def __init__(self, target: str, reason: str, hint: str) -> None:
        self.target = target
        self.reason = reason
        self.hint = hint
        super().__init__(f"Cannot export to {target}: {reason}. {hint}")


class ClusterJobError(SkbundleError, RuntimeError):
    """A scoring job on a cluster (Dask, Spark) cannot start or did not finish.

    Nothing was committed to the output: it is exactly as it was before the job.
    """

    def __init__(self, what: str, problem: str, hint: str) -> None:
        self.what = what
        self.problem = problem
        self.hint = hint
        super().__init__(f"{what}: {problem}. {hint}")


class BatchValidationError(InputValidationError):
    """Input read from a file (or a part of a larger input) does not fit the schema.

    ``source`` names where the rows came from (a file); record numbers in ``problems`` count
    from the start of the whole input, over every file, as the output's ``row`` column does.
    """

    def __init__(
        self,
        bundle: str,
        problems: Sequence[InputProblem],
        *,
        source: str = "",
        truncated: bool = False,
    ) -> None:
        super().__init__(bundle, problems, truncated=truncated)
        self.source = source
        if source:
            message = str(self).replace("Input does", f"Input from {source} does", 1)
            self.args = (message,)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "source": self.source}


class BatchOptionError(SkbundleError, ValueError):
    """A batch option cannot be honoured: an output column that does not exist or does not
    apply to the model, or a kept column that collides with an output column."""

    def __init__(self, option: str, value: str, problem: str, hint: str) -> None:
        self.option = option
        self.value = value
        super().__init__(f"Cannot use {option} {value!r}: {problem}. {hint}")

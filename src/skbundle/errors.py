"""The one exception hierarchy of skbundle.

Every error builds its own message from structured fields, so the CLI and the server can
render it (or its fields) without parsing strings::

    SkbundleError
     ├── ManifestError(ValueError)             bundle.json missing, unparseable, wrong version
     ├── BundleIntegrityError                  a file changed, went missing, or was added
     ├── BundleExistsError(FileExistsError)    save() would overwrite without overwrite=True
     ├── IncompatibleEnvironmentError          the running packages differ from the recorded ones
     ├── UntrustedArtifactError                a pickle would be loaded without trust
     ├── PipelineError(ValueError)             save() was given a pipeline or data it cannot bundle
     └── InputValidationError(ValueError)      prediction input does not fit the feature schema

One warning class, ``EnvironmentMismatchWarning``: patch-level version differences, or a
mismatch the caller allowed. Values outside the training range are not Python warnings: they
travel with each prediction result, where a server or a batch job can see them.
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


class SkbundleError(Exception):
    """Base class of every error skbundle raises on purpose."""


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
    kind: str  # "changed", "missing", "unlisted", "size"
    expected: str | None = None
    actual: str | None = None

    def describe(self) -> str:
        if self.kind == "missing":
            return f"{self.path} is listed in the manifest but missing"
        if self.kind == "unlisted":
            return f"{self.path} is not listed in the manifest (sha256 {self.actual})"
        return f"{self.path} has sha256 {self.actual}, the manifest expects {self.expected}"


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
            "Send every feature listed by 'skbundle inspect' (or GET /metadata) as a number."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": "input_validation",
            "message": str(self),
            "problems": [p.to_dict() for p in self.problems],
            "truncated": self.truncated,
        }

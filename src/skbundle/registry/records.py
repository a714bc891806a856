"""What the registry returns: value objects, detached from the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skbundle.errors import GateFailure


@dataclass(frozen=True)
class FileEntry:
    """One file of a registered version."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelVersion:
    """A registered version: identity, the manifest's hash and metrics, files, provenance."""

    name: str
    version: str
    bundle_sha256: str
    task: str
    metrics: dict[str, Any]
    files: tuple[FileEntry, ...]
    pushed_by: str
    pushed_at: str
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files]
        data["aliases"] = list(self.aliases)
        return data


@dataclass(frozen=True)
class GateRecord:
    """What a gate said about an alias move, as the audit log keeps it.

    ``passed`` is True when nothing blocks the move; ``checked`` is False when no gate ran
    (a rollback to a version the alias served before). ``failures`` names what blocked it;
    ``details`` keeps the evidence (the checklist, the thresholds, the signature's key).
    """

    passed: bool
    summary: str
    failures: tuple[GateFailure, ...] = ()
    checked: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.summary,
            "failures": [asdict(f) for f in self.failures],
            "checked": self.checked,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateRecord:
        return cls(
            passed=bool(data.get("passed", False)),
            summary=str(data.get("summary", "")),
            failures=tuple(GateFailure(**f) for f in data.get("failures", [])),
            checked=bool(data.get("checked", True)),
            details=dict(data.get("details", {})),
        )

    @classmethod
    def unchecked(cls, summary: str) -> GateRecord:
        """A move that ran no gate, and why (the summary)."""
        return cls(passed=True, summary=summary, checked=False)


@dataclass(frozen=True)
class AliasEvent:
    """One entry of the audit log: an alias moved (``move``) or rolled back (``rollback``)."""

    id: int
    name: str
    alias: str
    action: str
    from_version: str | None
    to_version: str
    gate: GateRecord
    forced: bool
    reason: str
    actor: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gate"] = self.gate.to_dict()
        return data


@dataclass(frozen=True)
class SourceState:
    """What a model source names now: the state a server follows (``skbundle.serve.sources``
    uses this one class for directories and registry versions alike).

    Attributes
    ----------
    version
        The manifest's version (``"1.0.0"``): what responses report.
    path
        A bundle directory to load (verified by the loader as always, never trusted).
    token
        Changes exactly when what should be served changes.
    """

    version: str
    path: Path
    token: str

"""The deployment checklist and its Markdown: every box is ticked by a measurement, never by hand.

Items are grouped as the seed lesson groups them (model, data, environment, tests, docs).
Each has a status (``pass``, ``fail``, ``warn`` or ``not measured``) and its evidence: the
number or the file that proves it. ``Checklist.ok`` is what a CI pipeline gates on.

An item is *required* unless it is advisory (the signature) or it needs a part of skbundle
that is not installed (the server for the load probe and the OpenAPI spec, the monitoring
module for the reference statistics): those are reported as not measured, with the reason.
The items are computed in :mod:`skbundle.readiness.items`; this module only holds and renders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from skbundle.report.markdown import md_escape

PASS, FAIL, WARN, NOT_MEASURED = "pass", "fail", "warn", "not measured"
STATUSES = (PASS, FAIL, WARN, NOT_MEASURED)
GROUPS = ("model", "data", "environment", "tests", "docs")


@dataclass(frozen=True)
class Item:
    """One checklist item and the evidence behind its status."""

    group: str
    key: str
    title: str
    status: str
    evidence: str
    required: bool = True

    @property
    def blocking(self) -> bool:
        """True when this item keeps the bundle from being deployable (without --strict)."""
        return self.required and self.status in (FAIL, NOT_MEASURED)


@dataclass(frozen=True)
class Checklist:
    """The computed checklist of one bundle."""

    bundle: str
    version: str
    computed_at: str
    items: list[Item]
    settings: dict[str, Any] = field(default_factory=dict)

    def ok(self, *, strict: bool = False) -> bool:
        """Every required item passes; with ``strict``, no item at all warns or is unmeasured."""
        if strict:
            return all(item.status == PASS for item in self.items)
        return not any(item.blocking for item in self.items)

    def counts(self) -> dict[str, int]:
        return {s: sum(item.status == s for item in self.items) for s in STATUSES}

    def item(self, key: str) -> Item:
        return next(item for item in self.items if item.key == key)

    def to_dict(self, *, strict: bool = False) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "version": self.version,
            "computed_at": self.computed_at,
            "ok": self.ok(strict=strict),
            "strict": strict,
            "counts": self.counts(),
            "settings": self.settings,
            "items": [asdict(item) for item in self.items],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checklist:
        return cls(
            bundle=data["bundle"],
            version=data["version"],
            computed_at=data["computed_at"],
            items=[Item(**item) for item in data["items"]],
            settings=dict(data.get("settings", {})),
        )


def to_markdown(checklist: Checklist, *, strict: bool = False) -> str:
    """The seed's checklist shape: one section per group, a box per item, ticked only by
    evidence (status pass), with the evidence beside it."""
    marks = {PASS: "[x]", FAIL: "[ ]", WARN: "[ ]", NOT_MEASURED: "[ ]"}
    verdict = "READY" if checklist.ok(strict=strict) else "NOT READY"
    # Titles and evidence quote the bundle (names, versions, probe errors): data, not markup.
    lines = [
        f"# Deployment checklist: {md_escape(checklist.bundle)} {md_escape(checklist.version)}",
        "",
        f"Computed {md_escape(checklist.computed_at)}: **{verdict}**"
        f"{' (strict)' if strict else ''}. Every box is ticked by a measurement; "
        "the evidence follows each item.",
    ]
    for group in GROUPS:
        items = [item for item in checklist.items if item.group == group]
        if not items:
            continue
        lines += ["", f"## {group.capitalize()}", ""]
        for item in items:
            tag = "" if item.status == PASS else f" **{item.status.upper()}**"
            optional = "" if item.required else " _(advisory)_"
            lines.append(
                f"- {marks[item.status]} {md_escape(item.title)}{tag}{optional}: "
                f"{md_escape(item.evidence)}"
            )
    return "\n".join(lines) + "\n"

"""Names in the registry: references (``NAME``, ``NAME@VERSION``, ``NAME@ALIAS``), model URIs
(``models:/NAME@ALIAS``, ``models:/NAME/VERSION``), alias names, and the order of versions.

An alias starts with a letter and a version with a digit, so ``NAME@X`` is never ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skbundle.core.manifest import validate_identity
from skbundle.errors import RegistryError

_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$")
URI_SCHEME = "models:/"


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a model, and at most one of a version or an alias."""

    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        tail = self.version or self.alias
        return f"{self.name}@{tail}" if tail else self.name


def check_name(name: str, what: str) -> None:
    try:
        validate_identity(name, "1.0.0")
    except ValueError as exc:
        raise RegistryError(
            what, str(exc), "A model is named by its bundle's manifest, e.g. 'breast-cancer'."
        ) from None


def check_version(version: str, what: str) -> None:
    if not _SEMVER.fullmatch(version):
        raise RegistryError(
            what,
            f"version {version!r} is not a semantic version",
            "Use MAJOR.MINOR.PATCH, e.g. '1.0.0', as in the bundle's manifest.",
        )


def check_alias(alias: str, what: str = "Alias") -> None:
    """Refuse an alias that is not a lowercase word starting with a letter (so it can never be
    read as a version), at most 64 characters."""
    if not _ALIAS.fullmatch(alias):
        raise RegistryError(
            what,
            f"alias {alias!r} is not a valid alias name",
            "Use lowercase letters, digits, '_' and '-', starting with a letter, at most 64 "
            "characters, e.g. 'production' or 'staging'.",
        )


def parse_ref(ref: str) -> Ref:
    """``NAME``, ``NAME@VERSION`` or ``NAME@ALIAS``.

    Raises
    ------
    RegistryError
        The text is none of these; the message says which part is wrong.
    """
    what = f"Reference {ref!r}"
    name, at, tail = ref.partition("@")
    check_name(name, what)
    if not at:
        return Ref(name)
    if tail[:1].isdigit():
        check_version(tail, what)
        return Ref(name, version=tail)
    check_alias(tail, what)
    return Ref(name, alias=tail)


def parse_model_uri(uri: str) -> Ref:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (the MLflow forms).

    Examples
    --------
    >>> parse_model_uri("models:/breast-cancer@production")
    Ref(name='breast-cancer', version=None, alias='production')
    >>> parse_model_uri("models:/breast-cancer/1.0.0")
    Ref(name='breast-cancer', version='1.0.0', alias=None)

    Raises
    ------
    RegistryError
        Not one of the two forms, or an invalid name, alias or version.
    """
    what = f"Model URI {uri!r}"
    forms = "expected models:/NAME@ALIAS or models:/NAME/VERSION"
    if not uri.startswith(URI_SCHEME):
        raise RegistryError(
            what,
            f"it does not start with {URI_SCHEME!r}; {forms}",
            "e.g. models:/breast-cancer@production, or give a bundle directory instead.",
        )
    rest = uri[len(URI_SCHEME) :]
    if "@" in rest and "/" not in rest:
        name, _, alias = rest.partition("@")
        check_name(name, what)
        check_alias(alias, what)
        return Ref(name, alias=alias)
    if rest.count("/") == 1 and "@" not in rest:
        name, _, version = rest.partition("/")
        check_name(name, what)
        check_version(version, what)
        return Ref(name, version=version)
    raise RegistryError(
        what, forms, "e.g. models:/breast-cancer@production or models:/breast-cancer/1.0.0."
    )


def version_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """Sort key in semantic-version precedence: a pre-release sorts before its release."""
    match = _SEMVER.fullmatch(version)
    if match is None:  # stored versions were validated on push; keep any other text last
        return (1 << 62, 0, 0, 1, ())
    major, minor, patch, pre = match.groups()
    parts: tuple[tuple[int, int | str], ...] = tuple(
        (0, int(p)) if p.isdigit() else (1, p) for p in (pre or "").split(".") if p
    )
    return (int(major), int(minor), int(patch), 0 if pre else 1, parts)

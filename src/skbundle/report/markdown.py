"""Text from a bundle, made safe to place in Markdown (``model_card.md``).

A bundle's manifest is data written by whoever built, or forged, it: a description, a feature
or class name, a package version can hold ``<script>``, a link to ``javascript:``, or a ``|``
that ends a table cell. A CommonMark viewer would render those as markup. So every value
interpolated into Markdown goes through one of these helpers:

- :func:`md_escape` for running text and table cells: every character that has a meaning
  anywhere in a line (``\\ ` * _ { } [ ] < > ( ) ! | & ~ $``) is backslash-escaped, which
  CommonMark renders as the character itself, so ``<`` can no longer open raw HTML, ``](``
  no longer makes a link and ``|`` no longer ends a table cell. Line breaks become spaces, so
  a value cannot start a block of its own; what means something only at the start of a line
  (``# + - =``, ``1.`` before a space) is escaped only there, which keeps versions, dates and
  names such as ``breast-cancer 1.0.0`` readable in the raw file.
- :func:`md_code` for an inline code span: inside code a backslash is literal, so it picks a
  run of backticks longer than any in the text.
"""

from __future__ import annotations

import re

__all__ = ["md_code", "md_escape"]

_INLINE = re.compile(r"([\\`*_{}\[\]<>()!|&~$])")
# A leading "1." makes an ordered list only when a space (or nothing) follows: "1.9.1" does not.
_LINE_START = re.compile(r"^(?:([#+\-=])|(\d{1,9})\.(?=\s|$))")
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029]+")
_BACKTICKS = re.compile(r"`+")


def md_escape(text: object) -> str:
    """``text`` (``str()`` of it) as literal Markdown text, on one line.

    Examples
    --------
    >>> print(md_escape("<img src=x onerror=alert(1)> | col"))
    \\<img src=x onerror=alert\\(1\\)\\> \\| col
    >>> print(md_escape("1. breast-cancer 1.0.0"))
    1\\. breast-cancer 1.0.0
    """
    escaped = _INLINE.sub(r"\\\1", _LINE_BREAK.sub(" ", str(text)).strip())
    return _LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\.", escaped)


def md_code(text: object) -> str:
    """``text`` as an inline code span that no backtick inside it can close."""
    body = _LINE_BREAK.sub(" ", str(text))
    ticks = "`" * (max((len(run) for run in _BACKTICKS.findall(body)), default=0) + 1)
    if body.startswith("`") or body.endswith("`"):
        body = f" {body} "
    return f"{ticks}{body}{ticks}"

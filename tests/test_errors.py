"""errors.py is the one home of every exception, and its docstring draws the whole tree."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import skbundle
from skbundle import errors


def _modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.walk_packages(skbundle.__path__, prefix="skbundle.")
    )


def test_every_exception_class_is_defined_in_errors() -> None:
    elsewhere = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and name != "skbundle.errors"
            ):
                elsewhere.append(f"{name}.{attr}")
    assert elsewhere == []


def test_the_docstring_tree_names_every_class() -> None:
    classes = [
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == "skbundle.errors"
    ]
    assert len(classes) >= 15
    doc = errors.__doc__ or ""
    assert [name for name in classes if name not in doc] == []

"""The core of a bundle: what every other layer of skbundle stands on.

- ``layout``: the names of the files in a bundle directory;
- ``files``: the one safe reader of a bundle's files (regular files only, no links, capped);
- ``manifest``: ``bundle.json``, the single source of truth (typed sections);
- ``integrity``: hashes, and verification that reads bytes only;
- ``atomic``: publishing a directory or a file so that readers never see half of it;
- ``update``: rewriting files of a published bundle with their manifest entries, atomically;
- ``schema``: the feature schema and the one input validator;
- ``runtime``: what turns validated input into probabilities;
- ``environment``: capturing and comparing package versions;
- ``metrics``: the classification metrics recorded at save time and compared by drift.

The package imports none of its modules: each is imported on its own, so that loading a
bundle pulls in only what it needs (``metrics`` needs scikit-learn, serving does not).
"""

__all__ = [
    "atomic",
    "environment",
    "files",
    "integrity",
    "layout",
    "manifest",
    "metrics",
    "runtime",
    "schema",
    "update",
]

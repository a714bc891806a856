"""``save()``: a fitted pipeline and its data become a bundle directory, atomically.

- ``checks``: what save() refuses, before it writes anything;
- ``context``: everything known about the bundle being built;
- ``parity``: the evaluation sets and how exactly a runtime reproduces the pipeline;
- ``models``: every registered format written and read back to measure its parity;
- ``evaluation``: what the report shows about the model, from the held-out data;
- ``writers``: requirements, reference statistics and reports;
- ``persistence``: the measured comparison of ways to persist a pipeline.
"""

from __future__ import annotations

from skbundle.build.context import BuildContext
from skbundle.build.save import save

__all__ = ["BuildContext", "save"]

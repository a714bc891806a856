"""Deployment readiness: the computed checklist, the model card, the plots and the HTML report.

Everything here is rendered from data stored in the bundle (``bundle.json`` and
``readiness.json``), so a report can be re-rendered without deserializing the model. The files
are written at save time by :func:`skbundle.report.render.write_reports` (a ``build.WRITERS``
entry) and rewritten later, together with their manifest entries, by
:func:`skbundle.report.render.refresh`.
"""

"""Pure renderers: the model card, the checklist's Markdown, the plots and the HTML pages.

HTML comes only from the Jinja2 templates in ``templates/`` (autoescaped, see
:mod:`skbundle.report.templates`); Markdown escapes bundle text with
:mod:`skbundle.report.markdown`; figures come from :mod:`skbundle.report.plots`.

Everything here is rendered from data (``bundle.json``, ``readiness.json``, a drift report),
so a report can be re-rendered without deserializing the model, and nothing here writes into
a bundle: the build (``skbundle.build.writers``) and the readiness refresh
(``skbundle.readiness.refresh``) decide where the bytes go.
"""

__all__ = [
    "checklist",
    "drift_page",
    "files",
    "html",
    "markdown",
    "model_card",
    "plots",
    "templates",
]

"""Pure renderers: the model card, the checklist's Markdown, the plots and the HTML pages.

Everything here is rendered from data (``bundle.json``, ``readiness.json``, a drift report),
so a report can be re-rendered without deserializing the model, and nothing here writes into
a bundle: the build (``skbundle.build.writers``) and the readiness refresh
(``skbundle.readiness.refresh``) decide where the bytes go.
"""

__all__ = ["checklist", "drift_page", "files", "html", "model_card", "plots"]

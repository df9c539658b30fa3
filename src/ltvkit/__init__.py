"""ltvkit: customer lifetime value prediction from raw transaction logs."""

__version__ = "0.1.0"


def score(model, data, **options):
    """The scored customer base of ``model`` on ``data``: see :func:`ltvkit.scoring.score`
    (imported on first call, so ``import ltvkit`` stays light)."""
    import importlib

    return importlib.import_module("ltvkit.scoring").score(model, data, **options)

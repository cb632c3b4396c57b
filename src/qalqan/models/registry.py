"""What the engine serves: ``load_live_model(settings)``, the bundle ``$QALQAN_HOME/models/LIVE``
names, verified (models/bundle.py), or ``NoModel()`` when none is registered.

LightGBM and NumPy are imported only when a bundle is registered: an engine without a model
starts without them.
"""

from __future__ import annotations

from ..config import Settings
from . import NoModel, Scorer
from .bundle import live_name


def load_live_model(settings: Settings, features_version: str | None = None) -> Scorer:
    """The live bundle as a ``Scorer``; raises ``BundleError`` when it is tampered, missing or was
    trained on other feature definitions (the engine refuses to start rather than score wrongly)."""
    name = live_name(settings.home)
    if name is None:
        return NoModel()
    from .live import load_bundle

    return load_bundle(settings, name, features_version)

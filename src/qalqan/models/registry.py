"""What the engine serves: ``load_live_model(settings)``, the bundle ``$QALQAN_HOME/models/LIVE``
names, verified (models/bundle.py), or ``NoModel()`` when none is registered.

LightGBM and NumPy are imported only when a bundle is registered: an engine without a model
starts without them.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from . import NoModel, Scorer
from .bundle import live_name


def load_live_model(settings: Settings, features_version: str | None = None) -> Scorer:
    """The live bundle as a ``Scorer``; raises ``BundleError`` when it is tampered, missing or was
    trained on other feature definitions (the engine refuses to start rather than score wrongly)."""
    name = live_name(settings.home)
    if name is None:
        return NoModel()
    return load_bundle(settings, name, features_version)


def load_bundle(settings: Settings, name: str, features_version: str | None = None) -> Any:
    """A verified bundle as a scorer (``LiveModel`` for a LightGBM bundle, ``LiveEnsemble`` for an
    ensemble's); ``BundleError`` if tampered or trained on other features."""
    import lightgbm as lgb

    from . import bundle
    from .live import LiveModel

    if features_version is None:
        from ..features import definitions

        features_version = definitions.load().version
    b = bundle.read(settings.home, name, features_version)
    if b.manifest.get("kind") == "ensemble":
        from .live_ensemble import load_ensemble

        return load_ensemble(b)
    if b.manifest.get("kind") != "lightgbm" or bundle.MODEL_FILE not in b.files:
        raise bundle.BundleError(f"bundle {name}: kind {b.manifest.get('kind')!r}, this qalqan serves lightgbm "
                                 "and ensemble bundles")
    booster = lgb.Booster(model_str=b.files[bundle.MODEL_FILE].decode())
    inputs = list(b.manifest["features"])
    if booster.feature_name() != inputs:
        raise bundle.BundleError(f"bundle {name}: the model's inputs differ from the manifest's features; refused")
    return LiveModel(name, booster, inputs)

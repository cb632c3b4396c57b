"""Model bundles: a folder ``$QALQAN_HOME/models/<name>-<hash>/`` with the model in a format that
runs no code when loaded (LightGBM's text model) and ``manifest.json``; ``models/LIVE`` names
the bundle the engine serves.

The hash in the folder's name is the SHA-256 (first 12 hex) of the manifest as canonical JSON;
the manifest holds the SHA-256 of every other file. Loading checks both, and the feature
definitions' version the model was trained on: a tampered or mismatched bundle is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.txt"
MANIFEST = "manifest.json"
LIVE = "LIVE"
FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*$")


class BundleError(RuntimeError):
    """A bundle that cannot be served (missing, tampered, trained on other features); says why."""


def models_dir(home: Path) -> Path:
    return Path(home) / "models"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def check_name(name: str) -> str:
    if not _NAME.match(name) or name in (".", ".."):
        raise BundleError(f"bad model name {name!r}: use letters, digits, '_', '.', '-'")
    return name


def write(home: Path, name: str, files: dict[str, bytes], manifest: dict[str, Any]) -> Path:
    """Writes a bundle (files + manifest with their hashes) and returns its folder."""
    check_name(name)
    manifest = {**manifest, "format": FORMAT, "files": {f: sha256(b) for f, b in sorted(files.items())}}
    digest = sha256(canonical(manifest))[:12]
    root = models_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{name}-{digest}"
    if final.exists():  # the same bundle, byte for byte: nothing to do
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    for fname, data in files.items():
        (tmp / fname).write_bytes(data)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, final)
    return final


@dataclass
class Bundle:
    name: str
    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]


def read(home: Path, name: str, features_version: str | None = None) -> Bundle:
    """Reads and verifies a bundle: every file's hash, the manifest's hash (the folder name's
    suffix) and, when given, the feature definitions' version."""
    check_name(name)
    path = models_dir(home) / name
    if not (path / MANIFEST).is_file():
        raise BundleError(f"no model bundle {name!r} in {models_dir(home)} (see `qalqan models list`)")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"bundle {name}: manifest.json is unreadable ({exc})") from None
    digest = name.rsplit("-", 1)[-1]
    if "-" not in name or sha256(canonical(manifest))[:12] != digest:
        raise BundleError(f"bundle {name}: manifest.json does not match the bundle's hash (tampered?); refused")
    if manifest.get("format") != FORMAT:
        raise BundleError(f"bundle {name}: format {manifest.get('format')!r}, this qalqan reads {FORMAT}")
    files: dict[str, bytes] = {}
    for fname, want in (manifest.get("files") or {}).items():
        fpath = path / fname
        if Path(fname).name != fname or not fpath.is_file():
            raise BundleError(f"bundle {name}: file {fname!r} is missing; refused")
        data = fpath.read_bytes()
        if sha256(data) != want:
            raise BundleError(f"bundle {name}: {fname} does not match its SHA-256 in the manifest (tampered?); refused")
        files[fname] = data
    if features_version is not None and manifest.get("features_version") != features_version:
        raise BundleError(f"bundle {name} was trained on feature definitions {manifest.get('features_version')!r}; "
                          f"the engine runs {features_version!r}: retrain it (`qalqan train`)")
    return Bundle(name, path, manifest, files)


def live_name(home: Path) -> str | None:
    path = models_dir(home) / LIVE
    try:
        name = path.read_text().strip()
    except FileNotFoundError:
        return None
    return name or None


def promote(home: Path, name: str, features_version: str | None = None) -> Bundle:
    """Makes ``name`` the live bundle (verified first); atomic: a temp file, then ``os.replace``."""
    bundle = read(home, name, features_version)
    root = models_dir(home)
    fd, tmp = tempfile.mkstemp(prefix=".LIVE-", dir=root)
    with os.fdopen(fd, "w") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / LIVE)
    return bundle


def listing(home: Path) -> list[dict[str, Any]]:
    """Every bundle, oldest first: name, created, metrics, live or not (unverified: a quick look)."""
    root = models_dir(home)
    live = live_name(home)
    out = []
    for d in sorted(root.glob("*/" + MANIFEST)) if root.is_dir() else []:
        try:
            m = json.loads(d.read_text())
        except (OSError, ValueError):
            m = {}
        out.append({"name": d.parent.name, "created": m.get("created"), "rows": (m.get("rows") or {}).get("train"),
                    "metrics": m.get("metrics") or {}, "features_version": m.get("features_version"),
                    "members": m.get("members") or (["gbm"] if m.get("kind") == "lightgbm" else []),
                    "live": d.parent.name == live})
    return sorted(out, key=lambda r: (r["created"] or "", r["name"]))

"""Configuration from the environment, with embedded defaults that need nothing installed.

``QALQAN_HOME`` (default ``./.qalqan``) holds the embedded record and the tokenisation key;
``QALQAN_DB`` picks the record (``sqlite:///path`` or ``postgresql://…``); ``QALQAN_KEY`` is the
tokenisation key (hex, ≥ 32 bytes); ``QALQAN_MODE=production`` refuses to invent a key;
``QALQAN_STATE=redis://…`` keeps the feature state in Redis as well (qalqan/state).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .deadlines import DeadlineError, DeadlinePolicy, parse
from .fallbacks import FallbackError, FallbackPolicy


class ConfigError(RuntimeError):
    """The configuration cannot run: says which setting and what to do."""


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    key: bytes
    production: bool
    # Base currency in which money thresholds and window sums are kept (minor units).
    base_currency: str = "RUB"
    # Rates to the base currency; configuration, not live data: a deployment sets its own.
    fx: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FX))
    # Group commit: the record commits every N events (and at the end of a batch).
    commit_every: int = 1000
    # A snapshot of the state every N events bounds the work of a restart.
    snapshot_every: int = 200_000
    # Overrides of rule packs' parameters, {pack: {name: value}} (QALQAN_RULE_PARAMS: a YAML file).
    rule_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A folder of rule packs to run instead of the built-in ones (QALQAN_RULES).
    rules_dir: Path | None = None
    # Where the feature state is kept besides memory (QALQAN_STATE=redis://…; unset: in-process only).
    state_url: str | None = None
    # A live server refuses an event whose ts is more than this many seconds ahead of its clock
    # (QALQAN_MAX_SKEW): a forged future time must not fire deadlines nor jump windows.
    max_skew_s: int = 300
    # Replay refuses a line more than this many seconds ahead of the stream's running time
    # (QALQAN_MAX_LEAD, default 366 days): a broken or forged time (2099) is bad input, not a jump of
    # the clock; a stream may be quiet for months (lists loaded long before the traffic).
    max_lead_s: int = 366 * 86_400
    # The live server's clock starts at this instant and runs at real speed (QALQAN_CLOCK_START,
    # RFC 3339): for drills, demos and tests on recorded dates; refused in production mode.
    clock_start: datetime | None = None

    def server_clock(self) -> Callable[[], int]:
        """The clock a live server (``serve``, workers) runs its deadlines on, in µs since the epoch."""
        if self.clock_start is None:
            return lambda: time.time_ns() // 1000
        offset = int(self.clock_start.timestamp() * 1_000_000) - time.time_ns() // 1000
        return lambda: time.time_ns() // 1000 + offset
    # The largest request body taken (bytes, QALQAN_MAX_BODY): a larger one is refused with 413,
    # read no further than the limit.
    max_body: int = 8 * 1024 * 1024
    # The most events in one batch request (QALQAN_MAX_BATCH): a longer batch is refused whole with 413.
    max_batch: int = 1000
    # The most POST /v1/events requests in flight at once (QALQAN_MAX_INFLIGHT): the next is answered
    # 503 with Retry-After at once, nothing of it read (api/admission.py).
    max_inflight: int = 64
    # The budget of one call to a PostgreSQL record (QALQAN_RECORD_BUDGET_MS): a call that outlives
    # it (a frozen or unreachable server) is cut and the record counts as unavailable (503).
    record_budget_ms: int = 1000
    # Stage budgets and fallbacks (fallbacks.py, model_guard.py, docs/operations.md). Each money channel's
    # action when a stage cannot do its part (QALQAN_FALLBACKS: a YAML file over the defaults).
    fallbacks: FallbackPolicy = field(default_factory=FallbackPolicy.defaults)
    # The model's time budget on a live server (QALQAN_MODEL_BUDGET_MS) and how long it is skipped
    # after a late answer (QALQAN_MODEL_COOLDOWN_S).
    model_budget_ms: int = 50
    model_cooldown_s: int = 30
    # A front answers a money movement whose worker has not decided it within this budget with its
    # channel's fallback (QALQAN_DECIDE_BUDGET_MS); the worker decides the event when it is back.
    decide_budget_ms: int = 1000
    # What a `review` no one decides in time becomes, and when (QALQAN_DEADLINES, a YAML file;
    # QALQAN_REVIEW_SLA sets the default's seconds): deadlines.py, case_deadlines.py.
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy.built_in)
    # Signed webhooks of the outbox's notices (webhooks.py): where, and the HMAC key (both or neither).
    webhook_url: str | None = None
    webhook_secret: bytes | None = None
    # The consortium's key (QALQAN_CONSORTIUM_KEY, intel/, docs/intel.md): identifiers that banks
    # share are tokenised under it too; None: this deployment takes part in no exchange.
    consortium_key: bytes | None = None
    # Each organisation's jurisdiction, RU or KZ (QALQAN_JURISDICTIONS, a YAML file; unnamed: RU):
    # the packs, the holds and the notices its clients get (jurisdiction.py).
    jurisdictions: dict[str, str] = field(default_factory=dict)


DEFAULT_FX = {
    "RUB": "1", "KZT": "0.18", "USD": "90", "EUR": "98", "TRY": "2.6", "AED": "24.5", "CNY": "12.4",
    "GEL": "33", "THB": "2.6", "UZS": "0.007", "KGS": "1.03", "AMD": "0.23",
}


def load_key(home: Path, production: bool) -> bytes:
    env = os.environ.get("QALQAN_KEY")
    if env:
        try:
            key = bytes.fromhex(env)
        except ValueError:
            raise ConfigError("QALQAN_KEY: must be hex (e.g. `openssl rand -hex 32`)") from None
        if len(key) < 32:
            raise ConfigError("QALQAN_KEY: must be at least 32 bytes (64 hex characters)")
        return key[:64]
    if production:
        raise ConfigError(
            "QALQAN_KEY is not set: production mode refuses to start without the tokenisation key "
            "(a new key would make every stored token unmatchable)"
        )
    path = home / "key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    home.mkdir(parents=True, exist_ok=True, mode=0o700)  # the key, the record, secrets: owner-only
    key = secrets.token_bytes(32)
    # Created once with owner-only rights and never rewritten: tokens must stay stable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def consortium_key() -> bytes | None:
    """QALQAN_CONSORTIUM_KEY: the key every member of the consortium holds (hex, ≥ 32 bytes), or None."""
    env = os.environ.get("QALQAN_CONSORTIUM_KEY")
    if not env:
        return None
    try:
        key = bytes.fromhex(env)
    except ValueError:
        raise ConfigError("QALQAN_CONSORTIUM_KEY: must be hex (e.g. `openssl rand -hex 32`, made once "
                          "for the whole consortium)") from None
    if len(key) < 32:
        raise ConfigError("QALQAN_CONSORTIUM_KEY: must be at least 32 bytes (64 hex characters)")
    if env.lower() == os.environ.get("QALQAN_KEY", "").lower():
        raise ConfigError("QALQAN_CONSORTIUM_KEY: must not be QALQAN_KEY (the bank's own tokens stay "
                          "under a key no other member holds)")
    return key[:64]


def from_env(db_url: str | None = None, home: str | Path | None = None) -> Settings:
    home_path = Path(home or os.environ.get("QALQAN_HOME") or ".qalqan").resolve()
    if home_path.exists() and not home_path.is_dir():
        raise ConfigError(f"QALQAN_HOME: {home_path} is not a folder (it holds the key and the embedded record)")
    mode = os.environ.get("QALQAN_MODE", "").lower()
    if mode not in ("", "production"):  # a typo must not start a production deployment in embedded mode
        raise ConfigError(f"QALQAN_MODE: expected `production` or nothing, got {os.environ['QALQAN_MODE']!r}")
    production = mode == "production"
    sync = os.environ.get("QALQAN_SQLITE_SYNC", "NORMAL").upper()
    if sync not in ("NORMAL", "FULL"):  # store/sqlite.py reads it when it opens the record
        raise ConfigError(f"QALQAN_SQLITE_SYNC: expected NORMAL or FULL, got {os.environ['QALQAN_SQLITE_SYNC']!r}")
    rules = os.environ.get("QALQAN_RULES") or None
    if rules is not None and not Path(rules).is_dir():
        raise ConfigError(f"QALQAN_RULES: {rules} is not a folder of rule packs")
    url = db_url or os.environ.get("QALQAN_DB") or f"sqlite:///{home_path / 'qalqan.db'}"
    if production and url.startswith("sqlite") and not os.environ.get("QALQAN_DB"):
        raise ConfigError("QALQAN_DB is not set: production mode needs an explicit record")
    return Settings(
        home=home_path, db_url=url, key=load_key(home_path, production), production=production,
        commit_every=_int_env("QALQAN_COMMIT_EVERY", 1000), snapshot_every=_int_env("QALQAN_SNAPSHOT_EVERY", 200_000),
        rule_params=_rule_params(os.environ.get("QALQAN_RULE_PARAMS")),
        rules_dir=Path(rules) if rules else None,
        state_url=os.environ.get("QALQAN_STATE") or None,
        max_body=_int_env("QALQAN_MAX_BODY", 8 * 1024 * 1024), max_batch=_int_env("QALQAN_MAX_BATCH", 1000),
        max_inflight=_int_env("QALQAN_MAX_INFLIGHT", 64),
        record_budget_ms=_int_env("QALQAN_RECORD_BUDGET_MS", 1000),
        max_skew_s=_int_env("QALQAN_MAX_SKEW", 300), max_lead_s=_int_env("QALQAN_MAX_LEAD", 366 * 86_400),
        clock_start=_clock_start(os.environ.get("QALQAN_CLOCK_START"), production),
        deadlines=deadline_policy(), **_webhook(production),
        fallbacks=_fallbacks(os.environ.get("QALQAN_FALLBACKS")),
        model_budget_ms=_int_env("QALQAN_MODEL_BUDGET_MS", 50),
        model_cooldown_s=_int_env("QALQAN_MODEL_COOLDOWN_S", 30),
        decide_budget_ms=_int_env("QALQAN_DECIDE_BUDGET_MS", 1000),
        consortium_key=consortium_key(),
        jurisdictions=_jurisdictions(os.environ.get("QALQAN_JURISDICTIONS")),
    )


def _jurisdictions(path: str | None) -> dict[str, str]:
    """QALQAN_JURISDICTIONS: a YAML file mapping organisation → RU | KZ; ConfigError naming the setting."""
    if not path:
        return {}
    import yaml

    from .jurisdiction import JurisdictionError, parse_jurisdictions

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"QALQAN_JURISDICTIONS: cannot read {path}: {exc}") from None
    try:
        return parse_jurisdictions(doc)
    except JurisdictionError as exc:
        raise ConfigError(f"QALQAN_JURISDICTIONS: {path}: {exc}") from None


def _fallbacks(path: str | None) -> FallbackPolicy:
    """QALQAN_FALLBACKS (a YAML file) over the built-in fallbacks; ConfigError naming the setting,
    the file and the bad key."""
    if not path:
        return FallbackPolicy.defaults()
    try:
        return FallbackPolicy.from_file(Path(path))
    except FallbackError as exc:
        raise ConfigError(f"QALQAN_FALLBACKS: {path}: {exc}") from None


def deadline_policy() -> DeadlinePolicy:
    """QALQAN_DEADLINES (a YAML file) over the built-in deadlines, QALQAN_REVIEW_SLA their default
    seconds; ConfigError naming the setting and the entry when either is bad."""
    sla = _int_env("QALQAN_REVIEW_SLA", 4 * 3600)
    path = os.environ.get("QALQAN_DEADLINES")
    if not path:
        return parse(None, sla)
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"QALQAN_DEADLINES: cannot read {path}: {exc}") from None
    try:
        return parse(doc, sla)
    except DeadlineError as exc:
        raise ConfigError(f"QALQAN_DEADLINES: {path}: {exc}") from None


def _webhook(production: bool) -> dict[str, Any]:
    """QALQAN_WEBHOOK_URL and QALQAN_WEBHOOK_SECRET: both or neither; http(s) only, https in production."""
    url = os.environ.get("QALQAN_WEBHOOK_URL") or None
    secret = os.environ.get("QALQAN_WEBHOOK_SECRET") or None
    if url is None:
        if secret is not None:
            raise ConfigError("QALQAN_WEBHOOK_SECRET is set without QALQAN_WEBHOOK_URL: set both, or neither")
        return {}
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("http", "https"):
        raise ConfigError(f"QALQAN_WEBHOOK_URL: expected an http:// or https:// address, got {url!r}")
    if production and scheme != "https":
        raise ConfigError("QALQAN_WEBHOOK_URL: production sends notices about payments over https only")
    if secret is None or len(secret.encode()) < 16:
        raise ConfigError("QALQAN_WEBHOOK_SECRET: the webhooks' signing key must be set, at least 16 characters "
                          "(e.g. `openssl rand -hex 32`)")
    return {"webhook_url": url, "webhook_secret": secret.encode()}


def _clock_start(raw: str | None, production: bool) -> datetime | None:
    if not raw:
        return None
    if production:
        raise ConfigError("QALQAN_CLOCK_START: a production server runs on the real clock; unset it")
    try:
        start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"QALQAN_CLOCK_START: expected an RFC 3339 time (2026-02-02T12:00:00Z), "
                          f"got {raw!r}") from None
    if start.tzinfo is None:
        raise ConfigError(f"QALQAN_CLOCK_START: {raw!r} needs a time zone (Z or +hh:mm)")
    return start


def _rule_params(path: str | None) -> dict[str, dict[str, Any]]:
    if not path:
        return {}
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"QALQAN_RULE_PARAMS: cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise ConfigError(f"QALQAN_RULE_PARAMS: {path} must map each pack to its parameters")
    return doc


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name}: must be at least 1, got {value}")
    return value

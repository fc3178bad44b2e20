"""Process settings: validated once in the CLI, passed down explicitly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Settings(BaseModel):
    """Everything a receiver or worker process needs to know about its deployment.

    Attributes:
        redis_url: the one Redis every process shares.
        public_url: base of the ``ack_url`` links in pages (how people reach triaged).
        api_token: bearer token for state-changing endpoints (None: open, loopback only).
        ack_key: HMAC key of acknowledge links.
    """

    model_config = ConfigDict(frozen=True)

    redis_url: str
    host: str = "127.0.0.1"
    port: int = Field(default=9797, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:9797"
    api_token: SecretStr | None = None
    ack_key: SecretStr = SecretStr("")
    max_body_bytes: int = 4 * 1024 * 1024
    max_inflight: int = 256  # alert posts handled at once; beyond: 503 + Retry-After
    redis_timeout: float = 3.0
    drain_seconds: float = 2.0
    shutdown_seconds: float = 6.0
    # RQ's dequeue blocks worker_ttl - 15 s, so 20 gives a maintenance step (which
    # also restarts a dead auditor) at least every ~5 s
    worker_ttl: int = 20
    maintenance_interval: int = 5
    # the received alerts kept for `triaged replay` (receiver.incidents.history)
    history_retention_s: float = Field(default=7 * 24 * 3600.0, ge=0)
    history_max: int = Field(default=200_000, ge=0)
    # how often the rules directory is looked at for changes (0: never; SIGHUP and
    # POST /api/v1/rules/reload still reload)
    rules_poll_seconds: float = Field(default=1.0, ge=0)

"""The orders service's settings, read from the environment when the app first needs them (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Settings:
    database_url: str
    """A SQLAlchemy URL; ``postgresql://`` URLs are given the psycopg 3 driver (``postgresql+psycopg://``)."""
    redis_url: str
    kafka_bootstrap_servers: str
    """``host:port[,host:port...]``"""
    order_events_topic: str = "order-events"
    payments_url: str | None = None
    """The payments API (only checkout needs it)."""
    payments_timeout_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=_psycopg3(_required("DATABASE_URL")),
            redis_url=_required("REDIS_URL"),
            kafka_bootstrap_servers=_required("KAFKA_BOOTSTRAP_SERVERS"),
            order_events_topic=os.environ.get("ORDER_EVENTS_TOPIC") or "order-events",
            payments_url=os.environ.get("PAYMENTS_URL") or None,
            payments_timeout_seconds=float(os.environ.get("PAYMENTS_TIMEOUT_SECONDS") or 1.0),
        )


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"the orders service needs {name} in its environment; set it before the first request")
    return value


def _psycopg3(database_url: str) -> str:
    url = make_url(database_url)  # parsed, not edited as text: a password may hold any character
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)

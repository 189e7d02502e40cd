"""A read-through cache of users in Redis, in front of the shop's repository (plain redis-py).

``get(user_id)`` answers from Redis when it can; on a miss it reads PostgreSQL
and keeps the user for ``ttl_seconds``. ``rename`` writes to PostgreSQL and
drops the cached copy, so the next read sees the new name.
"""

from __future__ import annotations

from typing import Any

from samples.shop.repository import ShopRepository


class CachedUsers:
    """Users by id: Redis first (a hash per user, ``user:<id>``), the repository on a miss."""

    def __init__(self, repository: ShopRepository, redis: Any, ttl_seconds: int = 300) -> None:
        self.repository = repository
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(user_id: int) -> str:
        return f"user:{user_id}"

    def get(self, user_id: int) -> dict[str, Any] | None:
        cached = self.redis.hgetall(self.key(user_id))
        if cached:
            self.hits += 1
            return {"id": int(cached["id"]), "email": cached["email"], "name": cached["name"]}
        self.misses += 1
        user = self.repository.get_user(user_id)
        if user is None:
            return None  # not cached: a user created later must be found
        found = {"id": user.id, "email": user.email, "name": user.name}
        with self.redis.pipeline() as pipeline:
            pipeline.hset(self.key(user_id), mapping=found)
            pipeline.expire(self.key(user_id), self.ttl_seconds)
            pipeline.execute()
        return found

    def rename(self, user_id: int, name: str) -> None:
        self.repository.rename_user(user_id, name)
        self.redis.delete(self.key(user_id))

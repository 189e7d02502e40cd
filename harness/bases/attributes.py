"""Per-test attributes harness gives (``self.session``, ``self.redis``, ``self.producer``) that a test may replace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["Replaceable"]

T = TypeVar("T")


class Replaceable(Generic[T]):
    """An attribute harness gives each test, which the test class or the test itself may replace with its own.

    It reads like a read-only property, but assigning to it works: on the class
    (``cls.producer = KafkaProducer(...)`` in ``setup_class``) or on the test
    (``self.session = Session(...)`` in ``setup_method``), and from then on the
    attribute gives that object. It is a descriptor without ``__set__``, so the
    instance's own attribute, and a subclass's class attribute, come first.
    Harness's helpers never read the attribute: they keep using harness's
    own object, and harness closes only that one::

        class CacheTestMixin(HarnessLifecycle):
            @Replaceable
            def redis(self) -> Redis:
                return self._harness_redis_client
    """

    def __init__(self, default: Callable[[Any], T]) -> None:
        self.default = default
        self.__doc__ = default.__doc__

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Replaceable[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return self.default(instance)

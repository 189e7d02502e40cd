"""factory-boy factories bound to the running test's session, their rows tracked."""

from __future__ import annotations

from typing import Any

import factory.alchemy

from harness.data.context import current_test, current_test_or_none

__all__ = ["SQLAlchemyFactory"]


class SQLAlchemyFactory(factory.alchemy.SQLAlchemyModelFactory):
    """A ``SQLAlchemyModelFactory`` that saves into the current test's session.

    Rows are flushed (so primary keys are set) and tracked by the test's
    TestDataManager; Faker is seeded per test by harness::

        class UserFactory(SQLAlchemyFactory):
            class Meta:
                model = User

            name = factory.Faker("name")

        class TestUsers(DatabaseTestBase):
            metadata = Base.metadata

            def test_create(self):
                user = UserFactory()
                assert self.session.get(User, user.id) is user
    """

    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "flush"

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        # Unlike factory-boy's own _create, nothing is written onto cls._meta per call.
        running = current_test_or_none()
        meta: Any = cls._meta
        session = meta.sqlalchemy_session
        if session is None and meta.sqlalchemy_session_factory is not None:
            session = meta.sqlalchemy_session_factory()
        if session is None:
            session = current_test().session  # raises, saying why, outside a test
        if meta.sqlalchemy_get_or_create:
            instance = cls._get_or_create(model_class, session, args, kwargs)
        else:
            instance = cls._save(model_class, session, args, kwargs)
        if running is not None and session is running.session:
            running.data.track(instance)
        return instance

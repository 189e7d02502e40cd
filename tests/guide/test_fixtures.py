"""pytest fixtures as the guides use them; the schema comes from setup.cfg's [harness] metadata."""

from guide_app.models import User
from guide_app.repository import UserRepository


def test_db_session_has_the_tables(db_session):
    repository = UserRepository(db_session)
    repository.create("ada@example.com", "Ada")
    assert db_session.query(User).count() == 1


def test_db_session_is_rolled_back(db_session):
    assert db_session.query(User).count() == 0


def test_redis_client(redis_client):
    redis_client.set("greeting", "hello")
    assert redis_client.get("greeting") == "hello"

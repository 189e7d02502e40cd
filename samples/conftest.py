"""For the db_session fixture: the tables it should have (the harness pytest plugin does the rest)."""

import pytest

from samples.shop.models import Base


@pytest.fixture(scope="session")
def harness_metadata():
    return Base.metadata

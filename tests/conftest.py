import pytest

from tests.helpers import MODELS, write


@pytest.fixture()
def models_module(tmp_path):
    """A models.py (users, orders) in a fresh directory, for child test runs."""
    write(tmp_path, "models.py", MODELS)
    return tmp_path

import pytest

from tests.helpers import MODELS, write


@pytest.fixture()
def models_module(tmp_path):
    """A models.py (users, orders) in a fresh directory, for child test runs."""
    write(tmp_path, "models.py", MODELS)
    return tmp_path


@pytest.fixture(scope="session")
def kafka_broker():
    """The run's local Kafka-protocol broker (started once by the registry)."""
    from harness.registry import registry

    return registry.acquire("kafka")


@pytest.fixture(scope="session")
def kafka_admin(kafka_broker):
    """A kafka-python admin client on the run's broker, to look at what tests left there."""
    from harness.services.kafka import client_settings, kafka_python

    client = kafka_python().KafkaAdminClient(**client_settings(kafka_broker))
    yield client
    client.close()

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


@pytest.fixture(scope="session")
def redis_server():
    """The run's local Redis (started once by the registry); ``.url`` points at database 0."""
    from harness.registry import registry

    return registry.acquire("redis")


def redis_dbs_in_use(endpoint):
    """{database: key count} of every non-empty database but 0, and the lease keys in database 0."""
    from harness.services.redis import LEASE_PREFIX, redis_py

    redis = redis_py()
    with redis.Redis.from_url(endpoint.url, decode_responses=True) as control:
        keyspace = control.info("keyspace")
        leases = sorted(control.scan_iter(match=f"{LEASE_PREFIX}*"))
    used = {int(name[2:]): info["keys"] for name, info in keyspace.items() if name != "db0"}
    return used, leases

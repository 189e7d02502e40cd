import pytest

from tests.helpers import MODELS, write

# A project of its own, run from its directory by tests/test_guide_suite.py.
collect_ignore = ["guide"]


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
    from harness.data.leases import LEASE_PREFIX
    from harness.services.redis import redis_py

    redis = redis_py()
    with redis.Redis.from_url(endpoint.url, decode_responses=True) as control:
        keyspace = control.info("keyspace")
        leases = sorted(control.scan_iter(match=f"{LEASE_PREFIX}*"))
    used = {int(name[2:]): info["keys"] for name, info in keyspace.items() if name != "db0"}
    return used, leases


@pytest.fixture(scope="module")
def private_servers():
    """``get(name)``: a server of this test module's own (on this xdist worker), started on first use.

    Tests that check a whole server (no lease, key or topic left on it) use these: the
    run's shared servers also hold what tests running on other workers are doing right now.
    """
    from harness.config import get_config
    from harness.providers.local import LocalProvider
    from harness.providers.rundir import current_run
    from harness.registry import get_service

    started = {}

    def get(name):
        if name not in started:
            provider = LocalProvider(get_service(name), get_config(), current_run())
            started[name] = (provider, provider.start())
        return started[name][1]

    yield get
    for provider, _endpoint in started.values():
        provider.stop()


@pytest.fixture(scope="module")
def private_kafka_admin(private_servers):
    """An admin client on this module's own broker."""
    from harness.data.topics import new_admin_client

    client = new_admin_client(private_servers("kafka"))
    yield client
    client.close()

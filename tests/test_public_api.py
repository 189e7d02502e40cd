import importlib.resources

import harness

PUBLIC = {
    "APITestClient",
    "ASGIApp",
    "AppProcess",
    "AppUnreachable",
    "ServiceIntegrationTest",
    "WSGIApp",
    "CacheTestBase",
    "ConfigError",
    "ContractTest",
    "ContractViolation",
    "DataCleanupError",
    "DatabaseTestBase",
    "HTTPStub",
    "HarnessError",
    "HarnessWarning",
    "IntegrationTestConfig",
    "IsolationError",
    "Message",
    "MessageQueueTestBase",
    "MessagesNotReceived",
    "MessagingError",
    "NamespaceUnavailable",
    "PactVerificationFailed",
    "ServiceStartError",
    "ServiceStopError",
    "ServiceUnavailable",
    "TestDataManager",
    "TopicManager",
    "UnsafeTargetError",
    "UsageError",
    "verify_pacts",
}


def test_all_is_sorted_and_lists_exactly_the_public_names():
    assert harness.__all__ == sorted(harness.__all__)
    assert set(harness.__all__) == PUBLIC
    for name in harness.__all__:
        assert getattr(harness, name) is not None


def test_package_is_typed():
    assert importlib.resources.files("harness").joinpath("py.typed").is_file()


def test_factories_module_exports_sqlalchemy_factory():
    from harness.factories import SQLAlchemyFactory

    assert SQLAlchemyFactory._meta.abstract


def test_errors_share_one_root():
    for name in PUBLIC:
        value = getattr(harness, name)
        if isinstance(value, type) and issubclass(value, Exception) and not issubclass(value, Warning):
            assert issubclass(value, harness.HarnessError)
    assert issubclass(harness.HarnessWarning, UserWarning)

"""The orders service in pytest style: the same API tests against the app as a process and served in-process."""

from harness import ASGIApp
from harness.bases import ServiceIntegrationTestMixin
from samples.orders_scenarios import ORDERS_PROCESS, OrdersScenarios


class TestOrdersAsAProcess(OrdersScenarios, ServiceIntegrationTestMixin):
    """`python -m samples.orders` as a child process; what it commits is undone after each test."""

    app = ORDERS_PROCESS


class TestOrdersInProcess(OrdersScenarios, ServiceIntegrationTestMixin):
    """Served by uvicorn in a thread; its session is the test's, so each test is rolled back."""

    app = ASGIApp("samples.orders.app:app")
    session_dependency = "samples.orders.app:get_db"

"""The orders service in unittest style (also run by `python -m unittest`)."""

from harness import ASGIApp, ServiceIntegrationTest
from samples.orders_scenarios import ORDERS_PROCESS, OrdersScenarios


class TestOrdersAsAProcess(OrdersScenarios, ServiceIntegrationTest):
    app = ORDERS_PROCESS


class TestOrdersInProcess(OrdersScenarios, ServiceIntegrationTest):
    app = ASGIApp("samples.orders.app:app")
    session_dependency = "samples.orders.app:get_db"

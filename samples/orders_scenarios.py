"""The orders service's API tests, written once and run against the app out of process and in process.

Each class that mixes these in declares how the app runs (AppProcess or ASGIApp);
the tests only use what ServiceIntegrationTest gives: ``self.api`` (every response
checked against the OpenAPI document the app publishes), ``self.session``,
``self.redis``, ``self.stub("payments")`` (the payments API the app charges, stubbed),
``self.assert_published``/``self.consume``, ``self.app_logs()``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import func, select

from harness import AppProcess
from samples.orders.models import Base, Customer, Order, OrderLine

REPO = Path(__file__).resolve().parent.parent
ORDERS_PROCESS = AppProcess(
    [sys.executable, "-m", "samples.orders"], cwd=str(REPO), env={"PYTHONUNBUFFERED": "1"}, health_path="/health"
)


class OrdersScenarios:
    """CRUD, pagination and errors of the orders API, with the row, the cache and the event checked."""

    metadata = Base.metadata
    topics = ("order-events",)
    stubs = ("payments",)  # the app gets PAYMENTS_URL
    contract = "/openapi.json"  # every self.api response must match the app's own published contract

    @classmethod
    def seed_data(cls, session):
        session.add(Customer(email="ada@example.com", name="Ada"))
        session.commit()

    def _customer_id(self):
        return self.session.scalars(select(Customer.id).where(Customer.email == "ada@example.com")).one()

    def _create_order(self, lines=({"sku": "tea", "quantity": 2, "unit_cents": 350},)):
        response = self.api.post("/orders", json={"customer_id": self._customer_id(), "lines": list(lines)})
        assert response.status_code == 201, response.text
        return response.json()

    def _checkout(self, quantity=2):
        lines = [{"sku": "tea", "quantity": quantity, "unit_cents": 350}]
        return self.api.post("/checkout", json={"customer_id": self._customer_id(), "lines": lines})

    def _accept_payments(self):
        accepted = {"id": "ch_1", "status": "accepted"}
        return self.stub("payments").when("POST", "/charges", json={"currency": "EUR"}).respond(201, json=accepted)

    def test_create_order_stores_row_caches_and_publishes(self):
        order = self._create_order([{"sku": "tea", "quantity": 2, "unit_cents": 350},
                                    {"sku": "cake", "quantity": 1, "unit_cents": 400}])
        assert order["status"] == "created" and order["total_cents"] == 1100
        row = self.session.get(Order, order["id"])
        assert row is not None and row.total_cents == 1100
        assert self.session.scalar(select(func.count()).select_from(OrderLine)) == 2
        assert json.loads(self.redis.get(f"order:{order['id']}"))["total_cents"] == 1100
        self.assert_published("order-events", {"type": "order_created", "order_id": order["id"]})
        assert f"order {order['id']} created" in self.app_logs()

    def test_each_test_starts_from_the_seed_alone(self):
        # Runs after (or before) the test above: its order, cache entry and event are gone.
        assert self.session.scalar(select(func.count()).select_from(Order)) == 0
        assert self.redis.keys("order:*") == []
        assert self.api.get("/orders").json()["total"] == 0
        order = self._create_order()
        assert self.api.get("/orders").json()["items"] == [order]

    def test_read_is_served_from_the_cache_after_the_first_miss(self):
        order = self._create_order()
        self.redis.delete(f"order:{order['id']}")
        first = self.api.get(f"/orders/{order['id']}")
        second = self.api.get(f"/orders/{order['id']}")
        assert (first.status_code, first.headers["X-Cache"]) == (200, "miss")
        assert (second.json(), second.headers["X-Cache"]) == (first.json(), "hit")

    def test_update_changes_the_row_invalidates_the_cache_and_publishes(self):
        order = self._create_order()
        response = self.api.patch(f"/orders/{order['id']}", json={"status": "paid"})
        assert response.status_code == 200 and response.json()["status"] == "paid"
        self.session.expire_all()
        assert self.session.get(Order, order["id"]).status == "paid"
        assert self.redis.get(f"order:{order['id']}") is None
        self.assert_published("order-events", {"type": "order_updated", "order_id": order["id"], "status": "paid"})

    def test_illegal_transition_is_409(self):
        order = self._create_order()
        assert self.api.patch(f"/orders/{order['id']}", json={"status": "cancelled"}).status_code == 200
        response = self.api.patch(f"/orders/{order['id']}", json={"status": "paid"})
        assert response.status_code == 409

    def test_delete_removes_the_row_and_publishes(self):
        order = self._create_order()
        assert self.api.delete(f"/orders/{order['id']}").status_code == 204
        self.session.expire_all()
        assert self.session.get(Order, order["id"]) is None
        assert self.api.get(f"/orders/{order['id']}").status_code == 404
        self.assert_published("order-events", {"type": "order_deleted", "order_id": order["id"]})

    def test_pagination(self):
        ids = [self._create_order()["id"] for _ in range(5)]
        page = self.api.get("/orders", params={"page": 2, "limit": 2}).json()
        assert (page["total"], page["page"], page["limit"], page["pages"]) == (5, 2, 2, 3)
        assert [item["id"] for item in page["items"]] == ids[2:4]
        assert self.api.get("/orders", params={"limit": 0}).status_code == 400

    def test_errors(self):
        assert self.api.post("/orders", json={"customer_id": self._customer_id(), "lines": []}).status_code == 400
        assert self.api.post("/orders", json={"customer_id": 999, "lines": [
            {"sku": "tea", "quantity": 1, "unit_cents": 1}]}).status_code == 404
        assert self.api.get("/orders/12345").status_code == 404
        duplicate = self.api.post("/customers", json={"email": "ada@example.com", "name": "Ada again"})
        assert duplicate.status_code == 409

    def test_checkout_charges_the_total_and_stores_a_paid_order(self):
        self._accept_payments()
        response = self._checkout()
        assert response.status_code == 201, response.text
        order = response.json()
        assert (order["status"], order["total_cents"]) == ("paid", 700)
        payments = self.stub("payments")
        payments.assert_called("POST", "/charges", times=1)
        charge = payments.requests[0].json()
        assert (charge["customer_id"], charge["amount_cents"]) == (self._customer_id(), 700)
        assert self.session.get(Order, order["id"]).status == "paid"
        self.assert_published("order-events", {"type": "order_created", "order_id": order["id"], "status": "paid"})

    def test_a_declined_payment_rejects_the_order_and_publishes_nothing(self):
        declined = {"status": "declined", "reason": "insufficient_funds"}
        self.stub("payments").when("POST", "/charges").respond(402, json=declined)
        response = self._checkout()
        assert (response.status_code, response.json()["detail"]) == (402, "payment declined: insufficient_funds")
        assert self.session.scalar(select(func.count()).select_from(Order)) == 0
        self._assert_next_event_is_a_later_order()

    def test_slow_payments_give_503_and_leave_no_half_written_order(self):
        # The app waits 1 s for payments (PAYMENTS_TIMEOUT_SECONDS); this answer would come after 1.5 s.
        self.stub("payments").when("POST", "/charges").respond(201, json={"id": "ch_2"}, delay_ms=1500)
        response = self._checkout()
        assert response.status_code == 503 and "no order was stored" in response.json()["detail"]
        assert self.session.scalar(select(func.count()).select_from(Order)) == 0
        assert "payments did not answer within 1 s" in self.app_logs()
        self._assert_next_event_is_a_later_order()

    def _assert_next_event_is_a_later_order(self):
        """Nothing was published for the failed checkout: the test's first event is the next order's."""
        self.stub("payments").reset()
        self._accept_payments()
        later = self._checkout(quantity=1).json()
        (first,) = self.consume("order-events")
        assert (first.value["type"], first.value["order_id"]) == ("order_created", later["id"])

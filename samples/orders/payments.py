"""The payments API the orders service charges at checkout (a third party: tests stub it with HTTPStub).

``POST {PAYMENTS_URL}/charges`` with ``{"reference", "customer_id", "amount_cents", "currency"}``
answers 201 ``{"id", "status": "accepted"}`` or 402 ``{"status": "declined", "reason"}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

__all__ = ["Charge", "PaymentDeclined", "PaymentsUnavailable", "charge"]


@dataclass(frozen=True)
class Charge:
    id: str
    reference: str


class PaymentDeclined(Exception):
    """The payments API refused the charge (402): nothing was charged."""


class PaymentsUnavailable(Exception):
    """The payments API did not answer in time, or answered with an error: the charge's outcome is unknown."""


def charge(base_url: str, *, reference: str, customer_id: int, amount_cents: int, timeout: float) -> Charge:
    """Charge ``amount_cents`` to the customer; ``reference`` makes a retried charge the same charge."""
    body = {"reference": reference, "customer_id": customer_id, "amount_cents": amount_cents, "currency": "EUR"}
    try:
        response = httpx.post(f"{base_url.rstrip('/')}/charges", json=body, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise PaymentsUnavailable(f"payments did not answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise PaymentsUnavailable(f"payments could not be reached: {type(exc).__name__}") from exc
    if response.status_code == 402:
        raise PaymentDeclined(response.json().get("reason", "declined"))
    if response.status_code != 201:
        raise PaymentsUnavailable(f"payments answered {response.status_code}")
    return Charge(id=response.json()["id"], reference=reference)

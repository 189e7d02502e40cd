"""The orders service's HTTP API (FastAPI): customers, orders, checkout through a payments API, a Redis cache
of orders and Kafka events. Every response is declared (models and error statuses), so the OpenAPI document
the app publishes at ``/openapi.json`` is a contract its tests check every response against.

``app = create_app()`` reads nothing at import: the database, Redis and Kafka
clients are created from the environment on first use, once per app, and
closed at shutdown. Tests may replace them through ``app.dependency_overrides``
(``get_db``, ``get_cache``, ``get_events``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import redis
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from samples.orders.events import OrderEvents
from samples.orders.models import Customer, Order, OrderLine
from samples.orders.payments import PaymentDeclined, PaymentsUnavailable, charge
from samples.orders.settings import Settings

log = logging.getLogger("samples.orders")
CACHE_TTL_SECONDS = 300
NEXT_STATUSES = {  # the status changes PATCH allows; any other is a 409
    "created": {"paid", "cancelled"},
    "paid": {"shipped", "cancelled"},
    "shipped": set(),
    "cancelled": set(),
}
T = TypeVar("T")


class Resources:
    """The app's settings and clients, each made on first use (after a test has set the environment)."""

    def __init__(self) -> None:
        self._made: dict[str, Any] = {}
        # Requests run on a thread pool, so each client is made under a lock; one lock per client,
        # so that a Kafka producer being made (it connects) holds up only the requests that publish.
        self._locks = {name: threading.Lock() for name in ("settings", "engine", "sessions", "cache", "events")}

    def _once(self, name: str, make: Callable[[], T]) -> T:
        with self._locks[name]:
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    def settings(self) -> Settings:
        return self._once("settings", Settings.from_env)

    def sessions(self) -> sessionmaker[Session]:
        engine = self._once("engine", lambda: create_engine(self.settings().database_url, pool_pre_ping=True))
        return self._once("sessions", lambda: sessionmaker(engine, expire_on_commit=False))

    def cache(self) -> redis.Redis:
        return self._once("cache", lambda: redis.Redis.from_url(self.settings().redis_url, decode_responses=True))

    def events(self) -> OrderEvents:
        settings = self.settings()
        return self._once("events", lambda: OrderEvents(settings.kafka_bootstrap_servers, settings.order_events_topic))

    def close(self) -> None:
        made, self._made = self._made, {}
        if "events" in made:
            made["events"].close()
        if "cache" in made:
            made["cache"].close()
        if "engine" in made:
            made["engine"].dispose()


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.resources.sessions()() as session:
        yield session


def get_cache(request: Request) -> redis.Redis:
    return request.app.state.resources.cache()


def get_events(request: Request) -> OrderEvents:
    return request.app.state.resources.events()


DB = Annotated[Session, Depends(get_db)]
Cache = Annotated[redis.Redis, Depends(get_cache)]
Events = Annotated[OrderEvents, Depends(get_events)]


class CustomerIn(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=255)
    name: str = Field(min_length=1, max_length=120)


class LineIn(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)
    unit_cents: int = Field(ge=0)


class OrderIn(BaseModel):
    customer_id: int
    lines: list[LineIn] = Field(min_length=1)


class StatusIn(BaseModel):
    status: Literal["paid", "shipped", "cancelled"]


class CustomerOut(BaseModel):
    id: int
    email: str
    name: str


class LineOut(BaseModel):
    sku: str
    quantity: int
    unit_cents: int


class OrderOut(BaseModel):
    id: int
    customer_id: int
    status: Literal["created", "paid", "shipped", "cancelled"]
    total_cents: int
    created_at: datetime
    lines: list[LineOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    total: int
    page: int
    limit: int
    pages: int


class Health(BaseModel):
    status: str


class ErrorOut(BaseModel):
    detail: str


class InvalidRequestOut(BaseModel):
    detail: list[dict[str, Any]]


INVALID: dict[int | str, dict[str, Any]] = {400: {"model": InvalidRequestOut, "description": "Invalid request"}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route declares (besides 400, which every route with input has)."""
    return {**INVALID, **{status: {"model": ErrorOut} for status in statuses}}


def cache_key(order_id: int) -> str:
    return f"order:{order_id}"


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "status": order.status,
        "total_cents": order.total_cents,
        "created_at": order.created_at.isoformat(),
        "lines": [{"sku": line.sku, "quantity": line.quantity, "unit_cents": line.unit_cents} for line in order.lines],
    }


def find_order(db: Session, order_id: int, *, for_update: bool = False) -> Order:
    order = db.get(Order, order_id, with_for_update=for_update)
    if order is None:
        raise HTTPException(404, f"no order {order_id}")
    return order


router = APIRouter()


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(db: DB) -> JSONResponse:
    try:
        db.execute(text("SELECT 1"))
    except OperationalError:
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.post("/customers", status_code=201, response_model=CustomerOut, responses=errors(409))
def create_customer(body: CustomerIn, db: DB) -> dict[str, Any]:
    customer = Customer(email=body.email.lower(), name=body.name)
    db.add(customer)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise HTTPException(409, f"a customer with email {customer.email} already exists") from None
    return {"id": customer.id, "email": customer.email, "name": customer.name}


@router.post("/orders", status_code=201, response_model=OrderOut, responses=errors(404))
def create_order(body: OrderIn, db: DB, cache: Cache, events: Events) -> dict[str, Any]:
    if db.get(Customer, body.customer_id) is None:
        raise HTTPException(404, f"no customer {body.customer_id}")
    order = Order(
        customer_id=body.customer_id,
        status="created",
        total_cents=sum(line.quantity * line.unit_cents for line in body.lines),
        lines=[OrderLine(**line.model_dump()) for line in body.lines],
    )
    db.add(order)
    db.commit()  # then cache and publish: if Kafka is down, the order exists but the request fails (no outbox here)
    created = order_json(order)
    cache.set(cache_key(order.id), json.dumps(created), ex=CACHE_TTL_SECONDS)
    events.publish("order_created", created)
    log.info("order %d created for customer %d: %d cents", order.id, order.customer_id, order.total_cents)
    return created


@router.post("/checkout", status_code=201, response_model=OrderOut, responses=errors(402, 404, 503))
def checkout(body: OrderIn, request: Request, db: DB, cache: Cache, events: Events) -> dict[str, Any]:
    """Charge the order's total through the payments API, then store it as paid; nothing is stored otherwise."""
    if db.get(Customer, body.customer_id) is None:
        raise HTTPException(404, f"no customer {body.customer_id}")
    settings: Settings = request.app.state.resources.settings()
    if settings.payments_url is None:
        raise HTTPException(503, "checkout needs PAYMENTS_URL in the service's environment")
    total = sum(line.quantity * line.unit_cents for line in body.lines)
    try:  # charged first, stored after: a failed or unanswered charge leaves no order behind
        payment = charge(settings.payments_url, reference=str(uuid.uuid4()), customer_id=body.customer_id,
                         amount_cents=total, timeout=settings.payments_timeout_seconds)
    except PaymentDeclined as exc:
        raise HTTPException(402, f"payment declined: {exc}") from None
    except PaymentsUnavailable as exc:
        log.warning("checkout for customer %d: %s", body.customer_id, exc)
        raise HTTPException(503, f"{exc}; no order was stored, try again") from None
    order = Order(customer_id=body.customer_id, status="paid", total_cents=total,
                  lines=[OrderLine(**line.model_dump()) for line in body.lines])
    db.add(order)
    db.commit()
    created = order_json(order)
    cache.set(cache_key(order.id), json.dumps(created), ex=CACHE_TTL_SECONDS)
    events.publish("order_created", created)
    log.info("order %d paid (charge %s): %d cents", order.id, payment.id, total)
    return created


@router.get("/orders", response_model=OrderPage, responses=INVALID)
def list_orders(
    db: DB, page: Annotated[int, Query(ge=1)] = 1, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> dict[str, Any]:
    total = db.scalar(select(func.count()).select_from(Order)) or 0
    orders = db.scalars(select(Order).order_by(Order.id).offset((page - 1) * limit).limit(limit))
    items = [order_json(order) for order in orders]
    return {"items": items, "total": total, "page": page, "limit": limit, "pages": math.ceil(total / limit)}


@router.get("/orders/{order_id}", response_model=OrderOut, responses=errors(404))
def get_order(order_id: int, response: Response, db: DB, cache: Cache) -> dict[str, Any]:
    cached = cache.get(cache_key(order_id))
    if cached is not None:
        response.headers["X-Cache"] = "hit"
        return json.loads(cached)
    found = order_json(find_order(db, order_id))
    cache.set(cache_key(order_id), json.dumps(found), ex=CACHE_TTL_SECONDS)
    response.headers["X-Cache"] = "miss"
    return found


@router.patch("/orders/{order_id}", response_model=OrderOut, responses=errors(404, 409))
def update_order(order_id: int, body: StatusIn, db: DB, cache: Cache, events: Events) -> dict[str, Any]:
    order = find_order(db, order_id, for_update=True)  # locked: two concurrent updates see each other's status
    if body.status not in NEXT_STATUSES[order.status]:
        raise HTTPException(409, f"order {order_id} is {order.status}; it cannot become {body.status}")
    order.status = body.status
    db.commit()
    cache.delete(cache_key(order_id))
    updated = order_json(order)
    events.publish("order_updated", updated)
    return updated


@router.delete("/orders/{order_id}", status_code=204, responses=errors(404))
def delete_order(order_id: int, db: DB, cache: Cache, events: Events) -> None:
    order = find_order(db, order_id, for_update=True)
    deleted = order_json(order)
    db.delete(order)  # its lines go with it (ON DELETE CASCADE)
    db.commit()
    cache.delete(cache_key(order_id))
    events.publish("order_deleted", deleted)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """400 with the validation errors, instead of FastAPI's 422."""
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=400)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.resources.close()


def create_app() -> FastAPI:
    """A new orders app with its own (not yet created) clients; nothing is read from the environment yet."""
    app = FastAPI(title="orders", lifespan=lifespan)
    app.state.resources = Resources()
    app.exception_handler(RequestValidationError)(invalid_request)
    app.include_router(router)
    return app


app = create_app()

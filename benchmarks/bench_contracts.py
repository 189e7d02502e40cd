"""What a contract costs: a request through APITestClient with and without ``contract=``, and validation alone.

A FastAPI app (its own /openapi.json is the contract) is served in-process by
ASGIApp on 127.0.0.1. Timed, rounds alternating:

1. ``GET /orders/{id}`` through APITestClient (a) without a contract, (b) with
   ``ContractTest.from_openapi(url + "/openapi.json")`` checking each response.
2. Validation alone, no network: ``validate_response`` of one response (finding the
   operation, then the body), ``validate(data, "Order")`` on the OpenAPI contract, and
   ``validate`` on a plain JSON Schema contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from _common import parse_args, ratio, summarize
from fastapi import FastAPI
from pydantic import BaseModel

from harness import APITestClient, ASGIApp, ContractTest


class Order(BaseModel):
    id: int
    total: float


app = FastAPI()


@app.get("/orders/{order_id}", response_model=Order)
def get_order(order_id: int) -> dict[str, float]:
    return {"id": order_id, "total": 9.5}


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    arguments = parse_args(__doc__)
    rounds = 50 if arguments.quick else 1000
    runner = ASGIApp(app)
    url = runner.start({})
    try:
        contract = ContractTest.from_openapi(url + "/openapi.json")
        plain = ContractTest({"Order": Order.model_json_schema()})
        with APITestClient(url) as bare, APITestClient(url, contract=contract) as checked:
            bare.get("/orders/1"), checked.get("/orders/1")  # warm: connections, validators' first use
            without, with_contract = [], []
            for n in range(rounds):
                path = f"/orders/{n}"
                without.append(timed(lambda path=path: bare.get(path)))
                with_contract.append(timed(lambda path=path: checked.get(path)))
            response = bare.get("/orders/7")
        print("1. GET /orders/{id} through APITestClient, in-process FastAPI")
        fast = summarize("without a contract", without)
        slow = summarize("with contract=ContractTest.from_openapi(...)", with_contract)
        ratio("with", slow, "without", fast)
        print("2. validation alone")
        summarize("validate_response(response)", [timed(lambda: contract.validate_response(response))
                                                  for _ in range(rounds)])
        summarize("OpenAPI validate(data, 'Order')", [timed(lambda: contract.validate({"id": 7, "total": 1}, "Order"))
                                                      for _ in range(rounds)])
        summarize("JSON Schema validate(data, 'Order')", [timed(lambda: plain.validate({"id": 7, "total": 1}, "Order"))
                                                          for _ in range(rounds)])
    finally:
        runner.stop()


if __name__ == "__main__":
    main()

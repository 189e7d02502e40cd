"""An orders service (FastAPI on uvicorn) over PostgreSQL, Redis and Kafka, for ServiceIntegrationTest to run.

Start it as a process with ``python -m samples.orders`` or serve
``samples.orders.app:app`` in-process; it reads its settings from the
environment on first use (see ``samples.orders.settings``).
"""

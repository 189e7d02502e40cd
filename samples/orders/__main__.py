"""Runs the orders service: ``PORT=8000 python -m samples.orders`` (uvicorn on 127.0.0.1, no reload)."""

from __future__ import annotations

import copy
import os
import signal
import sys

import uvicorn


def main() -> None:
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # the app's own lines next to uvicorn's, on stderr
    log_config["loggers"]["samples.orders"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again to die by it (exit status -15);
    # this handler, restored before that, turns it into a clean exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    port = int(os.environ.get("PORT", "8000"))
    uvicorn.run("samples.orders.app:app", host="127.0.0.1", port=port, log_level="info", log_config=log_config)


if __name__ == "__main__":
    main()

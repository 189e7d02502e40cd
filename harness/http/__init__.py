"""HTTP for integration tests: a client for the app under test, and runners that serve the app in-process.

>>> from harness.http import APITestClient, AppProcess, ASGIApp, WSGIApp
"""

from __future__ import annotations

from harness.http.client import APITestClient
from harness.http.inprocess import ASGIApp, WSGIApp
from harness.http.process import AppProcess

__all__ = ["APITestClient", "ASGIApp", "AppProcess", "WSGIApp"]

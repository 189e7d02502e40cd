"""HTTP for integration tests: a client for the app under test, runners that serve it, and stubs of its peers.

>>> from harness.http import APITestClient, AppProcess, ASGIApp, HTTPStub, WSGIApp
"""

from __future__ import annotations

from harness.http.client import APITestClient
from harness.http.inprocess import ASGIApp, WSGIApp
from harness.http.process import AppProcess
from harness.http.stub import HTTPStub

__all__ = ["APITestClient", "ASGIApp", "AppProcess", "HTTPStub", "WSGIApp"]

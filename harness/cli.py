"""The ``harness`` command: doctor, up, down, status, env."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from harness.config import external_variable, get_config
from harness.errors import HarnessError
from harness.providers.rundir import KEPT_FILE
from harness.registry import SERVICES, get_service, kept_runs, provider_statuses, registry, stop_kept
from harness.services.base import Endpoint

__all__ = ["main"]


def _doctor(args: argparse.Namespace) -> int:
    config = get_config()
    print(f"provider setting: {config.provider}")
    for name in args.services or list(SERVICES):
        service = get_service(name)
        print(f"{name}:")
        for status in provider_statuses(service, config):
            mark = "yes" if status.available else "no "
            print(f"  {status.provider:<9} {mark}  {status.detail}")
    return 0


def _kept_endpoints() -> list[Endpoint]:
    endpoints = []
    for directory in kept_runs():
        records = json.loads((directory / KEPT_FILE).read_text())
        endpoints += [Endpoint.from_record(record) for record in records]
    return endpoints


def _env_lines(endpoints: list[Endpoint]) -> list[str]:
    return [f"export {external_variable(endpoint.service)}={endpoint.url}" for endpoint in endpoints]


def _up(args: argparse.Namespace) -> int:
    config = get_config().replace(keep=True, provider="local")
    names = args.services or list(SERVICES)
    if not args.services:
        # Without names, start what this machine can run and say what it cannot.
        for name in list(names):
            service = get_service(name)
            if service.find_local_binary(config) is None:
                names.remove(name)
                print(f"# {name}: skipped, no local binary ({service.install_hint})", file=sys.stderr)
    endpoints = [registry.acquire(name, config) for name in names]
    registry.shutdown()  # with keep=True: detach, leave running
    print("\n".join(_env_lines(endpoints)))
    print("# later runs attach to these when the variables are set; `harness down` stops them", file=sys.stderr)
    return 0


def _down(args: argparse.Namespace) -> int:
    count = stop_kept()
    print(f"harness: stopped {count} kept run(s)")
    return 0


def _status(args: argparse.Namespace) -> int:
    endpoints = _kept_endpoints()
    if not endpoints:
        print("harness: nothing kept running")
    for endpoint in endpoints:
        print(f"{endpoint.service:<9} {endpoint.provider:<7} {endpoint.display_url}")
    return 0


def _env(args: argparse.Namespace) -> int:
    print("\n".join(_env_lines(_kept_endpoints())))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` command."""
    parser = argparse.ArgumentParser(prog="harness", description="Services for integration tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser("doctor", help="show, per service, which providers can run it and with what")
    doctor.add_argument("services", nargs="*", metavar="SERVICE")
    doctor.set_defaults(run=_doctor)
    up = commands.add_parser("up", help="start services detached, print the variables that make runs attach")
    up.add_argument("services", nargs="*", metavar="SERVICE")
    up.set_defaults(run=_up)
    commands.add_parser("down", help="stop services started by `up` or kept by --harness-keep").set_defaults(run=_down)
    commands.add_parser("status", help="list services left running").set_defaults(run=_status)
    commands.add_parser("env", help="print export lines for the services left running").set_defaults(run=_env)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

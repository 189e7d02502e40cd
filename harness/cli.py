"""The ``harness`` command: doctor, up, down, status, env."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.config import external_variable, get_config
from harness.errors import ConfigError, HarnessError
from harness.providers.kept import kept_runs, project_root, stop_kept
from harness.registry import provider_statuses, registry
from harness.services.base import Endpoint, Service
from harness.services.catalog import get_service, service_names

__all__ = ["main"]


def _doctor(args: argparse.Namespace) -> int:
    config = get_config()
    print(f"provider setting: {config.provider}")
    for name in args.services or service_names():
        service = get_service(name)
        print(f"{name}:")
        for status in provider_statuses(service, config):
            mark = "yes" if status.available else "no "
            print(f"  {status.provider:<9} {mark}  {status.detail}")
    return 0


def _kept_endpoints(project: Path | None) -> list[Endpoint]:
    return [endpoint for kept in kept_runs(project) for endpoint in kept.endpoints]


def _env_lines(endpoints: list[Endpoint]) -> list[str]:
    return [f"export {external_variable(endpoint.service)}={endpoint.url}" for endpoint in endpoints]


def _up(args: argparse.Namespace) -> int:
    config = get_config().replace(keep=True, provider="local")
    for name in args.services:
        if not get_service(name).standalone:
            raise ConfigError(
                f"{name} is not started on its own (it needs other services and a test class); `harness up` "
                "starts the servers it depends on."
            )
    names = args.services or [name for name in service_names() if get_service(name).standalone]
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


def _sweep(service: Service, endpoint: Endpoint) -> list[str]:
    """Remove what dead runs left on a shared server (its namespace module knows how); describe what went."""
    if service.namespace is None:
        return []
    removed: list[str] = importlib.import_module(service.namespace).sweep(endpoint)
    return removed


def _down(args: argparse.Namespace) -> int:
    config = get_config()
    code = 0
    for name in service_names():
        url = config.url_for(name)
        if url is None:
            continue
        service = get_service(name)
        try:
            endpoint = service.external_endpoint(url)
            service.probe(endpoint, timeout=config.connect_timeout)
            removed = _sweep(service, endpoint)
        except HarnessError as exc:  # one unreachable server must not keep the others, or the kept runs, as they are
            print(f"harness: could not clean {name}: {exc}", file=sys.stderr)
            code = 1
            continue
        print(f"harness: removed from {name} at {endpoint.display_url} what finished runs left: "
              + (", ".join(removed) if removed else "nothing"))
    project = None if args.all else project_root()
    stopped = stop_kept(project)
    where = "every project" if project is None else f"project {project}"
    print(f"harness: stopped {len(stopped)} kept run(s) of {where}")
    others = [] if project is None else [kept for kept in kept_runs() if kept.project != project]
    if others:
        print(f"harness: {len(others)} kept run(s) of other projects left running (`harness down --all` stops them)")
    return code


def _status(args: argparse.Namespace) -> int:
    runs = kept_runs()
    if not runs:
        print("harness: nothing kept running")
    for kept in runs:
        for endpoint in kept.endpoints:
            print(f"{endpoint.service:<9} {endpoint.provider:<7} {endpoint.display_url}  (project {kept.project})")
    return 0


def _env(args: argparse.Namespace) -> int:
    print("\n".join(_env_lines(_kept_endpoints(project_root()))))
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
    down = commands.add_parser(
        "down",
        help="stop this project's services started by `up` or kept by --harness-keep, and remove what finished "
        "runs left on the shared servers HARNESS_*_URL name",
    )
    down.add_argument("--all", action="store_true", help="stop every project's kept services, not only this one's")
    down.set_defaults(run=_down)
    commands.add_parser("status", help="list services left running, with their projects").set_defaults(run=_status)
    commands.add_parser("env", help="print export lines for this project's services left running").set_defaults(
        run=_env
    )
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

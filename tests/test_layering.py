"""The layers of DESIGN.md, read from the import statements: services never import providers, and nothing
that runs every service (providers, registry, config, cli) imports a concrete one.

A concrete service is any module under harness/services/ but the protocol (base) and the catalog:
the machinery reaches services through the catalog alone, so a third-party service is their equal.
"""

import ast
from pathlib import Path

import pytest

import harness

PACKAGE = Path(harness.__file__).parent
SERVICE_PROTOCOL = {"harness.services", "harness.services.base", "harness.services.catalog"}
IMPORTERS = {"import_module", "__import__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_submodule(name: str) -> bool:
    """Whether ``name`` (``harness.services.base``) is a module of harness rather than an attribute."""
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or (PACKAGE.parent / relative).is_dir()


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source``: statements anywhere (functions, TYPE_CHECKING blocks)
    and ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            for alias in node.names:  # `from harness.services import postgres` imports harness.services.postgres
                candidate = f"{base}.{alias.name}"
                if _is_submodule(candidate):
                    found.append((node.lineno, candidate))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if function in IMPORTERS and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def _imports_of(path: Path) -> list[tuple[int, str]]:
    return imported_modules(path.read_text(), _module_name(path), is_package=path.name == "__init__.py")


def _is_provider(name: str) -> bool:
    return name == "harness.providers" or name.startswith("harness.providers.")


def _is_concrete_service(name: str) -> bool:
    return name.startswith("harness.services.") and name not in SERVICE_PROTOCOL


def _violations(paths: list[Path], forbidden) -> list[str]:
    assert paths, "no module to check: has the layout changed?"
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in paths
        for line, name in _imports_of(path)
        if forbidden(name)
    ]


def test_services_never_import_providers():
    assert _violations(sorted((PACKAGE / "services").rglob("*.py")), _is_provider) == []


def test_providers_import_no_concrete_service():
    assert _violations(sorted((PACKAGE / "providers").rglob("*.py")), _is_concrete_service) == []


@pytest.mark.parametrize("module", ["registry.py", "config.py", "cli.py"])
def test_the_machinery_imports_no_concrete_service(module):
    assert _violations([PACKAGE / module], _is_concrete_service) == []


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("import harness.services.postgres", "harness.registry", "harness.services.postgres"),
    ("from harness.services.redis import SERVICE", "harness.cli", "harness.services.redis"),
    ("from harness.services import kafka", "harness.config", "harness.services.kafka"),
    ("def later():\n    from harness.services.postgres import connect\n", "harness.providers.local",
     "harness.services.postgres"),
    ("from ..services import postgres", "harness.providers.local", "harness.services.postgres"),
    ("import importlib\nimportlib.import_module('harness.services.redis')", "harness.cli", "harness.services.redis"),
    ("from harness.providers.local import free_port", "harness.services.redis", "harness.providers.local"),
    ("from ..providers import docker", "harness.services.kafka", "harness.providers.docker"),
])
def test_the_checker_sees_every_form_of_import(source, module, expected):
    assert expected in [name for _line, name in imported_modules(source, module)]


def test_the_protocol_and_the_catalog_are_allowed():
    names = [name for _line, name in imported_modules(
        "from harness.services.base import Endpoint\nfrom harness.services import catalog\n", "harness.registry"
    )]
    assert names and not any(_is_concrete_service(name) for name in names)

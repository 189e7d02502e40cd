"""Settings as text: parsing a value given in an ini file or a variable, and finding the ini file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the pytest plugin loads this module in every pytest run
    import configparser

__all__ = [
    "INI_FILES",
    "INI_SECTION",
    "PROVIDERS",
    "SettingText",
    "find_ini",
    "parse_bool",
    "parse_int",
    "parse_names",
    "parse_seconds",
    "read_ini_file",
]

PROVIDERS = ("auto", "local", "docker", "external")
INI_FILES = ("setup.cfg", "tox.ini")
INI_SECTION = "harness"


def parse_bool(text: str) -> bool:
    """``true``/``yes``/``on``/``1`` or ``false``/``no``/``off``/``0``/empty; anything else is a ValueError."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false, yes/no or 1/0")


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def parse_seconds(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError("expected a number of seconds") from None


def parse_names(text: str) -> tuple[str, ...]:
    """Names separated by commas or new lines."""
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())


class SettingText(str):
    """A setting's text that remembers where it was given, and the directory a relative path in it starts from.

    ``[harness] migrations = db/alembic.ini`` in /src/app/setup.cfg gives ``base`` /src/app::

        text = SettingText("db/alembic.ini", origin="setup.cfg [harness]: migrations", base=Path("/src/app"))
        assert text.base / text == Path("/src/app/db/alembic.ini")
    """

    origin: str
    base: Path

    def __new__(cls, text: str, *, origin: str, base: Path) -> SettingText:
        value = super().__new__(cls, text)
        value.origin, value.base = origin, base
        return value


def read_ini_file(path: Path) -> configparser.ConfigParser:
    """``path`` parsed; one harness cannot parse is a ConfigError naming it."""
    import configparser

    from harness.errors import ConfigError

    # Not strict: a duplicate key elsewhere in a tox.ini is tox's business, not a reason to fail.
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path} could not be parsed ({reason}), so harness cannot tell whether it holds a "
            f"[{INI_SECTION}] section. Fix its syntax, or run from a directory without it."
        ) from None
    return parser


def find_ini(start: Path) -> tuple[Path, configparser.ConfigParser] | None:
    """The first setup.cfg or tox.ini with a ``[harness]`` section, from ``start`` up to the root.

    A file whose text has no ``[harness]`` cannot hold the section and is not parsed: the plugin
    looks in every pytest run, and most projects' files are other tools' business.
    """
    for directory in (start, *start.parents):
        for filename in INI_FILES:
            candidate = directory / filename
            if _mentions_section(candidate):
                parser = read_ini_file(candidate)
                if parser.has_section(INI_SECTION):
                    return candidate, parser
    return None


def _mentions_section(path: Path) -> bool:
    try:
        return f"[{INI_SECTION}]".encode() in path.read_bytes()
    except OSError:  # none there, or unreadable: configparser skips those too
        return False

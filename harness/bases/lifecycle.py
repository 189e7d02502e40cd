"""One lifecycle for every runner: pytest classes, unittest.TestCase under pytest, ``python -m unittest``.

pytest calls ``setup_class``/``setup_method`` (on TestCase subclasses too),
unittest calls ``setUpClass`` and the test case itself. Each of those entry
points leads to the same four steps, and a guard makes each step run exactly
once however many of the entry points a runner uses. Every resource a step
starts is pushed onto an ExitStack right after it starts, so a failure half
way through undoes exactly what was done, in reverse, and re-raises.

Under unittest the per-test step runs inside the test's setUp step, before the
subclass's own ``setUp``, and its teardown is the first cleanup registered, so
it runs after ``tearDown`` and every other cleanup: a subclass's ``setUp`` and
``tearDown`` need not call ``super()``, and unittest reports (and times) the
harness's work as part of the test. A TestCase's class step is undone by a class
cleanup, after ``tearDownClass``. A subclass's ``setup_class``, ``setup_method``,
``teardown_method`` and ``teardown_class`` run under both runners, in pytest's
order, with or without ``super()`` (see harness.bases.hooks).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import unittest
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

from harness.bases.hooks import wrap_hooks
from harness.config import IntegrationTestConfig, get_config
from harness.errors import ConfigError, HarnessError
from harness.redaction import redact, redact_exception
from harness.registry import TESTS, registry
from harness.services.base import Endpoint

__all__ = ["HarnessLifecycle", "Resource", "forget_class_attributes", "unwind_open_steps"]

_Step = TypeVar("_Step", bound=Callable[..., None])
_CLASS_STACK = "_harness_class_stack"
_TEST_STACK = "_harness_test_stack"


class _OpenStep(ExitStack):
    """An open class or test step: what to undo, and which of the subclass's xunit hooks ran in it."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks_run: set[str] = set()
        self.settings: dict[str, Any] = {}
        """The class's settings as harness read them."""
        self.given: dict[str, Any] = {}
        """The class's own attributes once harness had set it up (``engine``, ...)."""
        self.endpoints: dict[str, Endpoint] = {}
        """The services this step acquired, by name (released when it closes)."""
        self.prepared: dict[str, Future[Any]] = {}
        """Each service's class resource being made in the background, until a base claims it."""


@dataclass(frozen=True)
class Resource:
    """What a base makes on its service for the class, and how it is undone (see ``_harness_resources``)."""

    make: Callable[[Endpoint, type], Any]
    """``make(endpoint, test_class)``: run in a thread of its own, beside the other bases' work."""
    undo: Callable[[Any], None]


def _undo_unclaimed(stack: _OpenStep, name: str, undo: Callable[[Any], None]) -> None:
    future = stack.prepared.pop(name, None)
    if future is None:
        return  # its base claimed it, and undoes it itself
    # Never asked for: the class step failed before its base came. Undo what was made (a failed make made nothing).
    if future.exception() is None:
        undo(future.result())


_open_stacks: list[ExitStack] = []
"""Every class and test step opened and not yet closed, oldest first."""


def _open_stack() -> _OpenStep:
    stack = _OpenStep()
    if not _open_stacks:
        registry.on_shutdown(unwind_open_steps, stage=TESTS)
    _open_stacks.append(stack)
    return stack


def _close_stack(stack: ExitStack) -> None:
    with contextlib.suppress(ValueError):
        _open_stacks.remove(stack)
    stack.close()


def unwind_open_steps() -> None:
    """Close every test and class step still open, newest first, each whatever the others do.

    pytest tears its tests down itself when interrupted; ``python -m unittest`` does not: a
    KeyboardInterrupt (Ctrl-C, or SIGTERM/SIGHUP, see the registry) leaves the test and its class
    open. Run at the end of the run, before the servers stop, this removes what they hold
    (the class transaction, the Redis database lease, the test's topics).
    """
    failures = []
    while _open_stacks:
        stack = _open_stacks.pop()
        try:
            stack.close()
        except Exception as exc:  # noqa: BLE001 - the next stack must still close
            failures.append(f"{type(exc).__name__}: {redact(str(exc))}")
    if failures:
        raise HarnessError("Interrupted tests could not all be cleaned up: " + "; ".join(failures))


def _redacting(step: _Step) -> _Step:
    """``step``, whose exceptions reach the test runner with passwords masked and leaking frames dropped.

    Runners print tracebacks, some with every frame's locals (pytest -l, unittest
    --locals); a driver's frame holding a connection string must not be among them.
    """

    @functools.wraps(step)
    def run(*args: Any) -> None:
        try:
            step(*args)
        except BaseException as exc:
            redact_exception(exc)
            raise

    return cast(_Step, run)


class HarnessLifecycle:
    """Base of the harness test bases; subclasses implement the two ``_harness_*_setup`` steps."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        wrap_hooks(cls)

    config_overrides: ClassVar[Mapping[str, Any]] = {}
    """Settings for this class only, over the run's (e.g. ``{"startup_timeout": 60}``)."""

    _harness_settings: ClassVar[Mapping[str, Callable[[Any], bool]]] = {
        "config_overrides": lambda value: isinstance(value, Mapping),
    }
    """The class attributes a base reads, each with a test of whether a value looks meant for it
    (a misspelt name whose value fits is reported, see :meth:`_harness_check_settings`)."""

    @classmethod
    def _harness_check_settings(cls) -> None:
        """Refuse a class attribute that is a misspelt setting (``metdata = Base.metadata``): it would be ignored."""
        settings: dict[str, Callable[[Any], bool]] = {}
        for klass in reversed(cls.__mro__):
            settings.update(klass.__dict__.get("_harness_settings", {}))
        for klass in cls.__mro__:
            if klass.__module__.startswith("harness.") or klass.__module__ in ("builtins", "unittest.case"):
                continue
            for name, value in klass.__dict__.items():
                if name.startswith("_") or name in settings or callable(value) or isinstance(
                    value, (classmethod, staticmethod, property)
                ):
                    continue
                close = difflib.get_close_matches(name, list(settings), n=1, cutoff=0.8)
                if close and settings[close[0]](value):
                    raise ConfigError(
                        f"{klass.__qualname__}.{name} is not a harness setting, so it would be ignored. "
                        f"Did you mean {close[0]!r}?"
                    )

    @classmethod
    def _harness_setting_values(cls) -> dict[str, Any]:
        names: set[str] = set()
        for klass in cls.__mro__:
            names.update(klass.__dict__.get("_harness_settings", {}))
        return {name: getattr(cls, name, None) for name in sorted(names)}

    @classmethod
    def _harness_after_class_hook(cls, hook: str) -> None:
        """Refuse a setting a class hook changed after harness had read it: it would be ignored."""
        step = cls._harness_class_step()
        if step is None:
            return
        for name, value in cls._harness_setting_values().items():
            if value is not step.settings[name]:
                raise ConfigError(
                    f"{cls.__qualname__}.{hook}() set {name}, but harness had already set the class up from its "
                    f"class attributes (before setup_class runs, and at super().setUpClass()), so it would be "
                    f"ignored. Set it in the class body instead: {name} = ..."
                )

    @classmethod
    def _harness_config(cls) -> IntegrationTestConfig:
        config = get_config()
        return config.replace(**cls.config_overrides) if cls.config_overrides else config

    @classmethod
    def _harness_services(cls) -> tuple[str, ...]:
        """The services this class's setup will ask for; each base adds its own (``super()`` first)."""
        return ()

    @classmethod
    def _harness_endpoint(cls, stack: ExitStack, service: str) -> Endpoint:
        """The run's ``service`` (started on first use), released when ``stack`` closes.

        The first call of a class step starts every service the class needs at once
        (:meth:`_harness_services`, in parallel): a class using PostgreSQL, Redis and Kafka
        waits for the slowest start, not the sum, whatever order its bases ask in.
        """
        assert isinstance(stack, _OpenStep), "a base asks for services in its class step"
        acquired = stack.endpoints
        if service not in acquired:
            wanted = [name for name in dict.fromkeys((service, *cls._harness_services())) if name not in acquired]
            for name, endpoint in zip(wanted, registry.acquire_all(wanted, cls._harness_config()), strict=True):
                acquired[name] = endpoint
                stack.callback(registry.release, endpoint)
            cls._harness_prepare_others(stack, service)
        return acquired[service]

    @classmethod
    def _harness_resources(cls) -> dict[str, Resource]:
        """The class resource each base makes on its service (a Redis lease, a Kafka admin client).

        Each base adds its own to ``super()``'s.
        """
        return {}

    @classmethod
    def _harness_prepare_others(cls, stack: _OpenStep, asked: str) -> None:
        """Start making the class resources of the services not asked for yet, while the asking base works.

        Each is made in a thread of its own and claimed by its base (:meth:`_harness_resource`);
        one never claimed (an earlier step failed) is undone when the class step closes.
        """
        resources = cls._harness_resources()
        names = [name for name in stack.endpoints if name != asked and name in resources and name not in stack.prepared]
        if not names:
            return
        pool = ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="harness-prepare")
        for name in names:
            stack.prepared[name] = pool.submit(resources[name].make, stack.endpoints[name], cls)
            stack.callback(_undo_unclaimed, stack, name, resources[name].undo)
        pool.shutdown(wait=False)  # its threads end with their one task each

    @classmethod
    def _harness_resource(cls, stack: ExitStack, service: str) -> tuple[Endpoint, Any]:
        """``service``'s endpoint and the class's resource on it (:meth:`_harness_resources`), undone with ``stack``."""
        endpoint = cls._harness_endpoint(stack, service)
        assert isinstance(stack, _OpenStep)  # checked by _harness_endpoint
        resource = cls._harness_resources()[service]
        future = stack.prepared.pop(service, None)
        value = future.result() if future is not None else resource.make(endpoint, cls)
        stack.callback(resource.undo, value)
        return endpoint, value

    # -- what subclasses implement ----------------------------------------------------------

    @classmethod
    def _harness_setup_class(cls, stack: ExitStack) -> None:
        """Start class-wide resources, pushing each one's undo onto ``stack`` as it starts."""

    def _harness_setup_test(self, stack: ExitStack) -> None:
        """Start per-test resources, pushing each one's undo onto ``stack`` as it starts."""

    def _harness_failure_hint(self) -> str:
        """A line to print when the test failed (e.g. how to replay its data)."""
        return ""

    def _harness_test_id(self) -> str:
        """``module.Class.method`` of the running test, under either runner (it seeds Faker for the test)."""
        method = getattr(self, "_testMethodName", None) or getattr(self, "_harness_method_name", "")
        return f"{type(self).__module__}.{type(self).__qualname__}.{method}"

    # -- the guarded steps -------------------------------------------------------------------

    @classmethod
    def _harness_class_step(cls) -> _OpenStep | None:
        return cast("_OpenStep | None", cls.__dict__.get(_CLASS_STACK))

    def _harness_test_step(self) -> _OpenStep | None:
        return cast("_OpenStep | None", self.__dict__.get(_TEST_STACK))

    @classmethod
    @_redacting
    def _harness_enter_class(cls) -> None:
        if _CLASS_STACK in cls.__dict__:
            return
        cls._harness_check_settings()
        stack = _open_stack()
        stack.settings = cls._harness_setting_values()
        setattr(cls, _CLASS_STACK, stack)  # set first: a re-entrant call must not start twice
        try:
            cls._harness_setup_class(stack)
        except BaseException:
            delattr(cls, _CLASS_STACK)
            _close_stack(stack)
            raise
        stack.given = dict(cls.__dict__)
        if issubclass(cls, unittest.TestCase):
            # After tearDownClass and teardown_class, under unittest and under pytest alike.
            cls.addClassCleanup(cls._harness_exit_class)

    @classmethod
    @_redacting
    def _harness_exit_class(cls) -> None:
        stack = cls.__dict__.get(_CLASS_STACK)
        if stack is None:
            return
        delattr(cls, _CLASS_STACK)
        _close_stack(stack)

    @_redacting
    def _harness_enter_test(self) -> None:
        if self.__dict__.get(_TEST_STACK) is not None:
            return
        # A runner skipped class setup (a TestCase run on its own, outside a suite): do it now.
        type(self)._harness_enter_class()
        stack = _open_stack()
        self.__dict__[_TEST_STACK] = stack
        try:
            self._harness_setup_test(stack)
        except BaseException:
            del self.__dict__[_TEST_STACK]
            _close_stack(stack)
            raise

    @_redacting
    def _harness_exit_test(self) -> None:
        stack = self.__dict__.pop(_TEST_STACK, None)
        if stack is not None:
            _close_stack(stack)

    # -- the runners' entry points (wrapped by wrap_hooks, below the class) -------------------------
    # Each is where a subclass's ``super()`` call ends; their outermost calls run harness's steps.

    @classmethod
    def setup_class(cls) -> None:
        """pytest's class setup; under unittest it runs right after setUpClass."""

    @classmethod
    def teardown_class(cls) -> None:
        """pytest's class teardown; under unittest it runs first thing in tearDownClass."""

    def setup_method(self, method: Any = None) -> None:
        """pytest's test setup; under unittest it runs before setUp."""

    def teardown_method(self, method: Any = None) -> None:
        """pytest's test teardown; under unittest it runs after tearDown and the test's cleanups."""

    @classmethod
    def setUpClass(cls) -> None:  # noqa: N802 - unittest's name
        parent = getattr(super(), "setUpClass", None)
        if parent is not None:
            parent()
        cls._harness_enter_class()

    @classmethod
    def tearDownClass(cls) -> None:  # noqa: N802 - unittest's name
        parent = getattr(super(), "tearDownClass", None)
        if parent is not None:
            parent()

    def _callSetUp(self) -> None:  # noqa: N802 - unittest's internal step, stable since Python 3.8
        """Inside unittest's own setUp step: set up first, and tear down after every other cleanup."""
        if isinstance(self, unittest.TestCase) and self._harness_test_step() is None:
            # Not set up yet, so this runner does not call setup_method and teardown_method (pytest does): call
            # them here. Cleanups run last-in first-out: these two run after every other, harness's own last.
            method = getattr(self, self._testMethodName)
            self.setup_method(method)
            self.addCleanup(self._harness_exit_test)
            self.addCleanup(self.teardown_method, method)
        parent = getattr(super(), "_callSetUp", None)
        if parent is not None:
            parent()

    def __call__(self, result: Any = None) -> Any:
        """unittest runs a test by calling it; a failure's report gets a line on replaying its data."""
        if not isinstance(self, unittest.TestCase):
            raise TypeError(f"{type(self).__name__} instances are not callable")
        reports = _report_lists(result)
        before = [len(report) for report in reports]
        outcome = unittest.TestCase.__call__(self, result)
        hint = self._harness_failure_hint()
        for report, start in zip(reports, before, strict=True):
            for index in range(start, len(report)):
                test, text = report[index]
                if test is self and hint:
                    report[index] = (test, f"{text}\n{hint}\n")
        # Everything reported so far (a class setup's error too), before the runner prints it.
        for report in _report_lists(result, ("failures", "errors", "skipped", "expectedFailures")):
            report[:] = [(test, redact(text) if isinstance(text, str) else text) for test, text in report]
        return outcome


wrap_hooks(HarnessLifecycle)


def forget_class_attributes(cls: type, names: tuple[str, ...]) -> None:
    """Delete what a class setup set on ``cls`` itself (never an inherited attribute)."""
    for name in names:
        if name in cls.__dict__:
            delattr(cls, name)


def _report_lists(result: Any, names: tuple[str, ...] = ("failures", "errors")) -> list[list[Any]]:
    """A unittest result's report lists (none for pytest's adapter, which reports itself)."""
    lists = [getattr(result, name, None) for name in names]
    return [report for report in lists if isinstance(report, list)]

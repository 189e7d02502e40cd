"""A subclass's xunit hooks, each run once and in pytest's order, under pytest and under ``python -m unittest``.

For a unittest.TestCase pytest calls ``setUpClass``, ``setup_class``, then per test
``setup_method``, ``setUp``, the test, ``tearDown``, the test's cleanups,
``teardown_method``, and last ``teardown_class``, ``tearDownClass`` and the class
cleanups. ``python -m unittest`` knows only the unittest names, so harness calls the
pytest ones from them: ``setup_class`` right after the outermost ``setUpClass``,
``teardown_class`` first thing in ``tearDownClass``, ``setup_method`` before ``setUp``
and ``teardown_method`` after the test's cleanups (see HarnessLifecycle._callSetUp).
A hook that a runner calls again after harness already ran it in the same class or
test is skipped, so each runs exactly once.

Every override of these hooks is wrapped when its class is created (``wrap_hooks``,
from ``HarnessLifecycle.__init_subclass__``). Only the outermost call of a hook does the
above; the ``super()`` calls inside it run the parents' bodies as written. Whether or
not an override of the four pytest hooks calls ``super()``, harness's own class and test
steps run before its body and are undone after it: first in, last out. (``setUpClass``
sets the class up where it calls ``super()``, or, if it does not, right after it.)
"""

from __future__ import annotations

import functools
import unittest
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FunctionType
from typing import Any

__all__ = ["CLASS_HOOKS", "TEST_HOOKS", "wrap_hooks"]

CLASS_HOOKS = ("setUpClass", "setup_class", "teardown_class", "tearDownClass")
TEST_HOOKS = ("setup_method", "teardown_method")

_running: set[tuple[int, str]] = set()
"""(id of the class or test, hook name) of every hook whose outermost call is under way."""


@contextmanager
def _outermost(owner: object, name: str) -> Iterator[bool]:
    """Yields whether this is the outermost call of ``name`` on ``owner`` (False: a ``super()`` call inside it)."""
    key = (id(owner), name)
    if key in _running:
        yield False
        return
    _running.add(key)
    try:
        yield True
    finally:
        _running.discard(key)


def _bind(hook: Any, owner: Any, cls: type) -> Callable[..., Any]:
    """``hook`` as defined in a class body (a function, classmethod or staticmethod), bound as Python would."""
    return hook.__get__(owner if isinstance(hook, FunctionType) else None, cls)


def _call_with_optional_argument(function: Callable[..., Any], argument: Any) -> None:
    """``function(argument)``, or ``function()`` for a hook written without the argument (as pytest calls them)."""
    code = getattr(function, "__code__", None)
    count = code.co_argcount - (1 if hasattr(function, "__self__") else 0) if code is not None else 1
    if count:
        function(argument)
    else:
        function()


# -- what the outermost call of each hook does --------------------------------------------------
# ``body`` runs the hook as the class wrote it (which runs its parents' through super()).


def _set_up_class(cls: Any, body: Callable[[], None]) -> None:
    body()
    try:
        cls._harness_after_class_hook("setUpClass")
        cls.setup_class()
    except BaseException:
        cls._harness_exit_class()  # tearDownClass never runs after a failed setUpClass
        raise


def _once_as_setup(step: Any, name: str, body: Callable[[], None], undo: Callable[[], None]) -> None:
    """``body`` unless ``step`` ran hook ``name`` already; ``undo()`` the step if it fails (no teardown follows)."""
    if name in step.hooks_run:
        return
    step.hooks_run.add(name)
    try:
        body()
    except BaseException:
        undo()
        raise


def _once_as_teardown(step: Any, name: str, body: Callable[[], None], then: Callable[[], None]) -> None:
    """``body`` then ``then()``, unless ``step`` is not open (as pytest: no teardown without a setup) or ran it."""
    if step is None or name in step.hooks_run:
        return
    step.hooks_run.add(name)
    try:
        body()
    finally:
        then()


def _setup_class(cls: Any, body: Callable[[], None]) -> None:
    def run() -> None:
        body()
        cls._harness_after_class_hook("setup_class")

    cls._harness_enter_class()
    _once_as_setup(cls._harness_class_step(), "setup_class", run, cls._harness_exit_class)


def _teardown_class(cls: Any, body: Callable[[], None]) -> None:
    # A TestCase's class step is undone by a class cleanup, after tearDownClass.
    then = (lambda: None) if issubclass(cls, unittest.TestCase) else cls._harness_exit_class
    _once_as_teardown(cls._harness_class_step(), "teardown_class", body, then)


def _tear_down_class(cls: Any, body: Callable[[], None]) -> None:
    try:
        cls.teardown_class()
    finally:
        body()


def _setup_method(test: Any, body: Callable[[Any], None], method: Any) -> None:
    if method is not None:
        test._harness_method_name = method.__name__  # unittest has _testMethodName; a pytest class has this
    test._harness_enter_test()
    _once_as_setup(test._harness_test_step(), "setup_method", lambda: body(method), test._harness_exit_test)


def _teardown_method(test: Any, body: Callable[[Any], None], method: Any) -> None:
    _once_as_teardown(test._harness_test_step(), "teardown_method", lambda: body(method), test._harness_exit_test)


_CLASS_STEPS: dict[str, Callable[[Any, Callable[[], None]], None]] = {
    "setUpClass": _set_up_class,
    "setup_class": _setup_class,
    "teardown_class": _teardown_class,
    "tearDownClass": _tear_down_class,
}
_TEST_STEPS: dict[str, Callable[[Any, Callable[[Any], None], Any], None]] = {
    "setup_method": _setup_method,
    "teardown_method": _teardown_method,
}


def _wrap_class_hook(name: str, hook: Any) -> classmethod[Any, [], None]:
    step = _CLASS_STEPS[name]

    def run(cls: type) -> None:
        body = _bind(hook, cls, cls)
        with _outermost(cls, name) as outermost:
            if outermost:
                step(cls, body)
            else:
                body()

    run.__harness_hook__ = True  # type: ignore[attr-defined]
    return classmethod(functools.wraps(getattr(hook, "__func__", hook))(run))


def _wrap_test_hook(name: str, hook: Any) -> Callable[..., None]:
    step = _TEST_STEPS[name]

    def run(self: Any, method: Any = None) -> None:
        bound = _bind(hook, self, type(self))
        with _outermost(self, name) as outermost:
            if outermost:
                step(self, lambda argument: _call_with_optional_argument(bound, argument), method)
            else:
                _call_with_optional_argument(bound, method)

    run.__harness_hook__ = True  # type: ignore[attr-defined]
    return functools.wraps(getattr(hook, "__func__", hook))(run)


def wrap_hooks(cls: type) -> None:
    """Wrap the xunit hooks ``cls`` gets from its own body or a plain mixin (see the module's docstring)."""
    for name in (*CLASS_HOOKS, *TEST_HOOKS):
        hook = next((klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__), None)
        if hook is None or getattr(getattr(hook, "__func__", hook), "__harness_hook__", False):
            continue
        wrapped: Any = _wrap_class_hook(name, hook) if name in CLASS_HOOKS else _wrap_test_hook(name, hook)
        setattr(cls, name, wrapped)

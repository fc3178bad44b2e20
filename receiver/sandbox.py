"""The Jinja2 sandbox status-update templates render in, and its resource limits.

Templates are operator configuration (``<rules>/templates/*.j2``). Alert content
reaches them only as *data* in the context, never as template source, so a label
value of ``{{ 7*7 }}`` prints as written. ``ImmutableSandboxedEnvironment`` keeps a
template away from Python internals (``''.__class__`` raises ``SecurityError``
under ``StrictUndefined``) and from mutating its context (``list.append``,
``dict.update``). There is no loader: ``include``, ``import`` and ``extends`` fail.

Jinja's sandbox bounds neither memory nor CPU (its ``range`` allows 100,000
items, a process-wide constant, ``jinja2.sandbox.MAX_RANGE``, left untouched
here), so ``Sandbox`` adds per-render limits, all through the sandbox's
documented hooks (``globals``, ``filters``, ``intercepted_binops`` and
``call_binop``, ``getattr``/``getitem``, ``call``, ``wrap_str_format``), each
failing with ``SecurityError``:

========================  ==================================================
operations                ``MAX_STEPS`` per render: attribute and item
                          lookups, calls, filters and operators (a call or
                          filter also pays the length of a list or dict it
                          takes), output chunks, and every loop iteration
time                      ``MAX_SECONDS`` of wall-clock time, checked at
                          each operation (a backstop: steps come first)
``range()``               ``MAX_RANGE`` items per call
strings                   ``MAX_VALUE`` characters for any string a template
                          reads, passes to a call, or builds with ``*``,
                          ``replace`` or padding; lists built with ``*``:
                          ``MAX_RANGE`` items
``**``                    exponent at most 100
``%`` and ``format``      no ``*`` and no width or precision over
                          ``MAX_VALUE``; ``str.format`` is refused
separators                ``join``, ``indent``, ``wordwrap``: at most
                          ``MAX_SEPARATOR`` characters (``indent`` width too)
``lipsum``                removed
========================  ==================================================

Loop iterations are counted by wrapping each ``{% for %}``'s iterable in a
counting filter when the template is parsed (``Sandbox.parse``), so even empty
nested loops run into the limit. What one operation does inside Python (``x in
a_list``, ``sort``) is bounded by the sizes above and by the incident's own
alerts and timeline, and the deadline is checked between operations.

Docs: https://jinja.palletsprojects.com/en/stable/sandbox/ (the sandbox,
``SecurityError``, operator intercepting) and
https://jinja.palletsprojects.com/en/stable/api/#undefined-types (``StrictUndefined``).
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_STEPS = 100_000
MAX_SECONDS = 2.0
MAX_RANGE = 1_000
MAX_VALUE = 20_000
MAX_EXPONENT = 100
MAX_SEPARATOR = 100

# filter -> (largest int argument, longest str argument); the value itself is not checked
_FILTER_ARGS: dict[str, tuple[int, int]] = {
    "center": (MAX_VALUE, MAX_VALUE),
    "truncate": (MAX_VALUE, MAX_VALUE),
    "wordwrap": (MAX_VALUE, MAX_SEPARATOR),
    "indent": (MAX_SEPARATOR, MAX_SEPARATOR),
    "join": (MAX_VALUE, MAX_SEPARATOR),
    "batch": (MAX_RANGE, MAX_VALUE),
    "slice": (MAX_RANGE, MAX_VALUE),
}
_PADDING = {"center": MAX_VALUE, "ljust": MAX_VALUE, "rjust": MAX_VALUE, "zfill": MAX_VALUE}
_CONTAINERS = (list, tuple, dict, set, frozenset, range)
_LOOP_FILTER = "loop_items"
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _cost(values: Iterable[Any]) -> int:
    """One operation, plus the length of each list or dict it is handed."""
    return 1 + sum(len(v) for v in values if isinstance(v, _CONTAINERS))


def _check_size(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE:
        raise SecurityError(f"a string over {MAX_VALUE} characters")
    if isinstance(value, list | tuple) and len(value) > MAX_RANGE:
        raise SecurityError(f"a list over {MAX_RANGE} items")
    return value


def _check_printf(fmt: str) -> None:
    for match in _PRINTF_SPEC.finditer(fmt):
        for number in match.groups():
            if number == "*" or (number is not None and int(number) > MAX_VALUE):
                raise SecurityError(f"a % format width or precision over {MAX_VALUE}")


def _check_replace(text: str, old: str, new: str) -> None:
    grows = (len(text) + 1 if old == "" else text.count(old)) * len(new)
    if len(text) + grows > MAX_VALUE:
        raise SecurityError(f"replace would make a string over {MAX_VALUE} characters")


def _check_repeat(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            limit = MAX_VALUE if isinstance(seq, str) else MAX_RANGE
            if len(seq) * times > limit:
                raise SecurityError(f"* would make a {type(seq).__name__} over {limit} long")


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Check a filter's arguments (``args[0]`` is the filtered value)."""
    if name == "format" and args and isinstance(args[0], str):
        _check_printf(args[0])
    if name == "replace" and len(args) >= 3 and all(isinstance(a, str) for a in args[:3]):
        _check_replace(args[0], args[1], args[2])
    largest, longest = _FILTER_ARGS.get(name, (None, None))
    if largest is None or longest is None:
        return
    for value in (*args[1:], *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > largest:
            raise SecurityError(f"{name}: argument {value} over {largest}")
        if isinstance(value, str) and len(value) > longest:
            raise SecurityError(f"{name}: a string argument over {longest} characters")


def _check_method(obj: Any, args: tuple[Any, ...]) -> None:
    """Check a call of a ``str`` method that can grow a string."""
    if not isinstance(obj, types.BuiltinMethodType) or not isinstance(obj.__self__, str):
        return
    text, name = obj.__self__, obj.__name__
    if name in _PADDING and args and isinstance(args[0], int) and args[0] > _PADDING[name]:
        raise SecurityError(f"str.{name}: width {args[0]} over {_PADDING[name]}")
    if name == "expandtabs" and args and isinstance(args[0], int) and args[0] > MAX_SEPARATOR:
        raise SecurityError(f"str.expandtabs: tab size over {MAX_SEPARATOR}")
    if name == "join" and len(text) > MAX_SEPARATOR:
        raise SecurityError(f"str.join: a separator over {MAX_SEPARATOR} characters")
    if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        _check_replace(text, args[0], args[1])
    if name in ("translate", "maketrans"):
        raise SecurityError(f"str.{name} is not available in update templates")


class Sandbox(ImmutableSandboxedEnvironment):
    """One render's environment: the sandbox plus the limits above.

    Build one per render: it counts that render's operations and its clock
    starts when it is built. Compile from ``parse(source)`` (which adds the loop
    counting) rather than from the source text.
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, seconds: float = MAX_SECONDS) -> None:
        super().__init__(
            autoescape=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=0,
        )
        self.steps = 0
        self._seconds = seconds
        self._deadline = time.monotonic() + seconds
        self.globals["range"] = self._range
        self.globals.pop("lipsum", None)
        self.filters = {name: self._filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = self._loop_items

    def step(self, count: int = 1) -> None:
        """Count ``count`` operations; refuse past ``MAX_STEPS`` or the deadline."""
        self.steps += count
        if self.steps > MAX_STEPS:
            raise SecurityError(f"over {MAX_STEPS} template operations")
        if time.monotonic() > self._deadline:
            raise SecurityError(f"rendering took over {self._seconds:g}s")

    def parse(
        self, source: str, name: str | None = None, filename: str | None = None
    ) -> nodes.Template:
        """Parse ``source``, making every ``{% for %}`` count its iterations."""
        tree = super().parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None)
            loop.iter.set_lineno(loop.lineno)
        return tree

    def _loop_items(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            self.step()
            yield item

    def _range(self, *args: int) -> range:
        items = range(*args)
        if len(items) > MAX_RANGE:
            raise SecurityError(f"range over {MAX_RANGE} items")
        return items

    def _filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        pass_arg = getattr(func, "jinja_pass_arg", None)

        @wraps(func)  # keeps jinja_pass_arg: context/environment arguments come first
        def bounded(*args: Any, **kwargs: Any) -> Any:
            own = args[1:] if pass_arg is not None else args
            self.step(_cost((*own, *kwargs.values())))
            _check_filter(name, own, kwargs)
            return func(*args, **kwargs)

        return bounded

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.step()
        return _check_size(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.step()
        return _check_size(super().getitem(obj, argument))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.step(_cost((*args, *kwargs.values())))
        for value in (*args, *kwargs.values()):
            _check_size(value)
        _check_method(obj, args)
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.step()
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"an exponent over {MAX_EXPONENT}")
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args: Any, **kwargs: Any) -> str:
            raise SecurityError("str.format is not available in update templates: use ~ or |format")

        return refused

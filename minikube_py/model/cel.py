"""The Common Expression Language as Kubernetes offers it to CRD validation rules, admission policies
and match conditions: compiling, a bound on what one evaluation may cost, and evaluating.

Expressions run on cel-expr-python, the Python binding of the CEL project's own C++ runtime, with
the extension libraries Kubernetes enables (strings, optionals, math, base64) and, written here,
those of Kubernetes' own CEL library that rules use on lists and regular expressions (``isSorted``,
``sum``, ``min``, ``max``, ``find``, ``findAll``). Each kind of expression has its variables
(:data:`RULE_VARIABLES`, :data:`ADMISSION_VARIABLES`), dynamically typed, so a call the
library does not declare (``self.foo()``) fails at compile time as in kube-apiserver, while type
mismatches of values show when the rule runs.

kube-apiserver bounds a rule's cost twice: at write time from the schema's ``maxItems``/``maxLength``
and at run time by counting operations. The runtime here counts nothing, so :func:`estimated_cost`
bounds an evaluation before it starts: the values' collection sizes to the power of the rule's
deepest nesting of comprehensions (``all``, ``exists``, ``map``...), which is what makes a rule
expensive. A rule over a value too large for it is refused without running.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

#: kube-apiserver's limit on one evaluation (``PerCallLimit``) and on one request's rules together
#: (``RuntimeCELCostBudget``), in this module's estimated units
PER_CALL_LIMIT = 1_000_000
REQUEST_BUDGET = 10_000_000
#: why an expression too costly for its values did not run (kube-apiserver's words)
COST_EXCEEDED = "operation cancelled: actual cost limit exceeded"
#: the macros that loop over a list or map
_COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_TOKENS = re.compile(
    r"""(?P<string>[rRbB]{0,2}(?:'''(?:.|\n)*?'''|\"\"\"(?:.|\n)*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))"""
    r"|(?P<macro>\.\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\()"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<open>\()|(?P<close>\))"
)


class CelError(Exception):
    """A rule that does not compile, or an evaluation that failed; the text is the runtime's."""


def _tokens(expression: str) -> Iterator[re.Match[str]]:
    return _TOKENS.finditer(expression)


@functools.lru_cache(maxsize=1024)
def comprehension_depth(expression: str) -> int:
    """How deeply the expression nests comprehension macros (string literals aside)."""
    stack: list[bool] = []  # per open parenthesis: whether it opened a comprehension
    depth = deepest = 0
    for token in _tokens(expression):
        if token["macro"]:
            looping = token["name"] in _COMPREHENSIONS
            stack.append(looping)
            depth += looping
            deepest = max(deepest, depth)
        elif token["open"]:
            stack.append(False)
        elif token["close"] and stack:
            depth -= stack.pop()
    return deepest


@functools.lru_cache(maxsize=1024)
def references(expression: str, name: str) -> bool:
    """Whether the expression names the variable ``name`` (outside string literals)."""
    return any(token["ident"] == name for token in _tokens(expression))


def collection_size(value: Any) -> int:
    """The elements of every list and map within ``value``: what comprehensions may iterate."""
    if isinstance(value, dict):
        return len(value) + sum(collection_size(v) for v in value.values())
    if isinstance(value, list):
        return len(value) + sum(collection_size(v) for v in value)
    return 0


def estimated_cost(expression: str, size: int) -> int:
    """An upper bound of the work one evaluation does over values of :func:`collection_size` ``size``."""
    return (1 + size) ** max(comprehension_depth(expression), 1)


# ------------------------------------------------------------------------------ Kubernetes' library


def _comparable(values: list[Any]) -> list[Any]:
    if any(isinstance(v, (dict, list, bool)) for v in values):
        raise CelError("no such overload")
    return values


def _find(text: str, pattern: str) -> str:
    found = _regex(pattern).search(text)
    return found.group(0) if found else ""


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    found = [m.group(0) for m in _regex(pattern).finditer(text)]
    return found if limit < 0 else found[:limit]


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise CelError(f"invalid regular expression: {exc}") from None


#: (name, overload id, argument types as ``cel.Type`` attribute names, result type, implementation)
_LIBRARY: tuple[tuple[str, str, tuple[str, ...], str, Callable[..., Any]], ...] = (
    ("isSorted", "list_is_sorted", ("LIST",), "BOOL", lambda xs: _comparable(list(xs)) == sorted(xs)),
    ("sum", "list_sum", ("LIST",), "DYN", lambda xs: sum(_comparable(list(xs)))),
    ("min", "list_min", ("LIST",), "DYN", lambda xs: min(_comparable(list(xs)))),
    ("max", "list_max", ("LIST",), "DYN", lambda xs: max(_comparable(list(xs)))),
    ("find", "string_find", ("STRING", "STRING"), "STRING", _find),
    ("findAll", "string_find_all", ("STRING", "STRING"), "LIST", _find_all),
    ("findAll", "string_find_all_n", ("STRING", "STRING", "INT"), "LIST", _find_all),
)


#: the variables of each kind of expression: a CRD's validation rules, and admission's (validating
#: admission policies, webhooks' match conditions)
RULE_VARIABLES = ("self", "oldSelf", "__oldValue__", "__hasOldValue__")
ADMISSION_VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables")
#: the variables that carry the old value into a rule whose ``oldSelf`` is an optional
OLD_VALUE, HAS_OLD = RULE_VARIABLES[2:]


@functools.cache
def _environment(variables: tuple[str, ...]) -> Any:
    """The compiling environment of expressions over ``variables`` (of any type): the extensions and
    Kubernetes' library."""
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

    def type_of(name: str) -> Any:
        return cel.Type.List(cel.Type.DYN) if name == "LIST" else getattr(cel.Type, name)

    overloads: dict[str, list[Any]] = {}
    for name, overload, arguments, result, impl in _LIBRARY:
        overloads.setdefault(name, []).append(
            cel.Overload(overload, type_of(result), [type_of(a) for a in arguments], is_member=True, impl=impl)
        )
    return cel.NewEnv(
        variables={name: cel.Type.BOOL if name == HAS_OLD else cel.Type.DYN for name in variables},
        extensions=[
            ext_strings.ExtStrings(),
            ext_optional.ExtOptional(),
            ext_math.ExtMath(),
            ext_encoders.ExtEncoders(),
            ext_bindings.ExtBindings(),
        ],
        functions=[cel.FunctionDecl(name, decls) for name, decls in overloads.items()],
    )


def with_optional_old_self(rule: str) -> str:
    """``rule`` with ``oldSelf`` an optional (a CRD rule's ``optionalOldSelf: true``): of the old
    value on an update that has one, none otherwise, so that the rule can run on creates too."""
    return f"cel.bind(oldSelf, {HAS_OLD} ? optional.of({OLD_VALUE}) : optional.none(), ({rule}))"


@functools.lru_cache(maxsize=1024)
def compiled(expression: str, variables: tuple[str, ...] = RULE_VARIABLES) -> Any:
    """The compiled expression over ``variables`` (cached: a CRD's rules and a policy's validations
    run on every write they concern)."""
    try:
        return _environment(variables).compile(expression)
    except RuntimeError as exc:
        raise CelError(str(exc).removeprefix("INVALID_ARGUMENT: ").removesuffix(" [INVALID_ARGUMENT]")) from None


def result_type(expression: str, variables: tuple[str, ...] = RULE_VARIABLES) -> str:
    """The type the expression evaluates to, as the checker sees it (``bool``, ``string``, ``dyn``)."""
    return str(compiled(expression, variables).return_type()).lower()


def bind(values: dict[str, Any], variables: tuple[str, ...] = RULE_VARIABLES) -> Any:
    """The values converted to CEL values once, for several expressions over the same values."""
    return _environment(variables).Activation(data=values)


def evaluate(
    expression: str, values: dict[str, Any] | Any, variables: tuple[str, ...] = RULE_VARIABLES, *, size: int = 0
) -> Any:
    """The value of ``expression`` with ``values`` (a dict, or what :func:`bind` made of one)
    bound; a failure raises :class:`CelError` with the runtime's message (``Key not found in map :
    "x"``). ``size``, the :func:`collection_size` of the values, refuses an expression whose
    :func:`estimated_cost` over them passes :data:`PER_CALL_LIMIT` before it runs."""
    if size and estimated_cost(expression, size) > PER_CALL_LIMIT:
        raise CelError(COST_EXCEEDED)
    try:
        program = compiled(expression, variables)
        bound = {"data": values} if isinstance(values, dict) else {"activation": values}
        value = program.eval(**bound)
    except CelError:
        raise
    except Exception as exc:  # a library function's own failure surfaces as the binding's error
        raise CelError(str(exc)) from None
    kind = str(value.type())
    try:
        if kind == "ERROR":
            raise CelError(_error_text(str(value.value())))
        return value.plain_value()
    except (TypeError, ValueError, AssertionError):  # a result with no Python form (an optional, a type)
        raise CelError(f"the result, of type {kind.lower()}, has no value to use") from None


def _error_text(text: str) -> str:
    """The runtime's message without its status-code prefix (``NOT_FOUND: ``)."""
    head, sep, rest = text.partition(": ")
    return rest if (sep and head.isupper() and "_" in head) or head in ("UNKNOWN", "INTERNAL") else text

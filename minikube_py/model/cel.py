"""The Common Expression Language as Kubernetes offers it to CRD validation rules, admission policies
and match conditions: compiling, a bound on what one evaluation may cost, and evaluating.

Expressions run on cel-expr-python, the Python binding of the CEL project's own C++ runtime, with
the extension libraries Kubernetes enables (strings, optionals, math, base64, bindings). Each kind of
expression has its variables (:data:`RULE_VARIABLES`, :data:`ADMISSION_VARIABLES`), dynamically
typed, so a call the environment does not declare (``self.foo()``) fails at compile time as in
kube-apiserver, while type mismatches of values show when the rule runs.

The binding (0.1.3) mishandles Python objects, measured here: it releases references to ``None`` it
never took when a ``null`` result (or one inside a list or map) is converted to Python, and now and
then when ``None`` is among the values it takes in, which ends the process once ``None``'s count
reaches zero; and it leaks what Python functions registered with it take and return. So ``None``
never goes in (:func:`bind`), only scalar results (bool, int, double, string) come out, and no
Python function is registered: Kubernetes' own CEL library (``isSorted``,
``quantity``, ``url``, ``ip``, ``cidr``...) is not offered, and an expression naming it does not
compile.

kube-apiserver bounds a rule's cost twice: at write time from the schema's ``maxItems``/``maxLength``
and at run time by counting operations. The runtime here counts nothing, so :func:`estimated_cost`
bounds an evaluation before it starts: the values' collection sizes to the power of the rule's
deepest nesting of comprehensions (``all``, ``exists``, ``map``...), which is what makes a rule
expensive. A rule over a value too large for it is refused without running.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: kube-apiserver's limit on one evaluation (``PerCallLimit``) and on one request's rules together
#: (``RuntimeCELCostBudget``), in this module's estimated units
PER_CALL_LIMIT = 1_000_000
REQUEST_BUDGET = 10_000_000
#: the result types converted to Python
_SCALARS = frozenset({"BOOL", "INT", "UINT", "DOUBLE", "STRING"})
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


#: the variables of each kind of expression: a CRD's validation rules, and admission's (validating
#: admission policies, webhooks' match conditions)
RULE_VARIABLES = ("self", "oldSelf", "__oldValue__", "__hasOldValue__")
ADMISSION_VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables")
#: the variables that carry the old value into a rule whose ``oldSelf`` is an optional
OLD_VALUE, HAS_OLD = RULE_VARIABLES[2:]


@functools.cache
def _environment(variables: tuple[str, ...]) -> Any:
    """The compiling environment of expressions over ``variables`` (of any type), with the extensions."""
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

    return cel.NewEnv(
        variables={name: cel.Type.BOOL if name == HAS_OLD else cel.Type.DYN for name in variables},
        extensions=[
            ext_strings.ExtStrings(),
            ext_optional.ExtOptional(),
            ext_math.ExtMath(),
            ext_encoders.ExtEncoders(),
            ext_bindings.ExtBindings(),
        ],
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


@dataclass(frozen=True)
class Bound:
    """Values converted to CEL once, for several expressions over them (:func:`bind`). Nulls never
    reach the binding (see the module's note): a variable that is null is bound to CEL's own
    ``null`` inside the expression, and null fields and items are left out, as absent."""

    activation: Any
    nulls: tuple[str, ...]


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def bind(values: dict[str, Any], variables: tuple[str, ...] = RULE_VARIABLES) -> Bound:
    """The values converted to CEL values once, for several expressions over the same values."""
    present = {name: _without_nulls(value) for name, value in values.items() if value is not None}
    nulls = tuple(sorted(name for name, value in values.items() if value is None))
    return Bound(_environment(variables).Activation(data=present), nulls)


def evaluate(
    expression: str, values: dict[str, Any] | Bound, variables: tuple[str, ...] = RULE_VARIABLES, *, size: int = 0
) -> Any:
    """The value of ``expression`` with ``values`` (a dict, or what :func:`bind` made of one)
    bound; a failure raises :class:`CelError` with the runtime's message (``Key not found in map :
    "x"``). ``size``, the :func:`collection_size` of the values, refuses an expression whose
    :func:`estimated_cost` over them passes :data:`PER_CALL_LIMIT` before it runs."""
    if size and estimated_cost(expression, size) > PER_CALL_LIMIT:
        raise CelError(COST_EXCEEDED)
    bound = bind(values, variables) if isinstance(values, dict) else values
    for name in bound.nulls:
        expression = f"cel.bind({name}, null, ({expression}))"
    program = compiled(expression, variables)
    try:
        value = program.eval(activation=bound.activation)
    except Exception as exc:  # a value the binding cannot take in
        raise CelError(str(exc)) from None
    kind = str(value.type())
    if kind == "ERROR":
        try:
            text = str(value.value())
        except (TypeError, AssertionError):  # an error the binding cannot describe
            text = "evaluation failed"
        raise CelError(_error_text(text))
    if kind not in _SCALARS:  # never converted: see the module's note on nulls
        raise CelError(f"the result, of type {kind.lower()}, has no value to use")
    return value.value()


def message(
    expression: Any, values: dict[str, Any] | Bound, variables: tuple[str, ...] = RULE_VARIABLES, *, size: int = 0
) -> str | None:
    """What a ``messageExpression`` says: its text when it yields a non-blank string on one line;
    None otherwise, when kube-apiserver falls back to the static message."""
    if not isinstance(expression, str) or not expression:
        return None
    try:
        text = evaluate(expression, values, variables, size=size)
    except CelError:
        return None
    return text.strip() if isinstance(text, str) and text.strip() and "\n" not in text else None


def _error_text(text: str) -> str:
    """The runtime's message without its status-code prefix (``NOT_FOUND: ``)."""
    head, sep, rest = text.partition(": ")
    return rest if (sep and head.isupper() and "_" in head) or head in ("UNKNOWN", "INTERNAL") else text

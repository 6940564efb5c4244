"""No CEL expression a CRD may carry, over any value an object may hold, crashes the process that
evaluates it: random expressions built from every operator, macro and library function, run in a
child process so that a native crash fails this test instead of the test run."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

ATOMS = [
    "self", "oldSelf", "self.a", "self.s", "self.m", "1", "0", "-1", "2.5", "'x'", "'%s'", "b'ab'", "true",
    "null", "[1,2]", "{'a': 1}", "self.a[0]", "self.m['k']", "9223372036854775807", "1u", "duration('1h')",
    "timestamp('2024-01-01T00:00:00Z')", "optional.none()", "x", "'1Gi'", "'10.0.0.0/8'", "'https://h:1/p?q=1'",
    "quantity('500m')", "cidr('10.0.0.0/8')", "ip('::1')", "url('/p')",
]  # fmt: skip
OPERATORS = ["+", "-", "*", "/", "%", "==", "!=", "<", ">", "&&", "||", "in"]
CALLS = [
    ".size()", ".all(x, x > 0)", ".exists(x, x == 1)", ".map(x, x * 2)", ".filter(x, x > 1)", ".startsWith('a')",
    ".matches('a+')", ".lowerAscii()", ".split('a')", ".join(',')", ".format([1])", ".sum()", ".min()",
    ".isSorted()", ".find('a')", ".findAll('.')", ".orValue(1)", ".hasValue()", ".value()", ".charAt(100)",
    ".substring(3, 1)", ".indexOf('')", ".replace('', 'x')", ".reverse()", ".quote()", ".trim()",
    ".isLessThan(quantity('1'))", ".asInteger()", ".add(1)", ".getHost()", ".getQuery()", ".family()",
    ".containsIP('10.0.0.1')", ".containsCIDR(self.s)", ".masked()", ".prefixLength()", ".ip()",
]  # fmt: skip
FUNCTIONS = [
    "size", "int", "string", "double", "has", "type", "dyn", "math.greatest", "base64.decode", "bool", "bytes",
    "quantity", "isQuantity", "url", "isURL", "ip", "isIP", "cidr", "isCIDR",
]  # fmt: skip


def _expression(rnd: random.Random, depth: int = 0) -> str:
    roll = rnd.random()
    if depth > 3 or roll < 0.3:
        return rnd.choice(ATOMS)
    if roll < 0.55:
        return f"({_expression(rnd, depth + 1)} {rnd.choice(OPERATORS)} {_expression(rnd, depth + 1)})"
    if roll < 0.8:
        return _expression(rnd, depth + 1) + rnd.choice(CALLS)
    if roll < 0.9:
        return f"{_expression(rnd, depth + 1)} ? {_expression(rnd, depth + 1)} : {_expression(rnd, depth + 1)}"
    return f"{rnd.choice(FUNCTIONS)}({_expression(rnd, depth + 1)})"


CHILD = textwrap.dedent(
    """
    import json, sys
    from minikube_py.model import cel
    expressions = json.loads(sys.stdin.read())
    values = [
        {"a": [1, 2, 3], "s": "aaa", "m": {"k": 1}}, {"a": [], "s": "", "m": {}},
        {"a": [{"x": 1}, "s", None, 1.5], "s": "\\u00e9\\u0000", "m": {"k": [1]}}, [], 1, "s", None,
        {"a": [2**63 - 1], "s": "a" * 1000, "m": {"": None}},
    ]
    def run_all():
        for expression in expressions:
            try:
                cel.compiled(expression)
            except cel.CelError:
                continue
            for value in values:
                try:
                    cel.evaluate(expression, {"self": value, "oldSelf": value})
                except cel.CelError:
                    pass
    # The binding once released a reference to None for every null it converted, which ends a
    # process once the count reaches zero. A first pass warms the runtime up (it drops a few
    # hundred references once); a second, compiling everything again, must lose none.
    run_all()
    cel.compiled.cache_clear()
    nones = sys.getrefcount(None)
    run_all()
    lost = nones - sys.getrefcount(None)
    print("ok" if lost < 20 else f"None lost {lost} references")
    """
)


def test_random_expressions_compile_or_fail_and_evaluate_or_fail_cleanly() -> None:
    rnd = random.Random(20261207)
    expressions = [_expression(rnd) for _ in range(1500)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD], input=json.dumps(expressions), capture_output=True, text=True, timeout=240
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]

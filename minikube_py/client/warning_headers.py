"""Reading the ``Warning`` headers of the API's answers (RFC 7234, as kube-apiserver writes them):
``299 - "text"``, the text a quoted string with backslash escapes, a date possibly after it.

kubectl prints each warning of code 299 once per run, as ``Warning: <text>`` on stderr: deprecated
APIs, PodSecurity's findings, unknown fields, ComponentStatus. pykube's kubectl does the same.
"""

from __future__ import annotations

import re

_WARNING = re.compile(r'^\s*(\d{3}) (\S+) "((?:[^"\\]|\\.)*)"(?: "[^"]*")?\s*$')
_ESCAPE = re.compile(r"\\(.)")


def parse_warning(value: str) -> str | None:
    """The text of a code-299 warning (the only code kube-apiserver sends); None for any other
    code or a value that does not parse, which kubectl also passes over."""
    found = _WARNING.match(value)
    if found is None or found.group(1) != "299":
        return None
    return _ESCAPE.sub(r"\1", found.group(3))

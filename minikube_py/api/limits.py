"""Input limits as kube-apiserver's: how large, how deep and how expanded a request may make an object.

A request body is at most 3 MiB (checked before reading it), but a small body can still build a large
or pathological object: YAML aliases expand a 400-byte document to gigabytes, twenty JSON patch
``copy`` operations double an object twenty times, and a merge patch nests a field 248 levels deep.
So the limits are checked again where the expansion happens and on the object about to be stored:

- nesting depth (:data:`MAX_DEPTH`) right after every decoding and on every object written, because
  deeper values cannot be encoded once a list or a watch event wraps them (orjson stops at 255
  levels) and Python's recursive copying and merging would fail on them as a crash, not a 4xx;
- YAML alias expansion (:func:`load_yaml`): the expanded document may not be larger than a body
  could be, the CVE-2019-11253 fix in spirit;
- JSON patch ``copy``/``move`` growth: :data:`MAX_JSON_PATCH_COPY_BYTES`, kube-apiserver's
  ``JSONPatchMaxCopyBytes``;
- the stored object's encoded size (:data:`MAX_OBJECT_BYTES`, etcd's request limit that bounds a
  Kubernetes object) and that it encodes at all (:func:`encoded_size`), so nothing is stored that
  cannot be read back.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import yaml

from minikube_py.model import errors

#: kube-apiserver refuses request bodies over 3 MiB
MAX_BODY = 3 * 1024 * 1024
#: the longest request line (method, path, query) the server reads: Go's http server, and so
#: kube-apiserver, reads 1 MiB of request line and headers. aiohttp's default of 8 KiB refused the
#: path of an object whose name Kubernetes allows (an ownerReference's name is any string, and the
#: garbage collector GETs the owner by it) with a 400 that is no Status and a logged traceback
MAX_REQUEST_LINE = 1024 * 1024
#: etcd's default --max-request-bytes, which bounds one stored Kubernetes object
MAX_OBJECT_BYTES = 3 * 1024 * 1024 // 2
#: kube-apiserver's JSONPatchMaxCopyBytes: what ``copy`` operations of one patch may add in all
MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024
#: levels of maps and lists an object may have. No built-in kind comes near (a pod's deepest
#: fields are about 12 levels down, their managedFields about 20); the bound leaves room for the
#: levels a list, a Table row and a watch event add under orjson's limit of 255
MAX_DEPTH = 100


def too_deep(what: str) -> errors.StatusError:
    return errors.bad_request(f"{what} is nested too deeply: more than {MAX_DEPTH} levels of maps and lists")


_NESTED = (dict, list)


def _orjson_nesting_limit() -> int:
    """How many levels of lists orjson encodes before it refuses ("Recursion limit reached"): 254
    in every orjson so far, found out rather than assumed."""
    value: Any = 0
    for depth in range(1, 1025):
        value = [value]
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            return depth - 1
    return 1024


class _DepthProbe(threading.local):
    """``value`` at the bottom of (orjson's limit - :data:`MAX_DEPTH`) lists: orjson encodes that
    exactly when ``value`` is at most :data:`MAX_DEPTH` deep. One chain per thread, reused."""

    padding = _orjson_nesting_limit() - MAX_DEPTH

    def __init__(self) -> None:
        self.hole: list[Any] = [None]
        self.chain: list[Any] = self.hole
        for _ in range(self.padding - 1):
            self.chain = [self.chain]

    def shallow(self, value: Any) -> bool:
        """Whether ``value`` is certainly no deeper than :data:`MAX_DEPTH` (False: deeper, or not
        something orjson encodes, which the walk then judges)."""
        if self.padding < 1:
            return False
        self.hole[0] = value
        try:
            orjson.dumps(self.chain)
        except TypeError:  # orjson's JSONEncodeError is a TypeError
            return False
        finally:
            self.hole[0] = None
        return True


_PROBE = _DepthProbe()


def check_depth(value: Any, what: str = "the object") -> None:
    """400 when ``value`` has more than :data:`MAX_DEPTH` levels of maps and lists. This runs on
    every request body and every patched object, so the usual answer comes from orjson, in C:
    encoding ``value`` under enough lists to reach orjson's own nesting limit succeeds only when
    ``value`` is shallow enough (orjson counts every map and list, and a few types more, so it never
    passes a value the walk would refuse). Otherwise the walk decides, level by level (one list of
    the next level's containers), iteratively, so no value is too deep to be checked. For a pod
    with its managedFields the walk took 13 µs, the encoding 2."""
    if _PROBE.shallow(value):
        return
    level = [value] if isinstance(value, _NESTED) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise too_deep(what)
        deeper: list[Any] = []
        for node in level:
            deeper.extend([c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, _NESTED)])
        level = deeper


def check_decoded(value: Any, what: str = "the object") -> None:
    """:func:`check_depth`, and 400 unless ``value`` is JSON that can be encoded again: string keys,
    integers within 64 bits, text without lone surrogates. For values from YAML and protobuf, which
    decode to more than that (``{1: 2}``, huge integers, YAML's ``"\\ud800"``) that later code cannot
    compare or encode; orjson never produces such values (it reads an integer past 64 bits as a float
    and refuses a lone surrogate), so JSON bodies need only the depth."""
    check_depth(value, what)
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in node:
                if not isinstance(key, str):
                    raise errors.bad_request(f"{what} has a map key that is not a string: {key!r}")
                _check_text(key, what)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            _check_text(node, what)
        elif isinstance(node, int) and not isinstance(node, bool) and not -(2**63) <= node < 2**64:
            raise errors.bad_request(f"{what} has an integer out of the 64-bit range")


def _check_text(text: str, what: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise errors.bad_request(f"{what} has a string that is not valid Unicode (a lone surrogate)") from None


def encoded_size(obj: Any) -> int:
    """The size of ``obj`` as JSON; 400 when it cannot be encoded (a non-string key, an integer past
    64 bits), which YAML and protobuf bodies can produce where JSON cannot."""
    try:
        return len(orjson.dumps(obj))
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise errors.bad_request(f"the object cannot be encoded as JSON: {exc}") from None


def check_stored(obj: Any) -> None:
    """What every object must pass before it is written: encodable, and at most :data:`MAX_OBJECT_BYTES`
    encoded (413, as kube-apiserver answers an object etcd would refuse). Its depth was bounded where
    its parts were decoded and patched; orjson refuses what could still slip through (non-string keys,
    integers past 64 bits, more than 255 levels), so encoding it is the check."""
    size = encoded_size(obj)
    if size > MAX_OBJECT_BYTES:
        raise errors.StatusError(
            413,
            "RequestEntityTooLarge",
            f"Request entity too large: the object is {size} bytes, the limit is {MAX_OBJECT_BYTES}",
        )


# ------------------------------------------------------------------------------ YAML


def load_yaml(raw: bytes, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """One YAML document as Python values, refusing (400) a document whose aliases expand it beyond
    :data:`MAX_BODY` (scalar characters plus one per node, about its size as JSON) or that nests
    deeper than :data:`MAX_DEPTH`. The node graph is measured before any value is constructed, so a
    "billion laughs" document costs what its few hundred bytes cost."""
    instance = loader(raw)
    try:
        node = instance.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return instance.construct_document(node)
    except RecursionError:
        raise too_deep("the YAML document") from None
    finally:
        instance.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Expanded size of a composed YAML node graph, memoised per node so shared (aliased) nodes are
    measured once; a cycle (an alias inside its own anchor) is refused too."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            depths[key] = 1 + max((depths[id(c)] for c in children), default=0)
            if sizes[key] > MAX_BODY:
                raise errors.bad_request(
                    f"error decoding YAML: the document expands to more than {MAX_BODY} bytes (excessive aliasing)"
                )
            if depths[key] > MAX_DEPTH + 1:
                raise too_deep("the YAML document")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise errors.bad_request("error decoding YAML: an alias refers to a node that contains it")
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = len(node.value) + 1
            depths[key] = 0
            continue
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []

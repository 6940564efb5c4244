"""A LIST answered from the stored JSON texts (``Registry.list_json``) says exactly what decoding every
object and encoding it again said (``Registry.list``): same objects, kind and version, pages and
selectors, whether or not a stored text begins with its type."""

from __future__ import annotations

import orjson
import pytest

from minikube_py.api.allocators import ServiceAllocator
from minikube_py.api.registry import ListOptions, Registry
from minikube_py.model import errors
from minikube_py.model.kinds import by_plural
from minikube_py.model.selectors import parse_field_selector, parse_label_selector
from minikube_py.store.base import Create, Obj, Store
from minikube_py.store.plan import encode, typed_head

CONFIGMAPS = by_plural("", "v1", "configmaps")


def configmap(name: str, **labels: str) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "data": {"k": name},
        "kind": "ConfigMap",
        "apiVersion": "v1",
    }


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store, ServiceAllocator(store, "10.96.0.0/12", (30000, 32767)))


def test_the_store_writes_the_type_first_so_a_text_can_be_checked_by_its_head() -> None:
    text = encode(configmap("a"))
    assert text.startswith(typed_head("v1", "ConfigMap"))
    assert orjson.loads(text) == configmap("a")
    assert encode({"metadata": {"name": "x"}, "kind": "Thing"}) == '{"metadata":{"name":"x"},"kind":"Thing"}'


async def test_texts_match_the_decoded_listing_with_and_without_the_fast_path(store: Store, registry: Registry) -> None:
    await store.commit([Create("/core/configmaps/ns/a", configmap("a", app="x"))])
    # written before the type-first encoding (or by the server itself without a type): no usable head
    await store.commit(
        [
            Create(
                "/core/configmaps/ns/b",
                {"metadata": {"name": "b", "namespace": "ns", "labels": {"app": "y"}}, "data": {}},
            )
        ]
    )
    await store.commit([Create("/core/configmaps/ns/c", configmap("c", app="x"))])
    await store.commit([Create("/core/configmaps/other/d", configmap("d", app="x"))])
    for namespace in ("ns", None):
        texts = await registry.list_json(CONFIGMAPS, namespace)
        decoded = await registry.list(CONFIGMAPS, namespace)
        assert [orjson.loads(t) for t in texts.texts] == decoded.items
        assert texts.revision == decoded.revision
        assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in decoded.items)
    selected = await registry.list_json(CONFIGMAPS, "ns", ListOptions(labels=parse_label_selector("app=x")))
    assert [orjson.loads(t)["metadata"]["name"] for t in selected.texts] == ["a", "c"]
    named = await registry.list_json(
        CONFIGMAPS, None, ListOptions(field_selector=parse_field_selector("metadata.name=d"))
    )
    assert [orjson.loads(t)["metadata"]["name"] for t in named.texts] == ["d"]


async def test_pages_continue_where_the_last_one_stopped(store: Store, registry: Registry) -> None:
    for name in "abcde":
        await store.commit([Create(f"/core/configmaps/ns/{name}", configmap(name))])
    seen: list[str] = []
    token = None
    while True:
        page = await registry.list_json(CONFIGMAPS, "ns", ListOptions(limit=2, continue_token=token))
        seen += [orjson.loads(t)["metadata"]["name"] for t in page.texts]
        if page.continue_token is None:
            break
        token = page.continue_token
    assert seen == list("abcde")


async def test_a_get_answers_the_stored_text_or_the_typed_object(store: Store, registry: Registry) -> None:
    await store.commit([Create("/core/configmaps/ns/a", configmap("a"))])
    await store.commit([Create("/core/configmaps/ns/b", {"metadata": {"name": "b", "namespace": "ns"}})])
    for name in "ab":
        assert orjson.loads(await registry.get_json(CONFIGMAPS, "ns", name)) == await registry.get(
            CONFIGMAPS, "ns", name
        )
    assert (await registry.get_json(CONFIGMAPS, "ns", "a")).startswith('{"apiVersion":"v1","kind":"ConfigMap",')
    with pytest.raises(errors.StatusError) as missing:
        await registry.get_json(CONFIGMAPS, "ns", "c")
    assert missing.value.code == 404

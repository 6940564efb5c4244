"""The rolling updater's step sizes and refusals (pure parts of ``pykube kubectl rolling-update``)."""

from __future__ import annotations

import pytest

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.rollingupdate import check_new_controller, scale_down_to, scale_up_to, with_image


def steps(desired: int, old: int) -> list[tuple[int, int]]:
    """The sizes an update goes through when every pod becomes ready at once."""
    new, out = 0, []
    while new != desired or old:
        new = scale_up_to(desired, new, old)
        old = scale_down_to(desired, old, ready=new + old)
        out.append((new, old))
    return out


def test_one_pod_more_than_wanted_at_most_and_never_fewer_ready() -> None:
    assert steps(2, 2) == [(1, 1), (2, 0)]
    assert steps(3, 1) == [(3, 0)]
    assert steps(1, 3) == [(0, 1), (1, 0)]  # the old pods beyond the wanted one go first
    for desired, old in [(2, 2), (3, 1), (1, 3), (4, 4)]:
        assert all(new + o <= max(desired, old) + 1 for new, o in steps(desired, old))


def test_old_pods_stay_until_new_ones_are_ready() -> None:
    assert scale_up_to(2, 1, 2) == 1  # already one above the wanted two
    assert scale_down_to(2, 2, ready=2) == 2  # the new pod is not ready yet
    assert scale_down_to(2, 2, ready=3) == 1


def rc(name: str, image: str = "busybox", **selector: str) -> dict:  # type: ignore[type-arg]
    return {
        "kind": "ReplicationController",
        "metadata": {"name": name, "uid": "u"},
        "spec": {
            "replicas": 2,
            "selector": selector,
            "template": {
                "metadata": {"labels": dict(selector)},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def test_a_new_controller_needs_its_own_name_and_a_selector_value_of_its_own() -> None:
    old = rc("a", app="x", v="1")
    check_new_controller(rc("b", app="x", v="2"), old, "f.json")
    with pytest.raises(CommandError, match="cannot have the same name"):
        check_new_controller(rc("a", app="x", v="2"), old, "f.json")
    with pytest.raises(CommandError, match="matching key with non-equal value"):
        check_new_controller(rc("b", app="x", v="1", extra="y"), old, "f.json")


def test_an_image_update_sets_its_pods_apart_under_a_hashed_name() -> None:
    new = with_image(rc("a", app="x"), "busybox:2", None)
    digest = new["spec"]["selector"]["deployment"]
    assert new["metadata"]["name"] == f"a-{digest}" and len(digest) == 32
    assert new["spec"]["template"]["metadata"]["labels"] == {"app": "x", "deployment": digest}
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:2"
    with pytest.raises(CommandError, match="must be distinct"):
        with_image(rc("a", app="x"), "busybox", None)

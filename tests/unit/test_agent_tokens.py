"""The agent's ServiceAccount tokens (agent/tokens.py): one TokenRequest per pod, audience and
lifetime, bound to the pod, renewed once 80% of its life has passed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from minikube_py.agent.tokens import TokenManager
from minikube_py.model.serviceaccounts import projected_token_volume

Obj = dict[str, Any]


class TokenRequests:
    """The API's side of TokenRequest, recorded: what the agent asked, and a token per request."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.asked: list[tuple[str, Obj]] = []

    async def create(self, path: str, body: Obj) -> Obj:
        self.asked.append((path, body))
        expires = self.clock[0] + body["spec"]["expirationSeconds"]
        return {
            "status": {
                "token": f"token-{len(self.asked)}",
                "expirationTimestamp": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        }


POD = {
    "metadata": {"name": "web", "namespace": "team", "uid": "pod-uid"},
    "spec": {"serviceAccountName": "bot", "volumes": [projected_token_volume("kube-api-access-abcde")]},
}
SOURCE = {"expirationSeconds": 3607, "path": "token"}


async def test_tokens_are_bound_to_the_pod_and_renewed_at_80_percent() -> None:
    clock = [1_000_000.0]
    api = TokenRequests(clock)
    manager = TokenManager(api, clock=lambda: clock[0])
    assert manager.wants(POD) and manager.get(POD, SOURCE) is None
    assert await manager.ensure(POD)
    [(path, body)] = api.asked
    assert path == "/api/v1/namespaces/team/serviceaccounts/bot/token"
    assert body["spec"] == {
        "audiences": [],
        "expirationSeconds": 3607,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": "pod-uid"},
    }
    assert manager.get(POD, SOURCE) == "token-1"
    assert manager.next_renewal(POD) == pytest.approx(0.8 * 3607)
    clock[0] += 0.8 * 3607 - 1
    assert not await manager.ensure(POD) and len(api.asked) == 1
    clock[0] += 2
    assert await manager.ensure(POD)
    assert manager.get(POD, SOURCE) == "token-2"
    manager.forget("pod-uid")
    assert manager.get(POD, SOURCE) is None and manager.next_renewal(POD) is None


def test_pods_without_a_token_volume_ask_for_none() -> None:
    manager = TokenManager(TokenRequests([0.0]))
    assert not manager.wants({"metadata": POD["metadata"], "spec": {"volumes": [{"name": "v", "emptyDir": {}}]}})

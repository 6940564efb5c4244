"""API Priority and Fairness configuration: kube-apiserver's configuration producer, which keeps the
mandatory and suggested FlowSchemas and PriorityLevelConfigurations in the cluster, and the status
half of its flow controller, which marks a FlowSchema ``Dangling`` while the level it names is
missing (see :mod:`minikube_py.model.flowcontrol`).

kube-apiserver's producer looks again every minute; this one follows both kinds' watches, so a
deleted configuration object is back at once rather than within the minute, and a schema's
``Dangling`` condition follows its level's creation and deletion as they happen.
"""

from __future__ import annotations

from minikube_py.client.errors import ConflictError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.model import flowcontrol as fc
from minikube_py.model.times import rfc3339
from minikube_py.reconcilers.base import Controller

_PATHS = {
    "FlowSchema": f"/apis/{fc.API_VERSION}/flowschemas",
    "PriorityLevelConfiguration": f"/apis/{fc.API_VERSION}/prioritylevelconfigurations",
}
#: (mandatory, built-in spec) of each configuration object, by kind and name
_CONFIGURATION = {
    "FlowSchema": {name: (mandatory, spec) for mandatory, name, spec in fc.FLOW_SCHEMAS},
    "PriorityLevelConfiguration": {name: (mandatory, spec) for mandatory, name, spec in fc.PRIORITY_LEVELS},
}


class FlowControlController(Controller):
    """Keys are (kind, name). Every configuration object is looked at once the caches are filled,
    then each object whenever it changes, and every schema naming a level when that level does."""

    name = "priority-and-fairness-config"

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client)
        self.schemas = self.informer(_PATHS["FlowSchema"], self._on_schema)
        self.levels = self.informer(_PATHS["PriorityLevelConfiguration"], self._on_level)
        for kind, objects in _CONFIGURATION.items():
            for name in objects:
                self.queue.add((kind, name))

    def _on_schema(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        self.queue.add(("FlowSchema", obj["metadata"]["name"]))

    def _on_level(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        name = obj["metadata"]["name"]
        self.queue.add(("PriorityLevelConfiguration", name))
        for schema in self.schemas.items():
            if ((schema.get("spec") or {}).get("priorityLevelConfiguration") or {}).get("name") == name:
                self.queue.add(("FlowSchema", schema["metadata"]["name"]))

    async def reconcile(self, key: tuple[str, str]) -> None:
        kind, name = key
        existing = (self.schemas if kind == "FlowSchema" else self.levels).get(name)
        if await self._keep_configuration(kind, name, existing):
            return  # written: the watch brings the result back for its status
        if kind == "FlowSchema" and existing is not None:
            await self._mark_dangling(existing)

    async def _keep_configuration(self, kind: str, name: str, existing: Obj | None) -> bool:
        """Create, restore or remove a configuration object as the producer does; whether it wrote."""
        path = _PATHS[kind]
        params = {"fieldManager": fc.PRODUCER}
        built_in = _CONFIGURATION[kind].get(name)
        try:
            if built_in is None:
                if existing is None or not fc.unwanted(existing, set(_CONFIGURATION[kind])):
                    return False
                await self.client.delete(f"{path}/{name}")
                return True
            mandatory, spec = built_in
            if existing is None:
                await self.client.request("POST", path, body=fc.configuration_object(kind, name, spec), params=params)
                return True
            written = fc.ensured(kind, existing, spec, mandatory=mandatory)
            if written is None:
                return False
            await self.client.request("PUT", f"{path}/{name}", body=written, params=params)
            return True
        except (ConflictError, NotFoundError):
            return True  # changed meanwhile: the watch brings the change, and the key again

    async def _mark_dangling(self, schema: Obj) -> None:
        """Write the ``Dangling`` condition when what it says changed (its time marks the change)."""
        wanted = fc.dangling_condition(schema, {level["metadata"]["name"] for level in self.levels.items()})
        conditions = list((schema.get("status") or {}).get("conditions") or [])
        current = next((c for c in conditions if c.get("type") == "Dangling"), None)
        if current is not None and all(current.get(k) == wanted[k] for k in ("status", "reason", "message")):
            return
        wanted["lastTransitionTime"] = rfc3339()
        others = [c for c in conditions if c.get("type") != "Dangling"]
        status = {**(schema.get("status") or {}), "conditions": [*others, wanted]}
        name = schema["metadata"]["name"]
        try:
            await self.client.request(
                "PUT",
                f"{_PATHS['FlowSchema']}/{name}/status",
                body={**schema, "status": status},
                params={"fieldManager": fc.CONSUMER},
            )
        except (ConflictError, NotFoundError):
            return  # changed or gone meanwhile: the watch brings the key back if there is more to do

"""The HorizontalPodAutoscaler controller: every sync period, each autoscaler reads its target's
``scale`` subresource, the pods its selector matches and their resource metrics (through the API,
as kube-controller-manager reads metrics-server's) and, for its Pods, Object and External metrics,
what the custom and external metrics APIs answer (extension servers behind APIServices), lets
:func:`~minikube_py.model.autoscaler.plan_autoscaler` decide, then writes the target's scale, the
autoscaler's status and the events.

Each key comes back every ``sync_period`` seconds (kube-controller-manager's
``--horizontal-pod-autoscaler-sync-period``, 15 s) and at once when an autoscaler is created or
its spec changes; its own status writes queue nothing. The recent recommendations and scale changes
the stabilization windows and rate policies look back on are kept in memory, per autoscaler, as
Kubernetes keeps them: a new leader starts with none.
"""

from __future__ import annotations

from datetime import UTC, datetime

from minikube_py.client.errors import ApiError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj, resource_path
from minikube_py.model import metrics
from minikube_py.model.autoscaler import Memory, Scale, failed_rescale, metric_request, plan_autoscaler
from minikube_py.model.kinds import by_kind
from minikube_py.reconcilers.base import Controller, StatusWrites

#: kube-controller-manager's --horizontal-pod-autoscaler-sync-period
DEFAULT_SYNC_PERIOD = 15.0
#: kube-controller-manager's --horizontal-pod-autoscaler-downscale-stabilization
DEFAULT_DOWNSCALE_STABILIZATION = 300.0


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler"

    def __init__(
        self,
        client: ApiClient,
        *,
        sync_period: float = DEFAULT_SYNC_PERIOD,
        downscale_stabilization: float = DEFAULT_DOWNSCALE_STABILIZATION,
    ) -> None:
        super().__init__(client)
        self.sync_period, self.downscale_stabilization = sync_period, downscale_stabilization
        self.autoscalers = self.informer("/apis/autoscaling/v2/horizontalpodautoscalers", self._on_autoscaler)
        self.status_writes = StatusWrites(self.autoscalers, client)
        self._memory: dict[str, Memory] = {}

    def _on_autoscaler(self, old: Obj | None, new: Obj | None) -> None:
        """A new, changed or deleted autoscaler is synced at once; a status write (ours) is not."""
        if old is not None and new is not None and old.get("spec") == new.get("spec"):
            return
        self.enqueue(old, new)

    async def reconcile(self, key: object) -> None:
        key = str(key)
        hpa = self.autoscalers.get(key)
        if hpa is None:
            self._memory.pop(key, None)
            return
        try:
            await self._sync(key, hpa)
        finally:
            self.queue.add_after(key, self.sync_period)

    async def _sync(self, key: str, hpa: Obj) -> None:
        if self.status_writes.pending(key):
            return  # the cache has not caught up with our last status: the next period will
        path, scale = self._scale_path(hpa), None
        if path is not None:
            scale = await self._read_scale(path)
        pods: list[Obj] = []
        found: dict[str, Obj] | str = {}
        answers: dict[int, Obj | str] = {}
        if isinstance(scale, Scale) and scale.replicas > 0 and scale.selector:
            pods, found = await self._pods_and_metrics(hpa["metadata"]["namespace"], scale.selector)
            answers = await self._extension_metrics(hpa, scale.selector)
        now = datetime.now(UTC)
        memory = self._memory.get(key, Memory())
        step = plan_autoscaler(
            hpa,
            scale if scale is not None else _no_scale(hpa),
            pods,
            found,
            now,
            memory,
            downscale_window=self.downscale_stabilization,
            answers=answers,
        )
        if step.scale_to is not None and path is not None:
            try:
                await self.client.patch(path, {"spec": {"replicas": step.scale_to}}, "merge")
            except ApiError as exc:
                step = failed_rescale(step, exc.message, hpa.get("status") or {}, now)
        self._memory[key] = step.memory
        for event_type, reason, message in step.events:
            await self.events.record(hpa, event_type, reason, message)
        try:
            await self.status_writes.replace(hpa, step.status)
        except NotFoundError:
            return  # deleted meanwhile: its watch event ends its syncs

    async def _read_scale(self, path: str) -> Scale | str:
        """The target's scale, or the API's message when it cannot be read."""
        try:
            answer = await self.client.get(path)
        except ApiError as exc:
            return exc.message
        status = answer.get("status") or {}
        return Scale(
            int((answer.get("spec") or {}).get("replicas") or 0),
            status.get("selector") or "",
            int(status.get("replicas") or 0),
        )

    @staticmethod
    def _scale_path(hpa: Obj) -> str | None:
        """The path of the target's scale subresource (None for a kind pykube serves none of)."""
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        rt = by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None or "scale" not in rt.subresources:
            return None
        return resource_path(rt.api_version, rt.plural, hpa["metadata"]["namespace"], ref.get("name", ""), "scale")

    async def _pods_and_metrics(self, namespace: str, selector: str) -> tuple[list[Obj], dict[str, Obj] | str]:
        """The pods the target's selector matches, and their PodMetrics by name or why the resource
        metrics API did not give them (the plan then reports the metrics as failed)."""
        pods = await self.client.list(resource_path("v1", "pods", namespace), label_selector=selector)
        try:
            answer = await self.client.list(
                resource_path(metrics.API_VERSION, "pods", namespace), label_selector=selector
            )
        except ApiError as exc:
            return pods.get("items") or [], exc.message
        return pods.get("items") or [], {m["metadata"]["name"]: m for m in answer.get("items") or []}

    async def _extension_metrics(self, hpa: Obj, pod_selector: str) -> dict[int, Obj | str]:
        """What the custom and external metrics APIs answer for the autoscaler's Pods, Object and
        External metrics (by index in ``spec.metrics``), or why they did not."""
        answers: dict[int, Obj | str] = {}
        namespace = hpa["metadata"]["namespace"]
        for index, metric in enumerate((hpa.get("spec") or {}).get("metrics") or []):
            request = metric_request(metric, namespace, pod_selector, _plural_of)
            if request is None:
                continue
            path, params = request
            try:
                answers[index] = await self.client.request("GET", path, params=params)
            except ApiError as exc:
                answers[index] = exc.message
        return answers


def _plural_of(api_version: str, kind: str) -> str | None:
    rt = by_kind(api_version, kind)
    return rt.plural if rt is not None else None


def _no_scale(hpa: Obj) -> str:
    """Why a target has no scale to read, as the REST mapper's failure reads."""
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return f'no matches for kind "{ref.get("kind", "")}" in group version "{ref.get("apiVersion", "")}" with a scale subresource'

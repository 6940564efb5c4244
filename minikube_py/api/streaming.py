"""pods/log, pods/exec, pods/attach and pods/portforward: relayed to the agent of the pod's node.

The API server checks the pod and its container, then dials the node's kubelet endpoint with its own
client certificate (CN kube-apiserver-kubelet-client, group system:masters, from the cluster CA),
verifying that the endpoint presents the node's serving certificate from the cluster CA (for the
node's name: a daemon endpoint pointed at another listener fails closed, see
:func:`kubelet_dial_error`), and relays bytes: the log body as it streams, and WebSocket messages both ways for exec, attach and port-forward,
with the same subprotocol kubectl negotiated, so the agent speaks to kubectl directly in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from minikube_py.api.registry import Registry
from minikube_py.guard import cancel_and_wait
from minikube_py.model import errors
from minikube_py.model.kinds import by_plural

Obj = dict[str, Any]
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORT_FORWARD_PROTOCOLS = ("SPDY/3.1+portforward.k8s.io",)


def kubelet_endpoint(node: Obj) -> str:
    """The base URL of a node's agent endpoint, from its status (400 when it has none, as a hollow node)."""
    status = node.get("status") or {}
    addresses = {a["type"]: a["address"] for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not host or not port:
        raise errors.bad_request(f"node {node['metadata']['name']} has no kubelet endpoint")
    return f"https://{host}:{port}" if ":" not in host else f"https://[{host}]:{port}"


def kubelet_dial_error(node: str, url: str, exc: BaseException) -> errors.StatusError:
    """The 500 for a node's kubelet endpoint that could not be used, with the reason, as kube-apiserver
    reports a failed dial; a certificate that is not the node's own from the cluster CA is one (the
    node's status may point at a listener that is not its agent)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = f"its certificate is not node {node}'s serving certificate from the cluster CA ({exc.certificate_error})"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        why = str(exc.os_error) or str(exc)
    else:
        why = str(exc) or type(exc).__name__
    return errors.internal(f"error dialing the kubelet of node {node} at {url}: {why}")


class StreamProxy:
    def __init__(self, registry: Registry, kubelet_ssl: ssl.SSLContext) -> None:
        self._registry = registry
        self._ssl = kubelet_ssl
        pods, nodes = by_plural("", "v1", "pods"), by_plural("", "v1", "nodes")
        assert pods is not None and nodes is not None
        self._pods, self._nodes = pods, nodes

    async def _pod(self, request: web.Request) -> Obj:
        return await self._registry.get(self._pods, request.match_info["ns"], request.match_info["name"])

    async def _target(self, request: web.Request, *, need_container: bool) -> tuple[Obj, str, str]:
        pod = await self._pod(request)
        name = pod["metadata"]["name"]
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        node = await self._registry.get(self._nodes, None, node_name)
        container = request.query.get("container", "")
        if need_container:
            spec = pod.get("spec") or {}
            names = [c["name"] for c in spec.get("containers") or []]
            init = [c["name"] for c in spec.get("initContainers") or []]
            ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
            if not container:
                if len(names) != 1:
                    raise errors.bad_request(
                        f"a container name must be specified for pod {name}, choose one of: "
                        f"[{' '.join(names)}]"
                        + (f" or one of the init containers: [{' '.join(init)}]" if init else "")
                        + (f" or one of the ephemeral containers: [{' '.join(ephemeral)}]" if ephemeral else "")
                    )
                container = names[0]
            elif container not in names + init + ephemeral:
                raise errors.bad_request(f"container {container} is not valid for pod {name}")
        return pod, kubelet_endpoint(node), container

    async def log(self, request: web.Request) -> web.StreamResponse:
        pod, endpoint, container = await self._target(request, need_container=True)
        md = pod["metadata"]
        query = {k: v for k, v in request.query.items() if k != "container"}
        url = f"{endpoint}/containerLogs/{md['namespace']}/{md['name']}/{container}"
        node = pod["spec"]["nodeName"]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as session:
            try:
                upstream = await session.get(url, params=query, ssl=self._ssl, server_hostname=node)
            except (aiohttp.ClientError, OSError) as e:
                raise kubelet_dial_error(node, endpoint, e) from None
            async with upstream:
                return await self._relay_log(request, upstream)

    @staticmethod
    async def _relay_log(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        if upstream.status >= 400:
            body = await upstream.json(content_type=None)
            raise errors.bad_request(body.get("message", "the node refused the log request"))
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def exec(self, request: web.Request) -> web.StreamResponse:
        return await self._container_stream(request, "exec")

    async def attach(self, request: web.Request) -> web.StreamResponse:
        return await self._container_stream(request, "attach")

    async def _container_stream(self, request: web.Request, verb: str) -> web.StreamResponse:
        """exec or attach: relayed to the node's ``/exec`` or ``/attach`` for the container."""
        pod, endpoint, container = await self._target(request, need_container=True)
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            raise errors.bad_request(f"cannot {verb} into a container in a completed pod")
        md = pod["metadata"]
        query = [(k, v) for k, v in request.query.items() if k != "container"]
        return await self._relay(
            request, pod, f"{endpoint}/{verb}/{md['namespace']}/{md['name']}/{container}", query, EXEC_PROTOCOLS
        )

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        pod, endpoint, _ = await self._target(request, need_container=False)
        if (pod.get("status") or {}).get("phase") != "Running":
            raise errors.bad_request(
                "unable to forward port because pod is not running. Current status="
                f"{(pod.get('status') or {}).get('phase', 'Pending')}"
            )
        md = pod["metadata"]
        return await self._relay(
            request,
            pod,
            f"{endpoint}/portForward/{md['namespace']}/{md['name']}",
            list(request.query.items()),
            PORT_FORWARD_PROTOCOLS,
        )

    async def _relay(
        self, request: web.Request, pod: Obj, url: str, query: list[tuple[str, str]], protocols: tuple[str, ...]
    ) -> web.StreamResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        chosen = next((p for p in offered if p in protocols), None)
        if request.headers.get("Upgrade", "").lower() != "websocket" or chosen is None:
            raise errors.bad_request("Upgrade request required")
        node = pod["spec"]["nodeName"]
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        try:
            upstream = await session.ws_connect(
                url,
                params=query,
                protocols=(chosen,),
                ssl=self._ssl,
                server_hostname=node,
                autoping=True,
                heartbeat=None,
                max_msg_size=0,
            )
        except (aiohttp.ClientError, OSError) as e:
            await session.close()
            raise kubelet_dial_error(node, url, e) from None
        ws = web.WebSocketResponse(protocols=(chosen,), autoping=True, heartbeat=None, max_msg_size=0)
        await ws.prepare(request)
        try:
            # the other direction may still carry what is in flight (the final status after stdout)
            await relay(upstream, ws, linger=2.0)
        finally:
            await upstream.close()
            await session.close()
            await ws.close()
        return ws


async def relay(upstream: Any, ws: Any, *, linger: float) -> None:
    """Copy WebSocket messages both ways until one side closes, then give the other direction
    ``linger`` seconds to deliver what it still carries before both copies stop."""
    tasks = [asyncio.create_task(pump(upstream, ws)), asyncio.create_task(pump(ws, upstream))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if linger:
            await asyncio.wait(tasks, timeout=linger)
    finally:
        for task in tasks:
            with contextlib.suppress(Exception):
                await cancel_and_wait(task)


async def pump(source: Any, sink: Any) -> None:
    """Copy WebSocket messages one way until ``source`` closes, then close ``sink`` (the final exec
    status travels just before the agent closes, so it arrives before kubectl sees the close)."""
    async for msg in source:
        if msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
    await sink.close()

"""An agent whose engine stops answering while it starts up reports the outage as a node condition and
carries on when the engine is back, rather than failing with a traceback (CI saw the pause image's
import fail that way)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent import agent as agent_module
from minikube_py.agent.agent import Agent
from minikube_py.agent.health import NodeHealth, Part
from minikube_py.config import AgentConfig


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def emit(self, _obj: Any, kind: str, reason: str, _message: str) -> None:
        self.events.append((kind, reason))


class Engine:
    """An engine that does not answer until told it is back."""

    def __init__(self) -> None:
        self.up = False

    async def ping(self) -> None:
        if not self.up:
            raise ConnectionRefusedError("no engine")


async def test_an_engine_outage_while_the_pause_image_is_made_waits_for_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(AgentConfig(node_name="n1", data_dir=tmp_path))
    recorder = Recorder()
    agent._health = NodeHealth([Part.RUNTIME, Part.DISK], on_change=agent._health_changed(recorder))  # type: ignore[arg-type]
    agent._runtime_up.set()  # the engine answered once: start-up goes on
    engine = Engine()
    attempts = 0

    async def pause_image(_runtime: Any) -> str:
        nonlocal attempts
        attempts += 1
        if not engine.up:
            raise ConnectionResetError("the engine went away during the import")
        return "pykube.local/pause:1"

    monkeypatch.setattr(agent_module, "_pause_image", pause_image)

    made = asyncio.create_task(agent._pause_image_once_up(engine))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not made.done() and attempts == 1
    assert agent._health.problem(Part.RUNTIME) is not None and ("Warning", "KubeletNotReady") in recorder.events
    engine.up = True
    agent._health.report(Part.RUNTIME, None)  # the heartbeat's next check
    assert await asyncio.wait_for(made, 5) == "pykube.local/pause:1" and attempts == 2


async def test_a_failure_while_the_engine_answers_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = Agent(AgentConfig(node_name="n1", data_dir=tmp_path))
    agent._runtime_up.set()
    engine = Engine()
    engine.up = True

    async def pause_image(_runtime: Any) -> str:
        raise ValueError("a bad image archive")

    monkeypatch.setattr(agent_module, "_pause_image", pause_image)
    with pytest.raises(ValueError, match="bad image archive"):
        await agent._pause_image_once_up(engine)  # type: ignore[arg-type]

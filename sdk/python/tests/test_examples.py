"""The examples, as a user would run them: the OpenAI Agents SDK and
LangChain (installed from PyPI), a model answered by the fake upstream
behind paddock's phantom proxy, the code run in a paddock workspace."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import paddock
from support import ADMIN_TOKEN, UPSTREAM_SECRET, FakeModel, Server

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def as_user(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PADDOCK_URL", server.url)
    monkeypatch.setenv("PADDOCK_API_KEY", ADMIN_TOKEN)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


def _check_model_traffic(fake_model: FakeModel, before: int, path: str) -> None:
    seen = fake_model.requests[before:]
    assert len(seen) == 2, [r["path"] for r in seen]
    for request in seen:
        assert request["path"].endswith(path)
        assert request["headers"]["authorization"] == f"Bearer {UPSTREAM_SECRET}", "the proxy put the real key in"
        assert all("phm_" not in value for value in request["headers"].values())
    assert "42" in str(seen[1]["body"]), "the tool's output (from the jail) went back to the model"


def test_openai_agents_tool(as_user: None, fake_model: FakeModel, client: paddock.Paddock) -> None:
    example = _load("openai_agents_tool")
    before = len(fake_model.requests)
    answer = asyncio.run(example.main("What is 6 times 7?"))
    assert answer == "The tool said: 42"
    _check_model_traffic(fake_model, before, "/responses")
    assert not [w for w in client.workspaces.list(q="openai-agents").rows], "the workspace was deleted"


def test_langchain_tool(as_user: None, fake_model: FakeModel, client: paddock.Paddock) -> None:
    example = _load("langchain_tool")
    before = len(fake_model.requests)
    answer = example.main("What is 6 times 7?")
    assert answer == "The tool said: 42"
    _check_model_traffic(fake_model, before, "/chat/completions")
    assert not [w for w in client.workspaces.list(q="langchain").rows], "the workspace was deleted"


@pytest.mark.parametrize("script", ["openai_agents_tool.py", "langchain_tool.py"])
def test_examples_run_as_scripts(script: str, server: Server, fake_model: FakeModel) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PADDOCK_"))}
    env.update(PADDOCK_URL=server.url, PADDOCK_API_KEY=ADMIN_TOKEN)
    before = len(fake_model.requests)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "What is 6 times 7?"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "The tool said: 42"
    assert len(fake_model.requests) - before == 2


def test_parallel_tool_calls_do_not_share_a_file(as_user: None, client: paddock.Paddock) -> None:
    from concurrent.futures import ThreadPoolExecutor

    example = _load("langchain_tool")
    with client.workspace(label="parallel-tools") as ws:
        run_python = example.python_tool(ws)
        codes = [f"import time; time.sleep(0.5); print({i})" for i in range(6)]
        with ThreadPoolExecutor(len(codes)) as pool:
            outputs = list(pool.map(lambda code: run_python.invoke({"code": code}), codes))
    assert outputs == [f"{i}\n" for i in range(6)]

"""A tool for the OpenAI Agents SDK that runs Python in a paddock workspace.

The agent's model calls go through paddock's phantom proxy: the process
holds a session's phantom token, never the real OpenAI key (stored once
with ``paddock credentials put openai``).

    pip install ./sdk/python openai-agents   # from a checkout of the repository (the
                                             # "paddock" on PyPI is another project)
    export PADDOCK_URL=http://127.0.0.1:7000 PADDOCK_API_KEY=...
    python openai_agents_tool.py "What is 6 times 7? Compute it."
"""

from __future__ import annotations

import asyncio
import os
import sys

from agents import Agent, FunctionTool, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from paddock import AsyncPaddock, AsyncWorkspaceHandle

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4.1-mini")


def python_tool(workspace: AsyncWorkspaceHandle) -> FunctionTool:
    """A ``run_python`` tool bound to one workspace (files persist between calls)."""

    @function_tool
    async def run_python(code: str) -> str:
        """Run a Python 3 program in a sandbox and return what it printed.

        Args:
            code: the program's source.
        """
        # The source as an argument: parallel tool calls share no file.
        result = await workspace.processes.run("python3", ["-c", code], timeout_ms=60_000)
        output = result.stdout + result.stderr
        if result.timed_out:
            return f"timed out after 60 s\n{output}"
        return output if result.exit_code == 0 else f"exit status {result.exit_code}\n{output}"

    return run_python


async def main(prompt: str) -> str:
    set_tracing_disabled(True)
    async with AsyncPaddock() as paddock:
        async with paddock.session(services=["openai"], ttl_secs=3600) as session, paddock.workspace(
            label="openai-agents"
        ) as workspace:
            model_client = AsyncOpenAI(
                base_url=session.env["OPENAI_BASE_URL"], api_key=session.env["OPENAI_API_KEY"]
            )
            agent = Agent(
                name="coder",
                instructions="Answer with the help of run_python: compute, don't guess.",
                tools=[python_tool(workspace)],
                model=OpenAIResponsesModel(model=MODEL, openai_client=model_client),
            )
            result = await Runner.run(agent, prompt)
            return str(result.final_output)


if __name__ == "__main__":
    print(asyncio.run(main(" ".join(sys.argv[1:]) or "What is 6 times 7? Compute it.")))

"""A LangChain tool that runs Python in a paddock workspace, used by an agent.

The model calls go through paddock's phantom proxy: this process holds a
session's phantom token, never the real OpenAI key (stored once with
``paddock credentials put openai``).

    pip install ./sdk/python langchain langchain-openai   # from a checkout of the repository
                                                          # (the "paddock" on PyPI is another project)
    export PADDOCK_URL=http://127.0.0.1:7000 PADDOCK_API_KEY=...
    python langchain_tool.py "What is 6 times 7? Compute it."
"""

from __future__ import annotations

import os
import sys

from langchain.agents import create_agent
from langchain_core.tools import BaseTool, tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from paddock import Paddock, WorkspaceHandle

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4.1-mini")


def python_tool(workspace: WorkspaceHandle) -> BaseTool:
    """A ``run_python`` tool bound to one workspace (files persist between calls)."""

    @tool
    def run_python(code: str) -> str:
        """Run a Python 3 program in a sandbox and return what it printed."""
        # The source as an argument: parallel tool calls share no file.
        result = workspace.processes.run("python3", ["-c", code], timeout_ms=60_000)
        output = result.stdout + result.stderr
        if result.timed_out:
            return f"timed out after 60 s\n{output}"
        return output if result.exit_code == 0 else f"exit status {result.exit_code}\n{output}"

    return run_python


def main(prompt: str) -> str:
    with Paddock() as paddock:
        with paddock.session(services=["openai"], ttl_secs=3600) as session, paddock.workspace(
            label="langchain"
        ) as workspace:
            llm = ChatOpenAI(
                model=MODEL,
                base_url=session.env["OPENAI_BASE_URL"],
                api_key=SecretStr(session.env["OPENAI_API_KEY"]),
            )
            agent = create_agent(llm, tools=[python_tool(workspace)])
            state = agent.invoke({"messages": [{"role": "user", "content": prompt}]})
            return str(state["messages"][-1].content)


if __name__ == "__main__":
    print(main(" ".join(sys.argv[1:]) or "What is 6 times 7? Compute it."))

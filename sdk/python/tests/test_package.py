"""Packaging and typing: ``python -m build`` makes an sdist and a wheel that
install offline into fresh virtual environments, the README quick starts run
as written against a real server, and ``mypy --strict`` passes on the
package and the examples."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from support import ADMIN_TOKEN, REPO, Server

SDK = Path(__file__).resolve().parents[1]
RUNTIME_DEPS = ["httpx", "pydantic", "websockets"]
BUILD_DEPS = ["hatchling"]


def _run(args: List[str], *, env: Dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 300) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "PADDOCK_"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of the dependencies (``$PADDOCK_PY_WHEELHOUSE`` from
    scripts/test.sh, else downloaded now) for the offline installs."""
    given = os.environ.get("PADDOCK_PY_WHEELHOUSE")
    if given:
        path = Path(given).resolve()
        assert path.is_dir() and any(path.glob("*.whl")), f"PADDOCK_PY_WHEELHOUSE={given} holds no wheels"
        return path
    path = tmp_path_factory.mktemp("wheelhouse")
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(path), *RUNTIME_DEPS, *BUILD_DEPS])
    return path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", str(out), str(SDK)])
    return out


def _fresh_venv(where: Path) -> Path:
    _run([sys.executable, "-m", "venv", str(where)], env=_clean_env())
    return where / "bin" / "python"


def _quick_starts() -> Iterator[tuple[str, str]]:
    """The python blocks of the quick start sections (up to the next heading)."""
    for readme, heading in ((SDK / "README.md", "## Quick start"), (REPO / "README.md", "## Python SDK")):
        text = readme.read_text()
        assert heading in text, f"{readme} has no {heading!r} section"
        section = re.split(r"\n## ", text.split(heading, 1)[1], maxsplit=1)[0]
        blocks = re.findall(r"```python\n(.*?)```", section, re.S)
        assert blocks, f"{readme}: no python block under {heading!r}"
        for i, block in enumerate(blocks):
            yield f"{readme.relative_to(REPO)} ({heading}, block {i + 1})", block


def test_build_and_install_offline(dist: Path, wheelhouse: Path, tmp_path: Path, server: Server) -> None:
    wheels = list(dist.glob("paddock_sdk-*.whl"))
    sdists = list(dist.glob("paddock_sdk-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    names = _run([sys.executable, "-m", "zipfile", "-l", str(wheels[0])])
    for member in ("paddock/py.typed", "paddock/models.py", "paddock/_sync/client.py", "paddock/_async/client.py"):
        assert member in names, f"{member} is not in the wheel"
    for artifact in (wheels[0], sdists[0]):
        python = _fresh_venv(tmp_path / artifact.name.replace(".", "_"))
        _run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheelhouse), str(artifact)],
            env=_clean_env(),
        )
        version = _run([str(python), "-c", "import importlib.metadata as m, paddock; "
                                             "print(paddock.__version__, paddock.Paddock.__name__, m.version('paddock-sdk'))"],
                       env=_clean_env(), cwd=tmp_path)
        assert version.split() == ["0.1.0", "Paddock", "0.1.0"]
    # The README quick starts, as written, with the installed sdist: each
    # block prints what it should.
    expected = [
        ["42\n", "hi from the workspace\n", "stdout hi\n", "stdout there\n"],
        ["['0\\n', '1\\n', '2\\n', '3\\n', '4\\n']", "type='stdout'", "line='live'"],
        ["hi\n", "stdout live\n"],
    ]
    blocks = list(_quick_starts())
    assert len(blocks) == len(expected), [where for where, _ in blocks]
    for (where, code), wanted in zip(blocks, expected):
        out = _run(
            [str(python), "-c", code],
            env=_clean_env(PADDOCK_URL=server.url, PADDOCK_API_KEY=ADMIN_TOKEN),
            cwd=tmp_path,
        )
        for text in wanted:
            assert text in out, f"{where} printed {out!r}, without {text!r}"


def test_pip_install_from_the_checkout_offline(wheelhouse: Path, tmp_path: Path) -> None:
    """``pip install ./sdk/python``, as the READMEs say, without an index."""
    python = _fresh_venv(tmp_path / "venv")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheelhouse), "./sdk/python"],
        env=_clean_env(),
        cwd=REPO,
    )
    shown = _run([str(python), "-m", "pip", "show", "paddock-sdk"], env=_clean_env())
    assert "Name: paddock-sdk" in shown
    version = _run([str(python), "-c", "import paddock; print(paddock.__version__)"], env=_clean_env(), cwd=tmp_path)
    assert f"Version: {version.strip()}" in shown, "one version: _version.py is the package's"


def test_mypy_strict_on_the_package_examples_and_tests() -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert mypy, "mypy is not installed in the test environment"
    out = _run([mypy, "--strict", "src/paddock", "examples", "tests"], cwd=SDK, timeout=600)
    assert "Success" in out

#!/usr/bin/env bash
# The Python SDK's whole test run: a virtual environment with the pinned
# test dependencies (requirements-test.txt; reused while it and
# pyproject.toml are unchanged), then pytest against a real `paddock serve` ($PADDOCK_BIN),
# which also builds the sdist and wheel, installs them offline into fresh
# environments, runs the examples and mypy --strict.
#
#   PADDOCK_BIN=../../target/debug/paddock bash scripts/test.sh [PYTEST ARGS...]
#
# PostgreSQL: set PADDOCK_TEST_POSTGRES_URL (scripts/test does); without
# it the PostgreSQL test fails unless PADDOCK_TEST_SKIP_POSTGRES=1.
set -euo pipefail
cd "$(dirname "$0")/.."
sdk=$PWD

: "${PADDOCK_BIN:?set PADDOCK_BIN to the paddock binary (cargo build -p paddock makes target/debug/paddock)}"
PADDOCK_BIN=$(realpath "$PADDOCK_BIN")
[ -x "$PADDOCK_BIN" ] || { echo "PADDOCK_BIN=$PADDOCK_BIN is not an executable" >&2; exit 1; }
export PADDOCK_BIN

python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
venv=${PADDOCK_PY_VENV:-$sdk/.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

stamp="$("$python" --version 2>&1) $(cat requirements-test.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "--> making $venv ($stamp)"
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >/dev/null 2>&1; then   # Debian splits venv out
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    "$python" -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet -r requirements-test.txt
  # Wheels of the runtime and build dependencies, for the offline installs.
  "$venv/bin/pip" download --quiet --dest "$venv/wheelhouse" -c requirements-test.txt \
    httpx pydantic websockets hatchling
  echo "$stamp" >"$venv/.stamp"
fi
"$venv/bin/pip" install --quiet --no-deps --no-build-isolation --force-reinstall .

export PADDOCK_PY_WHEELHOUSE="$venv/wheelhouse"
unset PADDOCK_URL PADDOCK_API_KEY AGENTJAIL_API_KEY
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@" tests

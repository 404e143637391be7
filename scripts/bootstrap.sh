#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv at the repository root).
# Idempotent: reinstalls only when pyproject.toml (or this script) changed since the last run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
STAMP="$VENV/.aiops-installed"

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "bootstrap: Python >= 3.11 is required (found $("$PY" --version 2>&1))" >&2
    exit 1
fi
# System packages the tests use for real: a Prometheus server (Debian package `prometheus`).
# Installed only where apt-get is available and we are root; otherwise the tests that need it
# are skipped with a reason naming the missing program.
if ! command -v prometheus >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = "0" ]; then
    echo "bootstrap: installing the Debian package prometheus" >&2
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus \
            >/dev/null; then
        # the package may start a system service; the tests start their own servers
        (command -v service >/dev/null 2>&1 && service prometheus stop >/dev/null 2>&1) || true
    else
        echo "bootstrap: could not install prometheus; the PromQL tests will be skipped" >&2
    fi
fi
# Debian's chromium for the web console's browser tests (playwright drives it; it downloads no
# browser of its own). Skipped like prometheus where it cannot be installed.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = "0" ]; then
    echo "bootstrap: installing the Debian package chromium" >&2
    if ! (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium \
            >/dev/null); then
        echo "bootstrap: could not install chromium; the console tests will be skipped" >&2
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/bootstrap.sh" | sha256sum | cut -d' ' -f1)"
HAVE="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$WANT" != "$HAVE" ]; then
    echo "bootstrap: installing the project and its dependencies into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]"
    echo "$WANT" > "$STAMP"
fi

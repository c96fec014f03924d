#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (system packages
# included), then runs the whole test suite. This is the README's test command and
# what .ci/run calls. Needs root (or sudo) for apt-get.
#
# Python packages go into the project's virtualenv (.venv/, git-ignored; scripts/venv.sh),
# never into the machine's Python: a package the machine happens to have cannot hide a
# dependency the `test` extra forgot to declare.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# python3-venv: Debian's python3 cannot make a virtualenv without it.
# postgresql: the server the storage tests of a later change start on loopback.
pkgs=(python3 python3-venv espeak-ng sox prometheus prometheus-blackbox-exporter chromium
      fonts-liberation docker-compose postgresql)
# Debian's nodejs/npm only when the machine has none: an image with node from elsewhere
# (NodeSource) would see Debian's npm conflict with its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash scripts/venv.sh test
VENV="$PWD/.venv/bin"
# The venv's python, sttwatch and tools first on PATH, as if activated: what the tests start
# as a subprocess (bench/run's `python`, `sttwatch`, hadolint) is the venv's, not the machine's.
export VIRTUAL_ENV="$PWD/.venv" PATH="$VENV:$PATH"
if [ -f tests/node/package.json ]; then
  npm ci --prefix tests/node --no-audit --no-fund
fi

"$VENV/ruff" check monitor tests
"$VENV/ruff" format --check monitor tests
"$VENV/mypy" monitor
# Every test module imports in the venv (a missing test dependency fails here, by name,
# before the long run starts).
if ! collected=$("$VENV/python" -m pytest -q -p no:cacheprovider --collect-only 2>&1); then
  printf '%s\n' "$collected" | grep -v '::' >&2
  exit 1
fi
# Three workers on two cores: the suite mostly waits (real-time audio, subprocesses,
# Prometheus scrapes), so this halves the wall time without starving any test.
# pytest's own exit code is the script's: 5 (nothing collected) fails like 1 does.
# --dist loadgroup keeps the `timing` tests (pyproject.toml) together on one worker.
exec "$VENV/python" -m pytest -q -p no:cacheprovider -n 3 --dist loadgroup "$@"

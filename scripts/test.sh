#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (system packages
# included), then runs the whole test suite. This is the README's test command and
# what .ci/run calls. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(espeak-ng sox prometheus prometheus-blackbox-exporter chromium fonts-liberation docker-compose)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'

ruff check monitor tests
ruff format --check monitor tests
mypy monitor
# Three workers on two cores: the suite mostly waits (real-time audio, subprocesses,
# Prometheus scrapes), so this halves the wall time without starving any test.
python3 -m pytest -q -p no:cacheprovider -n 3 "$@"

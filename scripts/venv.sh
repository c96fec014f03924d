#!/usr/bin/env bash
# Makes (or reuses) the project's virtualenv, .venv/ (git-ignored), and installs the
# project into it: `bash scripts/venv.sh` for the package alone, `bash scripts/venv.sh test`
# for the package and its `test` extra. The README's demo command and scripts/test.sh both
# start here.
#
# A virtualenv because Debian 12's own python3 refuses `pip install` into itself (PEP 668,
# "externally-managed-environment"), and because a package the machine's Python happens
# to have must not hide a dependency the project forgot to declare.
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:+[$1]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Reuse .venv/ while its interpreter still runs; otherwise make it afresh.
if ! .venv/bin/python -c '' >/dev/null 2>&1; then
  rm -rf .venv
  # Debian's python3 makes no virtualenv without python3-venv (it lacks ensurepip).
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "scripts/venv.sh: installing python3 and python3-venv (Debian packages)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      python3 python3-venv
  fi
  python3 -m venv .venv
fi
# Editable, so the checkout is what runs, with either command, after a `git pull`.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra"

#!/usr/bin/env bash
# The README's demo command: installs sttwatch into .venv/ (made if missing, see
# scripts/venv.sh) and runs `sttwatch demo` against the built-in simulator. Arguments go
# to `sttwatch demo` (e.g. --listen 127.0.0.1:0). No API key, no root unless Debian's
# python3-venv is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
exec .venv/bin/sttwatch demo "$@"

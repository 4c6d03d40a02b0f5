#!/usr/bin/env bash
# Set up everything (scripts/setup.sh), then the main job on the embedded store: ingest the bundled demo corpus,
# print answers to the demo questions with graph paths and citations, and serve the HTTP API on 127.0.0.1:8000.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/graphrag demo "$@"

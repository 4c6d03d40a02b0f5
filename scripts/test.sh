#!/usr/bin/env bash
# Set up everything (scripts/setup.sh, Debian's chromium), start a throwaway Neo4j (jars from Maven Central, auth
# off, 127.0.0.1 only) for the Neo4j tests and a local Ray cluster for the Ray extraction tests, run the whole test
# suite, and stop both again whatever the outcome.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"

# Lint first: ruff (pyflakes, pycodestyle, import order, bugbear, pyupgrade) and the import-linter contracts (layers;
# inference never imports training), both configured in pyproject.toml.
.venv/bin/python -m ruff check .
.venv/bin/python -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"

# Debian's chromium for the Neo4j Browser test (tests/browser.py drives it through Playwright, offline).
if ! command -v chromium >/dev/null 2>&1 && [ -z "${GRAPHRAG_CHROMIUM:-}" ]; then
  echo "test: installing Debian's chromium (apt-get) for the Neo4j Browser test" >&2
  as_root=""; [ "$(id -u)" -ne 0 ] && as_root="sudo"
  for attempt in 1 2 3; do
    if $as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium >/dev/null
    then break; fi
    [ "$attempt" -eq 3 ] && { echo "test: could not install chromium" >&2; exit 1; }
    sleep $((attempt * 10))
  done
fi

# axe-core (accessibility rules) from the npm registry for the analyst page's browser test; cached outside the
# repo, never committed.
axe_dir="${GRAPHRAG_ENV_CACHE:-$HOME/.cache/graphrag-kgqa}/npm"
export GRAPHRAG_AXE_JS="$axe_dir/node_modules/axe-core/axe.min.js"
if [ ! -f "$GRAPHRAG_AXE_JS" ]; then
  echo "test: installing axe-core from npm for the analyst page's accessibility check" >&2
  mkdir -p "$axe_dir"
  for attempt in 1 2 3; do
    if npm install --prefix "$axe_dir" --no-save --no-audit --no-fund --silent axe-core@4.10.3; then break; fi
    [ "$attempt" -eq 3 ] && { echo "test: could not install axe-core from npm" >&2; exit 1; }
    sleep $((attempt * 10))
  done
fi

neo4j_home="$(mktemp -d "${TMPDIR:-/tmp}/graphrag-test-neo4j.XXXXXX")"
export GRAPHRAG_NEO4J_HOME="$neo4j_home" GRAPHRAG_NEO4J_AUTH=false
export GRAPHRAG_NEO4J_HEAP=512m GRAPHRAG_NEO4J_PAGECACHE=128m
export GRAPHRAG_NEO4J_BOLT_PORT="${GRAPHRAG_TEST_BOLT_PORT:-17687}"
export GRAPHRAG_NEO4J_HTTP_PORT="${GRAPHRAG_TEST_HTTP_PORT:-17474}"
export GRAPHRAG_NEO4J_URI="bolt://127.0.0.1:$GRAPHRAG_NEO4J_BOLT_PORT"
ray_dir="$(mktemp -d "${TMPDIR:-/tmp}/graphrag-ray.XXXXXX")"
cleanup() {
  .venv/bin/graphrag neo4j stop >/dev/null 2>&1 || true
  .venv/bin/python -m ray.scripts.scripts stop --force >/dev/null 2>&1 || true  # this machine's Ray processes
  rm -rf "$neo4j_home" "$ray_dir"
}
trap cleanup EXIT
# A Neo4j that does not start fails the run here: the Neo4j tests are never skipped.
.venv/bin/graphrag neo4j start
# Warm-up: a cold JVM can take longer than the store's 2-second budget over its first queries (schema creation) on a
# slow machine, which once failed the first Neo4j test with a read timeout; pay that once here, with a long budget.
GRAPHRAG_GRAPH_BACKEND=neo4j GRAPHRAG_NEO4J_TIMEOUT_S=120 GRAPHRAG_DATA_DIR="$neo4j_home/warmup" \
  .venv/bin/graphrag stats >/dev/null
# A one-machine Ray cluster for `graphrag extract --engine ray`: its own ports (Ray's default worker range holds the
# Neo4j test ports), two CPUs, no dashboard, no usage reporting (offline), a small object store. gRPC's fork
# support off: with it the Ray Client server's per-client process dies as it is forked (ray-project/ray#63202).
export RAY_USAGE_STATS_ENABLED=0
ray_port="${GRAPHRAG_TEST_RAY_PORT:-26379}"
ray_cli=(.venv/bin/python -m ray.scripts.scripts)  # the `ray` command of the cached environment
# A run killed outright (SIGKILL, a lost session) leaves its cluster on these ports, and a new head would join that
# cluster's old session and fail.
"${ray_cli[@]}" stop --force >/dev/null 2>&1 || true
GRPC_ENABLE_FORK_SUPPORT=false "${ray_cli[@]}" start --head --node-ip-address=127.0.0.1 --port="$ray_port" \
  --ray-client-server-port="$((ray_port + 1))" --num-cpus=2 --include-dashboard=false --disable-usage-stats \
  --object-store-memory=300000000 --min-worker-port="$((ray_port + 10))" --max-worker-port="$((ray_port + 200))" \
  --temp-dir="$ray_dir" >"$ray_dir/start.log" 2>&1 || { cat "$ray_dir/start.log" >&2; exit 1; }
export GRAPHRAG_TEST_RAY_ADDRESS="127.0.0.1:$ray_port" GRAPHRAG_TEST_RAY_CLIENT="ray://127.0.0.1:$((ray_port + 1))"
.venv/bin/python -m pytest -q "$@"

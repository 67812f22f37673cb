# Sourced by the other scripts: project paths and an up-to-date Python environment.
# Idempotent: creates .venv once, reinstalls only when a pyproject.toml or requirements.lock
# changed. The dependencies come from requirements.lock (exact versions and hashes, the
# ones CI tested; scripts/lock refreshes it), then the project itself and its Python
# client (client/), editable.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# CRM_LOCAL_DIR / CRM_CACHE_DIR move them elsewhere (e.g. to try a cold start).
LOCAL_DIR="${CRM_LOCAL_DIR:-$REPO_ROOT/.local}"   # servers' data and logs (git-ignored)
CACHE_DIR="${CRM_CACHE_DIR:-$REPO_ROOT/.cache}"   # downloaded jars (git-ignored)
VENV="$REPO_ROOT/.venv"
mkdir -p "$LOCAL_DIR" "$CACHE_DIR"

ensure_python_env() {
  local stamp="$VENV/.installed-$(cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/requirements.lock" \
    "$REPO_ROOT/client/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating Python environment in .venv" >&2
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    echo "==> installing Python dependencies (requirements.lock, then pip install -e . and -e client)" >&2
    "$VENV/bin/pip" install --quiet --upgrade pip >&2
    "$VENV/bin/pip" install --quiet --require-hashes -r "$REPO_ROOT/requirements.lock" >&2
    "$VENV/bin/pip" install --quiet --no-deps -e "$REPO_ROOT" >&2
    # The Python client (client/, its own package), for its tests: its dependencies
    # (pydantic, httpx) are in the lock already.
    "$VENV/bin/pip" install --quiet --no-deps -e "$REPO_ROOT/client" >&2
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# The browser the console tests drive (tests/integration/test_console.py): Debian's
# chromium, never a browser downloaded by `playwright install`. CRM_CHROMIUM overrides it.
ensure_chromium() {
  if [ -n "${CRM_CHROMIUM:-}" ]; then
    [ -x "$CRM_CHROMIUM" ] && return 0
    echo "error: CRM_CHROMIUM=$CRM_CHROMIUM is not an executable browser" >&2
    return 1
  fi
  command -v chromium >/dev/null 2>&1 && return 0
  echo "==> installing chromium (apt-get install -y chromium)" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Stale package lists on a fresh machine: update once, then try again.
  if ! command -v apt-get >/dev/null 2>&1 \
      || ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2 \
             || { $sudo apt-get update >&2 \
                  && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2; }; } \
      || ! command -v chromium >/dev/null 2>&1; then
    echo "error: chromium is needed for the console tests and could not be installed;" \
         "install it (Debian: apt-get install chromium) or set CRM_CHROMIUM to a Chromium binary" >&2
    return 1
  fi
}

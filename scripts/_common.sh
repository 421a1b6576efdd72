# Shared by the scripts: find Python 3.12, keep .venv current, start a throwaway PostgreSQL + PgBouncer.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

python_ok() {  # $1 = interpreter; succeeds for Python >= $2 (default 3.12)
  local want="${2:-3.12}"
  "$1" -c "import sys; sys.exit(0 if sys.version_info[:2] >= tuple(map(int, '$want'.split('.'))) else 1)" >/dev/null 2>&1
}

find_python() {
  local candidate
  local candidates=("${PYTHON:-}" python3.12 python3.13)
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    candidates+=("$candidate")
  done
  candidates+=(python3)
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] || continue
    if python_ok "$candidate" 3.12; then command -v "$candidate" || echo "$candidate"; return 0; fi
  done
  for candidate in python3.11 python3; do
    if python_ok "$candidate" 3.11; then
      log "warning: Python 3.12 not found; using $($candidate --version 2>&1) (deployment targets 3.12)"
      command -v "$candidate"; return 0
    fi
  done
  die "Python 3.12 (or at least 3.11) is required; set PYTHON=/path/to/python3.12"
}

# ensure_venv FILE...: create .venv if needed and install FILEs unless already installed.
ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want python
  want="$(cat "$@" | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    python="$(find_python)"
    log "creating .venv with $("$python" --version 2>&1)"
    "$python" -m venv "$VENV"
  fi
  log "installing Python packages into .venv ($*)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  local args=()
  for file in "$@"; do args+=(-r "$file"); done
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}" || die "pip install failed"
  printf '%s\n' "$want" > "$stamp"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    die "missing Debian packages ($*): run as root or install them: apt-get install $*"
  fi
  log "installing Debian packages: $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || die "apt-get install $* failed"
  fi
}

# ensure_chromium: Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium not found after installing the chromium package"
}

pg_bin_dir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# as_pg CMD...: run a PostgreSQL or PgBouncer command as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres: a throwaway cluster and PgBouncer (transaction mode) on free loopback ports.
# Exports PG_WORK, PG_BIN, PG_PORT, PGBOUNCER_PORT, TEST_PG_* and PGBOUNCER_DATABASE_URL.
start_postgres() {
  PG_BIN="$(pg_bin_dir || true)"
  if [ -z "$PG_BIN" ] || ! command -v pgbouncer >/dev/null 2>&1; then
    apt_install postgresql pgbouncer
    PG_BIN="$(pg_bin_dir)" || die "PostgreSQL binaries not found after install"
  fi
  PG_WORK="$(mktemp -d /tmp/authsvc-pg.XXXXXX)"
  chmod 755 "$PG_WORK"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_WORK"
  PG_PORT="$(free_port)"
  PGBOUNCER_PORT="$(free_port)"
  local password="auth-test-password"
  as_pg "$PG_BIN/initdb" -D "$PG_WORK/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$PG_WORK/initdb.log" 2>&1 || { cat "$PG_WORK/initdb.log" >&2; die "initdb failed"; }
  PG_OPTS="-p $PG_PORT -k $PG_WORK -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_WORK/data" -o "$PG_OPTS" -l "$PG_WORK/postgres.log" -w start >/dev/null \
    || { cat "$PG_WORK/postgres.log" >&2; die "PostgreSQL did not start"; }
  as_pg "$PG_BIN/psql" -h "$PG_WORK" -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE auth LOGIN PASSWORD '$password'" -c "CREATE DATABASE auth_test OWNER auth" >/dev/null
  cat > "$PG_WORK/pgbouncer.ini" <<INI
[databases]
auth_test = host=127.0.0.1 port=$PG_PORT dbname=auth_test

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $PG_WORK/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $PG_WORK/pgbouncer.log
pidfile = $PG_WORK/pgbouncer.pid
INI
  printf '"auth" "%s"\n' "$password" > "$PG_WORK/userlist.txt"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_WORK/pgbouncer.ini" "$PG_WORK/userlist.txt"
  as_pg pgbouncer -d "$PG_WORK/pgbouncer.ini" >/dev/null 2>&1 || { cat "$PG_WORK/pgbouncer.log" >&2; die "PgBouncer did not start"; }
  local _
  for _ in $(seq 50); do
    "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $PGBOUNCER_PORT), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  export PG_WORK PG_BIN PG_PORT PGBOUNCER_PORT
  export PGBOUNCER_DATABASE_URL="postgresql://auth:$password@127.0.0.1:$PGBOUNCER_PORT/auth_test?sslmode=disable"
  export TEST_PG_DIRECT_URL="postgresql://auth:$password@127.0.0.1:$PG_PORT/auth_test?sslmode=disable"
  export TEST_PG_CTL="$PG_BIN/pg_ctl" TEST_PG_DATA="$PG_WORK/data" TEST_PG_OPTS="$PG_OPTS" TEST_PG_LOG="$PG_WORK/postgres.log"
  log "PostgreSQL on 127.0.0.1:$PG_PORT, PgBouncer (transaction mode) on 127.0.0.1:$PGBOUNCER_PORT"
}

stop_postgres() {
  [ -n "${PG_WORK:-}" ] && [ -d "$PG_WORK" ] || return 0
  if [ -f "$PG_WORK/pgbouncer.pid" ]; then kill "$(cat "$PG_WORK/pgbouncer.pid")" 2>/dev/null || true; fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_WORK"
  PG_WORK=""
}

# Node tools for the deployment tests, installed into .cache/node: the Serverless Framework
# v3 CLI (it packages offline) with the Python requirements plugin, Vercel's own function
# detector, `jose`, the JOSE library Node resource servers verify our tokens with, and panva's
# OAuth 2.0 clients `oauth4webapi` and `openid-client`, which the client tests drive.
# Exports DEPLOY_NODE_MODULES and SERVERLESS_CLI.
DEPLOY_NODE_PACKAGES="serverless@3.40.0 serverless-python-requirements@6.1.2 @vercel/fs-detectors@7.7.3 jose@6.2.17 oauth4webapi@3.8.8 openid-client@6.9.0"
ensure_deploy_tools() {
  local prefix="$ROOT/.cache/node"
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  if [ ! -x "$prefix/node_modules/.bin/serverless" ] || ! grep -qxF "$DEPLOY_NODE_PACKAGES" "$prefix/.installed" 2>/dev/null; then
    log "installing $DEPLOY_NODE_PACKAGES into .cache/node"
    mkdir -p "$prefix"
    # shellcheck disable=SC2086
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error $DEPLOY_NODE_PACKAGES >/dev/null \
      || die "npm install $DEPLOY_NODE_PACKAGES failed"
    printf '%s\n' "$DEPLOY_NODE_PACKAGES" > "$prefix/.installed"
  fi
  export DEPLOY_NODE_MODULES="$prefix/node_modules"
  export SERVERLESS_CLI="$prefix/node_modules/.bin/serverless"
}

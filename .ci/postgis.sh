# Start a throwaway PostgreSQL + PostGIS cluster for the test suite.
#
#   source .ci/postgis.sh          # starts it, exports TEST_DATABASE_URL
#   pytest                         # PostGIS tests now run instead of skipping
#   shequ_postgis_stop             # stops it and deletes its files
#
# Meant to be *sourced* (by .ci/run and by developers). It does not change the
# caller's shell options. Settings (all optional):
#   SHEQU_PG_PORT   port to listen on (default 55432; a free one is picked if
#                   that is taken)
#   SHEQU_PG_BIN    PostgreSQL bin dir (default: newest /usr/lib/postgresql/*/bin)
#   SHEQU_PG_DB     database name (default shequ_test)
#   SHEQU_PG_TMP    where to make the cluster's temporary directory (default /tmp)
#
# The cluster lives in a fresh temporary directory, listens on 127.0.0.1 only,
# trusts every local connection (user "postgres", no password) and runs with
# fsync off: it is for tests, never for data you want to keep. When run as root
# the server runs as the "postgres" system user (PostgreSQL refuses root).

shequ_postgis_stop() {
    if [ -n "${SHEQU_PG_DIR:-}" ] && [ -d "${SHEQU_PG_DIR}/data" ]; then
        echo "--- stopping test PostGIS (${SHEQU_PG_DIR})"
        _shequ_pg_as_owner "${SHEQU_PG_BIN}/pg_ctl" -D "${SHEQU_PG_DIR}/data" \
            -m fast -w -t 60 stop >/dev/null 2>&1 || true
        rm -rf "${SHEQU_PG_DIR}"
    fi
    unset SHEQU_PG_DIR
    return 0
}

_shequ_pg_as_owner() {
    # Run a command as the cluster owner: "postgres" when we are root, else us.
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_shequ_pg_port_free() {
    # True when nothing listens on 127.0.0.1:$1.
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

_shequ_pg_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

shequ_postgis_start() {
    local bin port db base
    if [ -n "${SHEQU_PG_DIR:-}" ] && [ -d "${SHEQU_PG_DIR}/data" ]; then
        echo "test PostGIS already running: TEST_DATABASE_URL=${TEST_DATABASE_URL:-?}"
        return 0
    fi

    bin="${SHEQU_PG_BIN:-}"
    if [ -z "$bin" ]; then
        bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    fi
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "ERROR: PostgreSQL server binaries not found (apt-get install postgresql postgis," \
             "or set SHEQU_PG_BIN)" >&2
        return 1
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        echo "ERROR: running as root but there is no 'postgres' user to own the cluster" >&2
        return 1
    fi

    port="${SHEQU_PG_PORT:-55432}"
    if ! _shequ_pg_port_free "$port"; then
        echo "port $port is taken; picking a free one" >&2
        port="$(_shequ_pg_free_port)"
    fi
    db="${SHEQU_PG_DB:-shequ_test}"

    # As root the server runs as "postgres", which must be able to reach the
    # directory: use /tmp rather than a TMPDIR that may sit under /root.
    local parent="${SHEQU_PG_TMP:-${TMPDIR:-/tmp}}"
    if [ "$(id -u)" = 0 ]; then parent="${SHEQU_PG_TMP:-/tmp}"; fi
    base="$(mktemp -d "$parent/shequ-pg.XXXXXX")" || return 1
    chmod 755 "$base"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$base" || return 1
    fi
    export SHEQU_PG_DIR="$base" SHEQU_PG_BIN="$bin" SHEQU_PG_PORT="$port"

    echo "--- initdb ($bin, $base)"
    if ! _shequ_pg_as_owner "$bin/initdb" -D "$base/data" -U postgres -A trust \
            -E UTF8 --locale=C.UTF-8 --no-sync >"$base/initdb.log" 2>&1; then
        cat "$base/initdb.log" >&2
        shequ_postgis_stop
        return 1
    fi

    echo "--- starting PostgreSQL on 127.0.0.1:$port"
    if ! _shequ_pg_as_owner "$bin/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
            -o "-p $port -k $base -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
            start >/dev/null; then
        echo "ERROR: PostgreSQL did not start; server log:" >&2
        tail -n 40 "$base/server.log" >&2 || true
        shequ_postgis_stop
        return 1
    fi

    echo "--- creating database $db with PostGIS"
    if ! "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -c "CREATE DATABASE \"$db\"" >/dev/null \
       || ! "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" \
            -c "CREATE EXTENSION postgis" >/dev/null; then
        echo "ERROR: could not create $db with the postgis extension" \
             "(is postgresql-NN-postgis-3 installed?)" >&2
        shequ_postgis_stop
        return 1
    fi

    export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/$db"
    echo "$("$bin/psql" -X -At -h 127.0.0.1 -p "$port" -U postgres -d "$db" \
        -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', PostGIS ' || PostGIS_Lib_Version()")"
    echo "export TEST_DATABASE_URL=$TEST_DATABASE_URL"
    echo "(stop it with: shequ_postgis_stop)"
    return 0
}

shequ_postgis_start

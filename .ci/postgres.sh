# Sourced by .ci/test: starts Debian's PostgreSQL on loopback (unless it is already running) and exports
# TEST_POSTGRES_URL. Sets pg_started=1 only when it started the server here, so the caller stops only that one.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg_dir=${TEST_POSTGRES_DIR:-/tmp/k2-merchant-pg}
pg_port=${TEST_POSTGRES_PORT:-55432}
pg_started=0
if ! su postgres -s /bin/sh -c "$pg_bin/pg_ctl -D $pg_dir status" >/dev/null 2>&1; then
  rm -rf "$pg_dir"; mkdir -p "$pg_dir"; chown postgres "$pg_dir"
  su postgres -s /bin/sh -c "$pg_bin/initdb -D $pg_dir -A trust -U postgres" >/dev/null
  su postgres -s /bin/sh -c "$pg_bin/pg_ctl -D $pg_dir -l $pg_dir/log -o '-p $pg_port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=on' -w start" >/dev/null
  pg_started=1
fi
export TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"

#!/usr/bin/env bash
# Start a local PostgreSQL server for the test suite (installs it from Debian's
# packages when missing) and print the URL the tests use. Idempotent.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >/dev/null
fi
pg_ctlcluster "$ver" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 1
done
pg_isready -q -h 127.0.0.1
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='notifier'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE notifier LOGIN SUPERUSER PASSWORD 'notifier'\""
echo "postgresql+psycopg://notifier:notifier@127.0.0.1:5432/postgres"

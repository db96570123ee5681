#!/usr/bin/env bash
# The quick start behind `make run`: a local SQLite install with the demo brand, served by
# gunicorn (the production server) on 127.0.0.1. Everything it keeps lives in var/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
mkdir -p var
chmod 700 var

# A local secret key, generated once and kept out of git.
if [ -z "${SECRET_KEY:-}" ]; then
  [ -s var/secret_key ] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key
  chmod 600 var/secret_key
  SECRET_KEY=$(cat var/secret_key)
fi
export SECRET_KEY
export DEBUG=${DEBUG:-0}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost}
export TRCKER_PUBLIC_URL=${TRCKER_PUBLIC_URL:-http://127.0.0.1:$PORT}

# What this run serves with, for `python manage.py …` in another shell: manage.py reads it
# with var/secret_key when SECRET_KEY is not in its environment, so its commands use the same
# key, database, Redis and URLs as this server. Not when the key came from the environment:
# var/secret_key would not match what this run uses.
rm -f var/local.env
if [ "$SECRET_KEY" = "$(cat var/secret_key 2>/dev/null)" ]; then
  for name in DEBUG ALLOWED_HOSTS TRCKER_PUBLIC_URL DATABASE_URL REDIS_URL TRCKER_QUEUE_REDIS_URL; do
    if [ -n "${!name:-}" ]; then printf '%s=%s\n' "$name" "${!name}"; fi
  done > var/local.env
  chmod 600 var/local.env
fi

"$PY" manage.py migrate --noinput -v0
"$PY" manage.py collectstatic --noinput -v0
seed_out=$("$PY" manage.py seed_demo --key-file var/demo_api_key --admin-password-file var/demo_admin_password)
key=$(sed -n 's/^API key: //p' <<<"$seed_out")
login=$(sed -n 's/^Admin login: //p' <<<"$seed_out")

cat <<INFO

  Trcker is starting on $TRCKER_PUBLIC_URL

  Demo brand API key:  $key
  Admin (demo brand):  $TRCKER_PUBLIC_URL/admin/   login $login
  Health:              $TRCKER_PUBLIC_URL/api/health
  REST API docs:       $TRCKER_PUBLIC_URL/api/docs
  Try it:              curl -H "Authorization: Bearer $key" $TRCKER_PUBLIC_URL/api/v1/offers/
  Tracking link:       $TRCKER_PUBLIC_URL/c/demo/spring-sale/abc-123

INFO

# The worker (queued clicks and tool-call rows, audit links, outbound postbacks, emails: the
# console backend prints them here) runs beside
# the web server and stops with it.
"$PY" manage.py run_workers &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM

# Two processes per CPU (clicks are CPU-bound Python: processes, not threads, run them in
# parallel), two threads each (to overlap database and Redis waits); see docs/performance.md.
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
"$(dirname "$PY")/gunicorn" trcker_site.wsgi:application \
  --bind "127.0.0.1:$PORT" --workers "${WEB_CONCURRENCY:-$((2 * cpus))}" --threads "${WEB_THREADS:-2}" \
  --access-logfile - --log-level info \
  --logger-class trcker_site.gunicorn_logging.RedactingLogger  # no ?secret= in the access log

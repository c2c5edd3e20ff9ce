#!/bin/bash
# `make image-test`: the image runs the sample site. Inside the container, with the
# site in a host folder mounted at /data (owned by the image's UID 10001):
# `mailer init` + `mailer run` put the sample's emails in outbox/; `mailer serve`
# answers /healthz to the host; `mailer daemon` turns healthy and sends nothing
# twice. Containers are removed at the end; the base tarball and podman's storage
# under build/ stay, so the next run is quick. Usage: image/test.sh IMAGE WORKDIR
set -euo pipefail
# Without systemd podman cannot schedule health checks (it logs an error per
# container and goes on); this test runs them itself with `podman healthcheck run`.
image=$1
work=$(realpath -m "$2")
uid=10001
serve=mailer-image-test-serve
daemon=mailer-image-test-daemon
started=$SECONDS

step() { printf '== %s (%ds)\n' "$*" $((SECONDS - started)); }
fail() { echo "image-test FAILED: $*" >&2; exit 1; }
cleanup() {
  podman rm --force --time 5 "$serve" "$daemon" >/dev/null 2>&1 || true
  [ -z "${pg_stop:-}" ] || $pg_stop
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
emails() { find "$1/outbox" -name '*.eml' 2>/dev/null | wc -l; }

# A fresh site folder for the image's user, seeded from the sample inside the image.
new_site() {
  rm -rf "$1"
  install -d -o "$uid" -g "$uid" -m 0700 "$1"
  podman run --rm --no-healthcheck --volume "$1:/data" --entrypoint cp "$image" -R /usr/share/mailer/site/. /data/
}
# `mailer ARGS` in the container on the site at $1 (extra podman options in $mailer_env).
mailer() {
  local site=$1
  shift
  podman run --rm --no-healthcheck --volume "$site:/data" \
    --volume "$work/mailer_secret:/run/secrets/mailer_secret:ro" \
    --env MAILER_SECRET_FILE=/run/secrets/mailer_secret "${mailer_env[@]}" "$image" "$@"
}
mailer_env=()

mkdir -p "$work"
python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$work/mailer_secret"
chmod 0444 "$work/mailer_secret"

step "the sample site in $work/data"
site=$work/data
new_site "$site"
mailer "$site" init
mailer "$site" run
sent=$(emails "$site")
[ "$sent" -gt 0 ] || fail "mailer run put no email in outbox/"
owner=$(stat -c %u "$site/outbox/index.jsonl")
[ "$owner" = "$uid" ] || fail "outbox/ is owned by $owner, not the image's user $uid"
echo "mailer run in the container: $sent emails in outbox/, written as UID $owner"

step "mailer serve: /healthz from the host"
port=$(free_port)
# Its health check as compose.yaml sets it (the image's own is the daemon's).
podman run --detach --name "$serve" --volume "$site:/data" \
  --health-cmd "mailer health --url http://127.0.0.1:$port/healthz" \
  --volume "$work/mailer_secret:/run/secrets/mailer_secret:ro" \
  --env MAILER_SECRET_FILE=/run/secrets/mailer_secret \
  "$image" serve --host 127.0.0.1 --port "$port" >/dev/null
answer=""
for _ in $(seq 100); do
  answer=$(curl --silent --show-error --max-time 2 --write-out ' %{http_code}' \
    "http://127.0.0.1:$port/healthz" 2>/dev/null) && break
  sleep 0.2
done
[ "$answer" = "ok
 200" ] || { podman logs "$serve" >&2; fail "/healthz answered '$answer'"; }
podman healthcheck run "$serve" >/dev/null || fail "the serve health check failed"
echo "GET http://127.0.0.1:$port/healthz: 200 ok; its health check passes"

step "mailer serve: podman stop ends it at once"
# As the container's first process it gets no default action for SIGTERM: serve handles it,
# or podman would wait out --time and kill it.
stop_began=$(date +%s%N)
podman stop --time 20 "$serve" >/dev/null
took_ms=$(( ($(date +%s%N) - stop_began) / 1000000 ))
code=$(podman inspect --format '{{.State.ExitCode}}' "$serve")
[ "$code" = 0 ] || { podman logs "$serve" >&2; fail "mailer serve exited $code on SIGTERM"; }
[ "$took_ms" -lt 10000 ] || fail "podman stop took ${took_ms} ms: SIGTERM went unheard"
echo "podman stop: exit 0 after ${took_ms} ms"

step "mailer daemon: healthy, and nothing sent twice"
podman run --detach --name "$daemon" --volume "$site:/data" \
  --volume "$work/mailer_secret:/run/secrets/mailer_secret:ro" \
  --env MAILER_SECRET_FILE=/run/secrets/mailer_secret "$image" >/dev/null
healthy=""
for _ in $(seq 60); do
  if healthy=$(podman exec "$daemon" mailer health 2>&1); then break; fi
  sleep 0.5
done
echo "$healthy"
[[ $healthy == ok:* ]] || { podman logs "$daemon" >&2; fail "the daemon never turned healthy"; }
podman healthcheck run "$daemon" >/dev/null || fail "the image's HEALTHCHECK failed on the daemon"
podman stop --time 30 "$daemon" >/dev/null
[ "$(emails "$site")" = "$sent" ] || fail "the daemon sent again what mailer run had sent"
echo "the image's HEALTHCHECK passes; the daemon's catch-up sent nothing new"

# ---------------------------------------------------------------------------------
# PostgreSQL ledger: on by default (`make image-test IMAGE_TEST_POSTGRES=0` leaves it
# out). It starts the distribution's
# PostgreSQL on the host (installed when missing), runs the sample site in the
# container against it, checks the same emails go out and that a second run sends
# nothing, and that /healthz answers 200 with it up and 503 with it stopped.
# ---------------------------------------------------------------------------------
if [ "${IMAGE_TEST_POSTGRES:-1}" = 1 ]; then
  step "PostgreSQL ledger on the host"
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  bin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")
  pgdata=$work/postgres
  pgport=$(free_port)
  rm -rf "$pgdata"
  install -d -o postgres -g postgres "$pgdata"
  as_postgres() { runuser -u postgres -- "$@"; }
  as_postgres "$bin/initdb" --pgdata "$pgdata/db" --auth-host=scram-sha-256 --auth-local=trust \
    --username postgres >/dev/null
  pg_stop="runuser -u postgres -- $bin/pg_ctl --pgdata $pgdata/db --mode fast stop"
  as_postgres "$bin/pg_ctl" --pgdata "$pgdata/db" --log "$pgdata/log" --wait start \
    -o "-p $pgport -k $pgdata -c listen_addresses=127.0.0.1" >/dev/null
  python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$work/db_password"
  chmod 0444 "$work/db_password"
  as_postgres "$bin/psql" -h "$pgdata" -p "$pgport" -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE mailer LOGIN PASSWORD '$(cat "$work/db_password")'" \
    -c "CREATE DATABASE mailer OWNER mailer"
  mailer_env=(--volume "$work/db_password:/run/secrets/db_password:ro"
    --env "MAILER_LEDGER_URL=postgresql://mailer@127.0.0.1:$pgport/mailer"
    --env MAILER_LEDGER_PASSWORD_FILE=/run/secrets/db_password)
  pg_site=$work/data-postgres
  new_site "$pg_site"
  mailer "$pg_site" init
  mailer "$pg_site" run
  [ "$(emails "$pg_site")" = "$sent" ] || fail "on PostgreSQL: $(emails "$pg_site") emails, not $sent"
  [ ! -e "$pg_site/state/mailer.db" ] || fail "a SQLite ledger was written beside PostgreSQL"
  mailer "$pg_site" run
  [ "$(emails "$pg_site")" = "$sent" ] || fail "a second run on PostgreSQL sent again"
  port=$(free_port)
  podman rm --force "$serve" >/dev/null
  podman run --detach --name "$serve" --volume "$pg_site:/data" "${mailer_env[@]}" \
    --volume "$work/mailer_secret:/run/secrets/mailer_secret:ro" \
    --env MAILER_SECRET_FILE=/run/secrets/mailer_secret \
    "$image" serve --host 127.0.0.1 --port "$port" >/dev/null
  for _ in $(seq 100); do
    code=$(curl --silent --max-time 2 --output /dev/null --write-out '%{http_code}' \
      "http://127.0.0.1:$port/healthz") && [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || fail "/healthz on PostgreSQL answered $code"
  $pg_stop >/dev/null
  pg_stop=""
  code=$(curl --silent --max-time 10 --output /dev/null --write-out '%{http_code}' \
    "http://127.0.0.1:$port/healthz") || true
  [ "$code" = 503 ] || fail "/healthz with PostgreSQL stopped answered $code, not 503"
  echo "on PostgreSQL: $sent emails, none twice; /healthz 200 with it up, 503 with it down"
else
  echo "== PostgreSQL ledger step skipped (IMAGE_TEST_POSTGRES=0)"
fi

step "done: image-test passed"
podman image inspect --format "image size: {{.Size}} bytes" "$image"

# Starts the real services the tests use, on loopback only, and exports
# where they are. Source it: `source .ci/services.sh`. Idempotent: a service
# already answering is reused. Nothing is skipped: a service that cannot
# start is an error, and the tests fail without these variables.
#
#   PostgreSQL (Debian's package)  CALLVAULT_TEST_POSTGRES
#   MinIO (go install, see .ci/run) CALLVAULT_TEST_S3_ENDPOINT, AWS_*
#   Azurite (npm)                  CALLVAULT_TEST_AZURITE, AZURE_STORAGE_*
#
# State lives under $CALLVAULT_SERVICES_DIR (default /tmp/callvault-services).

cv_services_dir=${CALLVAULT_SERVICES_DIR:-/tmp/callvault-services}
mkdir -p "$cv_services_dir"

cv_wait() { # cv_wait NAME COMMAND…: up to 60 s for COMMAND to succeed
  local name=$1; shift
  for _ in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "services: $name did not start; see $cv_services_dir/$name.log" >&2
  return 1
}

cv_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- PostgreSQL: a private cluster with trust auth on 127.0.0.1:54329.
cv_pg_port=54329
if ! cv_port_open $cv_pg_port; then
  cv_pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$cv_pg_bin/initdb" ] || { echo "services: PostgreSQL is not installed (apt-get install postgresql)" >&2; return 1; }
  cv_pg_data=$cv_services_dir/pg
  cv_pg_user=$(id -un)
  cv_as_pg=()
  if [ "$(id -u)" = 0 ]; then # initdb refuses to run as root
    cv_pg_user=postgres
    cv_as_pg=(runuser -u postgres --)
    chown postgres "$cv_services_dir"
  fi
  if [ ! -f "$cv_pg_data/PG_VERSION" ]; then
    "${cv_as_pg[@]}" "$cv_pg_bin/initdb" -D "$cv_pg_data" -U postgres --auth=trust -E UTF8 >"$cv_services_dir/pg-init.log" 2>&1 ||
      { echo "services: initdb failed; see $cv_services_dir/pg-init.log" >&2; return 1; }
  fi
  "${cv_as_pg[@]}" "$cv_pg_bin/pg_ctl" -D "$cv_pg_data" -l "$cv_services_dir/postgres.log" -w \
    -o "-p $cv_pg_port -k $cv_services_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null ||
    { echo "services: PostgreSQL did not start; see $cv_services_dir/postgres.log" >&2; return 1; }
fi
export CALLVAULT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$cv_pg_port/postgres?sslmode=disable"

# --- MinIO on 127.0.0.1:9100.
export AWS_ACCESS_KEY_ID=callvault-test
export AWS_SECRET_ACCESS_KEY=callvault-test-secret
export AWS_REGION=us-east-1
export CALLVAULT_TEST_S3_ENDPOINT=http://127.0.0.1:9100
if ! cv_port_open 9100; then
  cv_minio=$(command -v minio || echo "$(go env GOPATH)/bin/minio")
  [ -x "$cv_minio" ] || { echo "services: minio is not installed (see .ci/run)" >&2; return 1; }
  mkdir -p "$cv_services_dir/minio"
  MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
    nohup "$cv_minio" server "$cv_services_dir/minio" --address 127.0.0.1:9100 --console-address 127.0.0.1:9101 \
    >"$cv_services_dir/minio.log" 2>&1 &
  cv_wait minio curl -sf http://127.0.0.1:9100/minio/health/live || return 1
fi

# --- Azurite (Azure Blob Storage emulator) on 127.0.0.1:10100.
export AZURE_STORAGE_ACCOUNT=devstoreaccount1
export AZURE_STORAGE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
export CALLVAULT_TEST_AZURITE=127.0.0.1:10100
if ! cv_port_open 10100; then
  cv_azurite=$(command -v azurite-blob || true)
  [ -n "$cv_azurite" ] || { echo "services: azurite is not installed (npm install -g azurite)" >&2; return 1; }
  mkdir -p "$cv_services_dir/azurite"
  nohup "$cv_azurite" --blobHost 127.0.0.1 --blobPort 10100 --location "$cv_services_dir/azurite" \
    --skipApiVersionCheck --loose >"$cv_services_dir/azurite.log" 2>&1 &
  cv_wait azurite cv_port_open 10100 || return 1
fi

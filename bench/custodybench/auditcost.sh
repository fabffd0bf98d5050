#!/usr/bin/env bash
# auditcost.sh: what the audit trail costs a play and a search, in process
# (internal/httpapi/audit_bench_test.go): the same benchmark with the
# trail on and off (Service.DisableAudit), run alternately, one process per
# run, the order flipped every round so that the machine's drift hits both
# alike; then benchstat.
#
#   bash bench/custodybench/auditcost.sh                       # SQLite and files, in TMPDIR=/dev/shm
#   BENCHTMP=/tmp bash bench/custodybench/auditcost.sh         # the same on the disk
#   source .ci/services.sh && CALLVAULT_TEST_BACKEND=postgres-minio \
#     ROUNDS=6 PLAYN=1000x P10N=500x P1000N=20x bash bench/custodybench/auditcost.sh
#
# ROUNDS (12), PLAYN (3000x), P10N (2000x), P1000N (30x), OUT (audit.txt),
# APPENDN (5000x: BenchmarkAuditAppend, the entry alone, 8 runs after the
# rounds; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/httpapi.test" ./internal/httpapi
out=${OUT:-audit.txt}
: >"$out"
bench() { TMPDIR=${BENCHTMP:-/dev/shm} "$work/httpapi.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" >>"$out"; }
for i in $(seq "${ROUNDS:-12}"); do
  if [ $((i % 2)) = 1 ]; then order="on off"; else order="off on"; fi
  for a in $order; do
    bench "^BenchmarkAuditPlay\$/^audit=$a\$" "${PLAYN:-3000x}"
    bench "^BenchmarkAuditSearch\$/^page=10\$/^audit=$a\$" "${P10N:-2000x}"
    bench "^BenchmarkAuditSearch\$/^page=1000\$/^audit=$a\$" "${P1000N:-30x}"
  done
  echo "round $i done $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
if [ "${APPENDN:-5000x}" != 0 ]; then
  for _ in $(seq 8); do bench '^BenchmarkAuditAppend$' "${APPENDN:-5000x}"; done
fi
benchstat=$(command -v benchstat || echo "$(go env GOPATH)/bin/benchstat")
"$benchstat" -col /audit -filter '.name:/AuditPlay|AuditSearch/' "$out" || true
"$benchstat" -filter '.name:AuditAppend' "$out" || true

#!/usr/bin/env bash
# Compares callvault's CMS encrypt/decrypt with openssl cms on one file, in one run:
# wall time and peak RSS of each, and openssl time / callvault time.
#
#   bench/cms.sh                       # 1 GiB file under a fresh /tmp directory
#   SIZE_MB=64 BENCH_DIR=/var/tmp/b bench/cms.sh
#
# Needs: go, openssl, GNU time at /usr/bin/time (Debian/Ubuntu: apt-get install -y time),
# and about 3 × SIZE_MB of free space in the work directory.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
TIME_BIN=/usr/bin/time
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "bench/cms.sh: $*" >&2; exit 1; }

[[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || die "SIZE_MB must be a positive whole number of MiB, not '$SIZE_MB'"
if ! "$TIME_BIN" -f '%e %M' -o /dev/null true 2>/dev/null; then
	die "GNU time is needed at $TIME_BIN for peak RSS; install it: apt-get install -y time"
fi
command -v openssl >/dev/null || die "openssl not found; install it: apt-get install -y openssl"
command -v go >/dev/null || die "go not found"

if [[ -n ${BENCH_DIR:-} ]]; then
	WORK=$BENCH_DIR
	mkdir -p "$WORK"
	OWN_DIR=0
else
	WORK=$(mktemp -d /tmp/callvault-bench.XXXXXX)
	OWN_DIR=1
fi

# Big files go at the end whatever happens; in a directory we did not make,
# only our own files.
cleanup() {
	rm -f "$WORK"/{input,openssl.bin,callvault.bin,a.out,b.out,c.out,d.out,time.txt}
	if [[ $OWN_DIR == 1 ]]; then
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

echo "building callvault…" >&2
(cd "$ROOT" && go build -o "$WORK/callvault" ./cmd/callvault)
CV=$WORK/callvault

echo "making a ${SIZE_MB} MiB random input and a key pair in $WORK…" >&2
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$WORK/input"
BYTES=$(stat -c %s "$WORK/input")
WANT_SHA=$(sha256sum "$WORK/input" | cut -d' ' -f1)
# The guide's commands ("Generating a self-signed certificate key pair using OpenSSL").
openssl genrsa -out "$WORK/tenant.key" 2048 2>/dev/null
openssl req -new -x509 -key "$WORK/tenant.key" -out "$WORK/tenant.pem" -days 3650 \
	-subj "/CN=Genesys Recording/C=US/ST=California/O=Genesys"

ROWS=()
declare -A SECONDS_OF

# measure KEY OPERATION TOOL COMMAND… runs COMMAND under GNU time and records a table row.
measure() {
	local key=$1 operation=$2 tool=$3
	shift 3
	echo "  $operation ($tool)…" >&2
	# Flush the previous step's dirty pages, so no tool pays for another's writeback.
	# (callvault fsyncs its output before renaming it; openssl does not.)
	sync
	if ! "$TIME_BIN" -f '%e %M' -o "$WORK/time.txt" "$@"; then
		die "$operation ($tool) failed: $*"
	fi
	local seconds kib
	read -r seconds kib <"$WORK/time.txt"
	SECONDS_OF[$key]=$seconds
	ROWS+=("$(awk -v op="$operation" -v tool="$tool" -v s="$seconds" -v kib="$kib" -v bytes="$BYTES" 'BEGIN {
		mbps = (s > 0) ? sprintf("%.0f", bytes / 1e6 / s) : "n/a"
		printf "| %s | %s | %.2f | %s | %.1f |", op, tool, s, mbps, kib / 1024
	}')")
}

# check FILE: the decrypted FILE must equal the input; it is removed after.
check() {
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	[[ $got == "$WANT_SHA" ]] || die "$1: sha256 $got differs from the input's $WANT_SHA"
	rm -f "$1"
}

cat "$WORK/input" >/dev/null # warm the page cache so the first tool measured is not penalised

echo "running…" >&2
measure enc_openssl "encrypt (AES-128)" "openssl cms" \
	openssl cms -encrypt -binary -outform DER -aes128 -in "$WORK/input" -out "$WORK/openssl.bin" "$WORK/tenant.pem"
measure enc_ours "encrypt (AES-128)" callvault \
	"$CV" encrypt -aes128 -in "$WORK/input" -out "$WORK/callvault.bin" -recip "$WORK/tenant.pem"

measure dec_openssl_openssl "decrypt openssl's file" "openssl cms" \
	openssl cms -decrypt -inform DER -binary -in "$WORK/openssl.bin" -inkey "$WORK/tenant.key" -out "$WORK/a.out"
check "$WORK/a.out"
measure dec_ours_openssl "decrypt openssl's file" callvault \
	"$CV" decrypt -inform DER -binary -in "$WORK/openssl.bin" -inkey "$WORK/tenant.key" -out "$WORK/b.out"
check "$WORK/b.out"
measure dec_openssl_ours "decrypt callvault's file" "openssl cms" \
	openssl cms -decrypt -inform DER -binary -in "$WORK/callvault.bin" -inkey "$WORK/tenant.key" -out "$WORK/c.out"
check "$WORK/c.out"
measure dec_ours_ours "decrypt callvault's file" callvault \
	"$CV" decrypt -inform DER -binary -in "$WORK/callvault.bin" -inkey "$WORK/tenant.key" -out "$WORK/d.out"
check "$WORK/d.out"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "CMS EnvelopedData, ${SIZE_MB} MiB random input, RSA-2048 recipient; $(openssl version | cut -d' ' -f1-2), $(go version | cut -d' ' -f3), $(nproc) CPUs"
echo "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
echo
echo "| operation | tool | seconds | MB/s | peak RSS MiB |"
echo "| --- | --- | ---: | ---: | ---: |"
printf '%s\n' "${ROWS[@]}"
echo
echo "All four decrypted outputs match the input's sha256."
echo
echo "| openssl time / callvault time | ratio |"
echo "| --- | ---: |"
echo "| encrypt | $(ratio "${SECONDS_OF[enc_openssl]}" "${SECONDS_OF[enc_ours]}") |"
echo "| decrypt openssl's file | $(ratio "${SECONDS_OF[dec_openssl_openssl]}" "${SECONDS_OF[dec_ours_openssl]}") |"
echo "| decrypt callvault's file | $(ratio "${SECONDS_OF[dec_openssl_ours]}" "${SECONDS_OF[dec_ours_ours]}") |"

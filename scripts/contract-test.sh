#!/usr/bin/env bash
# make contract-test: replays the management API's OpenAPI document
# (docs/openapi.json) against a live gateway with schemathesis, every check
# on, and fails on any failure.
#
# Why schemathesis: it is the contract tester issue 14 names and the one the
# API is checked with from outside; it generates requests from the document
# itself (valid ones that must be accepted, invalid ones that must be
# refused, OpenAPI links followed statefully), checks every answer against
# the document (status code, Content-Type, headers, body schema) and probes
# what the document does not list (methods, missing auth). Dredd only replays
# the examples, and a Go-side tester (kin-openapi's validator) would check the
# server with the library that generates the document: schemathesis is an
# independent reading of it.
#
# What it does:
#   1. schemathesis, pinned with every dependency in tools/contract/requirements.txt,
#      into a venv under the tools cache (${WASMBED_TOOLS_CACHE:-~/.cache/wasmbed/tools}/
#      schemathesis-<version>-<hash of the requirements>); seconds when present.
#      Python's venv from Debian (python3, python3-venv) when missing.
#   2. builds wasmbed-gateway and starts it with embedded defaults (bbolt store,
#      embedded step-ca) on loopback ports the kernel picks, with a temporary
#      data directory; the admin token is the one it writes there (admin.token).
#   3. seeds what the document's path examples name: devices dev-1 and dev-2,
#      module blinker (examples/apps/blinker.wat), applications blinker and
#      blinker-2, gateway gateway-2 (the DELETEs' examples are the -2 ones), a
#      token and a certificate of dev-1 (the document's example CSR).
#   4. st run docs/openapi.json with --checks all, a fixed seed and
#      CONTRACT_TEST_EXAMPLES examples per operation (tools/contract/schemathesis.toml
#      has the rest: no cache carried between runs, the watch stream read for
#      2 s, and the statuses a schema-valid request may get besides 2xx where
#      a rule the schema cannot state refuses it: 412 for a stale If-Match,
#      422 for rules on map keys, across fields, on a CSR or module's contents).
#   The gateway and the data directory go when the script ends, however it ends.
#
# Environment: CONTRACT_TEST_EXAMPLES (default 100), CONTRACT_TEST_SEED
# (default 14), CONTRACT_TEST_KEEP=1 keeps the data directory and the gateway's log.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONTRACT=$ROOT/tools/contract
REQ=$CONTRACT/requirements.txt
DOC=$ROOT/docs/openapi.json
CACHE=${WASMBED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmbed/tools}
EXAMPLES=${CONTRACT_TEST_EXAMPLES:-100}
SEED=${CONTRACT_TEST_SEED:-14}

log() { echo "contract-test: $*"; }
die() { echo "contract-test: ERROR: $*" >&2; exit 1; }
start=$SECONDS

for tool in jq curl wat2wasm; do
	command -v "$tool" >/dev/null || die "$tool is missing: run make setup"
done

# ---------------------------------------------------------- schemathesis ----
version=$(sed -n 's/^schemathesis==//p' "$REQ")
[[ -n $version ]] || die "tools/contract/requirements.txt pins no schemathesis"
VENV=$CACHE/schemathesis-$version-$(sha256sum "$REQ" | cut -c1-12)
ST=$VENV/bin/st
if [[ ! -f $VENV/.complete ]] || ! "$ST" --version >/dev/null 2>&1; then
	mkdir -p "$CACHE"
	exec 9>"$VENV.lock"
	flock 9
	if [[ ! -f $VENV/.complete ]] || ! "$ST" --version >/dev/null 2>&1; then
		# Debian's python3 when it can make a venv (python3-venv), else the one on PATH.
		PY=
		for p in /usr/bin/python3 "$(command -v python3 || true)"; do
			if [[ -x $p ]] && "$p" -c 'import venv, ensurepip' 2>/dev/null; then PY=$p; break; fi
		done
		if [[ -z $PY ]]; then
			log "installing Debian's python3 and python3-venv"
			SUDO=()
			[[ $(id -u) == 0 ]] || SUDO=(sudo)
			"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends python3 python3-venv >/dev/null ||
				{ "${SUDO[@]}" apt-get -q update >/dev/null && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends python3 python3-venv >/dev/null; }
			PY=/usr/bin/python3
		fi
		log "installing schemathesis $version into $VENV (pip, tools/contract/requirements.txt)"
		t=$SECONDS
		rm -rf "$VENV"
		"$PY" -m venv "$VENV"
		"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQ"
		"$ST" --version >/dev/null
		touch "$VENV/.complete"
		log "schemathesis installed in $((SECONDS - t))s"
	fi
	exec 9>&-
fi

# ------------------------------------------------------------- gateway ----
TMP=$(mktemp -d -t wasmbed-contract.XXXXXX)
DATA=$TMP/data
GW_PID=
cleanup() {
	local rc=$?
	if [[ -n $GW_PID ]] && kill -0 "$GW_PID" 2>/dev/null; then
		kill "$GW_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$GW_PID" 2>/dev/null || true
		wait "$GW_PID" 2>/dev/null || true
	fi
	if ((rc != 0)) && [[ -f $TMP/gateway.log ]]; then
		echo "contract-test: the gateway's last log lines:" >&2
		grep -v 'msg=request ' "$TMP/gateway.log" | tail -n 20 >&2 || true
	fi
	if [[ ${CONTRACT_TEST_KEEP:-} == 1 ]]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building wasmbed-gateway"
(cd "$ROOT" && go build -o "$TMP/wasmbed-gateway" ./cmd/wasmbed-gateway)
wat2wasm "$ROOT/examples/apps/blinker.wat" -o "$TMP/blinker.wasm"

"$TMP/wasmbed-gateway" serve --data-dir "$DATA" --api-addr 127.0.0.1:0 --device-addr 127.0.0.1:0 \
	--name gateway >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
API=
for _ in $(seq 300); do
	API=$(sed -n 's/.*msg="gateway serving".* api=\(https:[^ ]*\).*/\1/p' "$TMP/gateway.log")
	[[ -n $API ]] && break
	kill -0 "$GW_PID" 2>/dev/null || die "the gateway exited: $(cat "$TMP/gateway.log")"
	sleep 0.1
done
[[ -n $API ]] || die "the gateway did not start in 30 s"
TOKEN=$(cat "$DATA/admin.token")
log "gateway at $API (data $DATA)"

# call METHOD PATH [CONTENT-TYPE BODY-FILE]: the answer's body; fails on an error status.
call() {
	local args=(-sS --fail-with-body --cacert "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" -X "$1")
	if (($# > 2)); then args+=(-H "Content-Type: $3" --data-binary "@$4"); fi
	curl "${args[@]}" "$API$2" || die "seeding: $1 $2 failed"
}
json() { printf '%s' "$1" >"$TMP/body.json"; echo "$TMP/body.json"; }

# ---------------------------------------------------------------- seed ----
# What the document's examples name (gateway/api/openapi.go, pathExamples):
# gateway "gateway" registered itself on start.
sha=$(call POST /v1/modules application/wasm "$TMP/blinker.wasm" | jq -r .sha256)
want=$(jq -r '.paths["/v1/modules/{sha256}"].delete.parameters[] | select(.name == "sha256") | .example' "$DOC")
[[ $sha == "$want" ]] || log "note: blinker.wasm is $sha here, the document's example module is $want (wat2wasm differs)"
# The examples of the DELETEs are other objects, left for them to delete.
call PUT /v1/gateways/gateway-2 application/json "$(json '{"addresses": ["127.0.0.1:8081"]}')" >/dev/null
for dev in dev-1 dev-2; do
	call PUT "/v1/devices/$dev" application/json "$(json '{"board": "mps2-an386", "labels": {"site": "lab"}}')" >/dev/null
done
for app in blinker blinker-2; do
	call PUT "/v1/applications/$app" application/json \
		"$(json '{"version": "1.0.0", "sha256": "'"$sha"'", "selector": {"labels": {"site": "lab"}}}')" >/dev/null
done
call POST /v1/devices/dev-1/tokens application/json "$(json '{"ttl_seconds": 3600}')" >/dev/null
jq '.paths["/v1/certificates"].post.requestBody.content["application/json"].schema.examples[0]' "$DOC" >"$TMP/csr.json"
call POST /v1/certificates application/json "$TMP/csr.json" >/dev/null
log "seeded gateway gateway-2, devices dev-1 and dev-2, module $sha, applications blinker and blinker-2, a token and a certificate of dev-1"

# ----------------------------------------------------------------- run ----
log "st run docs/openapi.json (schemathesis $version, --checks all, $EXAMPLES examples per operation, seed $SEED)"
cd "$TMP" # anything schemathesis writes stays in the temporary directory
t=$SECONDS
rc=0
"$ST" --config-file "$CONTRACT/schemathesis.toml" run "$DOC" \
	--url "$API" --tls-verify "$DATA/ca.crt" -H "Authorization: Bearer $TOKEN" \
	--checks all --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 --no-color || rc=$?
if ((rc != 0)); then
	log "FAILED: schemathesis exited $rc (failures above; replay one with the curl line it prints)"
	exit "$rc"
fi
log "passed: schemathesis ran for $((SECONDS - t))s, $((SECONDS - start))s in all"

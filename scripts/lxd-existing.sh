#!/usr/bin/env bash
# lxd-existing.sh: prepare an LXD that already runs (the snap on a CI runner, a
# developer's own daemon) for lxdapi's end-to-end tests, and print the same
# LXD_TEST_* exports as `scripts/lxd-sandbox.sh up` (see its header for each one).
#
#   eval "$(sudo scripts/lxd-existing.sh)" && sudo -E env LXD_E2E=required npm test
#
# `scripts/lxd-existing.sh incus` does the same for an Incus that already runs
# (Ubuntu 24.04's incus package), with INCUS_TEST_* exports in <state>/incus/env
# and no trust password (Incus has none):
#
#   sudo scripts/lxd-existing.sh incus && sudo env LXD_E2E=required LXD_E2E_SERVERS=incus npm test
#
# Unlike the sandbox, this changes the daemon it is pointed at: it sets
# core.https_address (when unset) and core.trust_password, imports the busybox test
# image as alias `busybox`, and trusts a client certificate of its own. Meant for
# throwaway machines (CI runners); it stops nothing and deletes nothing but its own
# files in the state folder.
#
# Everything goes through the unix socket with curl (the snap's confined `lxc` may not
# read files outside of the user's home), JSON is read with node.
#
# environment:
#   LXD_DIR           the daemon's folder (default: the snap's, else /var/lib/lxd)
#   INCUS_DIR, INCUS_SOCKET  the same for Incus (default: /var/lib/incus, its unix.socket,
#                     else /run/incus/unix.socket)
#   LXD_SANDBOX_DIR   where certificates, tarballs and the env file go (default: <repo>/.lxd-sandbox)
#   LXD_HTTPS_ADDRESS the address to listen on when core.https_address is unset (default 127.0.0.1:8443)
# Needs root (for the socket), curl, openssl, node, and a static busybox (busybox-static).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE="$(realpath -m -- "${LXD_SANDBOX_DIR:-$REPO/.lxd-sandbox}")"

LOG_TAG=lxd-existing
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

SERVER="${1:-lxd}"
case "$SERVER" in
lxd)
	if [[ -z "${LXD_DIR:-}" ]]; then
		if [[ -S /var/snap/lxd/common/lxd/unix.socket ]]; then LXD_DIR=/var/snap/lxd/common/lxd; else LXD_DIR=/var/lib/lxd; fi
	fi
	DIR="$LXD_DIR"
	SOCKET="$LXD_DIR/unix.socket"
	PREFIX=LXD_TEST
	;;
incus)
	DIR="${INCUS_DIR:-/var/lib/incus}"
	SOCKET="${INCUS_SOCKET:-$DIR/unix.socket}"
	[[ -S "$SOCKET" || -n "${INCUS_DIR:-}${INCUS_SOCKET:-}" || ! -S /run/incus/unix.socket ]] || SOCKET=/run/incus/unix.socket
	PREFIX=INCUS_TEST
	STATE="$STATE/incus"
	;;
*) die "usage: $0 [lxd|incus]" ;;
esac
[[ -S "$SOCKET" ]] || die "no $SERVER socket at $SOCKET (set ${PREFIX%_TEST}_DIR)"
for tool in curl openssl node; do command -v "$tool" >/dev/null || die "$tool is missing"; done

# api METHOD PATH [curl args...]: the JSON answer; fails on an HTTP error.
api() {
	local method="$1" path="$2"
	shift 2
	curl -sS --fail-with-body --unix-socket "$SOCKET" -X "$method" "$@" "http://lxd$path" ||
		die "$method $path failed"
}
# json EXPR: evaluates EXPR on the JSON of stdin (as `d`), prints the result.
json() { node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const d=JSON.parse(s);const v=('"$1"');process.stdout.write(v===undefined||v===null?"":typeof v==="string"?v:JSON.stringify(v))})'; }
# wait_op RESPONSE: waits for the operation of an async response; fails when it failed.
wait_op() {
	local op result
	op="$(json 'd.operation' <<<"$1")"
	[[ -n "$op" ]] || return 0
	result="$(api GET "$op/wait?timeout=120")"
	[[ "$(json 'd.metadata.status_code' <<<"$result")" == 200 ]] || die "operation $op failed: $(json 'd.metadata.err' <<<"$result")"
}
exists() { curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCKET" "http://lxd$1" | grep -qx 200; }

mkdir -p "$STATE/certs"
api GET /1.0 >/dev/null
log "$SERVER $(api GET /1.0 | json 'd.metadata.environment.server_version') at $SOCKET"

# HTTPS
address="$(api GET /1.0 | json 'd.metadata.config["core.https_address"]')"
if [[ -z "$address" ]]; then
	address="${LXD_HTTPS_ADDRESS:-127.0.0.1:8443}"
	log "listening on https://$address"
	api PATCH /1.0 -H 'Content-Type: application/json' --data "{\"config\":{\"core.https_address\":\"$address\"}}" >/dev/null
fi
case "$address" in
:* | 0.0.0.0:* | "[::]:"*) url="https://127.0.0.1:${address##*:}" ;;
*:*) url="https://$address" ;;
*) url="https://$address:8443" ;;
esac

# Client certificates: one trusted, one that stays untrusted.
make_cert "$STATE/certs/client.crt" "$STATE/certs/client.key" lxdapi-test
make_cert "$STATE/certs/untrusted.crt" "$STATE/certs/untrusted.key" lxdapi-untrusted
if ! exists "/1.0/certificates/$(cert_fingerprint "$STATE/certs/client.crt")"; then
	log "trusting the client certificate lxdapi-test"
	body="$(sed '/-----/d' "$STATE/certs/client.crt" | tr -d '\n')"
	api POST /1.0/certificates -H 'Content-Type: application/json' \
		--data "{\"type\":\"client\",\"name\":\"lxdapi-test\",\"certificate\":\"$body\"}" >/dev/null
fi
untrusted="$(cert_fingerprint "$STATE/certs/untrusted.crt")"
if exists "/1.0/certificates/$untrusted"; then api DELETE "/1.0/certificates/$untrusted" >/dev/null; fi

# The trust password (LXD 5.0; 5.21 dropped core.trust_password for tokens, and Incus has none).
if [[ "$SERVER" == lxd ]]; then
	[[ -s "$STATE/trust_password" ]] || random_hex 16 >"$STATE/trust_password"
	api PATCH /1.0 -H 'Content-Type: application/json' \
		--data "{\"config\":{\"core.trust_password\":\"$(cat "$STATE/trust_password")\"}}" >/dev/null
fi

# The images: the same deterministic busybox tarballs as the sandbox's (scripts/lib/common.sh).
ensure_images "$STATE"

fp="$(sha256sum "$STATE/busybox.tar.gz" | cut -d' ' -f1)"
if ! exists "/1.0/images/$fp"; then
	log "importing $STATE/busybox.tar.gz (${fp:0:12})"
	wait_op "$(api POST /1.0/images -H 'Content-Type: application/octet-stream' --data-binary "@$STATE/busybox.tar.gz")"
fi
if exists "/1.0/images/aliases/$IMAGE_ALIAS"; then
	target="$(api GET "/1.0/images/aliases/$IMAGE_ALIAS" | json 'd.metadata.target')"
	[[ "$target" == "$fp" ]] || api PUT "/1.0/images/aliases/$IMAGE_ALIAS" -H 'Content-Type: application/json' \
		--data "{\"target\":\"$fp\",\"description\":\"\"}" >/dev/null
else
	api POST /1.0/images/aliases -H 'Content-Type: application/json' --data "{\"name\":\"$IMAGE_ALIAS\",\"target\":\"$fp\"}" >/dev/null
fi

# A running daemon has a default profile with a root disk after `lxd init --auto` (or
# `incus admin init --auto`); say so if not.
[[ "$(api GET /1.0/profiles/default | json 'd.metadata.devices.root?.type')" == disk ]] ||
	die "the default profile has no root disk: run $([[ "$SERVER" == lxd ]] && echo 'lxd init --auto' || echo 'incus admin init --auto') first"

write_test_env "$STATE" "$DIR" "$url" "$PREFIX" "$SOCKET"
log "exports written to $STATE/env"
cat "$STATE/env"

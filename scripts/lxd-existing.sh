#!/usr/bin/env bash
# lxd-existing.sh: prepare an LXD that already runs (the snap on a CI runner, a
# developer's own daemon) for lxdapi's end-to-end tests, and print the same
# LXD_TEST_* exports as `scripts/lxd-sandbox.sh up` (see its header for each one).
#
#   eval "$(sudo scripts/lxd-existing.sh)" && sudo -E env LXD_E2E=required npm test
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
#   LXD_SANDBOX_DIR   where certificates, tarballs and the env file go (default: <repo>/.lxd-sandbox)
#   LXD_HTTPS_ADDRESS the address to listen on when core.https_address is unset (default 127.0.0.1:8443)
# Needs root (for the socket), curl, openssl, node, and a static busybox (busybox-static).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE="$(realpath -m -- "${LXD_SANDBOX_DIR:-$REPO/.lxd-sandbox}")"
IMAGE_ALIAS=busybox

log() { printf '[lxd-existing] %s\n' "$*" >&2; }
die() {
	printf '[lxd-existing] error: %s\n' "$*" >&2
	exit 1
}

if [[ -z "${LXD_DIR:-}" ]]; then
	if [[ -S /var/snap/lxd/common/lxd/unix.socket ]]; then LXD_DIR=/var/snap/lxd/common/lxd; else LXD_DIR=/var/lib/lxd; fi
fi
SOCKET="$LXD_DIR/unix.socket"
[[ -S "$SOCKET" ]] || die "no LXD socket at $SOCKET (set LXD_DIR)"
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
fingerprint_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g' | tr 'A-F' 'a-f'; }

mkdir -p "$STATE/certs"
api GET /1.0 >/dev/null
log "LXD $(api GET /1.0 | json 'd.metadata.environment.server_version') at $SOCKET"

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
make_cert() {
	[[ -s "$1" && -s "$2" ]] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes -sha384 -keyout "$2" -out "$1" \
		-days 3650 -subj "/CN=$3" -addext "extendedKeyUsage=clientAuth" >/dev/null 2>&1 || die "openssl could not make $1"
	chmod 600 "$2"
}
make_cert "$STATE/certs/client.crt" "$STATE/certs/client.key" lxdapi-test
make_cert "$STATE/certs/untrusted.crt" "$STATE/certs/untrusted.key" lxdapi-untrusted
if ! exists "/1.0/certificates/$(fingerprint_of "$STATE/certs/client.crt")"; then
	log "trusting the client certificate lxdapi-test"
	body="$(sed '/-----/d' "$STATE/certs/client.crt" | tr -d '\n')"
	api POST /1.0/certificates -H 'Content-Type: application/json' \
		--data "{\"type\":\"client\",\"name\":\"lxdapi-test\",\"certificate\":\"$body\"}" >/dev/null
fi
untrusted="$(fingerprint_of "$STATE/certs/untrusted.crt")"
if exists "/1.0/certificates/$untrusted"; then api DELETE "/1.0/certificates/$untrusted" >/dev/null; fi

# The trust password (LXD 5.0; 5.21 dropped core.trust_password for tokens).
[[ -s "$STATE/trust_password" ]] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$STATE/trust_password"
api PATCH /1.0 -H 'Content-Type: application/json' \
	--data "{\"config\":{\"core.trust_password\":\"$(cat "$STATE/trust_password")\"}}" >/dev/null

# The images: the same deterministic busybox tarballs as the sandbox's.
build_image() {
	local out="$1" with_init="$2" name="$3" desc="$4" bb=/bin/busybox arch epoch tmp a
	[[ -s "$out" ]] && return 0
	"$bb" --list >/dev/null 2>&1 || die "$bb is missing or broken (package busybox-static)"
	arch="$(uname -m)"
	epoch="$(stat -c %Y "$bb")"
	tmp="$(mktemp -d "$STATE/.image.XXXXXX")"
	mkdir -p "$tmp/rootfs"/{bin,sbin,etc,dev,proc,sys,tmp,root,run,var,mnt}
	cp "$bb" "$tmp/rootfs/bin/busybox"
	for a in sh ash cat echo ls sleep true false env id uname hostname ps mount umount \
		mkdir rm touch grep sed wc head tail printf test kill sync poweroff halt reboot; do
		ln -s busybox "$tmp/rootfs/bin/$a"
	done
	if [[ "$with_init" == yes ]]; then ln -s ../bin/busybox "$tmp/rootfs/sbin/init"; fi
	printf '::sysinit:/bin/true\n::shutdown:/bin/sync\n' >"$tmp/rootfs/etc/inittab"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tmp/rootfs/etc/passwd"
	printf 'root:x:0:\n' >"$tmp/rootfs/etc/group"
	printf 'architecture: %s\ncreation_date: %s\nproperties:\n  architecture: %s\n  description: %s\n  name: %s\n  os: busybox\n  release: test\n' \
		"$arch" "$epoch" "$arch" "$desc" "$name" >"$tmp/metadata.yaml"
	chmod 755 "$tmp/rootfs" "$tmp/rootfs"/* "$tmp/rootfs/bin/busybox"
	chmod 1777 "$tmp/rootfs/tmp"
	chmod 700 "$tmp/rootfs/root"
	chmod 644 "$tmp/metadata.yaml" "$tmp/rootfs/etc"/*
	tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=gnu -cf - metadata.yaml rootfs |
		gzip -n -9 >"$out.tmp"
	rm -rf "$tmp"
	mv -f "$out.tmp" "$out"
}
build_image "$STATE/busybox.tar.gz" yes busybox "busybox (lxdapi test image)"
build_image "$STATE/noinit.tar.gz" no busybox-noinit "busybox without /sbin/init (lxdapi test image, does not start)"

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

# A running LXD has a default profile with a root disk after `lxd init --auto`; say so if not.
[[ "$(api GET /1.0/profiles/default | json 'd.metadata.devices.root?.type')" == disk ]] ||
	die "the default profile has no root disk: run lxd init --auto first"

{
	printf 'export LXD_TEST_DIR=%s\n' "$LXD_DIR"
	printf 'export LXD_TEST_SOCKET=%s\n' "$SOCKET"
	printf 'export LXD_TEST_URL=%s\n' "$url"
	printf 'export LXD_TEST_SERVER_CERT=%s\n' "$LXD_DIR/server.crt"
	printf 'export LXD_TEST_CLIENT_CERT=%s\n' "$STATE/certs/client.crt"
	printf 'export LXD_TEST_CLIENT_KEY=%s\n' "$STATE/certs/client.key"
	printf 'export LXD_TEST_UNTRUSTED_CERT=%s\n' "$STATE/certs/untrusted.crt"
	printf 'export LXD_TEST_UNTRUSTED_KEY=%s\n' "$STATE/certs/untrusted.key"
	printf 'export LXD_TEST_IMAGE=%s\n' "$IMAGE_ALIAS"
	printf 'export LXD_TEST_IMAGE_TARBALL=%s\n' "$STATE/busybox.tar.gz"
	printf 'export LXD_TEST_NOINIT_TARBALL=%s\n' "$STATE/noinit.tar.gz"
	printf 'export LXD_TEST_TRUST_PASSWORD=%s\n' "$(cat "$STATE/trust_password")"
} >"$STATE/env"
log "exports written to $STATE/env"
cat "$STATE/env"

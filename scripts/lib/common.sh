# shellcheck shell=bash
# scripts/lib/common.sh: what lxd-sandbox.sh and lxd-existing.sh share: messages, client
# certificates, the busybox test images and the LXD_TEST_* (or INCUS_TEST_*) env file.
# Sourced, not run; the caller sets LOG_TAG (the prefix of its messages) first.

IMAGE_ALIAS=busybox

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
	printf '[%s] error: %s\n' "$LOG_TAG" "$*" >&2
	exit 1
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# cert_fingerprint FILE: lowercase hex SHA-256 of the certificate (LXD's fingerprint).
cert_fingerprint() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g' | tr 'A-F' 'a-f'
}

# make_cert CRT KEY CN: a self-signed EC P-384 client certificate, unless it exists.
make_cert() {
	local crt="$1" key="$2" cn="$3"
	[[ -s "$crt" && -s "$key" ]] && return 0
	log "generating client certificate $crt (CN=$cn)"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes -sha384 \
		-keyout "$key.tmp" -out "$crt.tmp" -days 3650 -subj "/CN=$cn" \
		-addext "extendedKeyUsage=clientAuth" >/dev/null 2>&1 ||
		die "openssl could not generate $crt"
	chmod 600 "$key.tmp"
	mv -f "$key.tmp" "$key"
	mv -f "$crt.tmp" "$crt"
}

# build_image OUT WITH_INIT NAME DESCRIPTION: a unified LXD image tarball with a static
# busybox as rootfs. Deterministic (sorted, fixed owners and mtimes, gzip -n), so the
# same busybox gives the same fingerprint; the two variants differ in content.
build_image() {
	local out="$1" with_init="$2" name="$3" desc="$4"
	local bb=/bin/busybox arch epoch version tmp a
	"$bb" --list >/dev/null 2>&1 || die "$bb is missing or broken (package busybox-static)"
	arch="$(uname -m)"
	epoch="$(stat -c %Y "$bb")"
	version="$("$bb" --help 2>&1 | sed -nE '1s/^BusyBox v([^ ]+).*$/\1/p' || true)"
	tmp="$(mktemp -d "$(dirname "$out")/.image.XXXXXX")"
	mkdir -p "$tmp/rootfs"/{bin,sbin,etc,dev,proc,sys,tmp,root,run,var,mnt}
	cp "$bb" "$tmp/rootfs/bin/busybox"
	for a in sh ash cat echo ls sleep true false env id uname hostname ps mount umount \
		mkdir rm touch grep sed wc head tail printf test kill sync poweroff halt reboot; do
		ln -s busybox "$tmp/rootfs/bin/$a"
	done
	if [[ "$with_init" == yes ]]; then
		ln -s ../bin/busybox "$tmp/rootfs/sbin/init"
	fi
	# busybox init: nothing to run, no consoles to respawn, just idle until told to stop.
	printf '::sysinit:/bin/true\n::shutdown:/bin/sync\n' >"$tmp/rootfs/etc/inittab"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tmp/rootfs/etc/passwd"
	printf 'root:x:0:\n' >"$tmp/rootfs/etc/group"
	cat >"$tmp/metadata.yaml" <<YAML
architecture: $arch
creation_date: $epoch
properties:
  architecture: $arch
  description: $desc
  name: $name
  os: busybox
  release: "${version:-unknown}"
YAML
	chmod 755 "$tmp/rootfs" "$tmp/rootfs"/* "$tmp/rootfs/bin/busybox"
	chmod 1777 "$tmp/rootfs/tmp"
	chmod 700 "$tmp/rootfs/root"
	chmod 644 "$tmp/metadata.yaml" "$tmp/rootfs/etc"/*
	tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
		--format=gnu -cf - metadata.yaml rootfs | gzip -n -9 >"$out.tmp"
	rm -rf "$tmp"
	mv -f "$out.tmp" "$out"
}

# ensure_images DIR: busybox.tar.gz and noinit.tar.gz in DIR (built when missing).
ensure_images() {
	local dir="$1"
	if [[ ! -s "$dir/busybox.tar.gz" ]]; then
		log "building image tarball $dir/busybox.tar.gz"
		build_image "$dir/busybox.tar.gz" yes busybox "busybox (lxdapi test image)"
	fi
	if [[ ! -s "$dir/noinit.tar.gz" ]]; then
		log "building image tarball $dir/noinit.tar.gz (no /sbin/init: its containers fail to start)"
		build_image "$dir/noinit.tar.gz" no busybox-noinit "busybox without /sbin/init (lxdapi test image, does not start)"
	fi
}

# write_env FILE NAME=VALUE...: one `export NAME=value` per line (shell-quoted).
write_env() {
	local file="$1" kv
	shift
	: >"$file.tmp"
	local v sq="'"
	for kv in "$@"; do
		v="${kv#*=}"
		# Plain values stay plain (easy to parse without a shell); others get single quotes.
		if [[ ! "$v" =~ ^[A-Za-z0-9_./:,@%+=-]*$ ]]; then
			v="'${v//$sq/$sq\\$sq$sq}'"
		fi
		printf 'export %s=%s\n' "${kv%%=*}" "$v" >>"$file.tmp"
	done
	mv -f "$file.tmp" "$file"
}

# write_test_env STATE DIR URL [PREFIX [SOCKET]]: the <PREFIX>_* exports (default LXD_TEST;
# see lxd-sandbox.sh's header) in STATE/env, for a daemon in DIR (its socket DIR/unix.socket
# unless SOCKET says otherwise) whose certificates, tarballs and trust password (when STATE
# has one: Incus has none) are in STATE.
write_test_env() {
	local state="$1" dir="$2" url="$3" p="${4:-LXD_TEST}" socket="${5:-$2/unix.socket}"
	local vars=(
		"${p}_DIR=$dir"
		"${p}_SOCKET=$socket"
		"${p}_URL=$url"
		"${p}_SERVER_CERT=$dir/server.crt"
		"${p}_CLIENT_CERT=$state/certs/client.crt"
		"${p}_CLIENT_KEY=$state/certs/client.key"
		"${p}_UNTRUSTED_CERT=$state/certs/untrusted.crt"
		"${p}_UNTRUSTED_KEY=$state/certs/untrusted.key"
		"${p}_IMAGE=$IMAGE_ALIAS"
		"${p}_IMAGE_TARBALL=$state/busybox.tar.gz"
		"${p}_NOINIT_TARBALL=$state/noinit.tar.gz"
	)
	[[ -s "$state/trust_password" ]] && vars+=("${p}_TRUST_PASSWORD=$(cat "$state/trust_password")")
	write_env "$state/env" "${vars[@]}"
}

#!/usr/bin/env bash
# lxd-sandbox.sh: a private, real LXD daemon for lxdapi's end-to-end tests and CI.
#
#   scripts/lxd-sandbox.sh up      start (or reuse) the sandbox daemon, print its exports
#   scripts/lxd-sandbox.sh env     print the exports of the running sandbox
#   scripts/lxd-sandbox.sh down    stop the sandbox daemon and remove its state folder
#   scripts/lxd-sandbox.sh status  say whether the sandbox daemon runs (exit 0 if it does)
#
# Usage from a shell or CI:   eval "$(scripts/lxd-sandbox.sh up)"
#
# The daemon has its own LXD_DIR inside a state folder ($REPO/.lxd-sandbox, or
# $LXD_SANDBOX_DIR), listens on its own unix socket and on https://127.0.0.1:<free port>,
# and never touches an LXD that already runs on the machine (/var/lib/lxd, the snap):
# every lxc/lxd call here runs with LXD_DIR and LXD_CONF pointing into the state folder,
# and only the PID this script recorded is ever stopped.
#
# Progress goes to stderr; stdout carries only `export NAME=value` lines.
# Needs root (LXD itself does) and Debian's packages: lxd lxd-client busybox-static.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE="${LXD_SANDBOX_DIR:-$REPO/.lxd-sandbox}"
STATE="$(realpath -m -- "$STATE")"
MARKER=".lxd-sandbox-state" # a folder is ours (and may be removed) only when it holds this file
IMAGE_ALIAS="busybox"
UNIX_PATH_MAX=107

log() { printf '[lxd-sandbox] %s\n' "$*" >&2; }
die() {
	printf '[lxd-sandbox] error: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/lxd-sandbox.sh up|down|env|status
       scripts/lxd-sandbox.sh cluster up|down|env|status

  up      start (or reuse) a private LXD daemon, build and import the busybox test
          image, print the exports (also written to <state>/env)
  env     print the exports of the running sandbox (eval "$(scripts/lxd-sandbox.sh env)")
  down    stop the sandbox's containers and daemon, unmount and remove its state folder
  status  exit 0 when the sandbox daemon runs, 1 otherwise
  cluster the same for a local cluster of LXD_CLUSTER_SIZE (default 3) daemons

environment:
  LXD_SANDBOX_DIR   state folder (default: <repo>/.lxd-sandbox)
  LXD_CLUSTER_SIZE  number of cluster members (default: 3)
EOF
}

# ---------------------------------------------------------------------------
# packages

# True when every package is installed (dpkg says "install ok installed").
have_packages() {
	local p
	for p in "$@"; do
		[[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || return 1
	done
}

ensure_packages() {
	local need=(lxd lxd-client busybox-static)
	command -v openssl >/dev/null 2>&1 || need+=(openssl)
	command -v curl >/dev/null 2>&1 || need+=(curl)
	local missing=() p
	for p in "${need[@]}"; do
		have_packages "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	if [[ $EUID -ne 0 ]]; then
		die "missing packages: ${missing[*]}; install them first, as root:
    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}
  (the sandbox daemon needs root too: run this script as root)"
	fi
	command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
	log "installing ${missing[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

require_root() {
	[[ $EUID -eq 0 ]] || die "LXD needs root: run this script as root (e.g. sudo $0 $*)"
}

# ---------------------------------------------------------------------------
# processes and mounts

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local pid="$1" st
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/$pid/stat" ]] || return 1
	st="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null || true)"
	[[ -n "$st" && "$st" != "Z" && "$st" != "X" ]]
}

# is_our_lxd PID LOGFILE: PID is alive, is an lxd daemon, and was started with our logfile.
is_our_lxd() {
	local pid="$1" logfile="$2" cmd
	pid_alive "$pid" || return 1
	cmd="$({ tr '\0' '\n' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
	[[ "$(basename -- "$(head -n1 <<<"$cmd")")" == "lxd" ]] || return 1
	grep -Fxq -- "$logfile" <<<"$cmd"
}

# wait_pid_exit PID SECONDS: wait for PID to exit (or become a zombie); 0 when it did.
wait_pid_exit() {
	local pid="$1" secs="$2" i
	for ((i = 0; i < secs * 10; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	! pid_alive "$pid"
}

# stop_pid PID NAME: SIGTERM, wait, SIGKILL, wait.
stop_pid() {
	local pid="$1" name="$2"
	pid_alive "$pid" || return 0
	log "sending SIGTERM to $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	wait_pid_exit "$pid" 15 && return 0
	log "sending SIGKILL to $name (pid $pid)"
	kill -KILL "$pid" 2>/dev/null || true
	wait_pid_exit "$pid" 10 || log "warning: $name (pid $pid) did not exit"
}

# descendants PID: print the PIDs of all descendants of PID.
descendants() {
	local root="$1"
	ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$root" '
		{ parent[$1] = $2; pids[NR] = $1 }
		END {
			for (i = 1; i <= NR; i++) {
				p = pids[i]; q = parent[p]; n = 0
				while (q != "" && q != 0 && n < 64) { if (q == root) { print p; break } q = parent[q]; n++ }
			}
		}'
}

# kill_leftovers DIR: kill processes (and their descendants) whose command line names
# DIR, e.g. "[lxc monitor] DIR/containers c1" left by a daemon that died. Never any other.
kill_leftovers() {
	local dir="$1" pid cmd pids=()
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[[ "$pid" == "$$" ]] && continue
		cmd="$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
		[[ "$cmd" == *"$dir/"* ]] || continue
		pids+=("$pid" $(descendants "$pid"))
	done
	((${#pids[@]})) || return 0
	log "killing leftover processes of $dir: ${pids[*]}"
	kill -KILL "${pids[@]}" 2>/dev/null || true
	for pid in "${pids[@]}"; do wait_pid_exit "$pid" 5 || true; done
}

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() {
	local dir="$1"
	awk '{ print $5 }' /proc/self/mountinfo |
		while IFS= read -r m; do
			m="$(printf '%b' "${m//\\/\\0}")" # unescape \040 and friends
			if [[ "$m" == "$dir" || "$m" == "$dir/"* ]]; then printf '%s\n' "$m"; fi
		done |
		awk '{ print length($0) "\t" $0 }' | sort -rn -k1,1 | cut -f2- | uniq
}

# unmount_under DIR: unmount everything below DIR, deepest first (lazy as a fallback).
unmount_under() {
	local dir="$1" m pass
	for pass in 1 2 3 4 5; do
		local list
		list="$(mounts_under "$dir")"
		[[ -z "$list" ]] && return 0
		while IFS= read -r m; do
			[[ -z "$m" ]] && continue
			log "unmounting $m"
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
		done <<<"$list"
	done
	[[ -z "$(mounts_under "$dir")" ]]
}

# remove_state_dir DIR: remove DIR if it is one of ours (holds the marker).
remove_state_dir() {
	local dir="$1"
	[[ -e "$dir" ]] || return 0
	case "$dir" in
	/ | /root | /home | /tmp | /var | /var/lib | /var/lib/lxd | /var/snap/lxd/* | "$REPO") die "refusing to remove $dir" ;;
	esac
	[[ -f "$dir/$MARKER" ]] || die "refusing to remove $dir: it has no $MARKER file, so it was not made by this script"
	if [[ -n "$(mounts_under "$dir")" ]]; then
		die "refusing to remove $dir: something is still mounted below it"
	fi
	log "removing $dir"
	rm -rf --one-file-system -- "$dir" 2>/dev/null || rm -rf -- "$dir"
}

# claim_dir DIR: create DIR (or accept it when it is empty or already ours) and mark it ours.
claim_dir() {
	local dir="$1"
	if [[ -d "$dir" && ! -f "$dir/$MARKER" && -n "$(ls -A "$dir")" ]]; then
		die "$dir exists, is not empty and was not made by this script; set LXD_SANDBOX_DIR to another folder"
	fi
	mkdir -p "$dir"
	: >"$dir/$MARKER"
}

# ---------------------------------------------------------------------------
# small helpers

# A free TCP port on 127.0.0.1 (the kernel picks one by binding port 0).
free_port() {
	local port=""
	if command -v node >/dev/null 2>&1; then
		port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' 2>/dev/null || true)"
	fi
	if [[ -z "$port" ]] && command -v python3 >/dev/null 2>&1; then
		port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()' 2>/dev/null || true)"
	fi
	[[ "$port" =~ ^[0-9]+$ ]] || die "could not find a free port on 127.0.0.1 (need node or python3)"
	printf '%s\n' "$port"
}

# port_taken ADDR PORT: something already listens there (or it cannot be bound).
port_taken() {
	local addr="$1" port="$2"
	if command -v node >/dev/null 2>&1; then
		node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(0));s.listen(+process.argv[2],process.argv[1],()=>{s.close(()=>process.exit(1))})' "$addr" "$port" 2>/dev/null
		return $?
	fi
	python3 -c 'import socket,sys
s=socket.socket()
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(0)
sys.exit(1)' "$addr" "$port"
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
	[[ -x "$bb" ]] || die "$bb is missing (package busybox-static)"
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
	cat >"$tmp/metadata.yaml" <<EOF
architecture: $arch
creation_date: $epoch
properties:
  architecture: $arch
  description: $desc
  name: $name
  os: busybox
  release: "${version:-unknown}"
EOF
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

# import_image TARBALL ALIAS: make ALIAS point at the image of TARBALL (import if needed).
# Uses the lxc of the current LXD_DIR/LXD_CONF, or the remote given as $3.
import_image() {
	local tarball="$1" alias="$2" remote="${3:-}" fp target
	fp="$(sha256sum "$tarball" | cut -d' ' -f1)"
	local r="${remote:+$remote:}"
	target="$(lxc query "${r}/1.0/images/aliases/$alias" 2>/dev/null | sed -nE 's/^[[:space:]]*"target":[[:space:]]*"([0-9a-f]+)".*$/\1/p' || true)"
	if [[ "$target" == "$fp" ]]; then
		return 0
	fi
	if [[ -n "$target" ]]; then
		log "alias $alias points at ${target:0:12}, not at ${fp:0:12}: moving it"
		lxc image alias delete "${r}$alias" >&2
	fi
	if lxc query "${r}/1.0/images/$fp" >/dev/null 2>&1; then
		lxc image alias create "${r}$alias" "$fp" >&2
	else
		log "importing $tarball as $alias (fingerprint ${fp:0:12})"
		lxc image import "$tarball" ${r:+"$r"} --alias "$alias" --quiet >&2 ||
			die "lxc image import $tarball failed"
	fi
}

# trust_cert CRT NAME: add CRT to the daemon's trust store unless it is there.
trust_cert() {
	local crt="$1" name="$2" fp
	fp="$(cert_fingerprint "$crt")"
	if lxc query "/1.0/certificates/$fp" >/dev/null 2>&1; then
		return 0
	fi
	log "trusting client certificate $name (${fp:0:12})"
	lxc config trust add "$crt" --name "$name" >&2 || die "lxc config trust add $crt failed"
}

# write_env FILE NAME=VALUE...: one `export NAME=value` per line (shell-quoted).
write_env() {
	local file="$1" kv
	shift
	: >"$file.tmp"
	for kv in "$@"; do
		printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}" >>"$file.tmp"
	done
	mv -f "$file.tmp" "$file"
}

# ---------------------------------------------------------------------------
# single daemon

# Where the daemon's LXD_DIR is: $STATE/var, or a short folder under /tmp when the unix
# socket path would be too long (recorded in $STATE/lxd_dir so down finds it).
lxd_dir_for_state() {
	if [[ -s "$STATE/lxd_dir" ]]; then
		cat "$STATE/lxd_dir"
		return 0
	fi
	local dir="$STATE/var"
	# seccomp.socket is the longest socket name LXD puts in LXD_DIR.
	if ((${#dir} + 15 > UNIX_PATH_MAX - 8)); then
		dir="/tmp/lxd-sandbox.$(printf '%s' "$STATE" | sha256sum | cut -c1-10)"
	fi
	printf '%s\n' "$dir"
}

setup_single_env() {
	LXD_DIR="$(lxd_dir_for_state)"
	export LXD_DIR
	export LXD_CONF="$STATE/lxc-conf" # the lxc client's config: never the user's ~/.config/lxc
	case "$LXD_DIR" in
	/var/lib/lxd | /var/lib/lxd/* | /var/snap/lxd/* | /) die "refusing to use LXD_DIR=$LXD_DIR" ;;
	esac
	PIDFILE="$STATE/lxd.pid"
	LOGFILE="$STATE/lxd.log"
}

# The PID of our running daemon, or nothing.
running_pid() {
	local pid
	[[ -s "$PIDFILE" ]] || return 1
	pid="$(cat "$PIDFILE")"
	is_our_lxd "$pid" "$LOGFILE" || return 1
	printf '%s\n' "$pid"
}

start_daemon() {
	# A daemon that died may have left its mounts behind: LXD remounts on start.
	unmount_under "$LXD_DIR" || true
	mkdir -p "$LXD_DIR" "$LXD_CONF"
	chmod 711 "$LXD_DIR"
	[[ "$LXD_DIR" == "$STATE/"* ]] || claim_dir "$LXD_DIR"
	if [[ -S "$LXD_DIR/unix.socket" ]] && curl -s --max-time 2 --unix-socket "$LXD_DIR/unix.socket" lxd/1.0 >/dev/null 2>&1; then
		die "an LXD daemon this script did not record already serves $LXD_DIR; stop it first"
	fi
	log "starting lxd (LXD_DIR=$LXD_DIR, log $LOGFILE)"
	local pid
	setsid lxd --group root --logfile "$LOGFILE" </dev/null >>"$STATE/lxd.out" 2>&1 &
	pid=$!
	printf '%s\n' "$pid" >"$PIDFILE"
	if ! lxd waitready --timeout 60 >&2; then
		tail -n 30 "$LOGFILE" "$STATE/lxd.out" >&2 2>/dev/null || true
		die "lxd did not become ready within 60 s"
	fi
	is_our_lxd "$pid" "$LOGFILE" || die "lxd (pid $pid) is not running after waitready; see $LOGFILE"
	log "lxd is ready (pid $pid)"
}

# Let the daemon listen on 127.0.0.1:<free port> unless it already answers there.
ensure_https() {
	local addr
	addr="$(lxc config get core.https_address 2>/dev/null || true)"
	if [[ -n "$addr" ]] && curl -sk --max-time 3 "https://$addr/1.0" 2>/dev/null | grep -q '"api_version"'; then
		HTTPS_ADDR="$addr"
		return 0
	fi
	local port
	port="$(free_port)"
	HTTPS_ADDR="127.0.0.1:$port"
	log "listening on https://$HTTPS_ADDR"
	lxc config set core.https_address "$HTTPS_ADDR" >&2
	local i
	for ((i = 0; i < 50; i++)); do
		curl -sk --max-time 2 "https://$HTTPS_ADDR/1.0" 2>/dev/null | grep -q '"api_version"' && return 0
		sleep 0.1
	done
	die "LXD does not answer on https://$HTTPS_ADDR"
}

configure_daemon() {
	if ! lxc query /1.0/storage-pools/default >/dev/null 2>&1; then
		log "creating dir storage pool default ($STATE/pool)"
		mkdir -p "$STATE/pool"
		lxc storage create default dir source="$STATE/pool" >&2
	fi
	if ! lxc profile device get default root pool >/dev/null 2>&1; then
		log "adding the root disk to the default profile"
		lxc profile device add default root disk path=/ pool=default >&2
	fi
	ensure_https

	mkdir -p "$STATE/certs"
	make_cert "$STATE/certs/client.crt" "$STATE/certs/client.key" lxdapi-test
	make_cert "$STATE/certs/untrusted.crt" "$STATE/certs/untrusted.key" lxdapi-untrusted
	trust_cert "$STATE/certs/client.crt" lxdapi-test
	# The untrusted pair must stay untrusted even if a test added it with the password.
	local ufp
	ufp="$(cert_fingerprint "$STATE/certs/untrusted.crt")"
	if lxc query "/1.0/certificates/$ufp" >/dev/null 2>&1; then
		log "removing the untrusted certificate from the trust store"
		lxc config trust remove "$ufp" >&2
	fi

	[[ -s "$STATE/trust_password" ]] || random_hex 16 >"$STATE/trust_password"
	lxc config set core.trust_password "$(cat "$STATE/trust_password")" >&2

	ensure_images "$STATE"
	import_image "$STATE/busybox.tar.gz" "$IMAGE_ALIAS"
}

single_exports() {
	local url="https://$HTTPS_ADDR"
	write_env "$STATE/env" \
		"LXD_TEST_DIR=$LXD_DIR" \
		"LXD_TEST_SOCKET=$LXD_DIR/unix.socket" \
		"LXD_TEST_URL=$url" \
		"LXD_TEST_SERVER_CERT=$LXD_DIR/server.crt" \
		"LXD_TEST_CLIENT_CERT=$STATE/certs/client.crt" \
		"LXD_TEST_CLIENT_KEY=$STATE/certs/client.key" \
		"LXD_TEST_UNTRUSTED_CERT=$STATE/certs/untrusted.crt" \
		"LXD_TEST_UNTRUSTED_KEY=$STATE/certs/untrusted.key" \
		"LXD_TEST_IMAGE=$IMAGE_ALIAS" \
		"LXD_TEST_IMAGE_TARBALL=$STATE/busybox.tar.gz" \
		"LXD_TEST_NOINIT_TARBALL=$STATE/noinit.tar.gz" \
		"LXD_TEST_TRUST_PASSWORD=$(cat "$STATE/trust_password")"
}

cmd_up() {
	local t0=$SECONDS
	ensure_packages
	require_root up
	claim_dir "$STATE"
	setup_single_env
	local lxd_dir_file="$STATE/lxd_dir"
	[[ -s "$lxd_dir_file" ]] || printf '%s\n' "$LXD_DIR" >"$lxd_dir_file"
	local pid
	if pid="$(running_pid)"; then
		log "reusing the running lxd (pid $pid, LXD_DIR=$LXD_DIR)"
		lxd waitready --timeout 60 >&2 || die "lxd (pid $pid) is not ready"
	else
		start_daemon
	fi
	configure_daemon
	single_exports
	log "sandbox is up in $((SECONDS - t0)) s; exports written to $STATE/env"
	cat "$STATE/env"
}

cmd_env() {
	[[ -d "$STATE" ]] || die "no sandbox at $STATE; run: $0 up"
	setup_single_env
	running_pid >/dev/null || die "the sandbox daemon is not running; run: $0 up"
	[[ -s "$STATE/env" ]] || die "$STATE/env is missing; run: $0 up"
	cat "$STATE/env"
}

cmd_status() {
	if [[ ! -d "$STATE" ]]; then
		log "down (no $STATE)"
		return 1
	fi
	setup_single_env
	local pid
	if pid="$(running_pid)"; then
		log "up: lxd pid $pid, LXD_DIR=$LXD_DIR"
		return 0
	fi
	log "down (state folder $STATE exists, no daemon)"
	return 1
}

# Stop every instance of every project, then the daemon itself.
stop_daemon() {
	local pid="$1" line project name
	while IFS=, read -r project name; do
		[[ -z "$name" ]] && continue
		log "stopping and deleting instance $name (project $project)"
		lxc stop --force --project "$project" "$name" >&2 2>/dev/null || true
		local try
		for try in 1 2 3 4 5 6; do
			# A just-failed start can leave a "stop" operation running for a moment.
			lxc delete --force --project "$project" "$name" 2>/dev/null && break
			((try < 6)) && sleep 0.5
			((try == 6)) && log "warning: could not delete instance $name; the state folder goes anyway"
		done
	done < <(lxc list --all-projects --format csv -c e,n 2>/dev/null || true)
	log "shutting down lxd (pid $pid)"
	timeout 40 lxd shutdown --timeout 30 >&2 2>/dev/null || true
	wait_pid_exit "$pid" 15 || stop_pid "$pid" lxd
}

cmd_down() {
	local t0=$SECONDS
	if [[ ! -e "$STATE" ]]; then
		log "nothing to do: no $STATE"
		return 0
	fi
	[[ -f "$STATE/$MARKER" ]] || die "$STATE was not made by this script (no $MARKER); not touching it"
	require_root down
	setup_single_env
	local pid
	if pid="$(running_pid)"; then
		stop_daemon "$pid"
	else
		log "no sandbox daemon runs"
	fi
	kill_leftovers "$LXD_DIR"
	unmount_under "$LXD_DIR" || die "could not unmount everything under $LXD_DIR"
	unmount_under "$STATE" || die "could not unmount everything under $STATE"
	if [[ "$LXD_DIR" != "$STATE/"* ]]; then
		remove_state_dir "$LXD_DIR"
	fi
	remove_state_dir "$STATE"
	log "sandbox is down ($((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------------------

main() {
	local cmd="${1:-}"
	shift || true
	case "$cmd" in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	env) cmd_env "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"

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
# The daemon has its own state folder ($REPO/.lxd-sandbox, or $LXD_SANDBOX_DIR) for
# the client side (certificates, exports, logs), listens on its own unix socket and on
# https://127.0.0.1:<free port>,
# and never touches an LXD that already runs on the machine (/var/lib/lxd, the snap):
# every lxc/lxd call here runs with LXD_DIR and LXD_CONF pointing into the state folder,
# and only the PID this script recorded is ever stopped.
#
# The daemons' own state (LXD_DIR, storage pools) is not in the state folder: the
# containers' unprivileged root must be able to reach it, and a clone often sits under a
# folder that others may not search (/root is 0700, new homes on Ubuntu 0750). It goes in
# $LXD_SANDBOX_DATA_ROOT/<12 hex of the state folder's sha256> (default
# /var/lib/lxdapi-sandbox/...), mode 0711, linked from <state>/data; `down` removes it.
# Every folder above it must be searchable by others, or `up` refuses at once and says so.
#
# Progress goes to stderr; stdout carries only `export NAME=value` lines (plain values
# are unquoted, so the env files are easy to parse without a shell too):
#   LXD_TEST_DIR             the daemon's LXD_DIR
#   LXD_TEST_SOCKET          its unix socket ($LXD_TEST_DIR/unix.socket)
#   LXD_TEST_URL             https://127.0.0.1:<port>
#   LXD_TEST_SERVER_CERT     the daemon's certificate (PEM; names 127.0.0.1, so it can be the CA)
#   LXD_TEST_CLIENT_CERT/KEY a trusted client certificate and key (EC P-384, CN lxdapi-test)
#   LXD_TEST_UNTRUSTED_CERT/KEY  a client pair that is not trusted (`up` keeps it untrusted)
#   LXD_TEST_IMAGE           the alias of the imported busybox image (busybox)
#   LXD_TEST_IMAGE_TARBALL   that image as a unified tarball; its sha256 is its fingerprint
#   LXD_TEST_NOINIT_TARBALL  a tarball without /sbin/init (not imported): containers fail to start
#   LXD_TEST_TRUST_PASSWORD  the daemon's core.trust_password
#
#   scripts/lxd-sandbox.sh cluster up|down|env|status
# runs LXD_CLUSTER_SIZE (default 3) daemons as one cluster on 127.0.0.2.., port 8443, with
# exports in <state>/cluster/env: LXD_CLUSTER_URLS, LXD_CLUSTER_SERVER_CERT (the cluster
# certificate, naming every member address), LXD_CLUSTER_CLIENT_CERT/KEY, LXD_CLUSTER_MEMBERS,
# LXD_CLUSTER_DIRS, LXD_CLUSTER_PIDS (comma-separated) and LXD_CLUSTER_IMAGE.
# Needs root (LXD itself does) and Debian's packages: lxd lxd-client busybox-static.
#
# `up` also brings up a private Incus 6.0 daemon (scripts/lib/incus.sh; apt-installs incus,
# from bookworm-backports on Debian bookworm) with the same exports under INCUS_TEST_*, in
# <state>/incus/env, and no trust password (Incus has none); `down`, `env` and `status` cover
# both. LXD_SANDBOX_INCUS=no leaves Incus out of `up`; `incus up|down|env|status` is Incus alone.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE="${LXD_SANDBOX_DIR:-$REPO/.lxd-sandbox}"
STATE="$(realpath -m -- "$STATE")"
MARKER=".lxd-sandbox-state" # a folder is ours (and may be removed) only when it holds this file
UNIX_PATH_MAX=107
DATA_ROOT="$(realpath -m -- "${LXD_SANDBOX_DATA_ROOT:-/var/lib/lxdapi-sandbox}")"

LOG_TAG=lxd-sandbox
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/incus.sh
source "$SCRIPT_DIR/lib/incus.sh"
CLIENT=lxc # the command line client of import_image and ensure_https (incus.sh sets incus)

usage() {
	cat >&2 <<'EOF'
usage: scripts/lxd-sandbox.sh up|down|env|status
       scripts/lxd-sandbox.sh cluster up|down|env|status
       scripts/lxd-sandbox.sh incus up|down|env|status

  up      start (or reuse) a private LXD daemon, build and import the busybox test
          image, print the exports (also written to <state>/env)
  env     print the exports of the running sandbox (eval "$(scripts/lxd-sandbox.sh env)")
  down    stop the sandbox's containers and daemon, unmount and remove its state folder
  status  exit 0 when the sandbox daemon runs, 1 otherwise
          (up, down, env and status cover the Incus daemon too)
  cluster the same for a local cluster of LXD_CLUSTER_SIZE (default 3) daemons
  incus   the same for the Incus daemon alone

environment:
  LXD_SANDBOX_DIR   state folder (default: <repo>/.lxd-sandbox)
  LXD_SANDBOX_DATA_ROOT  where the daemons' own state goes, in a folder per state
                    folder (default: /var/lib/lxdapi-sandbox); containers must reach it
  LXD_CLUSTER_SIZE  number of cluster members (default: 3)
  LXD_SANDBOX_INCUS no: up brings up LXD only
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

# is_our_lxd PID LOGFILE [NAME]: PID is alive, is an lxd daemon (or NAME), and was started with our logfile.
is_our_lxd() {
	local pid="$1" logfile="$2" cmd
	pid_alive "$pid" || return 1
	cmd="$({ tr '\0' '\n' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
	[[ "$(basename -- "$(head -n1 <<<"$cmd")")" == "${3:-lxd}" ]] || return 1
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
	local dir="$1" d pid cmd pids=() kids=()
	for d in /proc/[0-9]*; do
		pid="${d#/proc/}"
		[[ "$pid" == "$$" ]] && continue
		cmd="$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
		[[ "$cmd" == *"$dir/"* ]] || continue
		mapfile -t kids < <(descendants "$pid")
		pids+=("$pid" "${kids[@]}")
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
	local dir="$1" m
	for _ in 1 2 3 4 5; do
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
	/ | /root | /home | /tmp | /var | /var/lib | /var/lib/lxd | /var/snap/lxd/* | "$REPO" | "$DATA_ROOT") die "refusing to remove $dir" ;;
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
# the daemons' data folder (see the header)

# data_dir: the data folder of this state folder (recorded in $STATE/data_dir once made).
data_dir() {
	if [[ -s "$STATE/data_dir" ]]; then
		cat "$STATE/data_dir"
		return 0
	fi
	printf '%s/%s\n' "$DATA_ROOT" "$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
}

# ensure_data_dir: make (or reuse) the data folder, mode 0711, linked from $STATE/data.
# Refuses when a folder above it is not searchable by others: the containers could not start.
ensure_data_dir() {
	local data d mode
	data="$(data_dir)"
	d="$(dirname -- "$data")"
	while :; do
		if [[ -e "$d" ]]; then
			mode="$(stat -L -c %a -- "$d")"
			if ((8#$mode % 2 == 0)); then
				die "$d is mode $mode: others may not search it, so the containers' unprivileged root could not reach their storage in $data and no container would start. Let others search it (chmod o+x $d), or set LXD_SANDBOX_DATA_ROOT to a folder whose parents they may search."
			fi
		fi
		[[ "$d" == / ]] && break
		d="$(dirname -- "$d")"
	done
	if [[ -f "$data/owner" && "$(cat "$data/owner")" != "$STATE" ]]; then
		die "$data belongs to the sandbox of $(cat "$data/owner"), not to $STATE; bring that one down first"
	fi
	if [[ ! -d "$DATA_ROOT" ]]; then
		mkdir -p -- "$DATA_ROOT"
		chmod 711 -- "$DATA_ROOT"
	fi
	claim_dir "$data"
	chmod 711 -- "$data"
	printf '%s\n' "$STATE" >"$data/owner"
	printf '%s\n' "$data" >"$STATE/data_dir"
	ln -sfn -- "$data" "$STATE/data"
	log "the daemons' state (LXD_DIR, storage) is in $data, linked from $STATE/data: containers must reach it, and may not reach a clone under a private folder"
}

# release_data_dir: remove the data folder once neither the daemon nor the cluster uses it.
release_data_dir() {
	local data
	[[ -s "$STATE/data_dir" ]] || return 0
	data="$(cat "$STATE/data_dir")"
	if [[ -d "$data" ]]; then
		[[ -z "$(find "$data" -mindepth 1 -maxdepth 1 ! -name "$MARKER" ! -name owner -print -quit)" ]] || return 0
		remove_state_dir "$data"
	fi
	rm -f -- "$STATE/data" "$STATE/data_dir"
	rmdir -- "$DATA_ROOT" 2>/dev/null || true
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

# import_image TARBALL ALIAS: make ALIAS point at the image of TARBALL (import if needed).
# Uses $CLIENT (lxc, or incus) of the current LXD_DIR/LXD_CONF, or the remote given as $3.
import_image() {
	local tarball="$1" alias="$2" remote="${3:-}" fp target
	fp="$(sha256sum "$tarball" | cut -d' ' -f1)"
	local r="${remote:+$remote:}"
	target="$("$CLIENT" query "${r}/1.0/images/aliases/$alias" 2>/dev/null | sed -nE 's/^[[:space:]]*"target":[[:space:]]*"([0-9a-f]+)".*$/\1/p' || true)"
	if [[ "$target" == "$fp" ]]; then
		return 0
	fi
	if [[ -n "$target" ]]; then
		log "alias $alias points at ${target:0:12}, not at ${fp:0:12}: moving it"
		"$CLIENT" image alias delete "${r}$alias" >&2
	fi
	if "$CLIENT" query "${r}/1.0/images/$fp" >/dev/null 2>&1; then
		"$CLIENT" image alias create "${r}$alias" "$fp" >&2
	else
		log "importing $tarball as $alias (fingerprint ${fp:0:12})"
		"$CLIENT" image import "$tarball" ${r:+"$r"} --alias "$alias" --quiet >&2 ||
			die "$CLIENT image import $tarball failed"
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

# ---------------------------------------------------------------------------
# single daemon

# Where the daemon's LXD_DIR is: <data folder>/var (recorded in $STATE/lxd_dir so down finds it).
lxd_dir_for_state() {
	if [[ -s "$STATE/lxd_dir" ]]; then
		cat "$STATE/lxd_dir"
		return 0
	fi
	local dir
	dir="$(data_dir)/var"
	# seccomp.socket is the longest socket name LXD puts in LXD_DIR.
	if ((${#dir} + 15 > UNIX_PATH_MAX - 8)); then
		die "LXD_DIR $dir is too long for LXD's unix sockets ($UNIX_PATH_MAX bytes); set LXD_SANDBOX_DATA_ROOT to a shorter folder"
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

# start_lxd LOGFILE PIDFILE: start lxd on the exported LXD_DIR, record its PID, wait.
start_lxd() {
	local logfile="$1" pidfile="$2" pid
	if [[ -S "$LXD_DIR/unix.socket" ]] && curl -s --max-time 2 --unix-socket "$LXD_DIR/unix.socket" lxd/1.0 >/dev/null 2>&1; then
		die "an LXD daemon this script did not record already serves $LXD_DIR; stop it first"
	fi
	# A daemon that died may have left its mounts behind: LXD remounts on start.
	unmount_under "$LXD_DIR" || true
	mkdir -p "$LXD_DIR"
	chmod 711 "$LXD_DIR"
	log "starting lxd (LXD_DIR=$LXD_DIR, log $logfile)"
	setsid lxd --group root --logfile "$logfile" </dev/null >>"$logfile.out" 2>&1 &
	pid=$!
	printf '%s\n' "$pid" >"$pidfile"
	if ! lxd waitready --timeout 60 >&2; then
		tail -n 30 "$logfile" "$logfile.out" >&2 2>/dev/null || true
		die "lxd did not become ready within 60 s"
	fi
	is_our_lxd "$pid" "$logfile" || die "lxd (pid $pid) is not running after waitready; see $logfile"
	log "lxd is ready (pid $pid)"
}

start_daemon() {
	mkdir -p "$LXD_CONF"
	[[ "$LXD_DIR" == "$STATE/"* || "$LXD_DIR" == "$(data_dir)/"* ]] || claim_dir "$LXD_DIR"
	start_lxd "$LOGFILE" "$PIDFILE"
}

# Let the daemon listen on 127.0.0.1:<free port> unless it already answers there.
ensure_https() {
	local addr
	addr="$("$CLIENT" config get core.https_address 2>/dev/null || true)"
	if [[ -n "$addr" ]] && curl -sk --max-time 3 "https://$addr/1.0" 2>/dev/null | grep -q '"api_version"'; then
		HTTPS_ADDR="$addr"
		return 0
	fi
	local port
	port="$(free_port)"
	HTTPS_ADDR="127.0.0.1:$port"
	log "listening on https://$HTTPS_ADDR"
	"$CLIENT" config set core.https_address "$HTTPS_ADDR" >&2
	local i
	for ((i = 0; i < 50; i++)); do
		curl -sk --max-time 2 "https://$HTTPS_ADDR/1.0" 2>/dev/null | grep -q '"api_version"' && return 0
		sleep 0.1
	done
	die "$CLIENT: the daemon does not answer on https://$HTTPS_ADDR"
}

configure_daemon() {
	if ! lxc query /1.0/storage-pools/default >/dev/null 2>&1; then
		local pool
		pool="$(data_dir)/pool"
		log "creating dir storage pool default ($pool)"
		mkdir -p "$pool"
		lxc storage create default dir source="$pool" >&2
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

cmd_up() {
	local t0=$SECONDS
	ensure_packages
	require_root up
	claim_dir "$STATE"
	[[ -s "$STATE/lxd_dir" ]] || ensure_data_dir
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
	write_test_env "$STATE" "$LXD_DIR" "https://$HTTPS_ADDR"
	log "sandbox is up in $((SECONDS - t0)) s; exports written to $STATE/env"
	[[ "${LXD_SANDBOX_INCUS:-}" == no ]] || incus_up
	cat "$STATE/env"
	[[ "${LXD_SANDBOX_INCUS:-}" == no ]] || cat "$ISTATE/env"
}

cmd_env() {
	[[ -d "$STATE" ]] || die "no sandbox at $STATE; run: $0 up"
	setup_single_env
	running_pid >/dev/null || die "the sandbox daemon is not running; run: $0 up"
	[[ -s "$STATE/env" ]] || die "$STATE/env is missing; run: $0 up"
	cat "$STATE/env"
	[[ ! -e "$STATE/incus" ]] || incus_env
}

cmd_status() {
	if [[ ! -d "$STATE" ]]; then
		log "down (no $STATE)"
		return 1
	fi
	setup_single_env
	local pid incus=0
	[[ "${LXD_SANDBOX_INCUS:-}" == no ]] || incus_status || incus=1
	if pid="$(running_pid)"; then
		log "up: lxd pid $pid, LXD_DIR=$LXD_DIR"
		return "$incus"
	fi
	log "down (state folder $STATE exists, no daemon)"
	return 1
}

# Stop every instance of every project, then the daemon itself.
stop_daemon() {
	local pid="$1" project name
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
	incus_down
	setup_single_env
	local pid
	if pid="$(running_pid)"; then
		stop_daemon "$pid"
	else
		log "no sandbox daemon runs"
	fi
	kill_leftovers "$LXD_DIR"
	unmount_under "$LXD_DIR" || die "could not unmount everything under $LXD_DIR"
	unmount_under "$STATE/pool" || die "could not unmount everything under $STATE/pool"
	local data
	data="$(data_dir)"
	unmount_under "$data/pool" || die "could not unmount everything under $data/pool"
	if [[ "$LXD_DIR" == "$data/var" ]]; then
		if [[ -e "$LXD_DIR" || -e "$data/pool" ]]; then
			log "removing $LXD_DIR and $data/pool"
			rm -rf --one-file-system -- "$LXD_DIR" "$data/pool"
		fi
	elif [[ "$LXD_DIR" != "$STATE/"* ]]; then
		remove_state_dir "$LXD_DIR"
	fi
	release_data_dir
	if [[ -e "$STATE/cluster" ]]; then
		# The cluster lives in the same state folder: remove only what is the single daemon's.
		log "removing the single daemon's files (keeping $STATE/cluster)"
		rm -rf -- "${STATE:?}"/{var,pool,certs,lxc-conf,env,lxd.pid,lxd.log,lxd.log.out,lxd_dir,trust_password,busybox.tar.gz,noinit.tar.gz}
	else
		remove_state_dir "$STATE"
	fi
	log "sandbox is down ($((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------------------
# cluster: LXD_CLUSTER_SIZE daemons on 127.0.0.2.. port 8443, one LXD cluster

CLUSTER_PORT=8443

setup_cluster_env() {
	CSTATE="$STATE/cluster"
	CSIZE="${LXD_CLUSTER_SIZE:-3}"
	if ! [[ "$CSIZE" =~ ^[0-9]+$ ]] || ((CSIZE < 1 || CSIZE > 20)); then
		die "LXD_CLUSTER_SIZE must be 1..20, not $CSIZE"
	fi
	if [[ -s "$CSTATE/size" ]]; then
		local recorded
		recorded="$(cat "$CSTATE/size")"
		if [[ -n "${LXD_CLUSTER_SIZE:-}" && "$LXD_CLUSTER_SIZE" != "$recorded" && "${1:-}" == up ]]; then
			die "a cluster of $recorded members exists in $CSTATE; run: $0 cluster down"
		fi
		CSIZE="$recorded"
	fi
	# The members' LXD_DIRs and pools: under <data folder>/cluster (see the header).
	if [[ -s "$CSTATE/base_dir" ]]; then
		CBASE="$(cat "$CSTATE/base_dir")"
	else
		CBASE="$(data_dir)/cluster"
		if ((${#CBASE} + 24 > UNIX_PATH_MAX - 8)); then
			die "$CBASE is too long for LXD's unix sockets ($UNIX_PATH_MAX bytes); set LXD_SANDBOX_DATA_ROOT to a shorter folder"
		fi
	fi
	export LXD_CONF="$CSTATE/lxc-conf"
}

member_name() { printf 'member%s\n' "$1"; }
member_addr() { printf '127.0.0.%s:%s\n' "$(($1 + 1))" "$CLUSTER_PORT"; }
member_dir() { printf '%s/member%s\n' "$CBASE" "$1"; }
member_log() { printf '%s/member%s.log\n' "$CSTATE" "$1"; }
member_pidfile() { printf '%s/member%s.pid\n' "$CSTATE" "$1"; }

# member_pid I: the PID of member I's running daemon, or nothing.
member_pid() {
	local f pid
	f="$(member_pidfile "$1")"
	[[ -s "$f" ]] || return 1
	pid="$(cat "$f")"
	is_our_lxd "$pid" "$(member_log "$1")" || return 1
	printf '%s\n' "$pid"
}

# on_member I CMD...: run CMD with member I's LXD_DIR.
on_member() {
	local i="$1"
	shift
	LXD_DIR="$(member_dir "$i")" "$@"
}

cluster_count_running() {
	local i n=0
	for ((i = 1; i <= CSIZE; i++)); do
		member_pid "$i" >/dev/null && n=$((n + 1))
	done
	printf '%s\n' "$n"
}

bootstrap_member1() {
	local dir addr pool
	dir="$(member_dir 1)"
	addr="$(member_addr 1)"
	pool="$CBASE/pools/member1"
	mkdir -p "$pool"
	export LXD_DIR="$dir"
	start_lxd "$(member_log 1)" "$(member_pidfile 1)"
	log "bootstrapping the cluster on member1 ($addr)"
	lxd init --preseed >&2 <<PRESEED || die "lxd init --preseed (bootstrap) failed on member1"
config:
  core.https_address: "$addr"
  cluster.https_address: "$addr"
cluster:
  server_name: member1
  enabled: true
storage_pools:
- name: default
  driver: dir
  config:
    source: "$pool"
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
PRESEED
}

join_member() {
	local i="$1" name addr pool token
	name="$(member_name "$i")"
	addr="$(member_addr "$i")"
	pool="$CBASE/pools/$name"
	mkdir -p "$pool"
	token="$(on_member 1 lxc cluster add "$name" --quiet 2>/dev/null | tail -n1 || true)"
	[[ -n "$token" ]] || die "could not get a join token for $name from member1"
	export LXD_DIR
	LXD_DIR="$(member_dir "$i")"
	start_lxd "$(member_log "$i")" "$(member_pidfile "$i")"
	log "joining $name ($addr) to the cluster"
	lxd init --preseed >&2 <<PRESEED || die "lxd init --preseed (join) failed on $name"
cluster:
  enabled: true
  server_name: $name
  server_address: "$addr"
  cluster_address: "$(member_addr 1)"
  cluster_token: "$token"
  member_config:
  - entity: storage-pool
    name: default
    key: source
    value: "$pool"
PRESEED
}

# LXD's generated cluster certificate names only 127.0.0.1, ::1 and the host name, so
# standard TLS verification of https://127.0.0.3:8443 against it fails. Replace it (all
# members at once, `lxc cluster update-certificate`) with one naming every member address.
ensure_cluster_certificate() {
	local crt="$CSTATE/certs/cluster.crt" key="$CSTATE/certs/cluster.key" san="DNS:localhost,IP:127.0.0.1,IP:::1" i
	for ((i = 1; i <= CSIZE; i++)); do san+=",IP:127.0.0.$((i + 1))"; done
	if [[ ! -s "$crt" || ! -s "$key" ]]; then
		log "generating a cluster certificate for $san"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes -sha384 \
			-keyout "$key.tmp" -out "$crt.tmp" -days 3650 -subj "/O=lxdapi-test/CN=lxdapi-cluster" \
			-addext "subjectAltName=$san" -addext "extendedKeyUsage=serverAuth,clientAuth" >/dev/null 2>&1 ||
			die "openssl could not generate the cluster certificate"
		chmod 600 "$key.tmp"
		mv -f "$key.tmp" "$key"
		mv -f "$crt.tmp" "$crt"
	fi
	if [[ "$(cert_fingerprint "$(member_dir 1)/cluster.crt")" != "$(cert_fingerprint "$crt")" ]]; then
		log "installing the cluster certificate on all members"
		lxc cluster update-certificate "$crt" "$key" >&2 || die "lxc cluster update-certificate failed"
	fi
}

cluster_exports() {
	local i urls="" members="" dirs="" pidlist="" pid
	for ((i = 1; i <= CSIZE; i++)); do
		pid="$(member_pid "$i")" || die "member$i is not running"
		urls+="${urls:+,}https://$(member_addr "$i")"
		members+="${members:+,}$(member_name "$i")"
		dirs+="${dirs:+,}$(member_dir "$i")"
		pidlist+="${pidlist:+,}$pid"
	done
	write_env "$CSTATE/env" \
		"LXD_CLUSTER_URLS=$urls" \
		"LXD_CLUSTER_SERVER_CERT=$(member_dir 1)/cluster.crt" \
		"LXD_CLUSTER_CLIENT_CERT=$CSTATE/certs/client.crt" \
		"LXD_CLUSTER_CLIENT_KEY=$CSTATE/certs/client.key" \
		"LXD_CLUSTER_MEMBERS=$members" \
		"LXD_CLUSTER_DIRS=$dirs" \
		"LXD_CLUSTER_PIDS=$pidlist" \
		"LXD_CLUSTER_IMAGE=$IMAGE_ALIAS"
}

cluster_up() {
	local t0=$SECONDS i running
	ensure_packages
	require_root cluster up
	setup_cluster_env up
	running="$(cluster_count_running)"
	if ((running > 0 && running < CSIZE)) || { ((running == 0)) && [[ -e "$CSTATE" ]]; }; then
		log "a partial or stopped cluster is in $CSTATE ($running of $CSIZE members run): recreating it"
		cluster_down
		setup_cluster_env up
		running=0
	fi
	if ((running == 0)); then
		for ((i = 1; i <= CSIZE; i++)); do
			if port_taken "127.0.0.$((i + 1))" "$CLUSTER_PORT"; then
				die "$(member_addr "$i") is already taken; the cluster needs 127.0.0.2..127.0.0.$((CSIZE + 1)) port $CLUSTER_PORT free"
			fi
		done
		claim_dir "$STATE"
		[[ "$CBASE" == "$CSTATE" ]] || ensure_data_dir
		claim_dir "$CSTATE"
		mkdir -p "$LXD_CONF"
		printf '%s\n' "$CSIZE" >"$CSTATE/size"
		printf '%s\n' "$CBASE" >"$CSTATE/base_dir"
		[[ "$CBASE" == "$CSTATE" ]] || claim_dir "$CBASE"
		bootstrap_member1
		for ((i = 2; i <= CSIZE; i++)); do
			join_member "$i"
		done
	else
		log "reusing the running cluster ($CSIZE members)"
	fi
	export LXD_DIR
	LXD_DIR="$(member_dir 1)"
	mkdir -p "$CSTATE/certs"
	make_cert "$CSTATE/certs/client.crt" "$CSTATE/certs/client.key" lxdapi-test
	trust_cert "$CSTATE/certs/client.crt" lxdapi-test
	ensure_cluster_certificate
	if [[ ! -s "$CSTATE/busybox.tar.gz" ]]; then
		log "building image tarball $CSTATE/busybox.tar.gz"
		build_image "$CSTATE/busybox.tar.gz" yes busybox "busybox (lxdapi test image)"
	fi
	import_image "$CSTATE/busybox.tar.gz" "$IMAGE_ALIAS"
	local offline
	offline="$(lxc cluster list --format csv 2>/dev/null | grep -vc ',ONLINE,' || true)"
	[[ "$offline" == 0 ]] || log "warning: $offline cluster member(s) not ONLINE: $(lxc cluster list --format csv 2>&1 | tr '\n' ' ')"
	cluster_exports
	log "cluster is up in $((SECONDS - t0)) s; exports written to $CSTATE/env"
	cat "$CSTATE/env"
}

cluster_down() {
	local t0=$SECONDS i pid pids=() project name
	if [[ ! -e "$CSTATE" ]]; then
		log "nothing to do: no $CSTATE"
		return 0
	fi
	[[ -f "$CSTATE/$MARKER" ]] || die "$CSTATE was not made by this script (no $MARKER); not touching it"
	# Instances first, through any running member (the cluster lists them all).
	for ((i = 1; i <= CSIZE; i++)); do
		member_pid "$i" >/dev/null || continue
		while IFS=, read -r project name; do
			[[ -z "$name" ]] && continue
			log "stopping and deleting instance $name (project $project)"
			on_member "$i" lxc stop --force --project "$project" "$name" >/dev/null 2>&1 || true
			on_member "$i" lxc delete --force --project "$project" "$name" >/dev/null 2>&1 || true
		done < <(on_member "$i" timeout 20 lxc list --all-projects --format csv -c e,n 2>/dev/null || true)
		break
	done
	# Then all daemons at once: stopping them one by one can lose the database quorum.
	for ((i = CSIZE; i >= 1; i--)); do
		pid="$(member_pid "$i")" || continue
		pids+=("$i:$pid")
		log "shutting down member$i (pid $pid)"
		(on_member "$i" timeout 40 lxd shutdown --timeout 30 >/dev/null 2>&1 || true) &
	done
	local entry
	for entry in "${pids[@]}"; do
		wait_pid_exit "${entry#*:}" 20 || stop_pid "${entry#*:}" "member${entry%%:*}"
	done
	wait || true
	for ((i = 1; i <= CSIZE; i++)); do
		kill_leftovers "$(member_dir "$i")"
		unmount_under "$(member_dir "$i")" || die "could not unmount everything under $(member_dir "$i")"
	done
	unmount_under "$CSTATE" || die "could not unmount everything under $CSTATE"
	unmount_under "$CBASE" || die "could not unmount everything under $CBASE"
	[[ "$CBASE" == "$CSTATE" ]] || remove_state_dir "$CBASE"
	remove_state_dir "$CSTATE"
	release_data_dir
	# The state folder goes too when nothing but its marker is left.
	if [[ -d "$STATE" && "$(ls -A "$STATE")" == "$MARKER" ]]; then
		remove_state_dir "$STATE"
	fi
	log "cluster is down ($((SECONDS - t0)) s)"
}

cmd_cluster() {
	local sub="${1:-}"
	shift || true
	case "$sub" in
	up)
		cluster_up
		;;
	down)
		[[ -e "$STATE/cluster" ]] || {
			log "nothing to do: no $STATE/cluster"
			return 0
		}
		require_root cluster down
		setup_cluster_env
		cluster_down
		;;
	env)
		setup_cluster_env
		[[ -s "$CSTATE/env" ]] || die "no cluster in $CSTATE; run: $0 cluster up"
		[[ "$(cluster_count_running)" == "$CSIZE" ]] || die "not all cluster members run; run: $0 cluster up"
		cat "$CSTATE/env"
		;;
	status)
		setup_cluster_env
		local n
		n="$(cluster_count_running)"
		log "cluster: $n of $CSIZE members run"
		[[ "$n" == "$CSIZE" && -s "$CSTATE/env" ]]
		;;
	*)
		usage
		exit 2
		;;
	esac
}

# ---------------------------------------------------------------------------

main() {
	# Nothing here reads the caller's stdin, and the command lines must not either: `incus storage
	# create` reads a config from a stdin that is not a terminal, and waits forever on an open pipe
	# (a test's execFile, say) that nobody writes to.
	exec </dev/null
	local cmd="${1:-}"
	shift || true
	case "$cmd" in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	env) cmd_env "$@" ;;
	status) cmd_status "$@" ;;
	cluster) cmd_cluster "$@" ;;
	incus) cmd_incus "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"

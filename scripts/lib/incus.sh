# shellcheck shell=bash
# scripts/lib/incus.sh: the Incus 6.0 half of lxd-sandbox.sh, a private incusd beside the
# private lxd. Sourced by lxd-sandbox.sh after its own helpers (processes, mounts, state
# folders, free ports, image import), which it reuses; not run on its own.
#
# The daemon's state folder (INCUS_DIR) is <the sandbox's data folder>/incus (see
# lxd-sandbox.sh's header: $LXD_SANDBOX_DATA_ROOT/<hash of the state folder>), not inside
# the clone: a container's unprivileged root must traverse every folder above its storage,
# and a clone may sit under a 0700 folder (/root). Everything else (client config,
# certificates, tarballs, log, env) is in <state>/incus.
#
# Exports, in <state>/incus/env, mirror LXD_TEST_* (see lxd-sandbox.sh's header):
#   INCUS_TEST_DIR, INCUS_TEST_SOCKET, INCUS_TEST_URL, INCUS_TEST_SERVER_CERT,
#   INCUS_TEST_CLIENT_CERT/KEY, INCUS_TEST_UNTRUSTED_CERT/KEY, INCUS_TEST_IMAGE,
#   INCUS_TEST_IMAGE_TARBALL, INCUS_TEST_NOINIT_TARBALL.
# There is no INCUS_TEST_TRUST_PASSWORD: Incus has no core.trust_password (tokens only).

INCUSD=/usr/libexec/incus/incusd

setup_incus_env() {
	# shellcheck disable=SC2153 # STATE is the sandbox state folder of lxd-sandbox.sh
	ISTATE="$STATE/incus"
	if [[ -s "$ISTATE/incus_dir" ]]; then
		INCUS_DIR="$(cat "$ISTATE/incus_dir")"
	else
		INCUS_DIR="$(data_dir)/incus"
	fi
	case "$INCUS_DIR" in
	"$DATA_ROOT"/?*/incus) ;;
	*) die "refusing to use INCUS_DIR=$INCUS_DIR (not a data folder under $DATA_ROOT)" ;;
	esac
	export INCUS_DIR
	export INCUS_CONF="$ISTATE/incus-conf" # the incus client's config: never the user's ~/.config/incus
	unset INCUS_SOCKET INCUS_REMOTE INCUS_PROJECT
	INCUS_PIDFILE="$ISTATE/incusd.pid"
	INCUS_LOGFILE="$ISTATE/incusd.log"
}

# Debian bookworm has Incus 6.0 only in bookworm-backports; trixie and Ubuntu 24.04 in their main suites.
incus_needs_backports() {
	local id="" codename=""
	# shellcheck disable=SC1091
	[[ -r /etc/os-release ]] && { id="$(. /etc/os-release && printf '%s' "$ID")"; codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"; }
	[[ "$id" == debian && "$codename" == bookworm ]]
}

# Adds bookworm-backports (same mirror as the main suite) unless a source names it already.
incus_add_backports() {
	if grep -rqsE '^[[:space:]]*(Suites:.*[[:space:]]bookworm-backports([[:space:]]|$)|deb[[:space:]].*[[:space:]]bookworm-backports[[:space:]])' \
		/etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	local uri
	uri="$(sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+debian)\/?[[:space:]]*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
	log "adding the bookworm-backports suite (${uri:=http://deb.debian.org/debian}) for Incus 6.0"
	cat >/etc/apt/sources.list.d/bookworm-backports.sources <<EOF
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

incus_ensure_packages() {
	local need=(incus incus-client busybox-static) missing=() p
	command -v openssl >/dev/null 2>&1 || need+=(openssl)
	command -v curl >/dev/null 2>&1 || need+=(curl)
	for p in "${need[@]}"; do
		have_packages "$p" || missing+=("$p")
	done
	if ((${#missing[@]} > 0)); then
		[[ $EUID -eq 0 ]] || die "missing packages: ${missing[*]}; install them as root (on Debian bookworm from bookworm-backports)"
		command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
		local target=()
		if incus_needs_backports; then
			incus_add_backports
			target=(-t bookworm-backports)
		fi
		log "installing ${missing[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		# Other users of the machine may hold the dpkg lock for a while: wait for it.
		apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${target[@]}" "${missing[@]}" >&2 ||
			die "apt-get install ${missing[*]} failed"
	fi
	local version
	version="$(dpkg-query -W -f='${Version}' incus 2>/dev/null || true)"
	[[ "$version" =~ ^([0-9]+:)?([6-9]|[1-9][0-9])\. ]] || die "the incus package is $version; the sandbox needs Incus 6.0 or later"
	[[ -x "$INCUSD" ]] || die "$INCUSD is missing (package incus)"
}

# The PID of our running incusd, or nothing.
incus_running_pid() {
	local pid
	[[ -s "$INCUS_PIDFILE" ]] || return 1
	pid="$(cat "$INCUS_PIDFILE")"
	is_our_lxd "$pid" "$INCUS_LOGFILE" incusd || return 1
	printf '%s\n' "$pid"
}

start_incusd() {
	local pid
	if [[ -S "$INCUS_DIR/unix.socket" ]] && curl -s --max-time 2 --unix-socket "$INCUS_DIR/unix.socket" incus/1.0 >/dev/null 2>&1; then
		die "an Incus daemon this script did not record already serves $INCUS_DIR; stop it first"
	fi
	unmount_under "$INCUS_DIR" || true
	ensure_data_dir
	claim_dir "$INCUS_DIR"
	chmod 711 "$INCUS_DIR"
	mkdir -p "$INCUS_CONF"
	log "starting incusd (INCUS_DIR=$INCUS_DIR, log $INCUS_LOGFILE)"
	setsid "$INCUSD" --group root --logfile "$INCUS_LOGFILE" </dev/null >>"$INCUS_LOGFILE.out" 2>&1 &
	pid=$!
	printf '%s\n' "$pid" >"$INCUS_PIDFILE"
	if ! incus admin waitready --timeout 60 >&2; then
		tail -n 30 "$INCUS_LOGFILE" "$INCUS_LOGFILE.out" >&2 2>/dev/null || true
		die "incusd did not become ready within 60 s"
	fi
	is_our_lxd "$pid" "$INCUS_LOGFILE" incusd || die "incusd (pid $pid) is not running after waitready; see $INCUS_LOGFILE"
	log "incusd is ready (pid $pid)"
}

configure_incus() {
	if ! incus query /1.0/storage-pools/default >/dev/null 2>&1; then
		log "creating dir storage pool default (in $INCUS_DIR/storage-pools)"
		incus storage create default dir >&2
	fi
	if ! incus profile device get default root pool >/dev/null 2>&1; then
		log "adding the root disk to the default profile"
		incus profile device add default root disk path=/ pool=default >&2
	fi
	CLIENT=incus ensure_https

	mkdir -p "$ISTATE/certs"
	make_cert "$ISTATE/certs/client.crt" "$ISTATE/certs/client.key" lxdapi-test
	make_cert "$ISTATE/certs/untrusted.crt" "$ISTATE/certs/untrusted.key" lxdapi-untrusted
	local fp
	fp="$(cert_fingerprint "$ISTATE/certs/client.crt")"
	if ! incus query "/1.0/certificates/$fp" >/dev/null 2>&1; then
		log "trusting client certificate lxdapi-test (${fp:0:12})"
		incus config trust add-certificate "$ISTATE/certs/client.crt" --name lxdapi-test >&2 ||
			die "incus config trust add-certificate failed"
	fi
	# The untrusted pair must stay untrusted even if a test trusted it with a token.
	fp="$(cert_fingerprint "$ISTATE/certs/untrusted.crt")"
	if incus query "/1.0/certificates/$fp" >/dev/null 2>&1; then
		log "removing the untrusted certificate from the trust store"
		incus config trust remove "$fp" >&2
	fi

	ensure_images "$ISTATE"
	CLIENT=incus import_image "$ISTATE/busybox.tar.gz" "$IMAGE_ALIAS"
}

incus_up() {
	local t0=$SECONDS pid
	incus_ensure_packages
	require_root incus up
	claim_dir "$STATE"
	setup_incus_env
	claim_dir "$ISTATE"
	[[ -s "$ISTATE/incus_dir" ]] || printf '%s\n' "$INCUS_DIR" >"$ISTATE/incus_dir"
	if pid="$(incus_running_pid)"; then
		log "reusing the running incusd (pid $pid, INCUS_DIR=$INCUS_DIR)"
		incus admin waitready --timeout 60 >&2 || die "incusd (pid $pid) is not ready"
	else
		start_incusd
	fi
	configure_incus
	write_test_env "$ISTATE" "$INCUS_DIR" "https://$HTTPS_ADDR" INCUS_TEST
	log "incus sandbox is up in $((SECONDS - t0)) s; exports written to $ISTATE/env"
}

incus_down() {
	local t0=$SECONDS pid project name try
	setup_incus_env
	[[ -e "$ISTATE" ]] || return 0
	[[ -f "$ISTATE/$MARKER" ]] || die "$ISTATE was not made by this script (no $MARKER); not touching it"
	require_root incus down
	if pid="$(incus_running_pid)"; then
		while IFS=, read -r project name; do
			[[ -z "$name" ]] && continue
			log "stopping and deleting incus instance $name (project $project)"
			incus stop --force --project "$project" "$name" >/dev/null 2>&1 || true
			for try in 1 2 3 4 5 6; do
				incus delete --force --project "$project" "$name" >/dev/null 2>&1 && break
				((try < 6)) && sleep 0.5
				((try == 6)) && log "warning: could not delete incus instance $name; the state folder goes anyway"
			done
		done < <(timeout 20 incus list --all-projects --format csv -c e,n 2>/dev/null || true)
		log "shutting down incusd (pid $pid)"
		timeout 40 incus admin shutdown --timeout 30 >/dev/null 2>&1 || true
		wait_pid_exit "$pid" 15 || stop_pid "$pid" incusd
	else
		log "no incusd runs"
	fi
	kill_leftovers "$INCUS_DIR"
	unmount_under "$INCUS_DIR" || die "could not unmount everything under $INCUS_DIR"
	remove_state_dir "$INCUS_DIR"
	remove_state_dir "$ISTATE"
	release_data_dir
	# The state folder goes too when nothing but its marker is left.
	if [[ -d "$STATE" && "$(ls -A "$STATE")" == "$MARKER" ]]; then
		remove_state_dir "$STATE"
	fi
	log "incus sandbox is down ($((SECONDS - t0)) s)"
}

incus_status() {
	setup_incus_env
	local pid
	if pid="$(incus_running_pid)"; then
		log "incus: up, incusd pid $pid, INCUS_DIR=$INCUS_DIR"
		return 0
	fi
	log "incus: down"
	return 1
}

incus_env() {
	setup_incus_env
	incus_running_pid >/dev/null || die "the Incus sandbox daemon is not running; run: $0 up"
	[[ -s "$ISTATE/env" ]] || die "$ISTATE/env is missing; run: $0 up"
	cat "$ISTATE/env"
}

# `lxd-sandbox.sh incus up|down|env|status`: the Incus daemon alone.
cmd_incus() {
	case "${1:-}" in
	up) incus_up && cat "$ISTATE/env" ;;
	down) incus_down ;;
	env) incus_env ;;
	status) incus_status ;;
	*)
		usage
		exit 2
		;;
	esac
}

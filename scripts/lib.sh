# shellcheck shell=bash
# Shared helpers for the scripts that start and stop the project's real test
# services (versitygw, slapd, ...). Source it; it defines functions only.
# Safe under `set -eu`, needs no stdin, works with CI=true.
#
# Layout: everything a service writes lives under $SERVICES_DIR (default
# <repo>/.services, gitignored): binaries in bin/, state in <name>/, the pid in
# <name>.pid, the log in <name>.log.

REPO_ROOT="${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
SERVICES_DIR="${SERVICES_DIR:-$REPO_ROOT/.services}"
SERVICES_BIN="$SERVICES_DIR/bin"

case ":$PATH:" in
*:/usr/local/go/bin:*) ;;
*) [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin" ;;
esac

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# install_go_tool NAME MODULE@VERSION: go install into $SERVICES_BIN unless
# $SERVICES_BIN/NAME is already there. Prints the binary path.
install_go_tool() {
	local name="$1" pkg="$2" bin="$SERVICES_BIN/$1"
	if [ ! -x "$bin" ]; then
		command -v go >/dev/null 2>&1 || die "go not found; install Go (see go.mod) to build $name"
		mkdir -p "$SERVICES_BIN"
		log "installing $pkg (first time only; cached afterwards)"
		GOBIN="$SERVICES_BIN" go install "$pkg" </dev/null >&2 ||
			die "go install $pkg failed"
	fi
	printf '%s\n' "$bin"
}

# install_apt_pkg CMD PACKAGE: apt-get install PACKAGE unless CMD is on PATH.
install_apt_pkg() {
	local cmd="$1" pkg="$2"
	command -v "$cmd" >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "$cmd not found and no apt-get to install $pkg"
	log "installing $pkg"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" </dev/null >&2; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" </dev/null >&2 || die "apt-get install $pkg failed"
	fi
}

# pid_running PIDFILE [EXE]: true when PIDFILE names a live process (whose
# executable path ends with EXE, when given, so a recycled pid never counts).
pid_running() {
	local pidfile="$1" exe="${2:-}" pid
	[ -s "$pidfile" ] || return 1
	pid="$(cat "$pidfile")"
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	if [ -n "$exe" ] && [ -e "/proc/$pid/exe" ]; then
		case "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" in
		*"$exe" | *"$exe (deleted)") ;;
		*) return 1 ;;
		esac
	fi
	return 0
}

# start_daemon PIDFILE LOGFILE CMD...: start CMD detached (own session, no
# stdin, output to LOGFILE) and write its pid to PIDFILE.
start_daemon() {
	local pidfile="$1" logfile="$2"
	shift 2
	mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
	if command -v setsid >/dev/null 2>&1; then
		setsid "$@" </dev/null >>"$logfile" 2>&1 &
	else
		nohup "$@" </dev/null >>"$logfile" 2>&1 &
	fi
	printf '%s\n' "$!" >"$pidfile"
}

# stop_pidfile PIDFILE [EXE]: stop exactly the process in PIDFILE (TERM, then
# KILL after ~10 s) and remove the pid file. No-op when it is not running.
stop_pidfile() {
	local pidfile="$1" exe="${2:-}" pid i
	if ! pid_running "$pidfile" "$exe"; then
		rm -f "$pidfile"
		return 0
	fi
	pid="$(cat "$pidfile")"
	kill "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid ignored TERM; sending KILL"
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_port HOST PORT SECONDS [PIDFILE]: wait until HOST:PORT accepts
# connections; fail early when the process in PIDFILE dies.
wait_port() {
	local host="$1" port="$2" secs="$3" pidfile="${4:-}" i
	for i in $(seq 1 $((secs * 5))); do
		port_open "$host" "$port" && return 0
		if [ -n "$pidfile" ] && ! pid_running "$pidfile"; then
			return 1
		fi
		sleep 0.2
	done
	return 1
}

# shellcheck shell=bash
# Helpers sourced by the scripts in deploy/dev/. Not meant to be run.
#
# Conventions every script follows:
#   - stdout carries exactly one line: the value the caller wants (a path or a
#     URL), so that `X="$(deploy/dev/x.sh)"` works;
#   - stderr carries one line saying what was done (or the error and what to
#     do about it);
#   - running a script twice is harmless: state lives in .cache/<name>/ at the
#     repository root, guarded by a lock file.

set -euo pipefail

# ROOT is the repository root (the folder holding go.work).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache"
SCRIPT="$(basename "$0")"

# say prints the script's one line of what it did, on stderr.
say() { printf '%s: %s\n' "$SCRIPT" "$*" >&2; }

# die prints an error on stderr and exits 1.
die() {
	printf '%s: error: %s\n' "$SCRIPT" "$*" >&2
	exit 1
}

# rel prints a path relative to the repository root when it is inside it.
rel() {
	case "$1" in
	"$ROOT"/*) printf '%s\n' "${1#"$ROOT"/}" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# lock NAME takes an exclusive lock on .cache/NAME.lock for the rest of the
# script, so that two `make test` runs in one checkout do not race.
lock() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/$1.lock"
	if ! flock -w 120 9; then
		die "another run holds $(rel "$CACHE/$1.lock") for over 120s; is a script hung?"
	fi
}

# apt_install PKG... installs Debian packages, as root or through passwordless
# sudo. Its output goes to .cache/apt.log, shown only when it fails.
apt_install() {
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			die "$* not installed and not root: run 'sudo apt-get update && sudo apt-get install -y $*'"
		fi
	fi
	command -v apt-get >/dev/null 2>&1 || die "$* not installed and no apt-get: install $* by hand"
	mkdir -p "$CACHE"
	local log="$CACHE/apt.log"
	# One apt-get at a time from this checkout (CI installs the arm64
	# tools in the background while make test may install services):
	# apt-get refuses to run beside another, it does not wait.
	if ! { flock -w 900 8 || die "another apt-get from this checkout held $(rel "$CACHE/apt.lock") for over 900s"
		{ "${sudo[@]}" apt-get update -q &&
			"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -q --no-install-recommends "$@"; } >"$log" 2>&1
	} 8>"$CACHE/apt.lock"; then
		tail -n 20 "$log" >&2
		die "apt-get install $* failed (full log: $(rel "$log"))"
	fi
}

# apt_possible succeeds when apt_install can run without asking: apt-get
# is there, and we are root or have passwordless sudo.
apt_possible() {
	command -v apt-get >/dev/null 2>&1 || return 1
	[ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# tcp_open HOST PORT succeeds when something accepts TCP connections there.
tcp_open() {
	# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash.
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# free_port FIRST LAST prints the first port in [FIRST, LAST] on 127.0.0.1
# that nothing listens on. A previous choice stored in FILE is tried first.
free_port() {
	local first=$1 last=$2 file=${3:-} p
	if [ -n "$file" ] && [ -s "$file" ]; then
		p="$(cat "$file")"
		if [[ "$p" =~ ^[0-9]+$ ]] && ! tcp_open 127.0.0.1 "$p"; then
			printf '%s\n' "$p"
			return 0
		fi
	fi
	for ((p = first; p <= last; p++)); do
		if ! tcp_open 127.0.0.1 "$p"; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	die "no free TCP port on 127.0.0.1 between $first and $last"
}

# wait_tcp HOST PORT SECONDS waits until the port accepts connections.
wait_tcp() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		tcp_open "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

# throwaway_forced is true when HYDROGNN_THROWAWAY=1 asks the scripts to
# ignore services already running on the machine and start their own.
throwaway_forced() { [ "${HYDROGNN_THROWAWAY:-0}" = 1 ]; }

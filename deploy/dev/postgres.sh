#!/usr/bin/env bash
# postgres.sh: finds or starts a PostgreSQL server for tests and prints its
# DATABASE_URL.
#
#   deploy/dev/postgres.sh          # print a DATABASE_URL (starting a server if needed)
#   deploy/dev/postgres.sh stop     # stop the throwaway cluster, if this script started one
#   deploy/dev/postgres.sh status   # say what runs, start nothing
#
# Order of preference:
#   1. $DATABASE_URL, when set. It must answer: if it does not, the script
#      fails rather than testing against another database than the one asked for.
#   2. The machine's own server at 127.0.0.1:5432, database `test`, user
#      `postgres` (trust auth), when it accepts a query. Skipped with
#      HYDROGNN_THROWAWAY=1.
#   3. A throwaway cluster in .cache/pg/ on a free port (55432 and up), created
#      with initdb and started with pg_ctl; it is reused by later runs and
#      stopped by `make services-stop`. fsync is off: it holds test data only.
#
# PostgreSQL refuses to run as root, so as root the cluster is owned by and run
# as the `postgres` user (or `nobody` where there is none). When that user
# cannot reach .cache/pg (a checkout under a private folder, say) or the path is
# too long for a Unix socket, the cluster lives in /tmp/hydrognn-pg-<hash> and
# .cache/pg/cluster links to it. The server binaries come from PATH or
# /usr/lib/postgresql/*/bin; with none, the Debian package is installed.
#
# The printed URL always has the form
#   postgres://postgres@127.0.0.1:<port>/test?sslmode=disable
# unless DATABASE_URL was given, which is printed as given.
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "$0")/lib.sh"

cmd="${1:-start}"
case "$cmd" in start | stop | status) ;; *) die "unknown command $cmd (want start, stop or status)" ;; esac

STATE="$CACHE/pg"
LOCAL_URL="postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"

# pgbin NAME prints the path of a PostgreSQL program, newest major first.
pgbin() {
	local d
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k4,4 -rn); do
		if [ -x "$d/$1" ]; then
			printf '%s\n' "$d/$1"
			return 0
		fi
	done
	command -v "$1" 2>/dev/null
}

# answers URL succeeds when a server at URL accepts a connection (and a query,
# when psql is installed).
answers() {
	local psql isready
	if psql="$(pgbin psql)"; then
		PGCONNECT_TIMEOUT=3 "$psql" "$1" -Atqc 'select 1' >/dev/null 2>&1
	elif isready="$(pgbin pg_isready)"; then
		"$isready" -q -t 3 -d "$1"
	else
		# No client at all: check the TCP port of a URL of the form scheme://[user@]host[:port]/...
		local hp="${1#*://}"
		hp="${hp#*@}"
		hp="${hp%%/*}"
		hp="${hp%%\?*}"
		tcp_open "${hp%%:*}" "$( [ "${hp#*:}" != "$hp" ] && echo "${hp#*:}" || echo 5432)"
	fi
}

# --- 1 and 2: a server that already runs --------------------------------------
if [ "$cmd" = start ]; then
	if [ -n "${DATABASE_URL:-}" ]; then
		answers "$DATABASE_URL" ||
			die "DATABASE_URL is set but no server answers there; start it, or unset DATABASE_URL to let this script find or start one"
		say "using DATABASE_URL from the environment"
		printf '%s\n' "$DATABASE_URL"
		exit 0
	fi
	if ! throwaway_forced && answers "$LOCAL_URL"; then
		say "using the machine's PostgreSQL at 127.0.0.1:5432, database test"
		printf '%s\n' "${LOCAL_URL%&connect_timeout=3}"
		exit 0
	fi
fi

# --- 3: the throwaway cluster ------------------------------------------------
lock pg

# The user the server runs as, and how to run a command as that user.
as_pg=()
pg_user="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
	if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
	as_pg=(runuser -u "$pg_user" --)
fi

# cluster_dir prints the real folder of the cluster, following .cache/pg/cluster.
cluster_dir() {
	if [ -L "$STATE/cluster" ] || [ -e "$STATE/cluster" ]; then readlink -f "$STATE/cluster"; fi
}

# pid_of_cluster prints the postmaster's pid when it is alive and is postgres.
pid_of_cluster() {
	local c="$1" pid
	[ -f "$c/data/postmaster.pid" ] || return 1
	pid="$(head -n 1 "$c/data/postmaster.pid")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/comm" ] || return 1
	case "$(cat "/proc/$pid/comm")" in postgres | postmaster) printf '%s\n' "$pid" ;; *) return 1 ;; esac
}

stop_cluster() {
	local c="$1" ctl
	pid_of_cluster "$c" >/dev/null || return 0
	if ctl="$(pgbin pg_ctl)"; then
		"${as_pg[@]}" "$ctl" -D "$c/data" -m fast -w -t 30 stop >/dev/null 2>&1 && return 0
	fi
	# pg_ctl gone or stuck: end the postmaster we started (by its pid only).
	kill -INT "$(pid_of_cluster "$c")" 2>/dev/null || true
	sleep 2
}

c="$(cluster_dir)"
port=""
[ -s "$STATE/port" ] && port="$(cat "$STATE/port")"

if [ "$cmd" = stop ]; then
	if [ -n "$c" ] && pid_of_cluster "$c" >/dev/null; then
		stop_cluster "$c"
		say "stopped the throwaway PostgreSQL in $(rel "$STATE")"
	else
		say "no throwaway PostgreSQL running"
	fi
	printf '\n'
	exit 0
fi
if [ "$cmd" = status ]; then
	if [ -n "$c" ] && pid_of_cluster "$c" >/dev/null && [ -n "$port" ]; then
		say "throwaway PostgreSQL runs on 127.0.0.1:$port (data in $(rel "$STATE"))"
		printf 'postgres://postgres@127.0.0.1:%s/test?sslmode=disable\n' "$port"
	else
		say "no throwaway PostgreSQL running"
		printf '\n'
	fi
	exit 0
fi

url() { printf 'postgres://postgres@127.0.0.1:%s/test?sslmode=disable' "$1"; }

# Reuse a running cluster that answers.
if [ -n "$c" ] && [ -n "$port" ] && pid_of_cluster "$c" >/dev/null && answers "$(url "$port")&connect_timeout=3"; then
	say "throwaway PostgreSQL already running on 127.0.0.1:$port"
	url "$port"
	printf '\n'
	exit 0
fi

# Find the programs, installing them if needed.
if ! pgbin initdb >/dev/null || ! pgbin pg_ctl >/dev/null; then
	apt_install postgresql
	pgbin initdb >/dev/null || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
	# The package may have created the user only now.
	if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then pg_user=postgres; as_pg=(runuser -u postgres --); fi
fi
initdb="$(pgbin initdb)"
pg_ctl="$(pgbin pg_ctl)"
major="$("$pg_ctl" --version | awk '{print $3}' | cut -d. -f1)"

# Choose where the cluster lives (see the header).
mkdir -p "$STATE"
if [ -z "$c" ]; then
	c="$STATE/cluster"
	mkdir -p "$c"
	if [ ${#c} -gt 80 ] || { [ ${#as_pg[@]} -gt 0 ] && { chown "$pg_user" "$c" && ! "${as_pg[@]}" test -w "$c"; }; }; then
		rmdir "$c"
		alt="${TMPDIR:-/tmp}/hydrognn-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
		mkdir -p "$alt"
		ln -sfn "$alt" "$STATE/cluster"
		c="$alt"
	fi
fi
mkdir -p "$c"
[ ${#as_pg[@]} -gt 0 ] && chown "$pg_user" "$c"
chmod 700 "$c"

# A stale cluster: stop it if it runs without answering, then drop a pid file
# left by a server that is gone.
if pid_of_cluster "$c" >/dev/null; then stop_cluster "$c"; fi
if [ -f "$c/data/postmaster.pid" ] && ! pid_of_cluster "$c" >/dev/null; then rm -f "$c/data/postmaster.pid"; fi

# A missing, half-made or other-version cluster is made afresh: it holds test data only.
if [ ! -f "$c/data/PG_VERSION" ] || [ "$(cat "$c/data/PG_VERSION")" != "$major" ]; then
	rm -rf "$c/data"
	if ! "${as_pg[@]}" "$initdb" -D "$c/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 &&
		! { rm -rf "$c/data" && "${as_pg[@]}" "$initdb" -D "$c/data" -U postgres --auth=trust -E UTF8 --no-locale >"$STATE/initdb.log" 2>&1; }; then
		cat "$STATE/initdb.log" >&2
		die "initdb failed (log: $(rel "$STATE/initdb.log"))"
	fi
fi
mkdir -p "$c/sock"
[ ${#as_pg[@]} -gt 0 ] && chown "$pg_user" "$c/sock"

port="$(free_port 55432 55531 "$STATE/port")"
opts="-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$c/sock'"
opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
if ! "${as_pg[@]}" "$pg_ctl" -D "$c/data" -l "$c/postgres.log" -o "$opts" -w -t 60 start >/dev/null 2>&1 </dev/null 9>&-; then
	tail -n 20 "$c/postgres.log" >&2 || true
	die "pg_ctl start failed (log: $c/postgres.log)"
fi
printf '%s\n' "$port" >"$STATE/port"

# Make the database the URL names.
psql="$(pgbin psql)" || die "psql not found next to $pg_ctl"
admin="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
if [ "$("$psql" "$admin" -Atqc "select 1 from pg_database where datname = 'test'")" != 1 ]; then
	"$psql" "$admin" -qc 'create database test' >/dev/null || die "create database test on 127.0.0.1:$port failed"
fi

say "started throwaway PostgreSQL $major on 127.0.0.1:$port (data in $(rel "$c"))"
url "$port"
printf '\n'

#!/usr/bin/env bash
# mosquitto.sh: finds or starts an MQTT broker for tests and prints its MQTT_URL
# (tcp://host:port).
#
#   deploy/dev/mosquitto.sh          # print an MQTT_URL (starting a broker if needed)
#   deploy/dev/mosquitto.sh stop     # stop the broker this script started
#   deploy/dev/mosquitto.sh status   # say what runs, start nothing
#
# Order of preference:
#   1. $MQTT_URL, when set. It must accept connections, or the script fails.
#   2. Our own broker, always otherwise: mosquitto with
#      deploy/mosquitto/mosquitto-test.conf on 127.0.0.1 and a free port
#      (18830 and up), pid and log in .cache/mosquitto/. A machine's own broker
#      (say on 1883) is not used, because Mosquitto's default queue limits lose
#      QoS 1 messages silently and rig-agent's tests rely on the settings in
#      deploy/mosquitto/. The broker is reused by later runs while its config is
#      unchanged, and stopped by `make services-stop`.
# With no mosquitto binary, Debian's package is installed; with no
# mosquitto_passwd, only where apt-get can run unattended (see below).
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "$0")/lib.sh"

cmd="${1:-start}"
case "$cmd" in start | stop | status) ;; *) die "unknown command $cmd (want start, stop or status)" ;; esac

if [ "$cmd" = start ] && [ -n "${MQTT_URL:-}" ]; then
	hp="${MQTT_URL#*://}"
	hp="${hp%%/*}"
	hp="${hp##*@}" # drop user:password@
	host="${hp%:*}"
	port="${hp##*:}"
	if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$host" = "$hp" ]; then
		die "MQTT_URL=$MQTT_URL is not of the form tcp://host:port"
	fi
	host="${host#[}"
	host="${host%]}"
	tcp_open "$host" "$port" ||
		die "MQTT_URL=$MQTT_URL is set but nothing accepts connections there; start the broker, or unset MQTT_URL to let this script start one"
	say "using MQTT_URL from the environment: tcp://$hp"
	printf '%s\n' "$MQTT_URL"
	exit 0
fi

STATE="$CACHE/mosquitto"
CONF_SRC="$ROOT/deploy/mosquitto/mosquitto-test.conf"
lock mosquitto
mkdir -p "$STATE"

# running prints the broker's pid when the one we started is still alive.
running() {
	local pid
	[ -s "$STATE/mosquitto.pid" ] || return 1
	pid="$(cat "$STATE/mosquitto.pid")"
	[[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = mosquitto ] || return 1
	printf '%s\n' "$pid"
}

stop_broker() {
	local pid i
	pid="$(running)" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		running >/dev/null || break
		sleep 0.1
	done
	if running >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	rm -f "$STATE/mosquitto.pid"
}

port=""
[ -s "$STATE/port" ] && port="$(cat "$STATE/port")"

case "$cmd" in
stop)
	if running >/dev/null; then
		stop_broker
		say "stopped the test broker (was on 127.0.0.1:$port)"
	else
		say "no test broker running"
	fi
	printf '\n'
	exit 0
	;;
status)
	if running >/dev/null && [ -n "$port" ]; then
		say "test broker runs on 127.0.0.1:$port"
		printf 'tcp://127.0.0.1:%s\n' "$port"
	else
		say "no test broker running"
		printf '\n'
	fi
	exit 0
	;;
esac

# The broker, and mosquitto_passwd for the tests that start a Mosquitto of
# their own with a password file (agent/internal/ingest TestTLSMosquitto):
# Debian's mosquitto package has both. With no broker, the package is
# installed (or the script stops saying how). With a broker but no
# mosquitto_passwd (a mosquitto built from source, or not Debian's), the
# package is installed only where that can run unattended (root or
# passwordless sudo, and apt-get, as in CI); elsewhere a warning, and
# TestTLSMosquitto skips (fails under HYDROGNN_REQUIRE_SERVICES=1, naming
# mosquitto_passwd). Checked before reusing a running broker too.
bin="$(command -v mosquitto || true)"
[ -n "$bin" ] || [ ! -x /usr/sbin/mosquitto ] || bin=/usr/sbin/mosquitto
if [ -z "$bin" ]; then
	apt_install mosquitto
	bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
	[ -x "$bin" ] || die "mosquitto installed but not found"
	command -v mosquitto_passwd >/dev/null 2>&1 || die "mosquitto installed but mosquitto_passwd not found"
elif ! command -v mosquitto_passwd >/dev/null 2>&1; then
	no_passwd="mosquitto_passwd not found (the broker is $bin): TestTLSMosquitto will skip, or fail under HYDROGNN_REQUIRE_SERVICES=1"
	if ! apt_possible; then
		say "warning: $no_passwd; put mosquitto_passwd on PATH, or install Debian's mosquitto package (needs root or passwordless sudo, and apt-get)"
	elif ! (apt_install mosquitto) || ! command -v mosquitto_passwd >/dev/null 2>&1; then
		say "warning: $no_passwd; installing Debian's mosquitto package did not provide it"
	fi
fi

# Reuse the broker if it runs with the current config and answers.
sum="$(sha256sum "$CONF_SRC" | cut -c1-16)"
if running >/dev/null && [ -n "$port" ] && [ "$(cat "$STATE/config.sum" 2>/dev/null)" = "$sum" ] && tcp_open 127.0.0.1 "$port"; then
	say "test broker already running on 127.0.0.1:$port"
	printf 'tcp://127.0.0.1:%s\n' "$port"
	exit 0
fi
stop_broker

port="$(free_port 18830 18929 "$STATE/port")"
{
	printf '# Generated by deploy/dev/mosquitto.sh from %s; do not edit.\n' "$(rel "$CONF_SRC")"
	printf 'listener %s 127.0.0.1\n' "$port"
	# As root Mosquitto drops to the user `mosquitto`; elsewhere it stays who it is.
	if [ "$(id -u)" -eq 0 ] && ! id mosquitto >/dev/null 2>&1; then printf 'user root\n'; fi
	cat "$CONF_SRC"
} >"$STATE/mosquitto.conf"

# In its own session, with every stream redirected and the lock's fd closed, so
# that neither Ctrl-C in make, a caller's $(...) nor the next run waits on it.
setsid "$bin" -c "$STATE/mosquitto.conf" </dev/null >"$STATE/mosquitto.log" 2>&1 9>&- &
pid=$!
printf '%s\n' "$pid" >"$STATE/mosquitto.pid"
printf '%s\n' "$port" >"$STATE/port"
if ! wait_tcp 127.0.0.1 "$port" 10; then
	tail -n 20 "$STATE/mosquitto.log" >&2 || true
	kill "$pid" 2>/dev/null || true
	rm -f "$STATE/mosquitto.pid"
	die "mosquitto did not come up on 127.0.0.1:$port (log: $(rel "$STATE/mosquitto.log"))"
fi
printf '%s\n' "$sum" >"$STATE/config.sum"
say "started mosquitto $("$bin" -h 2>/dev/null | awk 'NR==1{print $3}') on 127.0.0.1:$port with $(rel "$CONF_SRC")"
printf 'tcp://127.0.0.1:%s\n' "$port"

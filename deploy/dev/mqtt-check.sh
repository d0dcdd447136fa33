#!/usr/bin/env bash
# mqtt-check.sh: checks that an MQTT broker queues QoS 1 messages for an
# offline subscriber without the silent loss of Mosquitto's defaults.
#
#   deploy/dev/mqtt-check.sh tcp://127.0.0.1:18830   # or MQTT_URL from the environment
#
# It opens a persistent session (clean session off), leaves, publishes N QoS 1
# messages (default 3000, over the default max_queued_messages of 1000), comes
# back and counts what arrives. A broker with deploy/mosquitto/ settings
# delivers all N; one with the defaults delivers about 1000. Prints the count;
# exits 1 on loss. Needs mosquitto_pub and mosquitto_sub (Debian's
# mosquitto-clients, installed if absent).
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "$0")/lib.sh"

url="${1:-${MQTT_URL:-}}"
[ -n "$url" ] || die "no broker given: pass tcp://host:port or set MQTT_URL"
n="${MQTT_CHECK_N:-3000}"
hp="${url#*://}"
hp="${hp%%/*}"
hp="${hp##*@}"
host="${hp%:*}"
port="${hp##*:}"
[[ "$port" =~ ^[0-9]+$ ]] || die "$url is not of the form tcp://host:port"

command -v mosquitto_pub >/dev/null 2>&1 || apt_install mosquitto-clients

id="hydrognn-qcheck-$$"
topic="hydrognn/qcheck/$$"
# Open the persistent session and leave.
mosquitto_sub -h "$host" -p "$port" -q 1 -c -i "$id" -t "$topic" -W 1 >/dev/null 2>&1 || true
seq 1 "$n" | mosquitto_pub -h "$host" -p "$port" -q 1 -t "$topic" -l ||
	die "publishing to $url failed"
got="$(mosquitto_sub -h "$host" -p "$port" -q 1 -c -i "$id" -t "$topic" -W 3 2>/dev/null | wc -l || true)"
# Close the session so the broker forgets it.
mosquitto_sub -h "$host" -p "$port" -i "$id" -t "$topic" -W 1 >/dev/null 2>&1 || true

if [ "$got" -lt "$n" ]; then
	say "LOSS: the broker at $url delivered $got of $n queued QoS 1 messages; set max_queued_messages and max_inflight_messages as in deploy/mosquitto/mosquitto.conf"
	printf '%s\n' "$got"
	exit 1
fi
say "the broker at $url delivered all $n queued QoS 1 messages"
printf '%s\n' "$got"

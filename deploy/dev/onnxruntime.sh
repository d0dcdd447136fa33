#!/usr/bin/env bash
# onnxruntime.sh: ensures ONNX Runtime's shared library is in the git-ignored
# cache and prints its path for one architecture (the host's by default).
#
#   deploy/dev/onnxruntime.sh            # path for this machine
#   deploy/dev/onnxruntime.sh --arch arm64   # path of the linux-arm64 library
#
# The library comes from the npm package onnxruntime-node (fetched with
# `npm pack`, so only the npm registry is needed), which ships both
#   package/bin/napi-v6/linux/x64/libonnxruntime.so.1
#   package/bin/napi-v6/linux/arm64/libonnxruntime.so.1
# They land in .cache/onnxruntime/<version>/linux-{x64,arm64}/ and are checked
# against the SHA-256 sums below. Nothing is downloaded when both are present.
#
# If ONNXRUNTIME_LIB is already set (and names a file) and no --arch is given,
# it is printed as is, so a user's own build wins; the cache is then left
# alone. With --arch the cached library of that architecture is printed
# (make build-arm64 copies it beside bin/linux-arm64/rig-agent).
#
# Environment: ORT_VERSION (default 1.30.0; another version skips the checksum
# check and says so), npm_config_cache (npm's own cache, as usual).
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "$0")/lib.sh"

ORT_VERSION="${ORT_VERSION:-1.30.0}"
# SHA-256 of the libraries inside onnxruntime-node@1.30.0.
declare -A SHA256=(
	[x64]=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
	[arm64]=1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76
)

arch=""
case "${1:-}" in
--arch) arch="${2:-}" ;;
"") ;;
*) die "unknown argument $1 (usage: $SCRIPT [--arch x64|arm64])" ;;
esac
if [ -z "$arch" ]; then
	case "$(uname -m)" in
	x86_64 | amd64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "no ONNX Runtime build for this machine ($(uname -m)); set ONNXRUNTIME_LIB to your own libonnxruntime.so" ;;
	esac
fi
case "$arch" in
x64 | amd64) arch=x64 ;;
arm64 | aarch64) arch=arm64 ;;
*) die "unknown --arch $arch (want x64 or arm64)" ;;
esac

if [ -n "${ONNXRUNTIME_LIB:-}" ] && [ -z "${1:-}" ]; then
	[ -f "$ONNXRUNTIME_LIB" ] || die "ONNXRUNTIME_LIB=$ONNXRUNTIME_LIB is not a file: unset it to use the cached download"
	say "using ONNXRUNTIME_LIB from the environment: $ONNXRUNTIME_LIB"
	printf '%s\n' "$ONNXRUNTIME_LIB"
	exit 0
fi

dir="$CACHE/onnxruntime/$ORT_VERSION"
want="$dir/linux-$arch/libonnxruntime.so.1"

# verify FILE ARCH checks the pinned checksum (pinned for 1.30.0 only).
verify() {
	[ "$ORT_VERSION" = 1.30.0 ] || return 0
	local got
	got="$(sha256sum "$1" | cut -d' ' -f1)"
	[ "$got" = "${SHA256[$2]}" ]
}

if [ -f "$dir/linux-x64/libonnxruntime.so.1" ] && [ -f "$dir/linux-arm64/libonnxruntime.so.1" ]; then
	say "ONNX Runtime $ORT_VERSION already cached: $(rel "$want")"
	printf '%s\n' "$want"
	exit 0
fi

lock onnxruntime
# Another run may have finished the download while we waited for the lock.
if [ ! -f "$dir/linux-x64/libonnxruntime.so.1" ] || [ ! -f "$dir/linux-arm64/libonnxruntime.so.1" ]; then
	command -v npm >/dev/null 2>&1 || apt_install npm
	tmp="$(mktemp -d "${TMPDIR:-/tmp}/hydrognn-ort.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	if ! (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION") >"$tmp/npm.log" 2>&1; then
		cat "$tmp/npm.log" >&2
		die "npm pack onnxruntime-node@$ORT_VERSION failed (is the npm registry reachable?)"
	fi
	tgz="$(find "$tmp" -maxdepth 1 -name 'onnxruntime-node-*.tgz' | head -n 1)"
	[ -n "$tgz" ] || die "npm pack left no onnxruntime-node-*.tgz in $tmp"
	tar -xzf "$tgz" -C "$tmp" \
		package/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
		package/bin/napi-v6/linux/arm64/libonnxruntime.so.1 ||
		die "onnxruntime-node@$ORT_VERSION has no package/bin/napi-v6/linux/{x64,arm64}/libonnxruntime.so.1"
	for a in x64 arm64; do
		f="$tmp/package/bin/napi-v6/linux/$a/libonnxruntime.so.1"
		verify "$f" "$a" || die "checksum of linux/$a/libonnxruntime.so.1 in onnxruntime-node@$ORT_VERSION does not match the pinned one"
		mkdir -p "$dir/linux-$a"
		# Rename within the cache folder so a reader never sees half a file.
		cp "$f" "$dir/linux-$a/.libonnxruntime.so.1.tmp"
		mv -f "$dir/linux-$a/.libonnxruntime.so.1.tmp" "$dir/linux-$a/libonnxruntime.so.1"
	done
	say "fetched ONNX Runtime $ORT_VERSION (npm onnxruntime-node) into $(rel "$dir")"
else
	say "ONNX Runtime $ORT_VERSION already cached: $(rel "$want")"
fi
printf '%s\n' "$want"

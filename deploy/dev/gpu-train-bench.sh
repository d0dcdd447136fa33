#!/usr/bin/env bash
# gpu-train-bench.sh times `rigctl train` on GoMLX's XLA backend with the
# PJRT CUDA plugin against the pure-Go backend, on the same machine, the
# same data and the same settings (docs/model.md, "Training on a GPU").
#
#   RIGCTL=bin/rigctl DATA=/tmp/split/train OUT_DIR=/tmp/gpu-bench \
#       bash deploy/dev/gpu-train-bench.sh
#
# DATA is a UCI-layout folder (e.g. the training half of `rigctl bench
# split`). The CUDA plugin is the one Python's jax-cuda13-pjrt installs
# (jax_plugins/xla_cuda13/xla_cuda_plugin.so), found through python3 unless
# PJRT_CUDA_PLUGIN names it; nothing is downloaded (GOMLX_NO_AUTO_INSTALL).
# Each run trains a fixed number of epochs (no early stopping), fp32 only,
# no report, and its log (one line per epoch with its seconds) is kept in
# OUT_DIR; summary.txt has one line per run: backend, sizes, wall seconds,
# the trainer's own "trained N s" and the last validation line.
set -u -o pipefail

rigctl=${RIGCTL:-bin/rigctl}
data=${DATA:?DATA: a UCI-layout folder}
out=${OUT_DIR:-/tmp/gpu-bench}
rig=${RIG:-firmware-configs/zema-testrig.yaml}
epochs=${EPOCHS:-20}
big_epochs=${BIG_EPOCHS:-10}
big_sizes=${BIG_SIZES:-'{"hidden":64,"heads":4,"head_hidden":64,"window":16,"view":32,"view_hidden":64}'}
run_timeout=${RUN_TIMEOUT:-200}
work=$(mktemp -d)
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"

say() { echo "$*" | tee -a "$summary"; }

plugin=${PJRT_CUDA_PLUGIN:-}
if [ -z "$plugin" ]; then
	for py in python3 /opt/torch/.venv/bin/python3; do
		p=$("$py" -c 'import importlib.util, os; s = importlib.util.find_spec("jax_plugins.xla_cuda13"); print(os.path.join(os.path.dirname(s.origin), "xla_cuda_plugin.so"))' 2>/dev/null) || continue
		if [ -f "$p" ]; then plugin=$p; break; fi
	done
fi
if [ -z "$plugin" ]; then
	plugin=$(find /opt /usr /root -name xla_cuda_plugin.so 2>/dev/null | sed -n 1p)
fi
say "host: $(nproc) cores; $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed -n 1p)"
say "plugin: ${plugin:-none found}"

# The plugin finds CUDA's libraries through its RPATH (../../nvidia/...
# beside it in site-packages); XLA also needs ptxas and libdevice, from
# the folder named by --xla_gpu_cuda_data_dir.
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
if [ -n "$plugin" ]; then
	sp=$(dirname "$(dirname "$(dirname "$plugin")")")
	for d in "$sp/nvidia/cu13" "$sp/nvidia/cuda_nvcc"; do
		if [ -d "$d" ]; then export XLA_FLAGS="--xla_gpu_cuda_data_dir=$d"; break; fi
	done
	say "XLA_FLAGS=${XLA_FLAGS:-}"
fi

# train NAME BACKEND EPOCHS [SIZES]
train() {
	local name=$1 backend=$2 n=$3 sizes=${4:-}
	local args=(train --rig "$rig" --data "uci:$data" --out "$work/$name" --int8 none --report none
		--patience -1 --epochs "$n" --backend "$backend")
	[ -n "$sizes" ] && args+=(--sizes "$sizes")
	local t0 t1 rc
	t0=$(date +%s.%N)
	timeout "$run_timeout" "$rigctl" "${args[@]}" >"$out/$name.log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	say "$name: backend=${backend%%:*} epochs=$n sizes=${sizes:-default} rc=$rc wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s $(grep -o 'trained [0-9.]* s' "$out/$name.log")"
	grep -E '^epoch [0-9]+/[0-9]+ loss' "$out/$name.log" | sed -n '1p;2p;$p' | sed 's/^/    /' | tee -a "$summary"
	grep -E '^validation' "$out/$name.log" | sed 's/^/    /' | tee -a "$summary"
	[ "$rc" = 0 ] || tail -n 25 "$out/$name.log"
	return "$rc"
}

if [ -n "$plugin" ]; then
	if ! train gpu-default "xla:$plugin" "$epochs"; then
		# Second try: every nvidia library folder on the loader's path too.
		LD_LIBRARY_PATH=$(find "$sp/nvidia" -maxdepth 3 -type d -name lib | paste -sd:):${LD_LIBRARY_PATH:-}
		export LD_LIBRARY_PATH
		say "retrying with LD_LIBRARY_PATH of $(echo "$LD_LIBRARY_PATH" | tr ':' '\n' | grep -c .) folders"
		train gpu-default-ld "xla:$plugin" "$epochs"
	fi
	train gpu-big "xla:$plugin" "$big_epochs" "$big_sizes"
fi
train cpu-default go "$epochs"
train cpu-big go "$big_epochs" "$big_sizes"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1
rm -rf "$work"

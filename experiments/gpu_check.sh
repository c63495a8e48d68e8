#!/usr/bin/env bash
# The checks for a machine with one GPU (results go to experiments/bench_results.md):
#   experiments/gpu_check.sh bench OUT   throughput at 16 frames of 224x224 (harlit's UTD/MMAct clip size): OUT/bench_gpu.json
#   experiments/gpu_check.sh smoke OUT   trainer=gpu stage 2 (trains both stage-1 encoders first),
#                                        trainer=ddp on one GPU (NCCL), and utd_stage1_imu on the GPU
#                                        fast path validated on odd subject 7 (needs UTD_ROOT)
# Each run's metrics.json is copied to OUT/metrics_<check>.json. Env: PYTHON, HARLIT_ROOT, UTD_ROOT.
set -uo pipefail
PHASE="${1:?usage: gpu_check.sh bench|smoke OUT}"
OUT="$(mkdir -p "${2:?usage: gpu_check.sh bench|smoke OUT}" && cd "$2" && pwd)"
PYTHON="${PYTHON:-python}"
export HARLIT_ROOT="${HARLIT_ROOT:-/tmp/harlit_gpu_check}"
status=0

check() {  # name, then harlit.run overrides
    local name="$1"; shift
    local dir="$HARLIT_ROOT/gpu_check/$name"
    local start=$SECONDS
    if "$PYTHON" -m harlit.run "$@" logger=csv trainer.enable_progress_bar=false hydra.run.dir="$dir"; then
        cp "$dir/metrics.json" "$OUT/metrics_$name.json"
        echo "gpu_check $name: ok in $((SECONDS - start)) s: $(cat "$dir/metrics.json" | tr -d '\n' | head -c 300)"
    else
        echo "gpu_check $name: FAILED after $((SECONDS - start)) s"; status=1
    fi
}

case "$PHASE" in
    bench)
        "$PYTHON" -m harlit.bench --out "$OUT/bench_gpu.json" || status=1
        ;;
    smoke)
        check stage2_gpu +experiment=synthetic_stage2 trainer=gpu
        check video_ddp_1gpu +experiment=synthetic_stage1_video trainer=ddp trainer.devices=1 trainer.max_epochs=2
        if [ -n "${UTD_ROOT:-}" ]; then
            check utd_imu_gpu_val7 +experiment=utd_stage1_imu trainer=gpu data.root="$UTD_ROOT" \
                "data.train_subjects=[1,3,5]" "data.test_subjects=[7]"
        fi
        ;;
    *) echo "unknown phase $PHASE: use bench or smoke"; exit 2 ;;
esac
exit $status

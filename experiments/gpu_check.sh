#!/usr/bin/env bash
# The checks for a machine with one GPU (results go to experiments/bench_results.md):
#   experiments/gpu_check.sh bench OUT   throughput at 16 frames of 224x224 (harlit's UTD/MMAct clip size):
#       1. OUT/bench_cache.json (+ .log): a generated UTD-MHAD tree (431 training clips, 640x480 .avi) through
#          its video cache, uint8 and JPEG, at the real epoch size (26 batches of 16), for video, fusion and
#          IMU; loader variants old (4 workers x prefetch 2), new (conf/hardware/gpu.yaml), and the what-ifs
#          nosync, overlap and resident (harlit/bench/what_ifs.py, awaiting this measurement; uint8 only),
#          in the same run, next to each stage's model-only ceiling;
#       2. OUT/profile_cache_<stage>_<format>_new.txt and OUT/profiles.json: torch.profiler over
#          $PROFILE_STEPS steps of each stage (new settings): per-step breakdown, sync sites, op table;
#       3. OUT/bench_gpu.json (+ .log): the synthetic-source bench, as recorded before (comparable with it).
#   experiments/gpu_check.sh smoke OUT   hardware=gpu stage 2 (trains both stage-1 encoders first),
#                                        hardware=ddp on one GPU (NCCL), and utd_stage1_imu on the GPU
#                                        fast path validated on odd subject 7 (needs UTD_ROOT)
# Each smoke run's metrics.json is copied to OUT/metrics_<check>.json. Env: PYTHON, HARLIT_ROOT, UTD_ROOT;
# for bench: VARIANTS (default old,new,nosync,overlap,resident), PROFILE_STEPS (default 8), TRACE=1 (Chrome traces too),
# CPU_SMOKE=1 (a dry run on the CPU at tiny sizes, about a minute: checks the script, not the speed).
# Expected time of bench on one H100: ~6-7 minutes (estimate from the recorded figures); it prints
# timestamps, and each JSON is rewritten after every figure, so a run cut short keeps what it measured.
set -uo pipefail
PHASE="${1:?usage: gpu_check.sh bench|smoke OUT}"
OUT="$(mkdir -p "${2:?usage: gpu_check.sh bench|smoke OUT}" && cd "$2" && pwd)"
PYTHON="${PYTHON:-python}"
export HARLIT_ROOT="${HARLIT_ROOT:-/tmp/harlit_gpu_check}"
status=0

stamp() { echo "gpu_check $(date +%H:%M:%S) [$((SECONDS))s] $*"; }

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
        VARIANTS="${VARIANTS:-old,new,nosync,overlap,resident}"
        cache_args=(--source cache --cache-format both --variants "$VARIANTS")
        synthetic_args=(--stages video,fusion,imu)
        if [ "${CPU_SMOKE:-0}" = 1 ]; then  # tiny sizes on the CPU: 4 training clips of 8 frames, batch 2
            PROFILE_STEPS=2
            cache_args+=(--device cpu --tree-actions 1 --tree-trials 1 --tree-frames 8 --tree-size 160x120
                         --batch-size 2 --warmup 1 --steps 1)
            synthetic_args+=(--device cpu --batch-size 2 --warmup 1 --steps 1 --epoch-batches 2)
        fi
        cache_args+=(--profile "${PROFILE_STEPS:-8}")
        if [ "${TRACE:-0}" = 1 ]; then cache_args+=(--trace); fi
        stamp "machine: $(nproc) CPUs; /dev/shm: $(df -h /dev/shm 2>/dev/null | tail -1 | awk '{print $4 " free of " $2}')"
        command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader
        stamp "1+2. cache-source bench and profiles: ${cache_args[*]}"
        "$PYTHON" -m harlit.bench train "${cache_args[@]}" --root "$HARLIT_ROOT/bench" --out "$OUT/bench_cache.json" \
            2>&1 | tee "$OUT/bench_cache.log" || status=1
        stamp "3. synthetic-source bench"
        "$PYTHON" -m harlit.bench train "${synthetic_args[@]}" --root "$HARLIT_ROOT/bench_synthetic" \
            --out "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_synthetic.log" || status=1
        stamp "bench done (status $status)"
        ;;
    smoke)
        check stage2_gpu +experiment=synthetic_stage2 hardware=gpu
        check video_ddp_1gpu +experiment=synthetic_stage1_video hardware=ddp trainer.devices=1 trainer.max_epochs=2
        if [ -n "${UTD_ROOT:-}" ]; then
            check utd_imu_gpu_val7 +experiment=utd_stage1_imu hardware=gpu data.root="$UTD_ROOT" \
                "data.train_subjects=[1,3,5]" "data.test_subjects=[7]"
        fi
        ;;
    *) echo "unknown phase $PHASE: use bench or smoke"; exit 2 ;;
esac
exit $status

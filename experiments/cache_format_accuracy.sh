#!/usr/bin/env bash
# Does the JPEG video cache change accuracy? Stage 1 video from the file-based synthetic dataset
# (`python -m harlit.bench cache make-data`), 3 seeds per cache format, for the 12-class labels and the
# 3-scene labels, then `python -m harlit.bench cache report` of each. Usage:
#   experiments/cache_format_accuracy.sh OUT     # OUT/data is written first if missing; runs in OUT/runs*
set -euo pipefail
OUT="${1:?usage: $0 OUT}"
PYTHON="${PYTHON:-python}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -f "$OUT/data/manifest.csv" ]] || "$PYTHON" -m harlit.bench cache make-data "$OUT/data"
for labels in classes scene; do
    manifest="$OUT/data/manifest.csv"; runs="$OUT/runs_classes"
    [[ "$labels" == scene ]] && manifest="$OUT/data/manifest_scene.csv" && runs="$OUT/runs_scene"
    for seed in 0 1 2; do
        for fmt in uint8 jpeg; do
            [[ -f "$runs/$fmt-$seed/metrics.json" ]] && continue
            "$PYTHON" -m harlit.run +experiment=synthetic_stage1_video data=manifest \
                "data.manifest=$manifest" data.num_frames=8 data.frame_size=32 data.prepare_workers=1 \
                "data.cache_format=$fmt" "seed=$seed" trainer.enable_progress_bar=false logger=csv \
                "paths.root_dir=$OUT/root_$labels" "hydra.run.dir=$runs/$fmt-$seed"
        done
    done
    "$PYTHON" -m harlit.bench cache report "$runs"
done

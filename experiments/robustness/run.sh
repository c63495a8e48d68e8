#!/usr/bin/env bash
# Robustness to a missing modality: stage-1 IMU and video encoders (+sweep=seeds), then stage 2 with every
# fusion head (model/head=concat_mlp,late,gated,attention) × model.modality_dropout=0,0.3 × three seeds
# (the encoders come from the registry), each fusion model tested again with IMU absent and with video
# absent for every test sample (python -m harlit.evaluate eval.missing=[imu|video], into
# <job>/eval_missing_<modality>), then the report (robustness table, robustness.png).
#   experiments/robustness/run.sh -d utd data.root=/data/utd_mhad
#   HEADS=concat_mlp,late DROPOUTS=0,0.3 experiments/robustness/run.sh trainer.max_epochs=2
# HEADS and DROPOUTS shrink the grid (comma lists); EVAL_OVERRIDES (space-separated) go to every
# evaluation only, e.g. EVAL_OVERRIDES="trainer.accelerator=gpu" (the recipe's overrides are for training).
# Options and overrides: see experiments/common.sh (-m does not apply: every modality is needed).
source "$(dirname "$0")/../common.sh"
parse_recipe_args robustness "$@"
HEADS="${HEADS:-concat_mlp,late,gated,attention}"
DROPOUTS="${DROPOUTS:-0,0.3}"
read -r -a EVAL_ARGS <<<"${EVAL_OVERRIDES:-}"

sweep imu seeds
sweep video seeds
sweep_into fusion seeds fusion_robustness "model/head=$HEADS" "model.modality_dropout=$DROPOUTS"

# Every stage-2 job (a model.pt directly inside; its stage1_* sub-runs are not jobs), each modality absent.
for job in "$RUNS"/fusion_robustness/*/; do
    job="${job%/}"
    [[ -f "$job/model.pt" ]] || continue
    for missing in imu video; do
        echo ">> evaluate $job without $missing" >&2
        "$PYTHON" -m harlit.evaluate "model_path=$job" "eval.missing=[$missing]" \
            "hydra.run.dir=$job/eval_missing_$missing" "${EVAL_ARGS[@]}"
    done
done
report

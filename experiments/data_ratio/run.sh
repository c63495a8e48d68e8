#!/usr/bin/env bash
# Fig. 2: training-data ratio 0.25/0.5/0.75/1.0 x three seeds (+sweep=data_ratio) for IMU, video and
# fusion, then the report (data_ratio.png). Stage 2 of a ratio loads the stage-1 encoders of that ratio.
#   experiments/data_ratio/run.sh -d utd -m imu data.root=/data/utd_mhad
# Options and overrides: see experiments/common.sh.
source "$(dirname "$0")/../common.sh"
parse_recipe_args data_ratio "$@"
for modality in imu video fusion; do
    if wants "$modality"; then sweep "$modality" data_ratio; fi
done
report

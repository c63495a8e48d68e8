#!/usr/bin/env bash
# Fig. 3: 0, 1 and 5 hidden classes in the setups IMU*, RGB* (+sweep=zero_shot on stage 1) and
# IMU*+RGB, RGB*+IMU (+sweep=zero_shot_fusion on stage 2, with plain fusion runs as the 0 bars),
# three seeds each, then the report (zero_shot.png). Protocol: README, "Zero-shot protocol".
#   experiments/zero_shot/run.sh -d utd -m imu data.root=/data/utd_mhad
# Options and overrides: see experiments/common.sh (HEAD=late etc. for another fusion head).
source "$(dirname "$0")/../common.sh"
parse_recipe_args zero_shot "$@"
if wants imu; then sweep imu zero_shot; fi
if wants video; then sweep video zero_shot; fi
if wants fusion; then
    sweep fusion seeds
    sweep fusion zero_shot_fusion
fi
report

"""Values that modules in more than one layer need, defined once."""

# metrics.json key of a run whose test IMU recordings are also training recordings (MMAct cross_view),
# written by the MMAct datamodule and read by the report.
IMU_SEEN_KEY = "imu_test_recordings_seen_in_training"

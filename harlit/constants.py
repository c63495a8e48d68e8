"""Values that modules in more than one layer need, defined once."""

# Kinetics-400 statistics of torchvision's S3D weights: S3DEncoder normalises clips with them, and every
# video preprocessing record names them (harlit.data.preprocess).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

# metrics.json key of a run whose test IMU recordings are also training recordings (MMAct cross_view),
# written by the MMAct datamodule and read by the report.
IMU_SEEN_KEY = "imu_test_recordings_seen_in_training"

"""digitcam on the device: read strings of digits from camera frames with an int8 model."""

__version__ = "0.1.0"

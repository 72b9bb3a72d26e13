"""Frame sources behind one interface: picamera2, OpenCV, replay."""

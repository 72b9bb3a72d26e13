"""digitcam on the workstation: synthesise strips, train, quantise, evaluate, bundle."""

"""digitcam on the workstation: push releases to Pis over ssh (arrives with the deploy issue)."""

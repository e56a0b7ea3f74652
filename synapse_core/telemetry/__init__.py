"""GPU telemetry (NVML through pynvml, from the nvidia-ml-py package) sampled in its own thread."""

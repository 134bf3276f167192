"""Host resources: a psutil sampler of CPU, memory, filesystems, I/O rates, temperatures, top processes
and (where an NVIDIA device exists) GPUs through NVML."""

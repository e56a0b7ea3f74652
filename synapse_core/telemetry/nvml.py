"""GPU telemetry from NVML (package nvidia-ml-py), sampled in its own thread.

Per GPU: memory used/total, utilisation, temperature, power; plus torch's allocated/reserved
memory when CUDA is already initialised in this process (never initialised from here).
GPUs are numbered as CUDA numbers them: NVML enumerates in PCI bus order, CUDA (by default)
fastest first, and CUDA_VISIBLE_DEVICES renumbers; when torch has CUDA up, devices are
matched by UUID, otherwise CUDA_VISIBLE_DEVICES is applied to NVML's order (exact when
CUDA_DEVICE_ORDER=PCI_BUS_ID, and on single-GPU machines).
Without NVML or a GPU it emits ``TelemetryUnavailable`` once and ends; it never raises.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from synapse_core.events import EventSink, LogLine
from synapse_core.telemetry.events import GpuSample, TelemetrySampled, TelemetryUnavailable

_GIB = float(1 << 30)


def _visible_nvml_indices(pynvml: Any, count: int) -> list[int]:
    """NVML indices in CUDA order."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        by_uuid = {}
        for i in range(count):
            uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
            uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
            by_uuid[uuid.removeprefix("GPU-").lower()] = i
        out = []
        for d in range(torch.cuda.device_count()):
            uuid = str(getattr(torch.cuda.get_device_properties(d), "uuid", "")).lower()
            if uuid.removeprefix("gpu-") in by_uuid:
                out.append(by_uuid[uuid.removeprefix("gpu-")])
        if out:
            return out
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    out = []
    for item in (v.strip() for v in visible.split(",")):
        if not item:
            continue
        if item.isdigit():
            if int(item) >= count:
                break  # CUDA stops at the first invalid entry
            out.append(int(item))
            continue
        match = None  # a UUID or its prefix
        for i in range(count):
            uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
            uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
            if uuid.startswith(item) or uuid.removeprefix("GPU-").startswith(item):
                match = i
        if match is None:
            break
        out.append(match)
    return out


def _optional(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # a field this GPU/driver does not report (NVMLError_NotSupported)
        return None


def read_gpus(pynvml: Any) -> tuple[GpuSample, ...]:
    """One reading of every visible GPU, in CUDA order (NVML must be initialised)."""
    samples = []
    for cuda_index, nv_index in enumerate(_visible_nvml_indices(pynvml,
                                                                 pynvml.nvmlDeviceGetCount())):
        h = pynvml.nvmlDeviceGetHandleByIndex(nv_index)
        name = pynvml.nvmlDeviceGetName(h)
        mem = pynvml.nvmlDeviceGetMemoryInfo(h)
        util = _optional(pynvml.nvmlDeviceGetUtilizationRates, h)
        temp = _optional(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU)
        power = _optional(pynvml.nvmlDeviceGetPowerUsage, h)
        samples.append(GpuSample(
            index=cuda_index, name=name.decode() if isinstance(name, bytes) else str(name),
            mem_used_gib=mem.used / _GIB, mem_total_gib=mem.total / _GIB,
            util_pct=None if util is None else float(util.gpu),
            temp_c=None if temp is None else float(temp),
            power_w=None if power is None else power / 1000.0))
    return tuple(samples)


def torch_memory() -> tuple[float | None, float | None]:
    """(allocated, reserved) GiB on the current CUDA device, if torch has CUDA up."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None, None
    return torch.cuda.memory_allocated() / _GIB, torch.cuda.memory_reserved() / _GIB


class TelemetrySampler(threading.Thread):
    """Emits ``TelemetrySampled`` every ``interval_s`` until ``stop_event`` is set.

    ``latest`` holds the last sample (the engine copies it into metrics rows).
    """

    def __init__(self, sink: EventSink, interval_s: float = 1.0,
                 stop_event: threading.Event | None = None) -> None:
        super().__init__(name="synapse-telemetry", daemon=True)
        self.sink = sink
        self.interval_s = interval_s
        self.stop_event = stop_event or threading.Event()
        self.latest: TelemetrySampled | None = None
        self.available: bool | None = None

    def _unavailable(self, cause: str) -> None:
        self.available = False
        self.sink.emit(TelemetryUnavailable(reason=f"GPU telemetry not available: {cause}",
                                            cause=cause))

    def run(self) -> None:
        try:
            import pynvml  # from nvidia-ml-py; light, no torch
        except ImportError:
            self._unavailable("nvidia-ml-py is not installed")
            return
        try:
            pynvml.nvmlInit()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self._unavailable(f"no NVIDIA driver/GPU ({e})")
            return
        try:
            if pynvml.nvmlDeviceGetCount() == 0:
                self._unavailable("no GPU found")
                return
            self.available = True
            while True:
                try:
                    gpus = read_gpus(pynvml)
                except Exception as e:  # a GPU fell off the bus: say so once, keep training
                    self.sink.emit(LogLine(message=f"telemetry stopped: {e}", level="warning",
                                           source="telemetry"))
                    return
                if not gpus:
                    self._unavailable("no visible GPU (CUDA_VISIBLE_DEVICES)")
                    return
                alloc, reserved = torch_memory()
                sample = TelemetrySampled(gpus=gpus, torch_allocated_gib=alloc,
                                          torch_reserved_gib=reserved)
                self.latest = sample
                self.sink.emit(sample)
                if self.stop_event.wait(self.interval_s):
                    return
        finally:
            pynvml.nvmlShutdown()

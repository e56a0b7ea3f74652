"""Telemetry without a GPU: said once, never a crash; CUDA numbering of NVML devices."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from synapse_core.events import ListSink
from synapse_core.telemetry.events import TelemetrySampled, TelemetryUnavailable
from synapse_core.telemetry.nvml import TelemetrySampler, _visible_nvml_indices, torch_memory


def test_sampler_without_gpu_reports_unavailable_once_and_ends():
    sink = ListSink()
    stop = threading.Event()
    sampler = TelemetrySampler(sink, interval_s=0.01, stop_event=stop)
    sampler.start()
    sampler.join(timeout=10)
    assert not sampler.is_alive()
    unavailable = sink.of(TelemetryUnavailable)
    assert len(unavailable) == 1 and "not available" in unavailable[0].reason
    assert sink.of(TelemetrySampled) == [] and sampler.available is False
    assert torch_memory() == (None, None)  # torch's CUDA is not up on this machine


class _Nvml:
    """NVML's index/UUID surface for four GPUs (no hardware here to enumerate)."""

    uuids = ["GPU-aaaa", "GPU-bbbb", "GPU-cccc", "GPU-dddd"]

    def nvmlDeviceGetHandleByIndex(self, i):
        return SimpleNamespace(i=i)

    def nvmlDeviceGetUUID(self, h):
        return self.uuids[h.i]


def test_cuda_visible_devices_renumbers_nvml(monkeypatch):
    nv = _Nvml()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert _visible_nvml_indices(nv, 4) == [0, 1, 2, 3]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    assert _visible_nvml_indices(nv, 4) == [2, 0]  # CUDA device 0 is NVML device 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-dddd,1")
    assert _visible_nvml_indices(nv, 4) == [3, 1]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7,2")
    assert _visible_nvml_indices(nv, 4) == [1]  # CUDA stops at the first invalid entry
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert _visible_nvml_indices(nv, 4) == []

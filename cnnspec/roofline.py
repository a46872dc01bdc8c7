"""A roofline estimate: each layer's time is at least max(FLOPs / peak, bytes / bandwidth) (Williams,
Waterman and Patterson, "Roofline", CACM 2009). The larger term says whether it is compute- or
memory-bound; the model's lower bound is the sum over its layers, run one after another.

An estimate, never a measurement: it assumes every tensor crosses memory once (``Layer.traffic``) and the
chip runs at its data-sheet peak; real kernels reach a fraction of both, launch overheads come on top,
and a cache can hold a small layer's weights between runs.

FLOPs are cnnspec's: 2 x MACs, plus one per bias add, normalization, activation, pooling and merge value.
The data sheets count a fused multiply-add as two floating-point operations, as this does. Peaks are
dense: where a data sheet gives a figure "with sparsity" (2:4 structured sparsity), half of it.
"""
from __future__ import annotations

from dataclasses import dataclass

TERA, GIGA = 10**12, 10**9


@dataclass(frozen=True)
class Device:
    """Peak arithmetic (FLOP/s, dense) per math dtype and memory bandwidth (bytes/s), with where they come from."""
    key: str
    name: str
    bandwidth: float
    peaks: dict[str, float]
    source: str  # the vendor's data sheet
    figures: str  # which figures of it, and how they became these numbers


HOPPER_SXM_PEAKS = {"fp32": 67 * TERA, "tf32": 989 / 2 * TERA, "bf16": 1979 / 2 * TERA, "fp16": 1979 / 2 * TERA,
                    "int8": 3958 / 2 * TERA}
"""H100 SXM and H200 SXM: the same chip, whose data sheets give the same dense peaks (sparse ones halved)."""

DEVICES = {device.key: device for device in (
    Device("h100", "NVIDIA H100 SXM5 80GB", 3.35 * TERA,
           HOPPER_SXM_PEAKS,
           "https://resources.nvidia.com/en-us-gpu-resources/h100-datasheet-24306",
           "H100 SXM column: FP32 67 teraFLOPS; TF32, BF16, FP16 Tensor Core 989, 1,979, 1,979 teraFLOPS and "
           "INT8 3,958 TOPS with sparsity, halved; GPU memory bandwidth 3.35TB/s"),
    Device("h200", "NVIDIA H200 SXM 141GB", 4.8 * TERA,
           HOPPER_SXM_PEAKS,
           "https://www.nvidia.com/en-us/data-center/h200/",
           "H200 SXM column of the specifications: FP32 67 TFLOPS; TF32, BF16, FP16 Tensor Core 989, 1,979, "
           "1,979 TFLOPS and INT8 3,958 TOPS with sparsity, halved; GPU memory bandwidth 4.8TB/s"),
    Device("a100", "NVIDIA A100 SXM4 80GB", 2039 * GIGA,
           {"fp32": 19.5 * TERA, "tf32": 156 * TERA, "bf16": 312 * TERA, "fp16": 312 * TERA, "int8": 624 * TERA},
           "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
           "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
           "A100 80GB SXM column: FP32 19.5 TFLOPS; TF32 156, BF16 312, FP16 312 TFLOPS and INT8 624 TOPS "
           "(the dense figures; those with sparsity are twice these); GPU memory bandwidth 2,039GB/s"),
    Device("l4", "NVIDIA L4 24GB", 300 * GIGA,
           {"fp32": 30.3 * TERA, "tf32": 120 / 2 * TERA, "bf16": 242 / 2 * TERA, "fp16": 242 / 2 * TERA,
            "int8": 485 / 2 * TERA},
           "https://resources.nvidia.com/en-us-data-center-overview/l4-gpu-datasheet",
           "FP32 30.3 teraFLOPs; TF32, BF16, FP16 Tensor Core 120, 242, 242 teraFLOPS and INT8 485 TOPS with "
           "sparsity, halved; GPU memory bandwidth 300GB/s"),
    Device("t4", "NVIDIA T4 16GB", 300 * GIGA,
           {"fp32": 8.1 * TERA, "fp16": 65 * TERA, "int8": 130 * TERA},
           "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf",
           "Single-precision 8.1 TFLOPS; mixed precision (FP16/FP32) 65 TFLOPS; INT8 130 TOPS; GPU memory "
           "bandwidth 300 GB/sec (Turing has no TF32 or BF16 tensor cores)"),
    Device("cpu", "Intel Xeon Platinum 8480+ (a representative server CPU, not the one you run on)", 307.2 * GIGA,
           {"fp32": 56 * 2.0 * 64 * GIGA, "bf16": 56 * 2.0 * 1024 * GIGA},
           "https://www.intel.com/content/www/us/en/products/sku/231746/"
           "intel-xeon-platinum-8480-processor-105m-cache-2-00-ghz/specifications.html",
           "derived from the specifications: 56 cores at the 2.00 GHz base frequency; fp32 at 64 FLOPs per cycle "
           "per core (two AVX-512 FMA units, 16 lanes, 2 FLOPs each), bf16 at 1,024 per cycle per core (AMX); "
           "8 channels of DDR5-4800 at 8 bytes per transfer: 307.2 GB/s"),
)}


def device_choices() -> str:
    return ", ".join(DEVICES)


@dataclass(frozen=True)
class Roofline:
    """The device and math dtype an analysis was estimated for, and the model's lower-bound time."""
    device: str
    name: str
    math: str  # the dtype whose peak prices the arithmetic
    peak: float  # FLOP/s
    bandwidth: float  # bytes/s
    seconds: float  # the sum of the layers' lower bounds, one forward of the analysis' batch
    compute_bound: int  # layers
    memory_bound: int
    source: str
    figures: str

    @property
    def ridge(self) -> float:
        """FLOPs per byte above which a layer is compute-bound."""
        return self.peak / self.bandwidth


def choose(device: str, math: str) -> tuple[Device, str]:
    """The device and math dtype of ``--roofline DEVICE[:MATH]``; ValueError naming the choices if unknown."""
    key, _, asked = device.partition(":")
    if key not in DEVICES:
        raise ValueError(f"unknown roofline device '{key}'; devices are: {device_choices()}")
    found, math = DEVICES[key], asked or math
    if math not in found.peaks:
        raise ValueError(f"{found.name} has no {math} peak in its data sheet; its peaks: {', '.join(found.peaks)}")
    return found, math


def layer_bound(flops: int, nbytes: int, peak: float, bandwidth: float) -> tuple[float, str | None]:
    """The lower-bound seconds of ``flops`` and ``nbytes``, and what bounds them (None: a layer that
    computes and moves nothing, a view)."""
    compute, memory = flops / peak, nbytes / bandwidth
    if not compute and not memory:
        return 0.0, None
    return max(compute, memory), "compute" if compute >= memory else "memory"


def intensity(flops: int, nbytes: int) -> float | None:
    """FLOPs per byte moved (arithmetic intensity); None for a layer that moves nothing."""
    return flops / nbytes if nbytes else None

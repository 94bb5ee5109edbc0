"""What this machine's CPU offers the int8 models, said once so that administrators can size it.

onnxruntime's int8 convolutions multiply-add four uint8 × int8 products in one instruction on x86 CPUs with
VNNI (AVX-512 VNNI, AVX-VNNI); without it (AVX2 only) they add pairs of products in 16 bits, and the
default pack's networks run about half as fast (README, "Int8 on CPUs without VNNI"). The same code and
the same results either way: only the CPU per camera differs.
"""

from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str] | None:
    """The x86 feature flags of the first CPU in ``cpuinfo`` (Linux), or ``None`` where it lists none: not
    Linux, or not x86 (ARM lists ``Features`` instead)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return None


def has_vnni(flags: frozenset[str] | None) -> bool:
    """Whether ``flags`` name an x86 VNNI extension."""
    return bool(flags and flags & VNNI_FLAGS)


def int8_speed_note(flags: frozenset[str] | None) -> str:
    """One line on how fast this CPU runs the int8 models, relative to the figures in the README."""
    if flags is None:
        return "CPU: not an x86 CPU this version can read the features of: int8 speed not known here"
    if has_vnni(flags):
        return "CPU: x86 with VNNI: int8 models as fast as in the README's VNNI figures"
    if "avx2" in flags:
        return (
            "CPU: x86 with AVX2 but without VNNI: int8 models run about half as fast as on a CPU with VNNI; "
            "plan about twice the CPU per camera (README: 'Int8 on CPUs without VNNI', and its AVX2 figures)"
        )
    return "CPU: x86 without AVX2: never measured by this project; expect the models well below the README's figures"

"""What the CPU offers the int8 models: read from /proc/cpuinfo, said by `skynet models list` and, on a CPU
without VNNI, warned about when the camera analysers start."""

from __future__ import annotations

import logging

from typer.testing import CliRunner

from skynet import app as composition
from skynet.config import Settings
from skynet.detectors.cpu_features import cpu_flags, has_vnni, int8_speed_note

ZEN3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\nbogomips\t: 4000\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni amx_int8\n"
ALDER_LAKE = "processor\t: 0\nflags\t\t: fpu avx2 avx_vnni\n"
GRAVITON = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes asimddp\n"


def test_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ZEN3)
    assert cpu_flags(cpuinfo) == frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
    cpuinfo.write_text(GRAVITON)
    assert cpu_flags(cpuinfo) is None  # ARM lists Features, not x86 flags
    assert cpu_flags(tmp_path / "absent") is None


def test_each_kind_of_cpu_gets_its_own_note(tmp_path):
    notes = {}
    for name, text in {"zen3": ZEN3, "sapphire": SAPPHIRE, "alder": ALDER_LAKE}.items():
        (tmp_path / name).write_text(text)
        notes[name] = int8_speed_note(cpu_flags(tmp_path / name))
    assert "without VNNI" in notes["zen3"] and "twice the CPU per camera" in notes["zen3"]
    assert notes["sapphire"] == notes["alder"] and "with VNNI" in notes["sapphire"]
    assert "never measured" in int8_speed_note(frozenset({"fpu", "sse2"}))
    assert "not known" in int8_speed_note(None)
    assert not has_vnni(None) and not has_vnni(frozenset({"avx2"})) and has_vnni(frozenset({"avx_vnni"}))


def test_analysers_warn_on_a_cpu_without_vnni_only(monkeypatch, caplog):
    monkeypatch.setattr(composition, "camera_pool", lambda settings, **_: settings)  # no model loading here
    caplog.set_level(logging.WARNING, logger="skynet.app")
    cases = {
        ("auto", frozenset({"avx2"})): True,
        ("auto", frozenset({"avx2", "avx512_vnni"})): False,
        ("auto", None): False,  # not x86: nothing known, nothing to warn about
        ("fp32", frozenset({"avx2"})): False,  # fp32 runs no int8 kernels
    }
    for (precision, flags), warned in cases.items():
        caplog.clear()
        monkeypatch.setattr(composition, "cpu_flags", lambda f=flags: f)
        composition.analyser_pool(Settings(precision=precision), size=2)
        assert bool(caplog.records) is warned, (precision, flags)
        if warned:
            assert "twice the CPU per camera" in caplog.records[0].getMessage()


def test_models_list_says_the_precision_and_the_cpu(tmp_path, monkeypatch):
    from skynet.cli import _register_commands, app

    _register_commands()
    for precision, expected in (
        ("int8", "precision: int8 (SKYNET_PRECISION=int8); CPU: "),
        ("fp32", "precision: fp32"),
    ):
        monkeypatch.setenv("SKYNET_PRECISION", precision)
        result = CliRunner().invoke(app, ["models", "list", "--model-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert expected in result.output.splitlines()[1]

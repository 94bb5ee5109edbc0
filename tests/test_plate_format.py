"""Plate-format rules (mainland China and custom patterns) and text normalisation."""

from __future__ import annotations

import pytest

from skynet.detectors.plate_format import CN_RULES, normalize_plate, plate_rules
from skynet.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("皖A12345", "standard"),
        ("京PL3N67", "standard"),
        ("粤OA2160", "standard"),  # O as authority letter (police/government cars)
        ("粤BD12345", "new_energy"),
        ("沪AFA1234", "new_energy"),
        ("苏E12345D", "new_energy_large"),
        ("川A1234警", "police"),
        ("湘A3997学", "coach"),
        ("浙B1234挂", "trailer"),
        ("沪A1234领", "consulate"),
        ("粤Z1234港", "hong_kong"),
        ("粤Z123A澳", "macau"),
        ("使014578", "embassy"),
        ("WJ粤12345", "armed_police"),
    ],
)
def test_valid_cn_plates(text, kind):
    result = CN_RULES.check(text)
    assert result.valid and result.kind == kind and result.region == "cn"
    assert result.confidence == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "A12345",  # no province
        "皖A1234",  # too short
        "皖A123456",  # too long for any kind
        "皖1A2345",  # digit where the authority letter goes
        "皖A1234O",  # letter O in the serial
        "皖AI2345",  # letter I in the serial
        "粤BX12345",  # 8 characters but no D/F in third position
        "苏E1234D5",  # large new-energy needs D/F last, after 5 digits
        "粤A1234港",  # Hong Kong plates are 粤Z only
        "使01457",  # embassy plates have 6 digits
        "警A12345",  # special characters only where their kind puts them
    ],
)
def test_invalid_cn_plates(text):
    result = CN_RULES.check(text, (0.9,) * len(text))
    assert not result.valid and result.kind is None and result.confidence == 0.0


def test_confidence_is_the_geometric_mean_of_character_confidences():
    result = CN_RULES.check("皖A12345", (1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5))
    assert result.confidence == pytest.approx(0.25 ** (1 / 7))


def test_next_chars_follow_the_templates():
    assert CN_RULES.next_chars("") >= set("皖京使W")
    assert "O" in CN_RULES.next_chars("粤") and "I" not in CN_RULES.next_chars("粤")
    after_six = CN_RULES.next_chars("粤B1234")
    assert {"5", "警", "学", "挂", "领"} <= after_six and "O" not in after_six
    assert "港" in CN_RULES.next_chars("粤Z1234") and "港" not in CN_RULES.next_chars("粤B1234")
    assert CN_RULES.next_chars("皖A12345") == frozenset("DF")  # only large new-energy plates go on
    assert CN_RULES.next_chars("皖A12345D") == frozenset()


def test_custom_patterns():
    rules = plate_rules("custom", [r"[A-Z]{2}[0-9]{3}[A-Z]{2}", r"[0-9][A-Z]{3}[0-9]{3}"])
    assert rules.check("BA302OZ").valid and rules.check("7ABC123").valid
    assert rules.check("BA302OZ").region == "custom"
    assert not rules.check("BA3020Z").valid
    assert not rules.templates and "Z" in rules.charset and "皖" not in rules.charset


@pytest.mark.parametrize(
    ("region", "patterns", "message"),
    [("eu", [], "Unknown plate region"), ("custom", [], "at least one pattern"), ("custom", ["[A-"], "not a valid")],
)
def test_bad_rule_settings_are_clear_errors(region, patterns, message):
    with pytest.raises(ConfigError, match=message):
        plate_rules(region, patterns)


def test_normalize_plate():
    assert normalize_plate("粤OA 2160") == normalize_plate("粤0A2160") == "粤0A2160"
    assert normalize_plate("ab-12·3") == "AB123"


@pytest.mark.parametrize(
    ("colour", "kind"), [("blue", "blue"), ("yellow", "yellow"), ("green", "standard"), (None, "standard")]
)
def test_plate_colour_names_the_kind_of_standard_plates(colour, kind):
    assert CN_RULES.check("皖A12345", colour=colour).kind == kind
    assert CN_RULES.check("粤BD12345", colour=colour).kind == "new_energy"

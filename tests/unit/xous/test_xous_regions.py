"""Memory regions from csr.csv / SVD: expected tables typed in from spec §4.4."""

from __future__ import annotations

from pathlib import Path

import pytest
from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder.errors import (
    BootproofError,
    ConfigError,
    FormatError,
    InputError,
    OverlapError,
)
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.regions import (
    add_extra_svd,
    make_name,
    parse_ram,
    read_csr_csv,
    read_svd,
    reduce_regions,
)

RAM = NamedRange("SrEx", AddressRange(0x40000000, 0x01000000))


def _table(pairs: list[tuple[str, int, int]]) -> tuple[NamedRange, ...]:
    return tuple(NamedRange(n, AddressRange(s, e - s)) for n, s, e in pairs)


CSV_CURRENT = _table([
    ("SrIn", 0x10000000, 0x10020000),
    ("SpFl", 0x20000000, 0x28000000),
    ("Disp", 0xB0000000, 0xB0006000),
    ("Audi", 0xE0000000, 0xE0001000),
    ("VexD", 0xEFFF0000, 0xEFFF1000),
    ("CSRs", 0xF0000000, 0xF000D000),
])

PVT_CURRENT = _table([
    ("SpFl", 0x20000000, 0x28000000),
    ("Boot", 0x80000000, 0x80010000),
    ("Disp", 0xB0000000, 0xB0006000),
    ("Audi", 0xE0000000, 0xE0001000),
    ("sha5", 0xE0002000, 0xE0003000),
    ("engi", 0xE0020000, 0xE0050000),
    ("CSRs", 0xF0000000, 0xF0026000),
])

RENODE_2020_CURRENT = _table([
    ("Boot", 0x00000000, 0x00008000),
    ("SrIn", 0x10000000, 0x10020000),
    ("SpFl", 0x20000000, 0x28000000),
    ("Disp", 0xB0000000, 0xB0006000),
    ("Audi", 0xE0000000, 0xE0003000),
    ("engi", 0xE0020000, 0xE0040000),
    ("VexD", 0xEFFF0000, 0xEFFF1000),
    ("CSRs", 0xF0000000, 0xF001D000),
])

# Renode 2022: as PVT plus VexD, CSR trimmed to 0x27000 (spec §4.2).
RENODE_2022_CURRENT = _table([
    ("SpFl", 0x20000000, 0x28000000),
    ("Boot", 0x80000000, 0x80010000),
    ("Disp", 0xB0000000, 0xB0006000),
    ("Audi", 0xE0000000, 0xE0001000),
    ("sha5", 0xE0002000, 0xE0003000),
    ("engi", 0xE0020000, 0xE0050000),
    ("VexD", 0xEFFF0000, 0xEFFF1000),
    ("CSRs", 0xF0000000, 0xF0027000),
])


def test_csv_current() -> None:
    m = reduce_regions(read_csr_csv(XOUS_FIXTURES / "betrusted-emulation-csr-2020.csv"),
                       source="csv")
    assert m.ram == RAM
    assert m.regions == CSV_CURRENT
    assert m.warnings == ()


def test_csv_legacy_key_order() -> None:
    m = reduce_regions(read_csr_csv(XOUS_FIXTURES / "betrusted-emulation-csr-2020.csv"),
                       source="csv", merge=False)
    assert [r.name for r in m.regions] == ["Audi", "CSRs", "Disp", "SpFl", "SrIn", "VexD"]
    assert sorted(m.regions, key=lambda r: r.start) == list(CSV_CURRENT)


def test_precursor_pvt_svd() -> None:
    m = reduce_regions(read_svd(XOUS_FIXTURES / "precursor-soc-pvt.svd"), source="svd")
    assert m.ram == RAM
    assert m.regions == PVT_CURRENT
    assert m.memory_required == 36974
    assert len(m.warnings) == 1
    assert "engi (engine)" in m.warnings[0] and "usbd (usbdev)" in m.warnings[0]


def test_renode_2020_svd_merges_audio_sha() -> None:
    m = reduce_regions(read_svd(XOUS_FIXTURES / "renode-2020-10.svd"), source="svd")
    assert m.ram == RAM
    assert m.regions == RENODE_2020_CURRENT
    assert any("Audi (audio)" in w and "sha2" in w and "sha512" in w for w in m.warnings)


def test_renode_2022_svd() -> None:
    m = reduce_regions(read_svd(XOUS_FIXTURES / "renode-2022-09.svd"), source="svd")
    assert m.ram == RAM
    assert m.regions == RENODE_2022_CURRENT


def test_csr_trim_svd_values() -> None:
    # §4.2: CSR lengths 0x26000 / 0x27000 / 0x1d000 (the SVDs say 0x40000 or more).
    assert read_svd(XOUS_FIXTURES / "precursor-soc-pvt.svd")["csr"] == (0xF0000000, 0x26000)
    assert read_svd(XOUS_FIXTURES / "renode-2022-09.svd")["csr"] == (0xF0000000, 0x27000)
    assert read_svd(XOUS_FIXTURES / "renode-2020-10.svd")["csr"] == (0xF0000000, 0x1D000)


@pytest.mark.parametrize(("key", "code"), [
    ("sram_ext", "SrEx"), ("sram", "SrIn"), ("memlcd", "Disp"), ("vexriscv_debug", "VexD"),
    ("csr", "CSRs"), ("audio", "Audi"), ("rom", "Boot"), ("spiflash", "SpFl"),
    ("engine", "engi"), ("sha512", "sha5"), ("rrc", "rrc "), ("x", "x   "),
])
def test_make_name(key: str, code: str) -> None:
    assert make_name(key) == code


def test_extra_svd_adds_suffixed_names() -> None:
    regions = read_svd(XOUS_FIXTURES / "precursor-soc-pvt.svd")
    lines = add_extra_svd(regions, XOUS_FIXTURES / "renode-2022-09.svd")
    assert "sram_ext_" in regions and "csr_" in regions
    assert regions["csr_"] == (0xF0000000, 0x40000)  # extra SVD: CSR not trimmed
    assert regions["vexriscv_debug"][0] == 0xEFFF0000
    assert any(line.startswith("vexriscv_debug") for line in lines)


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "csr.csv"
    p.write_text("#--------\n" + "\n".join(rows) + "\n")
    return p


def test_missing_ram_is_an_error(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["memory_region,spiflash,0x20000000,0x1000,cached"])
    with pytest.raises(ConfigError) as err:
        reduce_regions(read_csr_csv(p), source=str(p))
    assert str(p) in str(err.value) and "spiflash" in str(err.value)


def test_region_overlapping_ram_is_an_error(tmp_path: Path) -> None:
    p = _csv(tmp_path, [
        "memory_region,sram_ext,0x40000000,0x1000000,cached",
        "memory_region,memlcd,0x40800000,0x6000,cached",
    ])
    with pytest.raises(OverlapError) as err:
        reduce_regions(read_csr_csv(p), source=str(p))
    text = str(err.value)
    assert str(p) in text and "memlcd" in text and "0x40800000" in text


def test_bad_number_names_file_line_and_value(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["memory_region,sram,0x1000zz,0x1000,cached"])
    with pytest.raises(ConfigError) as err:
        read_csr_csv(p)
    assert f"{p}:2" in str(err.value) and "0x1000zz" in str(err.value)


def test_leading_zero_is_decimal_not_octal(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["memory_region,sram,0x10000000,010,cached",
                        "memory_region,spiflash,0b100000000000000000000000000000,4096,x"])
    regions = read_csr_csv(p)
    assert regions["sram"] == (0x10000000, 10)
    assert regions["spiflash"] == (0x20000000, 4096)


def test_value_over_32_bits(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["memory_region,sram,0x100000000,4096,cached"])
    with pytest.raises(ConfigError) as err:
        read_csr_csv(p)
    assert "0x100000000" in str(err.value)


def test_parse_ram() -> None:
    assert parse_ram("0x40000000:0x1000000") == (0x40000000, 0x1000000)
    assert parse_ram("1024:08") == (1024, 8)
    for bad in ("0x40000000", "1:2:3", "x:1", "0:0"):
        with pytest.raises(InputError) as err:
            parse_ram(bad)
        assert bad in str(err.value)


def test_ram_option_must_be_smaller_than_region(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["memory_region,sram,0x10000000,0x20000,cached"])
    m = reduce_regions(read_csr_csv(p), source="x", ram=(0x40000000, 0x1000))
    assert m.ram == NamedRange("SrIn", AddressRange(0x10000000, 0x20000))
    with pytest.raises(ConfigError):
        reduce_regions(read_csr_csv(p), source="x", ram=(0x40000000, 0x100000))


def test_legacy_rejects_overlapping_regions(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["memory_region,sram,0x10000000,0x20000,cached",
                        "memory_region,aaa,0x20000000,0x2000,io",
                        "memory_region,bbb,0x20001000,0x2000,io"])
    merged = reduce_regions(read_csr_csv(p), source="x")
    assert merged.regions == (NamedRange("aaa ", AddressRange(0x20000000, 0x3000)),)
    with pytest.raises(OverlapError):
        reduce_regions(read_csr_csv(p), source="x", merge=False)


def test_contained_region_does_not_shrink_container(tmp_path: Path) -> None:
    p = _csv(tmp_path, ["memory_region,sram,0x10000000,0x20000,cached",
                        "memory_region,big,0x20000000,0x10000,io",
                        "memory_region,small,0x20001000,0x1000,io"])
    m = reduce_regions(read_csr_csv(p), source="x")
    assert m.regions == (NamedRange("big ", AddressRange(0x20000000, 0x10000)),)


@pytest.mark.parametrize("text", ["<device><peripherals>", "not xml at all", ""])
def test_malformed_svd(tmp_path: Path, text: str) -> None:
    p = tmp_path / "bad.svd"
    p.write_text(text)
    with pytest.raises(FormatError) as err:
        read_svd(p)
    assert str(p) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BootproofError) as err:
        read_csr_csv(tmp_path / "nope.csv")
    assert "nope.csv" in str(err.value)


def test_ram_is_largest_sram_or_ddr_ram(tmp_path: Path) -> None:
    p = _csv(tmp_path, [
        "memory_region,sram,0x10000000,0x20000,cached",
        "memory_region,main_ddr_ram,0x80000000,0x4000001,cached",  # rounded up to a page
        "memory_region,main_rom,0x00000000,0x8000,cached",  # fourcc "main" as RAM: dropped
        "memory_region,bigram,0x90000000,0x10000000,cached",  # "ram" alone does not count
    ])
    m = reduce_regions(read_csr_csv(p), source="x")
    assert m.ram == NamedRange("main", AddressRange(0x80000000, 0x4001000))
    assert m.regions == (NamedRange("SrIn", AddressRange(0x10000000, 0x20000)),
                         NamedRange("bigr", AddressRange(0x90000000, 0x10000000)))
    # one tracker byte per page of every entry, the dropped ones included
    assert m.memory_required == 0x20 + 0x4001 + 0x8 + 0x10000

"""The app boots under the Xous loader model: bootproof checks the layout against the
builder's map, the app runs as PID 2 and prints what it computed."""

from __future__ import annotations

import pytest
from conftest import XousImage

from bootproof.harness.boot_fixtures import XousBooter
from bootproof.harness.xous.example import elf_checksum

SAMPLES = [12, 15, 11, 18, 20, 9, 14, 13]
PEAK = max(sum(SAMPLES[i:i + 4]) // 4 for i in range(len(SAMPLES) - 3))


@pytest.mark.bootproof(timeout=60)
def test_app_boots_and_reports(xous_image: XousImage, xous_boot: XousBooter) -> None:
    result = xous_boot(xous_image.args_bin, map=xous_image.map_json,
                       expect=[f"APP: peak moving average {PEAK}"])
    assert result.stage_names[:3] == ("loader", "validated", "layout")
    assert result.stage_names[-1] == "power-off"
    [app] = result.markers
    assert (app.name, app.pid) == ("sample_app", 2)
    # the app checksummed its own sections as loaded: they equal the ELF's
    assert app.checksum == elf_checksum(xous_image.app)

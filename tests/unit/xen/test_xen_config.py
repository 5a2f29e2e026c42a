"""The ImageBuilder config reader: the bash subset, hostile input, typed validation."""

from __future__ import annotations

import gzip
import typing
from pathlib import Path

import pytest
from xen_testlib import make_cpio_gz, make_image

from bootproof.builder.errors import ConfigError, InputError
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.config.domu import FIELDS
from bootproof.builder.xen.config.files import check_files
from bootproof.builder.xen.config.model import DomU
from bootproof.builder.xen.config.overrides import with_overrides
from bootproof.builder.xen.config.variables import VARIABLES, Shape
from bootproof.builder.xen.shellvars import parse_shell_vars


def cfg_file(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "config"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


BASE = """\
MEMORY_START=0x40000000
MEMORY_END=0x50000000
DEVICE_TREE=virt.dtb
XEN=xen
LOAD_CMD=tftpb
UBOOT_SOURCE=boot.source
UBOOT_SCRIPT=boot.scr
"""


def test_assignments_quotes_arrays_and_expansion(tmp_path: Path) -> None:
    text = (
        "# a comment\n"
        "BASE_DIR=/srv/boot   # trailing comment\n"
        'DOM0_KERNEL="${BASE_DIR}/Image"\n'
        "DOM0_CMD='console=hvc0 $NOT_EXPANDED'\n"
        'DOMU_CMD[0]="root=/dev/ram0 \\"q\\" $HOME"\n'
        "NUM_DOMUS=$(( 1 + 1 ))\n"
        "DOMU_KERNEL[$((NUM_DOMUS - 1))]=k1 DOMU_KERNEL[0]=k0; DOMU_MEM[1]=$((0x10 * 2))\n"
        'XEN_CMD="multi\nline"\n'
        "export LOAD_CMD=tftpb\n"
        "DOMU_VCPUS[0]=${UNSET:-3}\n"
    )
    sv = parse_shell_vars(text.encode(), path="c", env={"HOME": "/home/u"})
    v = sv.values
    assert v["DOM0_KERNEL"]["0"] == "/srv/boot/Image"
    assert v["DOM0_CMD"]["0"] == "console=hvc0 $NOT_EXPANDED"
    assert v["DOMU_CMD"]["0"] == 'root=/dev/ram0 "q" /home/u'
    assert v["NUM_DOMUS"]["0"] == "2"
    assert v["DOMU_KERNEL"] == {"1": "k1", "0": "k0"}
    assert v["DOMU_MEM"]["1"] == "32"
    assert v["XEN_CMD"]["0"] == "multi\nline"
    assert v["LOAD_CMD"]["0"] == "tftpb"
    assert v["DOMU_VCPUS"]["0"] == "3"
    assert sv.lines["DOMU_VCPUS"]["0"] == 11


def test_nested_default_values(tmp_path: Path) -> None:
    text = "B=bee\nX=${A:-${B:-x}}\nY=${A:-${C:-z}}\nZ=${B:-${C}}/k\n"
    v = parse_shell_vars(text.encode(), path="c", env={}).values
    assert (v["X"]["0"], v["Y"]["0"], v["Z"]["0"]) == ("bee", "z", "bee/k")


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("DOM0_KERNEL=$(touch {sentinel})\n", "$("),
        ("DOM0_KERNEL=`touch {sentinel}`\n", "`"),
        ('DOM0_KERNEL="$(touch {sentinel})"\n', "$("),
        ("touch {sentinel}\n", "touch"),
        ("A=1 | touch {sentinel}\n", "|"),
        ("A=1 && touch {sentinel}\n", "&"),
        ("A=1 > {sentinel}\n", ">"),
        ("source {sentinel}\n", "source"),
        (". {sentinel}\n", "."),
        ("if true; then touch {sentinel}; fi\n", "if"),
        ("eval touch {sentinel}\n", "eval"),
        ("A=$((`touch {sentinel}`))\n", "`"),
    ],
)
def test_hostile_constructs_are_refused_and_never_run(
    tmp_path: Path, text: str, construct: str
) -> None:
    sentinel = tmp_path / "executed"
    path = cfg_file(tmp_path, BASE + text.format(sentinel=sentinel))
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert not sentinel.exists()
    msg = str(err.value)
    assert str(path) in msg and ":8:" in msg  # file and line
    assert repr(construct) in msg


def test_rm_rf_home_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="command substitution"):
        load_config(cfg_file(tmp_path, "XEN=$(rm -rf ~)\n"), env={"HOME": str(tmp_path)})
    assert tmp_path.exists()


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('A="abc\nB=1\n', "unterminated double quote", 1),
        ("X=1\nA='abc\n", "unterminated single quote", 2),
        ("A=${B\n", "unterminated", 1),
        ("A=$((1 +\n", "unterminated", 1),
        ("X=1\nDOMU_MEM[-1]=5\n", "negative array index", 2),
        ("A=$((1/0))\n", "division by zero", 1),
        ("A=$((08))\n", "octal", 1),  # bash: "value too great for base" ($((010)) is 8)
        ("A=${B/x/y}\n", "unsupported", 1),
        ("A=$1\n", "positional", 1),
        ("A+=x\n", "appending", 1),
        ("A=$((" + "(" * 3000 + "1" + ")" * 3000 + "))\n", "nested more than", 1),
        ("A=$((" + "-" * 3000 + "1))\n", "nested more than", 1),
        ("A=$((" + "7" * 5000 + "))\n", "5000-digit", 1),
    ],
)
def test_malformed_input(tmp_path: Path, text: str, message: str, line: int) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(cfg_file(tmp_path, text), env={})
    assert err.value.line == line


def test_ten_megabyte_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"larger than|longer than"):
        load_config(cfg_file(tmp_path, "A=" + "x" * (10 << 20) + "\n"), env={})


def test_long_line_under_the_file_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="longer than") as err:
        load_config(cfg_file(tmp_path, "X=1\nA=" + "x" * (1 << 20) + "\n"), env={})
    assert err.value.line == 2


@pytest.mark.parametrize("blob", [b"\x7fELF\x02\x01\x01\x00" + bytes(64), b"A=\xff\xfe\xfa\n"])
def test_binary_garbage(tmp_path: Path, blob: bytes) -> None:
    with pytest.raises(ConfigError, match=r"binary|not UTF-8"):
        load_config(cfg_file(tmp_path, blob), env={})


def test_unreadable_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing", env={})


def test_environment_fallback(tmp_path: Path) -> None:
    cfg = load_config(cfg_file(tmp_path, BASE + "DOM0_KERNEL=${IMAGES}/Image\n"),
                      env={"IMAGES": "/images"})
    assert cfg.dom0_kernel == "/images/Image"


def test_typed_model(tmp_path: Path) -> None:
    cfg = load_config(cfg_file(tmp_path, BASE + """\
DOM0_KERNEL=Image
DOM0_ROOTFS=rootfs.cpio.gz
NUM_DOMUS=3
DOMU_KERNEL[0]=Image
DOMU_MEM[0]=256
DOMU_VCPUS[0]=2
DOMU_STATIC_MEM[0]="0x50000000 0x10000000 0x70000000 0x8000000"
DOMU_COLORS[0]=2-5
DOMU_ENHANCED[0]=no-xenstore
DOMU_VUART_PL011[0]=1
DOMU_PASSTHROUGH_PATHS[0]="/a /b"
DOMU_KERNEL[1]=Image
DOMU_NOBOOT[1]=y
DOMU_DRIVER_DOMAIN[1]=1
DOMU_ROOTFS[2]=domu.cpio
DOMU_NOBOOT[2]=1
DOMU_SHARED_MEM[0]="shm0 0x60000000 0x1000000 0x100000"
DOMU_VCPU_HARD_AFFINITY[0,1]="0-1"
DOMU_CAPS[0]="control|xenstore"
DOMU_NR_SPIS[0]=64
NUM_CPUPOOLS=1
CPUPOOL[0]="cpu@0,cpu@1 credit2"
DOMU_CPUPOOL[0]=0
NUM_BOOT_AUX_FILE=1
BOOT_AUX_FILE[0]=extra.bin
GPT=y
"""), env={})
    d0, d1, d2 = cfg.domus
    assert d0.mem_mb == 0x18000000 >> 20  # the static-mem total wins over DOMU_MEM
    assert any("differs" in w for w in cfg.warnings)
    assert (d0.vcpus, d0.colors, d0.enhanced, d0.vpl011) == (2, (2, 5), "no-xenstore", True)
    assert d0.passthrough_paths == ("/a", "/b")
    assert [(r.start, r.size) for r in d0.static_mem] == [(0x50000000, 0x10000000),
                                                         (0x70000000, 0x8000000)]
    assert d0.shared_mem[0].host_addr == 0x60000000
    assert d0.vcpu_affinity == ((1, "0-1"),)
    assert d0.nr_spis == 64 and d0.cpupool == 0
    assert not d1.booted and d1.driver_domain == "1"
    assert not d2.booted and d2.rootfs == "domu.cpio"
    assert cfg.booted_domus == (d0,)
    assert cfg.cpupools[0].cpus == ("cpu@0", "cpu@1") and cfg.cpupools[0].sched == "credit2"
    assert cfg.boot_aux_files == ("extra.bin",) and cfg.gpt
    assert cfg.dom0_rootfs == "rootfs.cpio.gz"
    # The default XEN_CMD, built only when XEN_CMD is empty (DOM0_MEM default 1500).
    assert cfg.xen_cmd == ("console=dtuart dtuart=serial0 dom0_mem=1500M dom0_max_vcpus=1 "
                           "bootscrub=0 vwfi=native sched=null")


def test_unknown_variable_warns_with_nearest_name(tmp_path: Path) -> None:
    cfg = load_config(cfg_file(tmp_path, BASE + "DOMU_KERNAL[0]=Image\nNUM_DOMUS=0\n"), env={})
    assert any("DOMU_KERNAL" in w and "did you mean DOMU_KERNEL" in w and ":8:" in w
               for w in cfg.warnings)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ('XEN_CMD="console=dtuart"\nDOM0_MEM=1024\n', "XEN_CMD", "either XEN_CMD"),
        ("BOOT_CMD=boot\n", "BOOT_CMD", "must be one of"),
        ("DOM0_RAMDISK=rd.cpio.gz\n", "DOM0_RAMDISK", "needs DOM0_KERNEL"),
        ("NUM_DOMUS=1\n", "DOMU_KERNEL[0]", "not defined"),
        ("MEMORY_END=0x30000000\n", "MEMORY_END", "above MEMORY_START"),
        ("MEMORY_START=abc\n", "MEMORY_START", "not a number"),
        ("MEMORY_START=08\n", "MEMORY_START", "not a number"),  # bash: not octal; 010 is 8
        ('NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_STATIC_MEM[0]="0x1"\n', "DOMU_STATIC_MEM[0]",
         "pairs"),
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_CPUPOOL[0]=0\n", "DOMU_CPUPOOL[0]", "CPUPOOL"),
        ("NUM_DT_OVERLAY=1\n", "DT_OVERLAY[0]", "not defined"),
        ('NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_VCPU_HARD_AFFINITY[0,1]="0"\n',
         "DOMU_VCPU_HARD_AFFINITY[0,1]", "does not exist"),
        ("XEN[1]=x\n", "XEN[1]", "single value"),
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_ENHANCED[0]=maybe\n", "DOMU_ENHANCED[0]",
         "expected"),
        ("PASSTHROUGH_DTS_REPO=/r\nNUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_PASSTHROUGH_DTB[0]=p\n",
         "DOMU_PASSTHROUGH_DTB[0]", "PASSTHROUGH_DTS_REPO"),
    ],
)
def test_rejected_combinations(tmp_path: Path, extra: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(cfg_file(tmp_path, BASE + extra), env={})
    assert err.value.field == field
    assert err.value.path == str(tmp_path / "config")


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_MEM[0]=0\n", "DOMU_MEM[0]", "at least 1"),
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_MEM[0]=4194304\n", "DOMU_MEM[0]", "at most"),
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_VCPUS[0]=0x100000000\n", "DOMU_VCPUS[0]",
         "at most"),
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_NR_SPIS[0]=99999999999\n", "DOMU_NR_SPIS[0]",
         "at most"),
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_P2M_MEM_MB[0]=0x100000000\n",
         "DOMU_P2M_MEM_MB[0]", "at most"),
        ('NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_CAPS[0]="control|4294967296"\n', "DOMU_CAPS[0]",
         "32-bit"),
        ('NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_SHARED_MEM[0]="a;reset 0x60000000 0x1000"\n',
         "DOMU_SHARED_MEM[0]", "SHM-ID"),
        ('NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_SHARED_MEM[0]="a/b 0x60000000 0x1000"\n',
         "DOMU_SHARED_MEM[0]", "SHM-ID"),
        ('NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_CMD[0]="console=hvc0\nreset"\n', "DOMU_CMD[0]",
         "control character"),
        ('XEN_CMD="console=dtuart\rreset"\n', "XEN_CMD", "control character"),
        ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_MEM[0]=" + "7" * 5000 + "\n", "DOMU_MEM[0]",
         "not a number"),
    ],
)
def test_values_the_script_cannot_carry(tmp_path: Path, extra: str, field: str,
                                        message: str) -> None:
    """Values that would be truncated in a 32-bit cell, or would split a U-Boot command
    (``fdt mknod ... shared-mem-a;reset`` runs ``reset``), are errors naming the variable."""
    path = cfg_file(tmp_path, BASE + extra)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path, env={})
    assert err.value.field == field
    assert f"{path}:" in str(err.value)


def test_values_at_the_cell_limits_are_accepted(tmp_path: Path) -> None:
    extra = ("NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_MEM[0]=4194303\n"
             "DOMU_NR_SPIS[0]=0xFFFFFFFF\nDOMU_SHARED_MEM[0]=\"my-shm_0.a 0x60000000 0x1000\"\n"
             'DOMU_CMD[0]="console=hvc0\tquiet"\nUNRELATED="multi\nline"\n')
    cfg = load_config(cfg_file(tmp_path, BASE + extra), env={})
    d = cfg.domus[0]
    assert (d.mem_mb, d.nr_spis, d.shared_mem[0].shm_id) == (4194303, 0xFFFFFFFF, "my-shm_0.a")
    assert d.cmd == "console=hvc0\tquiet"


def test_default_xen_cmd_with_colours_and_viommu(tmp_path: Path) -> None:
    # spec: "console=dtuart dtuart=serial0 dom0_mem=<DOM0_MEM>M dom0_max_vcpus=<DOM0_VCPUS>
    # bootscrub=0 vwfi=native sched=null <xc> <dc> <vi>" (we drop the empty parts' spaces)
    extra = ('DOM0_KERNEL=Image\nDOM0_MEM=1024\nDOM0_VCPUS=2\nXEN_COLORS="0-3"\n'
             'DOM0_COLORS="4-7"\nDOM0_VIOMMU=1\n')
    cfg = load_config(cfg_file(tmp_path, BASE + extra), env={})
    assert cfg.xen_cmd == ("console=dtuart dtuart=serial0 dom0_mem=1024M dom0_max_vcpus=2 "
                           "bootscrub=0 vwfi=native sched=null xen_colors=0-3 dom0_colors=4-7 "
                           "dom0_viommu=1")
    assert not cfg.xen_cmd_given
    with pytest.raises(ConfigError, match="colour range") as err:
        load_config(cfg_file(tmp_path, BASE + 'XEN_COLORS="7-3"\n'), env={})
    assert err.value.field == "XEN_COLORS"


def test_overrides(tmp_path: Path) -> None:
    cfg = load_config(cfg_file(tmp_path, BASE), env={})
    out = with_overrides(cfg, load_cmd="sd", output="out/b", fit=True, key="keys/dev")
    assert out.load_cmd == "load mmc 0:1"
    assert (out.uboot_script, out.uboot_source) == ("out/b.scr", "out/b.source")
    assert out.fit == "out/b.fit" and out.fdtedit == "virt-fit.dtb"
    assert out.fit_enc_key_dir == "keys/dev"
    assert with_overrides(cfg, load_cmd="usb").load_cmd == "fatload usb 0:1"
    assert with_overrides(cfg, load_cmd="load virtio 0:1").load_cmd == "load virtio 0:1"


def test_file_checks_name_variable_and_path(tmp_path: Path) -> None:
    make_image(tmp_path / "xen", 4096)
    make_image(tmp_path / "Image", 4096)
    make_cpio_gz(tmp_path / "rd.cpio.gz")
    (tmp_path / "virt.dtb").write_bytes(b"\xd0\x0d\xfe\xed" + bytes(60))
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "empty").write_bytes(b"")
    good = BASE + "DOM0_KERNEL=Image\nDOM0_RAMDISK=rd.cpio.gz\n"
    checked = check_files(load_config(cfg_file(tmp_path, good), env={}), tmp_path)
    assert checked.kinds == {"xen": "arm64-image", "Image": "arm64-image",
                             "rd.cpio.gz": "gzip-cpio", "virt.dtb": "dtb"}
    cases = [
        ("DOM0_KERNEL=missing\n", "DOM0_KERNEL", "does not exist"),
        ("DOM0_KERNEL=Image\nDOM0_RAMDISK=Image\n", "DOM0_RAMDISK", "expected a cpio"),
        ("DOM0_KERNEL=rd.cpio.gz\n", "DOM0_KERNEL", "expected a kernel"),
        ("DOM0_KERNEL=virt.dtb\n", "DOM0_KERNEL", "expected a kernel"),
        ("DOM0_KERNEL=notes.txt\n", "DOM0_KERNEL", "is text, expected a kernel"),
        ("XEN=notes.txt\nDOM0_KERNEL=Image\n", "XEN", "is text, expected a kernel"),
        ("DOM0_KERNEL=empty\n", "DOM0_KERNEL", "is empty, expected a kernel"),
        ("XEN=empty\nDOM0_KERNEL=Image\n", "XEN", "is empty, expected a kernel"),
        ("DOM0_KERNEL=Image\nNUM_DOMUS=1\nDOMU_KERNEL[0]=Image\n"
         "DOMU_PASSTHROUGH_DTB[0]=Image\n", "DOMU_PASSTHROUGH_DTB[0]", "device tree"),
        ("DOM0_KERNEL=.\n", "DOM0_KERNEL", "not a regular file"),
        ("FIT_ENC_UB_DTB=missing.dtb\n", "FIT_ENC_UB_DTB", "does not exist"),
        ("FIT_ENC_UB_DTB=Image\n", "FIT_ENC_UB_DTB", "expected U-Boot's control device tree"),
        ('DOM0_KERNEL="my Image"\n', "DOM0_KERNEL", "cannot contain"),
        ("DOM0_KERNEL='Image;reset'\n", "DOM0_KERNEL", "cannot contain"),
    ]
    for extra, field, message in cases:
        cfg = load_config(cfg_file(tmp_path, BASE + extra), env={})
        with pytest.raises(InputError, match=message) as err:
            check_files(cfg, tmp_path)
        assert err.value.field == field


def test_corrupt_gzip_input_is_an_input_error(tmp_path: Path) -> None:
    """A .gz whose deflate stream is damaged (a truncated download) is named, not a crash."""
    make_image(tmp_path / "xen", 4096)
    good = gzip.compress(b"070701" + bytes(200))
    (tmp_path / "rd.cpio.gz").write_bytes(good[:10] + bytes(b ^ 0x55 for b in good[10:-8])
                                          + good[-8:])
    cfg = load_config(cfg_file(tmp_path, BASE + "DOM0_KERNEL=xen\nDOM0_RAMDISK=rd.cpio.gz\n"),
                      env={})
    with pytest.raises(InputError, match="expected a cpio") as err:
        check_files(cfg, tmp_path)
    assert err.value.field == "DOM0_RAMDISK"


def test_cpupool_without_cpus_is_an_error(tmp_path: Path) -> None:
    """A blank CPUPOOL[n] (was an IndexError traceback) names the variable."""
    with pytest.raises(ConfigError, match="no CPU") as err:
        load_config(cfg_file(tmp_path, BASE + 'NUM_CPUPOOLS=1\nCPUPOOL[0]="  "\n'), env={})
    assert err.value.field == "CPUPOOL[0]"


def test_domu_table_gives_each_field_a_known_variable_and_a_reader_of_its_type() -> None:
    """The per-domU table is untyped at the call (DomU(**fields)): this is its type check."""
    hints = typing.get_type_hints(DomU)
    for attr, name, read in FIELDS:
        assert VARIABLES[name].shape is Shape.DOMU, name
        assert typing.get_type_hints(read)["return"] == hints[attr], attr
    computed = {"index", "mem_mb", "enhanced", "vcpu_affinity"}
    assert sorted(a for a, _, _ in FIELDS) == sorted(set(hints) - computed)


def test_comma_index_of_an_indexed_array_is_bash_arithmetic(tmp_path: Path) -> None:
    """Xen's CI writes ``DOMU_SHARED_MEM[0,1]=...`` (static-shared-mem test). bash reads an
    indexed array's subscript as arithmetic, where ``0,1`` (comma operator) is 1: upstream
    ImageBuilder gives the shared memory to domU 1, so must we (not drop it silently)."""
    cfg = load_config(cfg_file(tmp_path, BASE + """\
NUM_DOMUS=2
DOMU_KERNEL[0]=Image
DOMU_KERNEL[1]=Image
DOMU_SHARED_MEM[0,1]="my-shared-mem-0 0x50000000 0x4000000 0x10000000"
"""), env={})
    d0, d1 = cfg.domus
    assert d0.shared_mem == ()
    assert [(s.shm_id, s.host_addr, s.guest_addr, s.size) for s in d1.shared_mem] == [
        ("my-shared-mem-0", 0x50000000, 0x4000000, 0x10000000)]

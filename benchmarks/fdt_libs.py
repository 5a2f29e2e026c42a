"""Benchmark: the two device-tree libraries side by side, in one run: pylibfdt (libfdt's
binding, what :mod:`bootproof.builder.formats.fdt` wraps) and the pure-Python ``fdt`` package (what
it wrapped before, with its two workarounds).

Figures (median of ``--runs``): parse a host DTB; parse it and read every property; the
64-domU edit (the ``fdt mknod``/``fdt set`` commands ``uboot-script-gen`` emits for the
64-domU config of ``benchmarks/xen_script.py``, replayed on a parsed tree); serialise the
edited tree; ``import`` time. Correctness, each library used bare (no wrapper): the two
cases the ``fdt`` package needed workarounds for (``/memreserve/`` entries leaking from one
parsed tree into the next; malformed blobs raising bare ``Exception``/``IndexError``),
a blob with ``FDT_NOP`` tags (valid: libfdt leaves them where it removes things), and
whether the 64-domU edit gives the tree and the bytes ``fdtput`` (libfdt, as U-Boot's
``fdt`` command) gives.

The host DTB is a QEMU-virt-like tree compiled with ``dtc`` unless ``--dtb`` names one
(for QEMU's own: ``qemu-system-aarch64 -machine virt,virtualization=on,gic-version=3,
dumpdtb=virt.dtb -cpu cortex-a57 -smp 2 -m 2G -nographic``). ``--install`` also times
``pip install`` of each library into a fresh venv (needs the package index).

Needs ``dtc`` and ``fdtput`` (device-tree-compiler) and, as it is no longer a dependency,
the ``fdt`` package: ``.venv/bin/pip install fdt==0.3.3``.

    python benchmarks/fdt_libs.py [--runs N] [--dtb FILE] [--install]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import libfdt
from xen_script import config_text, make_inputs

from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.xen.fdtcmd import Cells, Edit, Empty, Mknod, Strings, apply, parse_script

try:
    import fdt as fdtpkg
    from fdt.items import new_property
except ImportError:
    raise SystemExit("this comparison needs the fdt package: .venv/bin/pip install fdt==0.3.3"
                     ) from None

FDT_PROP, FDT_NOP = 3, 4


def virt_like_dts() -> str:
    """A tree shaped like QEMU virt's (32 virtio-mmio slots, GIC, 2 CPUs, /chosen)."""
    virtio = "".join(
        f"    virtio_mmio@{0xA000000 + 0x200 * i:x} {{ dma-coherent; "
        f"interrupts = <0x0 {0x10 + i:#x} 0x1>; reg = <0x0 {0xA000000 + 0x200 * i:#x} 0x0 "
        f'0x200>; compatible = "virtio,mmio"; }};\n' for i in range(32))
    return f"""/dts-v1/;
/ {{
    interrupt-parent = <0x8002>; model = "linux,dummy-virt";
    #size-cells = <0x2>; #address-cells = <0x2>; compatible = "linux,dummy-virt";
    psci {{ migrate = <0xc4000005>; cpu_on = <0xc4000003>; method = "hvc";
            compatible = "arm,psci-1.0", "arm,psci-0.2", "arm,psci"; }};
    memory@40000000 {{ reg = <0x0 0x40000000 0x0 0x80000000>; device_type = "memory"; }};
{virtio}
    pl061@9030000 {{ phandle = <0x8008>; clock-names = "apb_pclk"; clocks = <0x8000>;
        interrupts = <0x0 0x7 0x4>; gpio-controller; #gpio-cells = <0x2>;
        compatible = "arm,pl061", "arm,primecell"; reg = <0x0 0x9030000 0x0 0x1000>; }};
    pl031@9010000 {{ clock-names = "apb_pclk"; clocks = <0x8000>; interrupts = <0x0 0x2 0x4>;
        reg = <0x0 0x9010000 0x0 0x1000>; compatible = "arm,pl031", "arm,primecell"; }};
    pl011@9000000 {{ clock-names = "uartclk", "apb_pclk"; clocks = <0x8000 0x8000>;
        interrupts = <0x0 0x1 0x4>; reg = <0x0 0x9000000 0x0 0x1000>;
        compatible = "arm,pl011", "arm,primecell"; }};
    intc@8000000 {{ phandle = <0x8002>; reg = <0x0 0x8000000 0x0 0x10000 0x0 0x80a0000
        0x0 0xf60000>; #redistributor-regions = <0x1>; compatible = "arm,gic-v3";
        ranges; #size-cells = <0x2>; #address-cells = <0x2>; interrupt-controller;
        #interrupt-cells = <0x3>;
        its@8080000 {{ phandle = <0x8007>; reg = <0x0 0x8080000 0x0 0x20000>;
            #msi-cells = <0x1>; msi-controller; compatible = "arm,gic-v3-its"; }}; }};
    flash@0 {{ bank-width = <0x4>; reg = <0x0 0x0 0x0 0x4000000 0x0 0x4000000 0x0
        0x4000000>; compatible = "cfi-flash"; }};
    cpus {{ #size-cells = <0x0>; #address-cells = <0x1>;
        cpu-map {{ socket0 {{ cluster0 {{ core0 {{ cpu = <0x8001>; }};
            core1 {{ cpu = <0x8003>; }}; }}; }}; }};
        cpu@0 {{ phandle = <0x8001>; reg = <0x0>; enable-method = "psci";
            compatible = "arm,cortex-a57"; device_type = "cpu"; }};
        cpu@1 {{ phandle = <0x8003>; reg = <0x1>; enable-method = "psci";
            compatible = "arm,cortex-a57"; device_type = "cpu"; }}; }};
    timer {{ interrupts = <0x1 0xd 0x4 0x1 0xe 0x4 0x1 0xb 0x4 0x1 0xa 0x4>;
        always-on; compatible = "arm,armv8-timer", "arm,armv7-timer"; }};
    apb-pclk {{ phandle = <0x8000>; clock-output-names = "clk24mhz";
        clock-frequency = <0x16e3600>; #clock-cells = <0x0>; compatible = "fixed-clock"; }};
    aliases {{ serial0 = "/pl011@9000000"; }};
    chosen {{ stdout-path = "/pl011@9000000"; }};
}};
"""


def dtc(dts: str) -> bytes:
    return subprocess.run(["dtc", "-I", "dts", "-O", "dtb"], input=dts.encode(),
                          check=True, capture_output=True).stdout


# -- the fdt package, wrapped as bootproof wrapped it (with its two workarounds) ------------

def _raw(prop: object) -> bytes:
    if isinstance(prop, fdtpkg.PropStrings):
        return b"".join(s.encode() + b"\0" for s in prop.data)
    if isinstance(prop, fdtpkg.PropWords):
        return b"".join(struct.pack(">I", w) for w in prop.data)
    if isinstance(prop, fdtpkg.PropBytes):
        return bytes(prop.data)
    return b""


class FdtPackageTree:
    """The same operations as :class:`DeviceTree`, on the ``fdt`` package."""

    def __init__(self, data: bytes) -> None:
        (off,) = struct.unpack_from(">I", data, 16)
        entries = []
        while True:  # workaround 1: our own /memreserve/ list, not the shared default
            addr, size = struct.unpack_from(">QQ", data, off)
            off += 16
            if addr == 0 and size == 0:
                break
            entries.append({"address": addr, "size": size})
        try:
            self.tree = fdtpkg.parse_dtb(data)
        except Exception as exc:  # workaround 2: bare Exception/IndexError/AssertionError
            raise ValueError(f"cannot parse device tree: {exc}") from exc
        self.tree.entries = entries

    def _node(self, path: str) -> Any:
        node = self.tree.root
        for name in [p for p in path.split("/") if p]:
            node = node.get_subnode(name)
            if node is None:
                raise ValueError(f"no node {path}")
        return node

    def add_node(self, parent: str, name: str) -> None:
        node = self._node(parent)
        if node.get_subnode(name) is not None:
            raise ValueError(f"node exists: {parent}/{name}")
        new = fdtpkg.Node(name)
        node.append(new)
        node.nodes.remove(new)
        node.nodes.insert(0, new)  # libfdt's order: first subnode

    def set(self, path: str, name: str, value: bytes) -> None:
        node = self._node(path)
        prop = new_property(name, value)
        old = node.get_property(name)
        if old is None:
            node.append(prop)
            node.props.remove(prop)
            node.props.insert(0, prop)  # libfdt's order: first property
        else:
            prop.set_parent(node)
            node.props[node.props.index(old)] = prop

    def read_all(self) -> int:
        def props(node: Any) -> Iterator[bytes]:
            for p in node.props:
                yield _raw(p)
            for n in node.nodes:
                yield from props(n)
        return sum(len(v) for v in props(self.tree.root))

    def to_bytes(self) -> bytes:
        return bytes(self.tree.to_dtb(version=17))


def read_all(tree: DeviceTree) -> int:
    return sum(len(tree.get(p, n) or b"") for p in tree.walk() for n in tree.prop_names(p))


# -- measuring ------------------------------------------------------------------------------

def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def import_ms(module: str, runs: int = 5) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter (``-X importtime``)."""
    out = []
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                           capture_output=True, text=True, check=True)
        last = r.stderr.strip().splitlines()[-1]
        out.append(int(last.split("|")[1]) / 1000)
    return statistics.median(out)


def install_s(requirement: str) -> str:
    """Wall time of a fresh venv's ``pip install`` of ``requirement`` (no pip cache)."""
    with tempfile.TemporaryDirectory(prefix="bootproof-venv-") as tmp:
        venv.EnvBuilder(with_pip=True).create(tmp)
        t0 = time.perf_counter()
        r = subprocess.run([f"{tmp}/bin/pip", "install", "--no-cache-dir", requirement],
                           capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode:
            return f"FAILED ({dt:.1f} s)"
        return f"{dt:.1f} s" + (" (compiled)" if "Building wheel" in r.stdout else "")


def edits_64(root: Path, dtb: bytes) -> list[Edit]:
    """The fdt commands ``uboot-script-gen`` writes for 64 domUs on ``dtb``."""
    make_inputs(root)
    (root / "virt.dtb").write_bytes(dtb)
    (root / "config-64").write_text(config_text(64))
    exe = Path(sys.executable).parent / "uboot-script-gen"
    subprocess.run([str(exe), "-c", str(root / "config-64"), "-d", str(root)], check=True,
                   capture_output=True)
    return parse_script((root / "boot.source").read_text())


def fdtput(dtb: Path, edits: list[Edit]) -> None:
    """Replay ``edits`` with dtc's fdtput, one process per edit, as tests do."""
    for e in edits:
        if isinstance(e, Mknod):
            argv = ["-c", str(dtb), e.path]
        elif isinstance(e.value, Cells):
            argv = ["-t", "x", str(dtb), e.path, e.name, *(f"{v:x}" for v in e.value.values)]
        elif isinstance(e.value, Strings):
            argv = ["-t", "s", str(dtb), e.path, e.name, *e.value.values]
        else:
            assert isinstance(e.value, Empty)
            argv = [str(dtb), e.path, e.name]
        subprocess.run(["fdtput", *argv], check=True, capture_output=True)


def packed(blob: bytes) -> bytes:
    """``blob`` with its free space dropped by libfdt's ``fdt_pack`` (blocks unchanged)."""
    return DeviceTree.from_bytes(blob).to_bytes()


def dts(blob: bytes) -> str:
    return subprocess.run(["dtc", "-I", "dtb", "-O", "dts"], input=blob, check=True,
                          capture_output=True).stdout.decode()


# -- correctness, each library bare ---------------------------------------------------------

def corrupt(blob: bytes, what: str) -> bytes:
    b = bytearray(blob)
    (off_struct,) = struct.unpack_from(">I", b, 8)
    if what == "unknown tag":
        struct.pack_into(">I", b, off_struct + 8, 0x77)
    elif what == "strings offset past the end":
        struct.pack_into(">I", b, 12, len(b) + 0x1000)
    elif what == "last_comp_version 99":
        struct.pack_into(">I", b, 24, 99)
    elif what == "FDT_NOP (valid)":
        assert struct.unpack_from(">I", b, off_struct + 8)[0] == FDT_PROP
        (length,) = struct.unpack_from(">I", b, off_struct + 12)
        words = (12 + length + 3) // 4  # the first property, as fdt_nop_property does
        struct.pack_into(f">{words}I", b, off_struct + 8, *([FDT_NOP] * words))
    return bytes(b)


def bare_fdt(blob: bytes) -> str:
    try:
        t = fdtpkg.parse_dtb(blob)
    except BaseException as exc:
        return f"raises {type(exc).__name__}: {exc}"
    return f"reads it ({len(t.root.nodes)} nodes under /)"


def bare_libfdt(blob: bytes) -> str:
    buf = bytearray(blob)
    try:
        libfdt.check_err(libfdt.fdt_check_full(buf, len(buf)))
        t = libfdt.Fdt(buf)
    except libfdt.FdtException as exc:
        return f"raises FdtException: {libfdt.strerror(exc.err)}"
    n, off = 0, t.first_subnode(0, libfdt.QUIET_NOTFOUND)
    while off >= 0:
        n, off = n + 1, t.next_subnode(off, libfdt.QUIET_NOTFOUND)
    return f"reads it ({n} nodes under /)"


def correctness(host: bytes) -> list[tuple[str, str, str]]:
    rows = []
    with_rsv = dtc('/dts-v1/;\n/memreserve/ 0x40e00000 0x1000;\n/ { chosen { }; };\n')
    plain = dtc("/dts-v1/;\n/ { chosen { }; };\n")
    fdtpkg.parse_dtb(with_rsv)
    leaked = fdtpkg.parse_dtb(plain).entries
    lib = libfdt.Fdt(bytearray(plain))
    mine = [lib.get_mem_rsv(i) for i in range(lib.num_mem_rsv())]
    def show(entries: list[tuple[int, int]]) -> str:
        return ("leaks " + ", ".join(f"{a:#x}+{n:#x}" for a, n in entries)
                + " (workaround 1 needed)") if entries else "none (correct)"
    rows.append(("1. /memreserve/ of a tree with none, parsed after one with an entry",
                 show([(e["address"], e["size"]) for e in leaked]),
                 show([(int(a), int(n)) for a, n in mine])))
    for what in ("unknown tag", "strings offset past the end", "last_comp_version 99",
                 "FDT_NOP (valid)"):
        blob = corrupt(host, what)
        label = ("3. " if "NOP" in what else "2. ") + f"blob with {what}"
        rows.append((label, bare_fdt(blob), bare_libfdt(blob)))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--dtb", type=Path, help="host DTB (default: a QEMU-virt-like tree)")
    ap.add_argument("--install", action="store_true",
                    help="also time pip install of each library into a fresh venv")
    args = ap.parse_args()
    host = args.dtb.read_bytes() if args.dtb else dtc(virt_like_dts())
    with tempfile.TemporaryDirectory(prefix="bootproof-bench-") as tmp:
        root = Path(tmp)
        edits = edits_64(root, host)
        ref = root / "fdtput.dtb"
        ref.write_bytes(host)
        fdtput(ref, edits)
        ref_bytes = ref.read_bytes()

    def edited_fdt() -> FdtPackageTree:
        t = FdtPackageTree(host)
        apply(t, edits)  # type: ignore[arg-type]  # duck-typed: DeviceTree's add_node/set
        return t

    def edited_lib() -> DeviceTree:
        t = DeviceTree.from_bytes(host)
        apply(t, edits)
        return t

    v_fdt = importlib.metadata.version("fdt")
    v_lib = importlib.metadata.version("pylibfdt")
    nodes = sum(1 for _ in DeviceTree.from_bytes(host).walk())
    print(f"host DTB: {args.dtb or 'QEMU-virt-like tree (dtc)'}, {len(host)} bytes, "
          f"{nodes} nodes; 64-domU edit: {len(edits)} fdt commands from uboot-script-gen")
    print("fdt: the fdt package as bootproof wrapped it (with its two workarounds); "
          "pylibfdt: bootproof.builder.formats.fdt.DeviceTree")
    print(f"{'median of ' + str(args.runs) + ' runs':<38}{'fdt ' + v_fdt:>16}"
          f"{'pylibfdt ' + v_lib:>22}{'fdt/pylibfdt':>14}")
    a, b = edited_fdt(), edited_lib()
    rows: list[tuple[str, float, float]] = [
        ("parse (ms)", median_ms(lambda: FdtPackageTree(host), args.runs),
         median_ms(lambda: DeviceTree.from_bytes(host), args.runs)),
        ("parse + read every property (ms)",
         median_ms(lambda: FdtPackageTree(host).read_all(), args.runs),
         median_ms(lambda: read_all(DeviceTree.from_bytes(host)), args.runs)),
    ]
    ta, tb = [], []
    for _ in range(args.runs):
        fa, fb = FdtPackageTree(host), DeviceTree.from_bytes(host)
        t0 = time.perf_counter()
        apply(fa, edits)  # type: ignore[arg-type]  # duck-typed, as above
        t1 = time.perf_counter()
        apply(fb, edits)
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    rows.append(("64-domU edit (ms)", statistics.median(ta) * 1000,
                 statistics.median(tb) * 1000))
    rows.append(("serialise the edited tree (ms)", median_ms(a.to_bytes, args.runs),
                 median_ms(b.to_bytes, args.runs)))
    rows.append(("import in a fresh interpreter (ms)", import_ms("fdt"), import_ms("libfdt")))
    for label, x, y in rows:
        print(f"{label:<38}{x:>16.3f}{y:>22.3f}{x / y:>13.1f}x")
    out_a, out_b = a.to_bytes(), b.to_bytes()
    same: list[tuple[str, Callable[[bytes], bool]]] = [
            ("edited tree = fdtput's (dtc -O dts)", lambda o: dts(o) == dts(ref_bytes)),
            ("edited bytes = fdtput's (both packed)", lambda o: packed(o) == packed(ref_bytes))]
    for label, check in same:
        print(f"{label:<42}{check(out_a)!s:>12}{check(out_b)!s:>22}")
    if args.install:
        print(f"{'pip install, fresh venv (wall)':<38}{install_s('fdt==' + v_fdt):>16}"
              f"{install_s('pylibfdt==' + v_lib):>22}")
    print("\ncorrectness, each library bare (fdt: parse_dtb; pylibfdt: fdt_check_full + Fdt)")
    for label, with_fdt, with_lib in correctness(host):
        print(f"{label}\n    fdt:      {with_fdt}\n    pylibfdt: {with_lib}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: inspect + verify a 4 MiB signed Xous image; build a 16 MiB encrypted swap image.

Not a test: it prints figures, each the best of ``--repeat`` runs, next to its floor
measured in the same run. Two views of each job:

* whole processes, as a user runs them: ``bootproof xous inspect xous.img`` (parse, decode
  the args inside, verify against the known keys, print) and ``create-image ... --inis
  big.elf --swap ... --swap-name swap.img`` (read the ELFs, write args.bin, encrypt and
  sign the swap image, write it and its UF2), plus ``bootproof xous inspect swap.img``
  (verify, decrypt every page);
* the same work inside this process (no interpreter start-up, no imports, no printing).

The floors:

* ``sha512sum`` of the same bytes (a process), and ``hashlib.sha512`` in this process:
  Ed25519ph must hash the whole signed region once, nothing can be faster than that;
* ``openssl enc -aes-256-ctr`` of the swap bytes: AES-GCM-SIV is AES-CTR plus a POLYVAL
  pass, so CTR alone is the floor for the encryption.

Inputs: a 4 MiB args.bin (the 2020 fixture's tag block, then pseudo-random payload)
signed as ``xous.img`` (Precursor v2) and as a bao1x kernel-sized image; a swap args block
with one 16 MiB IniS program.

Targets: inspect + verify within 3x ``sha512sum``; swap image (encrypt + sign) within 3x
``openssl enc`` + ``sha512sum`` of the same bytes.

Start-up: ``bootproof --help`` is timed too, the cost every process pays before any work.

Usage: python benchmarks/xous_sign.py [--repeat 5] [--verify-mib 4] [--swap-mib 16]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MIB = 1 << 20


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


#: Child processes cache their bytecode as a user's installation does (an environment that
#: sets PYTHONDONTWRITEBYTECODE would make every run recompile the sources: ~80 ms).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=CHILD_ENV)


def bench_elfs(directory: Path, swap_bytes: int, seed: int) -> tuple[Path, Path, Path]:
    """A small kernel and init program and one IniS program of ``swap_bytes`` of text
    (pseudo-random), written with xous_build.py's ELF writer."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from xous_build import write_elf32

    rng = random.Random(seed)
    kernel, init, big = (directory / n for n in ("kernel.elf", "init.elf", "big.elf"))
    write_elf32(kernel, [(".text", 0xFFD00000, 0x6, rng.randbytes(0x4000)),
                         (".data", 0xFFD80000, 0x3, rng.randbytes(0x100))], entry=0xFFD00000)
    write_elf32(init, [(".text", 0x10000, 0x6, rng.randbytes(0x2000))], entry=0x10000)
    write_elf32(big, [(".text", 0x100000, 0x6, rng.randbytes(swap_bytes))], entry=0x100000)
    return kernel, init, big


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--verify-mib", type=int, default=4)
    ap.add_argument("--swap-mib", type=int, default=16)
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from bootproof.builder import ed25519
    from bootproof.builder.xous import signed, signed_precursor, swap_args, swap_image
    from bootproof.builder.xous.inspect import decode
    from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM
    from bootproof.builder.xous.semver import SemVer

    rng = random.Random(15)
    seed = ed25519.seed_from_pem(DEVELOPER_KEY_PEM)
    version = SemVer.parse("v0.10.0-19-g0d934e1")
    fixture = (root / "tests/fixtures/xous/args-default-2020.bin").read_bytes()
    args_bin = fixture + rng.randbytes(args.verify_mib * MIB - len(fixture))
    xous_img = signed_precursor.sign_precursor(args_bin, seed, version=2,
                                               min_version=version, semver=version)
    prog = swap_args.SwapProgram("big", 0x10000, ((0x10000, args.swap_mib * MIB - 4096, 5),),
                                 rng.randbytes(args.swap_mib * MIB - 4096))
    block = swap_args.build_swap_args(0, 0x2000_0000, [prog])

    with tempfile.TemporaryDirectory(prefix="xous-sign-bench-") as tmp:
        img_path = Path(tmp) / "xous.img"
        img_path.write_bytes(xous_img)
        block_path = Path(tmp) / "swap-args.bin"
        block_path.write_bytes(block)

        def inspect_verify() -> None:
            data = img_path.read_bytes()
            sig = signed.parse_signed(data, path=str(img_path))
            decode(signed.inner_image(data, sig), path=str(img_path))
            verified = signed.verify_signed(data, sig, path=str(img_path))
            assert verified.developer

        def build_swap() -> bytes:
            return swap_image.build_swap_image(block, seed=seed, partial_nonce=0x1234,
                                               semver=version, anti_rollback=1)

        t_inspect = best(inspect_verify, args.repeat)
        t_sha_proc = best(lambda: run(["sha512sum", str(img_path)]), args.repeat)
        t_sha_inproc = best(lambda: hashlib.sha512(img_path.read_bytes()).digest(),
                            args.repeat)
        t_swap = best(build_swap, args.repeat)
        swap = build_swap()
        parsed = swap_image.parse_swap_image(swap)
        t_decrypt = best(lambda: swap_image.decrypt_swap_image(swap, parsed), args.repeat)
        assert swap_image.decrypt_swap_image(swap, parsed) == block
        t_sha_swap = best(lambda: run(["sha512sum", str(block_path)]), args.repeat)
        openssl = shutil.which("openssl")
        t_ctr = None
        if openssl is not None:
            t_ctr = best(lambda: run([openssl, "enc", "-aes-256-ctr", "-K", "00" * 32,
                                      "-iv", "00" * 16, "-in", str(block_path), "-out",
                                      str(Path(tmp) / "ctr.bin")]), args.repeat)

        # Whole processes, as a user runs them.
        bindir = Path(sys.executable).parent
        bootproof, create_image = str(bindir / "bootproof"), str(bindir / "create-image")
        t_start = best(lambda: run([bootproof, "--help"]), args.repeat)
        t_inspect_proc = best(lambda: run([bootproof, "xous", "inspect", str(img_path)]),
                              args.repeat)
        kernel, init, big = bench_elfs(Path(tmp), args.swap_mib * MIB - 4096, 16)
        out = Path(tmp) / "out"
        out.mkdir()
        build_argv = [create_image, str(out / "args.bin"), "-k", str(kernel), "-i", str(init),
                      "--inis", str(big), "-c", str(root / "qemu_configs/riscv32-virt/csr.csv"),
                      "--swap", "0x81000000:64M", "--swap-name", str(out / "swap.img"),
                      "--git-rev", "0123456789abcdef0123456789abcdef01234567",
                      "--git-describe", "v0.10.0-19-g0d934e1", "--antirollback-override", "1",
                      "-q"]
        t_build_proc = best(lambda: run(build_argv), args.repeat)
        swap_proc = out / "swap.img"
        t_inspect_swap = best(lambda: run([bootproof, "xous", "inspect", str(swap_proc)]),
                              args.repeat)
        block_proc = Path(tmp) / "block.bin"
        block_proc.write_bytes(swap_image.decrypt_swap_image(
            swap_proc.read_bytes(), swap_image.parse_swap_image(swap_proc.read_bytes())))
        t_sha_block = best(lambda: run(["sha512sum", str(block_proc)]), args.repeat)
        t_ctr_block = None
        if openssl is not None:
            t_ctr_block = best(lambda: run([openssl, "enc", "-aes-256-ctr", "-K", "00" * 32,
                                            "-iv", "00" * 16, "-in", str(block_proc), "-out",
                                            str(Path(tmp) / "ctr2.bin")]), args.repeat)
        swap_proc_mib = swap_proc.stat().st_size / MIB

    print(f"signed image: {len(xous_img) / MIB:.2f} MiB xous.img (Precursor v2, Ed25519ph)")
    print(f"  parse + decode args + verify (5 known keys tried): {t_inspect * 1000:7.1f} ms "
          f"= {t_inspect / t_sha_proc:.2f}x sha512sum")
    print(f"  sha512sum of the file (process):                   {t_sha_proc * 1000:7.1f} ms")
    print(f"  hashlib.sha512 of the file (in process):           {t_sha_inproc * 1000:7.1f} ms")
    print(f"swap image: {len(block) / MIB:.2f} MiB of swap args -> {len(swap) / MIB:.2f} MiB "
          "swap.img")
    floor = t_sha_swap + (t_ctr or 0.0)
    print(f"  build (encrypt AES-256-GCM-SIV + sign):            {t_swap * 1000:7.1f} ms "
          f"= {t_swap / floor:.2f}x the floor below")
    print(f"  decrypt:                                           {t_decrypt * 1000:7.1f} ms")
    print(f"  sha512sum of the swap args (process):              {t_sha_swap * 1000:7.1f} ms")
    if t_ctr is not None:
        print(f"  openssl enc -aes-256-ctr of the swap args:         {t_ctr * 1000:7.1f} ms")
    else:
        print("  openssl not found: the floor is sha512sum alone")
    floor_proc = t_sha_block + (t_ctr_block or 0.0)
    print("whole processes:")
    print(f"  bootproof --help (start-up alone):                 {t_start * 1000:7.1f} ms")
    print(f"  bootproof xous inspect xous.img ({len(xous_img) / MIB:.0f} MiB, verify):"
          f"       {t_inspect_proc * 1000:7.1f} ms = {t_inspect_proc / t_sha_proc:.2f}x "
          "sha512sum")
    print(f"  create-image with a {args.swap_mib} MiB --inis -> swap.img "
          f"({swap_proc_mib:.2f} MiB): {t_build_proc * 1000:7.1f} ms = "
          f"{t_build_proc / floor_proc:.2f}x sha512sum + openssl enc of the swap args")
    print(f"  bootproof xous inspect swap.img (verify, decrypt):  {t_inspect_swap * 1000:7.1f} ms"
          f" = {t_inspect_swap / floor_proc:.2f}x the same floor")
    print(f"  sha512sum of the swap args (process):              {t_sha_block * 1000:7.1f} ms")
    if t_ctr_block is not None:
        print(f"  openssl enc -aes-256-ctr of the swap args:         "
              f"{t_ctr_block * 1000:7.1f} ms")
    ok_verify = t_inspect <= 3 * t_sha_proc
    ok_swap = t_swap <= 3 * floor
    ok_verify_proc = t_inspect_proc <= 3 * t_sha_proc
    ok_swap_proc = t_build_proc <= 3 * floor_proc
    print(f"targets (in process): inspect+verify within 3x sha512sum: "
          f"{'yes' if ok_verify else 'NO'}; swap build within 3x the floor: "
          f"{'yes' if ok_swap else 'NO'}")
    print(f"targets (whole processes): inspect+verify within 3x sha512sum: "
          f"{'yes' if ok_verify_proc else 'NO'}; swap build within 3x the floor: "
          f"{'yes' if ok_swap_proc else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

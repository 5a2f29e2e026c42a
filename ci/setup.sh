#!/usr/bin/env bash
# Install everything bootproof needs on a Debian 12 machine, then a virtualenv in .venv.
# Idempotent: a second run installs and downloads nothing (no network needed). Runs
# without a terminal (CI).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-pip
  gcc-riscv64-unknown-elf binutils-riscv64-unknown-elf
  qemu-system-misc qemu-system-arm qemu-utils
  u-boot-qemu u-boot-tools device-tree-compiler
  mtools dosfstools e2fsprogs fdisk cpio gzip zstd xz-utils bzip2 fakeroot attr file openssl
  gcc-aarch64-linux-gnu make bison flex dpkg-dev
  # PASSTHROUGH_DTS_REPO: a git URL is cloned, partial DTs go through the C preprocessor
  git cpp
  # --gdb: the debugger that attaches to QEMU's gdbstub (riscv32 and aarch64 guests)
  gdb-multiarch
  # the memory-map pictures' tests rasterise the SVG with a real renderer (rsvg-convert)
  librsvg2-bin
  # pylibfdt is published as source only: pip compiles it (SWIG comes from PyPI)
  gcc python3-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# pip runs only when the project's requirements changed: the stamp records the hash of
# pyproject.toml and the checkout the editable install points to, written after a good install.
STAMP=.venv/.bootproof-setup-stamp
want="pyproject.toml $(sha256sum pyproject.toml | cut -d' ' -f1) checkout $(pwd -P)"
if [ -x .venv/bin/bootproof ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "setup: .venv up to date (pyproject.toml unchanged), nothing to install"
else
  rm -f "$STAMP"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  printf '%s\n' "$want" > "$STAMP"
fi
# mypy cannot see through the editable install's import hook: give it the folders under
# their import names (bootproof.builder, bootproof.harness), as the wheel installs them.
mkdir -p build/typecheck/bootproof
ln -sfn ../../../builder build/typecheck/bootproof/builder
ln -sfn ../../../harness build/typecheck/bootproof/harness
: > build/typecheck/bootproof/__init__.pyi
# Guest assets for the Xen boots: Debian's arm64 Xen, Linux and busybox (.deb, cached; no
# network when the cache matches), and Xen built from Debian's source with our Kconfig fragment.
.venv/bin/bootproof xen assets --build-xen
echo "setup: done (.venv ready, guest assets cached)"

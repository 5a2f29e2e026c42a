"""identify(): each kind of Xous file by its first bytes."""

from __future__ import annotations

from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder import ed25519
from bootproof.builder.xous import signed_bao1x, signed_precursor, swap_args, swap_image
from bootproof.builder.xous.identify import identify
from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM
from bootproof.builder.xous.semver import NO_VERSION

SEED = ed25519.seed_from_pem(DEVELOPER_KEY_PEM)
ARGS = (XOUS_FIXTURES / "args-default-2020.bin").read_bytes()


def test_every_kind() -> None:
    block = swap_args.build_swap_args(0, 0x800000, [])
    enc = swap_image.build_swap_image(block, seed=SEED, partial_nonce=1, semver=NO_VERSION,
                                      anti_rollback=1)
    ct, macs = swap_image.encrypt_pages(block, partial_nonce=1)
    head = swap_image.SwapSourceHeader.for_block(len(block), 1).encode()

    def precursor(version: int, **kw: bool) -> bytes:
        return signed_precursor.sign_precursor(ARGS, SEED, version=version,
                                               min_version=NO_VERSION, semver=NO_VERSION, **kw)

    cases = {
        "args": ARGS,
        "swap-args": block,
        "precursor-v1": precursor(1),
        "precursor-v2": precursor(2),
        "bao1x": signed_bao1x.sign_bao1x(ARGS, SEED, function=0x100, anti_rollback=1,
                                         min_version=NO_VERSION, semver=NO_VERSION),
        "swap-encrypted": enc,
        "swap-debug": swap_image.build_swap_debug_image(block, partial_nonce=1),
        "swap-encrypted-unsigned": head + bytes(4096 - len(head)) + ct + macs,
        "uf2": swap_image.swap_uf2(enc),
        "unknown": b"\x7fELF" + bytes(60),
    }
    assert {kind: identify(data) for kind, data in cases.items()} == {k: k for k in cases}
    assert identify(precursor(2, with_jump=True)) == "precursor-v2"
    assert identify(b"") == "unknown"

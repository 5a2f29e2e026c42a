"""Every variable an ImageBuilder config may set, and :class:`Lookup`, the one way to read them.

:data:`VARIABLES` is the vocabulary: one line per variable with its shape (a scalar, one
value per domU ``NAME[i]``, a domU's ``NAME[i,n]`` pairs, or a list ``NAME[n]`` counted by a
``NUM_`` variable) and, for numbers, the rule they are read by (see
:mod:`bootproof.builder.numbers`: ``BASH`` where the reference computes with the value or
hands it to U-Boot/Xen, ``BASH_TEST`` where it compares a count with ``test``). Reading a
new variable starts with its line here; unknown names get a warning with the nearest known
one.

:class:`Lookup` gives typed values (text, number, flag, regions...) and errors that name the
file, the line, ``NAME[KEY]`` and the value. :meth:`Lookup.listed` is the reading of the
repeated ``NUM_X`` / ``X[n]`` pattern, :meth:`Lookup.pairs` that of ``NAME[i,n]`` keys.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bootproof.builder.errors import ConfigError
from bootproof.builder.layout import AddressRange
from bootproof.builder.numbers import NumberError, Rule, octal_surprise, parse_number
from bootproof.builder.xen.shellvars import ShellVars


class Shape(enum.Enum):
    """How a variable is indexed."""

    SCALAR = "NAME=value"
    DOMU = "NAME[i], one per domU (i < NUM_DOMUS)"
    DOMU_PAIR = "NAME[i,n], an associative array keyed by the text 'i,n' (bash's declare -A)"
    LIST = "NAME[n], n below the variable's count"


@dataclass(frozen=True)
class Var:
    """A variable's shape, the rule its numbers are read by (None: not a number) and, for a
    list, the ``NUM_`` variable that counts it."""

    shape: Shape = Shape.SCALAR
    rule: Rule | None = None
    count: str | None = None

    @property
    def counted_by(self) -> str | None:
        """The variable whose value bounds the first index (None for a scalar)."""
        if self.shape in (Shape.DOMU, Shape.DOMU_PAIR):
            return "NUM_DOMUS"
        return self.count


_TEXT = Var()
_NUMBER = Var(rule=Rule.BASH)
_COUNT = Var(rule=Rule.BASH_TEST)
_DOMU = Var(Shape.DOMU)
_DOMU_NUMBER = Var(Shape.DOMU, Rule.BASH)

#: Every variable ImageBuilder (reference snapshot, upstream additions and ours) reads.
VARIABLES: Mapping[str, Var] = MappingProxyType({
    "MEMORY_START": _NUMBER,
    "MEMORY_END": _NUMBER,
    "LOAD_CMD": _TEXT,
    "BOOT_CMD": _TEXT,
    "DEVICE_TREE": _TEXT,
    "XEN": _TEXT,
    "XEN_CMD": _TEXT,
    "XEN_COLORS": _TEXT,
    "XEN_STATIC_HEAP": _NUMBER,
    "XEN_POLICY": _TEXT,
    "DOM0_KERNEL": _TEXT,
    "DOM0_RAMDISK": _TEXT,
    "DOM0_CMD": _TEXT,
    "DOM0_MEM": _NUMBER,
    "DOM0_VCPUS": _NUMBER,
    "DOM0_COLORS": _TEXT,
    "DOM0_VIOMMU": _TEXT,
    "DOM0_ROOTFS": _TEXT,
    "NUM_DOMUS": _COUNT,
    "DOMU_KERNEL": _DOMU,
    "DOMU_RAMDISK": _DOMU,
    "DOMU_CMD": _DOMU,
    "DOMU_MEM": _DOMU_NUMBER,
    "DOMU_VCPUS": _DOMU_NUMBER,
    "DOMU_PASSTHROUGH_PATHS": _DOMU,
    "DOMU_PASSTHROUGH_DTB": _DOMU,
    "DOMU_COLORS": _DOMU,
    "DOMU_STATIC_MEM": _DOMU_NUMBER,
    "DOMU_DIRECT_MAP": _DOMU,
    "DOMU_ENHANCED": _DOMU,
    "DOMU_VIOMMU": _DOMU,
    "DOMU_VUART_PL011": _DOMU,
    "DOMU_CPUPOOL": Var(Shape.DOMU, Rule.BASH_TEST),
    "DOMU_NOBOOT": _DOMU,
    "DOMU_ROOTFS": _DOMU,
    "DOMU_DRIVER_DOMAIN": _DOMU,
    "DOMU_SHARED_MEM": _DOMU_NUMBER,
    "DOMU_CAPS": _DOMU_NUMBER,  # its numeric words
    "DOMU_VCPU_HARD_AFFINITY": Var(Shape.DOMU_PAIR),
    "DOMU_NR_SPIS": _DOMU_NUMBER,
    "DOMU_P2M_MEM_MB": _DOMU_NUMBER,
    "DOMU_PASSTHROUGH": _DOMU,
    "DOMU_NAME": _DOMU,
    # upstream ImageBuilder 2024-2026 (shared/specs/imagebuilder-upstream.md)
    "XEN_LOAD": _TEXT,
    "DOM0_LOAD": _TEXT,
    "DOMU_LOAD": _DOMU,
    "DOMU_STATIC_EVTCHNS": Var(Shape.DOMU, Rule.C),  # ports: U-Boot reads them
    "DBG_FDT_PRINT_CHOSEN": _TEXT,
    "DOMU_TRAP_UNMAP": Var(Shape.DOMU, Rule.BASH_TEST),
    "DOMU_PASSTHROUGH_PROP": _DOMU,
    "DOMU_DOMID": _DOMU_NUMBER,
    "DOMU_GRANT_VER": _DOMU_NUMBER,
    "DOMU_GRANT_FRAMES": _DOMU_NUMBER,
    "DOMU_MAPTRACK_FRAMES": _DOMU_NUMBER,
    "DOMU_VPL011": Var(Shape.DOMU, Rule.BASH_TEST),
    "PASSTHROUGH_DTS_REPO": _TEXT,
    "LOPPER_PATH": _TEXT,
    "LOPPER_CMD": _TEXT,
    "NUM_CPUPOOLS": _COUNT,
    "CPUPOOL": Var(Shape.LIST, count="NUM_CPUPOOLS"),
    "NUM_DT_OVERLAY": _COUNT,
    "DT_OVERLAY": Var(Shape.LIST, count="NUM_DT_OVERLAY"),
    "LINUX": _TEXT,
    "LINUX_RAMDISK": _TEXT,
    "LINUX_CMD": _TEXT,
    "LINUX_ROOTFS": _TEXT,
    "BITSTREAM": _TEXT,
    "UBOOT_SOURCE": _TEXT,
    "UBOOT_SCRIPT": _TEXT,
    "APPEND_EXTRA_CMDS": _TEXT,
    "FDTEDIT": _TEXT,
    "FIT": _TEXT,
    "FIT_ENC_KEY_DIR": _TEXT,
    "FIT_ENC_UB_DTB": _TEXT,
    "NUM_BOOT_AUX_FILE": _COUNT,
    "BOOT_AUX_FILE": Var(Shape.LIST, count="NUM_BOOT_AUX_FILE"),
    "GPT": _TEXT,
    "ADDRESS_ALIGN": _NUMBER,
    "DT_OVERLAY_MODE": _TEXT,
})

#: The associative arrays: their keys are text, read literally (see
#: :meth:`~bootproof.builder.xen.shellwords.WordScanner.index_key`).
ASSOCIATIVE = frozenset(n for n, v in VARIABLES.items() if v.shape is Shape.DOMU_PAIR)

#: Characters that would end or break a U-Boot script line (all C0 controls but TAB, DEL).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FALSE = ("0", "n", "no", "false", "off")


class Lookup:
    """Typed getters over the raw variables of ``sv``, raising errors that name the
    variable; ``notes`` collects the warnings reading gave (octal numbers)."""

    def __init__(self, sv: ShellVars) -> None:
        self.sv = sv
        self._notes: dict[str, None] = {}  # ordered, each note once

    @property
    def notes(self) -> list[str]:
        return list(self._notes)

    def raw(self, name: str, key: str = "0") -> str | None:
        return self.sv.values.get(name, {}).get(key)

    def line(self, name: str, key: str = "0") -> int | None:
        return self.sv.lines.get(name, {}).get(key)

    def label(self, name: str, key: str) -> str:
        var = VARIABLES.get(name)
        return name if var is not None and var.shape is Shape.SCALAR and key == "0" \
            else f"{name}[{key}]"

    def err(self, name: str, key: str, value: object, message: str) -> ConfigError:
        """The error to raise about ``NAME[key]`` holding ``value``."""
        return ConfigError(message, path=self.sv.path, line=self.line(name, key),
                           field=self.label(name, key), value=value)

    def text(self, name: str, key: str = "0") -> str | None:
        """The value, or None when unset or empty (bash's ``-z`` test)."""
        v = self.raw(name, key)
        return v if v else None

    def number(self, name: str, key: str, word: str) -> int:
        """``word`` (part of ``NAME[key]``'s value) read by the variable's number rule.
        Raises :class:`NumberError`; notes an octal spelling."""
        rule = VARIABLES[name].rule
        if rule is None:
            raise TypeError(f"{name} is not a number variable")  # a bug in the table's use
        n = parse_number(word, rule)
        if octal_surprise(word, rule):
            self._notes[f"{self.sv.path}:{self.line(name, key)}: {self.label(name, key)}: "
                        f"{word.strip()} is octal to bash, {n} (write {n} or 0x{n:X} to say so)"] \
                = None
        return n

    def integer(self, name: str, key: str = "0", *, minimum: int = 0,
                maximum: int | None = None) -> int | None:
        """The number ``NAME[key]`` holds (None when unset), within the bounds given."""
        v = self.text(name, key)
        if v is None:
            return None
        try:
            n = self.number(name, key, v)
        except NumberError as exc:
            raise self.err(name, key, v, f"not a number ({exc.reason})") from exc
        if n < minimum:
            raise self.err(name, key, v, f"must be at least {minimum}")
        if maximum is not None and n > maximum:
            raise self.err(name, key, v, f"must be at most {maximum} (one 32-bit DT cell)")
        return n

    def flag(self, name: str, key: str = "0") -> bool:
        """Any non-empty value is true, except "0", "n", "no", "false", "off"."""
        v = self.text(name, key)
        return v is not None and v.strip().lower() not in _FALSE

    def numbers(self, name: str, key: str = "0") -> list[int]:
        """The blank-separated numbers of ``NAME[key]`` (none when unset)."""
        v = self.text(name, key)
        out = []
        for word in (v or "").split():
            try:
                out.append(self.number(name, key, word))
            except NumberError as exc:
                raise self.err(name, key, v, f"{word!r} is not a number ({exc.reason})") \
                    from exc
        return out

    def regions(self, name: str, key: str = "0") -> tuple[AddressRange, ...]:
        """``"base size [base size ...]"`` as regions of a non-zero size."""
        nums = self.numbers(name, key)
        if len(nums) % 2:
            raise self.err(name, key, self.raw(name, key), "needs 'base size' pairs")
        regions = tuple(AddressRange(nums[i], nums[i + 1]) for i in range(0, len(nums), 2))
        if any(r.size <= 0 for r in regions):
            raise self.err(name, key, self.raw(name, key), "a region size must be > 0")
        return regions

    def color_range(self, name: str, key: str = "0") -> tuple[int, int] | None:
        """A cache-colour range ``"FIRST-LAST"`` (decimal, at most 1023)."""
        v = self.text(name, key)
        if v is None:
            return None
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", v)
        if m is None or int(m.group(1)) > int(m.group(2)) or int(m.group(2)) > 1023:
            raise self.err(name, key, v, "expected a colour range 'FIRST-LAST'")
        return int(m.group(1)), int(m.group(2))

    def count(self, name: str, limit: int = 1024) -> int:
        """A ``NUM_`` variable: 0 when unset, at most ``limit``."""
        n = self.integer(name) or 0
        if n > limit:
            raise self.err(name, "0", n, f"more than {limit} is not supported")
        return n

    def listed(self, name: str) -> tuple[str, ...]:
        """``NAME[0]`` .. ``NAME[N-1]``, N being the value of the ``NUM_`` variable that
        counts ``NAME``. Raises :class:`ConfigError` naming the first one that is unset."""
        count = VARIABLES[name].count
        if count is None:
            raise TypeError(f"{name} is not a counted list")  # a bug in the table's use
        out = []
        for n in range(self.count(count)):
            text = self.text(name, str(n))
            if text is None:
                raise self.err(name, str(n), None, f"is not defined ({count} includes it)")
            out.append(text)
        return tuple(out)

    def pairs(self, name: str, index: int) -> list[tuple[str, int, str]]:
        """``(key, n, value)`` for each ``NAME[index,n]``: the keys ImageBuilder looks up,
        ``"<index>,<n>"`` in plain decimal (see :func:`pair_key` for the others)."""
        out = []
        for key, value in self.sv.values.get(name, {}).items():
            pair = pair_key(key)
            if pair is not None and pair[0] == index:
                out.append((key, pair[1], value))
        return out


def pair_key(key: str) -> tuple[int, int] | None:
    """``(i, n)`` of an associative key ``"i,n"`` written as ImageBuilder looks it up (two
    plain decimal numbers, no blank, no leading zero); None for any other text, which
    bash keeps as a key of its own that ImageBuilder never reads."""
    parts = key.split(",")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and str(int(p)) == p
                                  for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def check_names(sv: ShellVars) -> list[str]:
    """Check the names and shapes of every assignment in ``sv``; return the warnings.

    Raises :class:`ConfigError` for a control character (a line break) in a known
    variable, whose U-Boot command would end there and run the rest as another, and for a
    scalar given an index. Warns of unknown names, with the nearest known one, and of
    per-domU values beyond ``NUM_DOMUS`` (ignored, as the reference does).
    """
    v = Lookup(sv)
    warnings = []
    for name, keys in sv.values.items():
        var = VARIABLES.get(name)
        if var is None:
            near = difflib.get_close_matches(name, sorted(VARIABLES), n=1, cutoff=0.75)
            hint = f" (did you mean {near[0]}?)" if near else ""
            line = min(sv.lines[name].values())
            warnings.append(f"{sv.path}:{line}: {name} is not an ImageBuilder variable{hint}")
            continue
        for key, value in keys.items():
            control = _CONTROL.search(value)
            if control is not None:
                raise v.err(name, key, value,
                            f"contains control character {control.group()!r}: a line break would "
                            "end the U-Boot command and run the rest as a new one")
    for name, keys in sv.values.items():
        var = VARIABLES.get(name)
        if var is not None and var.shape is Shape.SCALAR and set(keys) != {"0"}:
            bad = sorted(set(keys) - {"0"})[0]
            raise v.err(name, bad, keys[bad], "is a single value, not an array")
    return warnings


def ignored_domu_values(sv: ShellVars, num_domus: int) -> list[str]:
    """Warnings for per-domU values at an index of ``NUM_DOMUS`` or above."""
    out = []
    for name, var in VARIABLES.items():
        if var.counted_by != "NUM_DOMUS":
            continue
        for key in sv.values.get(name, {}):
            line = f"{sv.path}:{sv.lines[name][key]}: {name}[{key}] ignored"
            if var.shape is Shape.DOMU_PAIR:
                pair = pair_key(key)
                if pair is None:
                    out.append(f"{line}: ImageBuilder looks up keys written 'i,n' (plain "
                               "decimal, no blank); bash keeps this one as another key")
                    continue
                first = pair[0]
            else:
                first = int(key)
            if first >= num_domus:
                out.append(f"{line}: NUM_DOMUS is {num_domus}")
    return out

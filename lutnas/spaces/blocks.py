"""Block specs: one layer's operator as a frozen, hashable record with a canonical string.

In the style of timm's block strings (`ir_r2_k5_s2_e6_c40_se0.25`), but one string per layer and
round-trippable: `BlockSpec.parse(spec.encode()) == spec`. A `Block` is a spec at an input shape;
its `key` is what a latency lookup table (ProxylessNAS / FBNet LUTs) is keyed by, so two layers with
equal specs at equal shapes share one table entry. Torch is imported only when a block is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lutnas.errors import ArchError

if TYPE_CHECKING:
    from torch import nn

OPS = ("conv", "mbconv", "irf", "head")
ACTS = ("relu", "relu6", "hswish", "none")

_TOKEN = re.compile(r"^(k|e|s|i|o|g|h|c)(\d+(?:\.\d+)?)$")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round `value` to the nearest multiple of `divisor`, never dropping more than 10% (MobileNetV2)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class BlockSpec:
    """One layer's operator, independent of where it sits (see `parse` for the grammar and meaning)."""

    op: str
    in_ch: int
    out_ch: int
    stride: int = 1
    kernel: int = 1
    expand: float = 1.0
    groups: int = 1
    se: bool = False
    act: str = "relu"
    hidden: int = 0  # head only: width of the 1x1 conv after pooling (OFA's feature-mix layer); 0 = none
    classes: int = 0  # head only: classifier outputs

    def __post_init__(self) -> None:
        object.__setattr__(self, "expand", float(self.expand))
        if self.op not in OPS:
            raise ArchError(f"block op {self.op!r} is unknown; valid: {', '.join(OPS)}")
        if self.act not in ACTS:
            raise ArchError(f"block activation {self.act!r} is unknown; valid: {', '.join(ACTS)}")
        ints = {"in_ch": self.in_ch, "out_ch": self.out_ch, "stride": self.stride, "kernel": self.kernel,
                    "groups": self.groups}
        for field, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArchError(f"block {self.op}: {field} must be a positive int, got {value!r}")
        if self.expand <= 0:
            raise ArchError(f"block {self.op}: expand must be > 0, got {self.expand}")
        if self.op == "head":
            if self.classes < 1 or self.kernel != 1 or self.stride != 1 or self.groups != 1 or self.se:
                raise ArchError(f"head block needs classes >= 1 and k1 s1 g1 without se: {self!r}")
        elif self.hidden or self.classes:
            raise ArchError(f"block {self.op}: hidden/classes apply to heads only")
        if self.op in ("mbconv", "irf"):
            if self.kernel % 2 == 0:
                raise ArchError(f"block {self.op}: kernel must be odd, got {self.kernel}")
            for field, ch in (("in_ch", self.in_ch), ("out_ch", self.out_ch), ("mid", self.mid_ch)):
                if ch % self.groups:
                    raise ArchError(f"block {self.op}: {field}={ch} is not divisible by groups={self.groups}")

    # ---- derived structure (what build() creates) ----
    @property
    def mid_ch(self) -> int:
        """Width inside an inverted residual: round(in_ch * expand)."""
        return max(1, round(self.in_ch * self.expand))

    @property
    def has_expand(self) -> bool:
        """MBConv drops the 1x1 expansion at expand 1 (MobileNetV2); FBNet's IRF block keeps it."""
        return self.op == "irf" or (self.op == "mbconv" and self.expand != 1.0)

    @property
    def se_ch(self) -> int:
        """Squeeze-excite bottleneck width (MobileNetV3 / OFA: mid / 4 rounded to 8)."""
        return make_divisible(self.mid_ch // 4, 8)

    @property
    def residual(self) -> bool:
        return self.op in ("mbconv", "irf") and self.stride == 1 and self.in_ch == self.out_ch

    def output_shape(self, input_shape: tuple[int, int, int, int]) -> tuple[int, ...]:
        n, _, h, w = input_shape
        if self.op == "head":
            return (n, self.classes)
        return (n, self.out_ch, -(-h // self.stride), -(-w // self.stride))

    # ---- text form ----
    def encode(self) -> str:
        parts = [self.op, f"k{self.kernel}", f"e{_fmt_num(self.expand)}", f"s{self.stride}",
                 f"i{self.in_ch}", f"o{self.out_ch}", f"g{self.groups}"]
        if self.se:
            parts.append("se")
        parts.append(self.act)
        if self.hidden:
            parts.append(f"h{self.hidden}")
        if self.classes:
            parts.append(f"c{self.classes}")
        return "_".join(parts)

    @classmethod
    def parse(cls, text: str) -> BlockSpec:
        """Decode a canonical block string; `parse(spec.encode()) == spec` and only that spelling parses.

        Grammar (tokens joined by "_", in this order)::

            spec := OP "k"K "e"E "s"S "i"IN "o"OUT "g"G ["se"] ACT ["h"HIDDEN] ["c"CLASSES]
            OP   := conv | mbconv | irf | head         ACT := relu | relu6 | hswish | none
            E    := integer ("6") or decimal ("0.5"); all other fields are positive integers

        Ops: `conv` = KxK conv (stride S, groups G) + BN + ACT (the stem). `mbconv` = MobileNetV2
        inverted residual: 1x1 expand to round(IN*E) (omitted when E is 1) + BN + ACT, KxK depthwise
        stride S + BN + ACT, optional squeeze-excite (MobileNetV3), 1x1 project + BN; the 1x1 convs use
        G groups with a channel shuffle after the expansion; residual when S is 1 and IN == OUT.
        `irf` = FBNet's IRF block: as mbconv, but the 1x1 expansion is always present.
        `head` = 1x1 conv IN->OUT + BN + ACT, global average pool, optional 1x1 conv OUT->HIDDEN + ACT
        (no BN; OFA's feature-mix layer), linear -> CLASSES. Example: "mbconv_k5_e6_s2_i40_o80_g1_relu6".
        """
        if not isinstance(text, str) or not text:
            raise ArchError(f"block string must be a non-empty string, got {text!r}")
        tokens = text.split("_")
        fields: dict[str, object] = {"op": tokens[0]}
        names = {"k": "kernel", "e": "expand", "s": "stride", "i": "in_ch", "o": "out_ch",
                 "g": "groups", "h": "hidden", "c": "classes"}
        for tok in tokens[1:]:
            match = _TOKEN.match(tok)
            if tok == "se":
                fields["se"] = True
            elif tok in ACTS:
                fields["act"] = tok
            elif match and (match[1] == "e" or "." not in match[2]):
                fields[names[match[1]]] = float(match[2]) if match[1] == "e" else int(match[2])
            else:
                raise ArchError(f"block string {text!r}: bad token {tok!r} (grammar in BlockSpec.parse)")
        missing = [n for n in ("kernel", "expand", "stride", "in_ch", "out_ch", "groups", "act")
                   if n not in fields]
        if missing:
            raise ArchError(f"block string {text!r}: missing {', '.join(missing)}")
        spec = cls(**fields)  # type: ignore[arg-type]
        if spec.encode() != text:
            raise ArchError(f"block string {text!r} is not canonical; write {spec.encode()!r}")
        return spec

    def build(self) -> nn.Module:
        """The block alone as a torch module, in eval mode."""
        from lutnas.spaces.layers import create_block

        return create_block(self).eval()


@dataclass(frozen=True)
class Block:
    """A BlockSpec at an NCHW input shape (N = 1): the unit a latency table entry is keyed by."""

    spec: BlockSpec
    input_shape: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        shape = tuple(int(d) for d in self.input_shape)
        if len(shape) != 4 or shape[0] != 1 or shape[1] != self.spec.in_ch or min(shape) < 1:
            raise ArchError(f"block {self.spec.encode()}: input shape {shape} is not (1, {self.spec.in_ch}, H, W)")
        object.__setattr__(self, "input_shape", shape)

    @property
    def key(self) -> str:
        _, c, h, w = self.input_shape
        return f"{self.spec.encode()}@{c}x{h}x{w}"

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.spec.output_shape(self.input_shape)

    def build(self) -> nn.Module:
        return self.spec.build()

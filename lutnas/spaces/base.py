"""Search spaces as data: a macro structure (stem, fixed blocks, searchable layers, head) and, per
searchable layer, its candidate list (ProxylessNAS / FBNet / Once-for-All style layer-wise spaces).

An architecture is a tuple of choice indices, one per searchable layer. A skip choice removes its
layer; it is only allowed where the layer keeps its input shape, so a layer's input shape never
depends on other layers' choices and latency(arch) ~= fixed cost + sum_l LUT[l, arch[l]].
Layers sharing a `depth_group` model elastic depth (OFA): within a group only a suffix may be skipped.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lutnas.errors import ArchError
from lutnas.spaces.blocks import Block, BlockSpec, make_divisible

if TYPE_CHECKING:
    from torch import nn

Arch = tuple[int, ...]


@dataclass(frozen=True)
class Choice:
    """One candidate operator of a searchable layer; `op=None` means skip (the layer is removed)."""

    name: str
    op: str | None
    kernel: int = 1
    expand: float = 1.0
    groups: int = 1

    @property
    def is_skip(self) -> bool:
        return self.op is None


@dataclass(frozen=True)
class LayerDef:
    """A searchable layer: its stage, output width and stride, stage-level act / SE, candidates."""

    stage: int
    out_ch: int
    stride: int
    act: str
    choices: tuple[Choice, ...]
    se: bool = False
    depth_group: int | None = None


@dataclass(frozen=True)
class FixedDef:
    """A block present in every architecture (stem conv or the first fixed inverted residual)."""

    op: str
    out_ch: int
    kernel: int
    stride: int
    act: str
    expand: float = 1.0
    se: bool = False


@dataclass(frozen=True)
class HeadDef:
    out_ch: int
    act: str
    hidden: int = 0


@dataclass(frozen=True)
class LayerTable:
    """Dense layout for a latency table: per searchable layer, one Block per choice (None = skip)."""

    space: str
    resolution: int
    fixed: tuple[Block, ...]
    cells: tuple[tuple[Block | None, ...], ...]
    choice_names: tuple[tuple[str, ...], ...]
    stages: tuple[int, ...]

    @property
    def num_choices(self) -> tuple[int, ...]:
        return tuple(len(row) for row in self.cells)

    @property
    def max_choices(self) -> int:
        return max(self.num_choices)

    def input_shape(self, layer: int) -> tuple[int, int, int, int]:
        return next(b for b in self.cells[layer] if b is not None).input_shape

    def unique_blocks(self) -> dict[str, Block]:
        """Every block to measure, deduplicated by key, fixed blocks first, in layer order."""
        out: dict[str, Block] = {}
        for block in (*self.fixed, *(b for row in self.cells for b in row if b is not None)):
            out.setdefault(block.key, block)
        return out

    def role(self, key: str) -> str:
        """What a block key is in this layout, as a table entry records it: the first fixed block is
        the "stem", the last the "head", others "fixed"; every searchable cell is a "layer"."""
        fixed = [b.key for b in self.fixed]
        if key not in fixed:
            return "layer"
        if key == fixed[0]:
            return "stem"
        return "head" if key == fixed[-1] else "fixed"


@dataclass(frozen=True)
class _Layout:
    stem: Block
    fixed: tuple[Block, ...]
    inputs: tuple[tuple[int, int, int, int], ...]  # per searchable layer
    outs: tuple[int, ...]
    head: Block


@dataclass(frozen=True)
class SearchSpace:
    name: str
    description: str
    stem: FixedDef
    fixed: tuple[FixedDef, ...]
    layers: tuple[LayerDef, ...]
    head: HeadDef
    default_resolution: int = 224
    resolutions: tuple[int, ...] = (128, 160, 192, 224)
    exact_resolutions: bool = False  # True: only `resolutions`; False: any multiple of 32 >= 32
    _groups: dict[int, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups: dict[int, list[int]] = {}
        for i, layer in enumerate(self.layers):
            if layer.depth_group is not None:
                groups.setdefault(layer.depth_group, []).append(i)
                if not any(c.is_skip for c in layer.choices):
                    raise ValueError(f"{self.name}: layer {i} is in a depth group but has no skip choice")
        object.__setattr__(self, "_groups", {g: tuple(ix) for g, ix in groups.items()})
        lay = self._layout(self.default_resolution, 1.0, 1000)
        for i, layer in enumerate(self.layers):
            keeps = layer.stride == 1 and lay.inputs[i][1] == lay.outs[i]
            if any(c.is_skip for c in layer.choices) and not keeps:
                raise ValueError(f"{self.name}: layer {i} changes shape but has a skip choice")

    # ---- structure ----
    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def choice_names(self, layer: int) -> list[str]:
        return [c.name for c in self._layer(layer).choices]

    def _layer(self, layer: int) -> LayerDef:
        if not isinstance(layer, int) or not 0 <= layer < self.num_layers:
            raise ArchError(f"{self.name}: layer {layer!r} out of range 0..{self.num_layers - 1}")
        return self.layers[layer]

    def _valid_text(self, layer: int) -> str:
        return ", ".join(f"{i}={n}" for i, n in enumerate(self.choice_names(layer)))

    def check_resolution(self, resolution: int) -> int:
        if isinstance(resolution, bool) or not isinstance(resolution, int):
            raise ArchError(f"{self.name}: resolution must be an int, got {resolution!r}")
        if self.exact_resolutions:
            if resolution not in self.resolutions:
                step = self.resolutions[1] - self.resolutions[0]
                raise ArchError(f"{self.name}: resolution {resolution} not supported; valid: "
                                f"{self.resolutions[0]}..{self.resolutions[-1]} in steps of {step}")
        elif resolution < 32 or resolution % 32:
            raise ArchError(f"{self.name}: resolution {resolution} not supported; valid: multiples of 32, >= 32")
        return resolution

    def resolve_resolution(self, resolution: int | None) -> int:
        """The space's default when `resolution` is None, else `resolution` checked: 0 is an error,
        never "unset" (a `resolution or default` once built a 224 px network for `--resolution 0`)."""
        return self.check_resolution(self.default_resolution if resolution is None else resolution)

    # ---- counting, sampling, validation ----
    def size(self) -> int:
        """Exact number of valid architectures (depth groups: only suffixes skipped)."""
        total = 1
        for i, layer in enumerate(self.layers):
            if layer.depth_group is None:
                total *= len(layer.choices)
        for members in self._groups.values():
            kept = [sum(not c.is_skip for c in self.layers[i].choices) for i in members]
            count, prefix = 1, 1  # depth 0: everything skipped
            for k in kept:
                prefix *= k
                count += prefix
            total *= count
        return total

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform choice per layer; in a depth group, uniform depth then uniform kept choices (OFA)."""
        arch = [int(rng.integers(len(layer.choices))) for layer in self.layers]
        for members in self._groups.values():
            depth = int(rng.integers(len(members) + 1))
            for pos, i in enumerate(members):
                choices = self.layers[i].choices
                idx = [j for j, c in enumerate(choices) if c.is_skip == (pos >= depth)]
                arch[i] = idx[int(rng.integers(len(idx)))]
        return tuple(arch)

    def sample_many(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`count` draws of `sample`'s distribution at once (int64 [count, layers]): a feasibility
        filter draws thousands, and one draw at a time cost ~85 us an arch."""
        archs = np.stack([rng.integers(len(layer.choices), size=count) for layer in self.layers], axis=1)
        for members in self._groups.values():
            depth = rng.integers(len(members) + 1, size=count)
            for pos, i in enumerate(members):
                kinds = np.asarray([c.is_skip for c in self.layers[i].choices])
                kept, skip = np.flatnonzero(~kinds), np.flatnonzero(kinds)
                keep = pos < depth
                archs[keep, i] = kept[rng.integers(len(kept), size=int(keep.sum()))]
                archs[~keep, i] = skip[rng.integers(len(skip), size=int((~keep).sum()))]
        return archs.astype(np.int64)

    def validate(self, arch: object) -> Arch:
        """Return `arch` as a tuple of ints, or raise ArchError naming the layer and its valid choices."""
        if isinstance(arch, (str, bytes)) or not hasattr(arch, "__iter__"):
            raise ArchError(f"{self.name}: an arch is a list of {self.num_layers} ints, got {arch!r}")
        items = list(arch)  # type: ignore[call-overload]
        if len(items) != self.num_layers:
            raise ArchError(f"{self.name}: arch has {len(items)} choices; the space has {self.num_layers} layers")
        out = []
        for i, x in enumerate(items):
            try:
                if isinstance(x, bool) or type(x).__name__ == "bool_":
                    raise TypeError
                value = operator.index(x)
            except TypeError:
                raise ArchError(f"{self.name}: layer {i}: choice {x!r} is not an int; valid: "
                                f"{self._valid_text(i)}") from None
            if not 0 <= value < len(self.layers[i].choices):
                raise ArchError(f"{self.name}: layer {i}: choice {value} out of range; valid: {self._valid_text(i)}")
            out.append(value)
        for members in self._groups.values():
            for prev, cur in itertools.pairwise(members):
                if self.layers[prev].choices[out[prev]].is_skip and not self.layers[cur].choices[out[cur]].is_skip:
                    skips = [f"{j}={c.name}" for j, c in enumerate(self.layers[cur].choices) if c.is_skip]
                    raise ArchError(
                        f"{self.name}: layer {cur}: choice {out[cur]} ({self.choice_names(cur)[out[cur]]}) "
                        f"keeps the layer but layer {prev} is skipped; only a stage's last layers may be "
                        f"skipped, so layer {cur} must be {' or '.join(skips)}")
        return tuple(out)

    # ---- blocks ----
    def _layout(self, resolution: int, width_mult: float, num_classes: int) -> _Layout:
        def width(ch: int) -> int:
            return make_divisible(ch * width_mult, 8)

        shape = (1, 3, resolution, resolution)

        def place(spec: BlockSpec) -> Block:
            nonlocal shape
            block = Block(spec, shape)
            shape = block.output_shape  # type: ignore[assignment]
            return block

        s = self.stem
        stem = place(BlockSpec("conv", 3, width(s.out_ch), s.stride, s.kernel, act=s.act))
        fixed = tuple(
            place(BlockSpec(f.op, shape[1], width(f.out_ch), f.stride, f.kernel, f.expand, se=f.se, act=f.act))
            for f in self.fixed
        )
        inputs, outs = [], []
        for layer in self.layers:
            inputs.append(shape)
            outs.append(width(layer.out_ch))
            n, _, h, w = shape
            shape = (n, outs[-1], -(-h // layer.stride), -(-w // layer.stride))
        head_w = max(1.0, width_mult)
        head = Block(BlockSpec("head", shape[1], make_divisible(self.head.out_ch * head_w, 8), act=self.head.act,
                               hidden=make_divisible(self.head.hidden * head_w, 8) if self.head.hidden else 0,
                               classes=num_classes), shape)
        return _Layout(stem, fixed, tuple(inputs), tuple(outs), head)

    def _candidates(self, lay: _Layout, layer: int) -> list[Block | None]:
        d = self.layers[layer]
        in_shape = lay.inputs[layer]
        return [
            None if c.is_skip else Block(
                BlockSpec(c.op, in_shape[1], lay.outs[layer], d.stride, c.kernel, c.expand, c.groups,  # type: ignore[arg-type]
                          se=d.se, act=d.act), in_shape)
            for c in d.choices
        ]

    def _checked_layout(self, resolution: int, width_mult: float, num_classes: int) -> _Layout:
        self.check_resolution(resolution)
        if not width_mult > 0:
            raise ArchError(f"{self.name}: width_mult must be > 0, got {width_mult!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ArchError(f"{self.name}: num_classes must be a positive int, got {num_classes!r}")
        return self._layout(resolution, width_mult, num_classes)

    def blocks(self, arch: Sequence[int], resolution: int, *, width_mult: float = 1.0,
               num_classes: int = 1000) -> list[Block]:
        """Stem, fixed blocks, each active searchable layer, head - in network order."""
        arch = self.validate(arch)
        lay = self._checked_layout(resolution, width_mult, num_classes)
        active = [self._candidates(lay, i)[a] for i, a in enumerate(arch)]
        return [lay.stem, *lay.fixed, *(b for b in active if b is not None), lay.head]

    def fixed_blocks(self, resolution: int, *, width_mult: float = 1.0, num_classes: int = 1000) -> list[Block]:
        """Blocks present in every architecture: stem, fixed blocks, head."""
        lay = self._checked_layout(resolution, width_mult, num_classes)
        return [lay.stem, *lay.fixed, lay.head]

    def candidate_blocks(self, layer: int, resolution: int, *, width_mult: float = 1.0) -> list[Block | None]:
        """One Block per choice of `layer`, in choice-index order; None for skip."""
        self._layer(layer)
        return self._candidates(self._checked_layout(resolution, width_mult, 1000), layer)

    def layer_table(self, resolution: int, *, width_mult: float = 1.0, num_classes: int = 1000) -> LayerTable:
        lay = self._checked_layout(resolution, width_mult, num_classes)
        return LayerTable(
            space=self.name, resolution=resolution, fixed=(lay.stem, *lay.fixed, lay.head),
            cells=tuple(tuple(self._candidates(lay, i)) for i in range(self.num_layers)),
            choice_names=tuple(tuple(self.choice_names(i)) for i in range(self.num_layers)),
            stages=tuple(layer.stage for layer in self.layers),
        )

    def build(self, arch: Sequence[int], resolution: int, num_classes: int = 1000,
              width_mult: float = 1.0) -> nn.Module:
        """nn.Sequential of exactly the modules Block.build() returns for blocks(arch), in eval mode."""
        from torch import nn

        blocks = self.blocks(arch, resolution, width_mult=width_mult, num_classes=num_classes)
        return nn.Sequential(*(b.build() for b in blocks)).eval()


@dataclass(frozen=True)
class StageDef:
    out_ch: int
    depth: int
    stride: int
    act: str
    se: bool = False


def make_layers(stages: Sequence[StageDef], choices: Sequence[Choice], skip: Choice, in_ch: int, *,
                skip_from: int = 0, elastic_depth: bool = False) -> tuple[LayerDef, ...]:
    """Searchable layers for `stages`: every layer gets `choices`, plus `skip` where it keeps shape and
    sits at position >= `skip_from` in its stage; `elastic_depth` puts a stage's skippable layers in one
    depth group (OFA: only the last layers of a stage may be dropped)."""
    layers = []
    for s, st in enumerate(stages):
        for pos in range(st.depth):
            stride = st.stride if pos == 0 else 1
            can_skip = stride == 1 and in_ch == st.out_ch and pos >= skip_from
            layers.append(LayerDef(
                stage=s + 1, out_ch=st.out_ch, stride=stride, act=st.act, se=st.se,
                choices=(*choices, skip) if can_skip else tuple(choices),
                depth_group=s if (elastic_depth and can_skip) else None,
            ))
            in_ch = st.out_ch
    return tuple(layers)

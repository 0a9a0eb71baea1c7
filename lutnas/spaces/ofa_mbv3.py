"""Once-for-All MobileNetV3 space (Cai et al., ICLR 2020): elastic kernel, expand ratio and depth.

Stem 3x3 s2 16ch h-swish, fixed MBConv e1 k3 16ch (ReLU), five stages (24, 40, 80, 112, 160 channels;
strides 2, 2, 2, 1, 2; SE in the 40/112/160 stages; h-swish from the 80 stage on), head 1x1 -> 960
h-swish, pool, 1x1 -> 1280 h-swish, FC. Each layer picks kernel {3,5,7} x expand {3,4,6}; depth
{2,3,4} per stage is a `skip` choice on layers 3 and 4 (layer 4 skipped whenever layer 3 is).
Only OFA's resolutions 128..224 (step 4) are accepted.
"""

from __future__ import annotations

from lutnas.spaces.base import Choice, FixedDef, HeadDef, SearchSpace, StageDef, make_layers

_CHOICES = tuple(Choice(f"k{k}_e{e}", "mbconv", k, e) for k in (3, 5, 7) for e in (3, 4, 6))
_STAGES = [
    StageDef(24, 4, 2, "relu"),
    StageDef(40, 4, 2, "relu", se=True),
    StageDef(80, 4, 2, "hswish"),
    StageDef(112, 4, 1, "hswish", se=True),
    StageDef(160, 4, 2, "hswish", se=True),
]

SPACE = SearchSpace(
    name="ofa-mbv3",
    description="Once-for-All MobileNetV3: k{3,5,7} x e{3,4,6}, depth {2,3,4} per stage",
    stem=FixedDef("conv", 16, 3, 2, "hswish"),
    fixed=(FixedDef("mbconv", 16, 3, 1, "relu", expand=1),),
    layers=make_layers(_STAGES, _CHOICES, Choice("skip", None), in_ch=16, skip_from=2, elastic_depth=True),
    head=HeadDef(960, "hswish", hidden=1280),
    default_resolution=224,
    resolutions=tuple(range(128, 225, 4)),
    exact_resolutions=True,
)

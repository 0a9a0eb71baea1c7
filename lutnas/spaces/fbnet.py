"""FBNet space (Wu et al., CVPR 2019): 22 searchable layers of FBNet's IRF block, ReLU.

Stem 3x3 s2 16ch, stages of [1,4,4,4,4,4,1] layers with channels [16,24,32,64,112,184,352] and
strides [1,2,2,2,1,2,1], head 1x1 -> 1984 + pool + FC. Nine candidates: k{3,5} x e{1,3,6}, the e1
ones also with grouped (g2) 1x1 convs and a channel shuffle, and `skip` where a layer keeps its shape.
"""

from __future__ import annotations

from lutnas.spaces.base import Choice, FixedDef, HeadDef, SearchSpace, StageDef, make_layers

_CHOICES = tuple(
    Choice(name, "irf", k, e, g)
    for k in (3, 5)
    for name, e, g in ((f"k{k}_e1", 1, 1), (f"k{k}_e1_g2", 1, 2), (f"k{k}_e3", 3, 1), (f"k{k}_e6", 6, 1))
)
_STAGES = [StageDef(c, n, s, "relu") for c, n, s in
           zip([16, 24, 32, 64, 112, 184, 352], [1, 4, 4, 4, 4, 4, 1], [1, 2, 2, 2, 1, 2, 1])]

SPACE = SearchSpace(
    name="fbnet",
    description="FBNet: IRF k{3,5} x e{1,3,6} (+g2 for e1) + skip, ReLU",
    stem=FixedDef("conv", 16, 3, 2, "relu"),
    fixed=(),
    layers=make_layers(_STAGES, _CHOICES, Choice("skip", None), in_ch=16),
    head=HeadDef(1984, "relu"),
    default_resolution=224,
    resolutions=(128, 160, 192, 224),
)

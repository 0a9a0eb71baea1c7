"""Two-group 1x1 convolutions made dense and channel shuffles folded into their convolution
(`lowering.grouped_pointwise`): the same numbers as torch, the shuffle's kernel gone, and the cases
the rewrite must leave alone. Speed: bench/fusion_ab.py --rewrite grouped-pointwise."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("tvm")

from lutnas.lowering import build, export_onnx, get_target
from lutnas.lowering.grouped_pointwise import dense_weights, shuffle_order
from lutnas.lowering.pipeline import fused_module
from lutnas.spaces.layers import ChannelShuffle

TARGET = get_target("x86")
SHAPE = (1, 16, 8, 8)


class Shuffled(torch.nn.Module):
    """1x1 of `groups` groups + ReLU, channel shuffle, depthwise 3x3, 1x1 of `groups` groups; with
    `reuse`, the pre-shuffle activation is also added to the shuffled one (a second reader)."""

    def __init__(self, groups: int, reuse: bool = False) -> None:
        super().__init__()
        self.expand = torch.nn.Conv2d(16, 16, 1, groups=groups)
        self.shuffle = ChannelShuffle(groups)
        self.dw = torch.nn.Conv2d(16, 16, 3, 1, 1, groups=16)
        self.project = torch.nn.Conv2d(16, 16, 1, groups=groups)
        self.reuse = reuse

    def forward(self, x):
        y = torch.relu(self.expand(x))
        z = self.shuffle(y)
        if self.reuse:
            z = z + y
        return self.project(torch.relu(self.dw(z)))


def _kernels_and_output(net: torch.nn.Module, tmp_path, name: str) -> tuple[list[str], float]:
    """(the channels-last pipeline's fused function names, max |TVM - torch| / max |torch|)."""
    net = net.eval()
    path = export_onnx(net, SHAPE, tmp_path / f"{name}.onnx")
    mod = fused_module(path, SHAPE, TARGET.tvm_target())
    names = [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    x = np.random.default_rng(0).standard_normal(SHAPE).astype("float32")
    want = net(torch.from_numpy(x)).detach().numpy()
    got = build(path, SHAPE, TARGET, pipeline="lutnas-cpu").run(x)
    return names, float(np.abs(got - want).max() / np.abs(want).max())


def test_dense_weights_compute_what_the_grouped_convolution_computes():
    conv = torch.nn.Conv2d(12, 6, 1, groups=2).eval()
    dense = torch.nn.Conv2d(12, 6, 1).eval()
    with torch.no_grad():
        dense.weight.copy_(torch.from_numpy(dense_weights(conv.weight.numpy(), 2)))
        dense.bias.copy_(conv.bias)
        x = torch.randn(1, 12, 5, 5)
        np.testing.assert_allclose(dense(x).numpy(), conv(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_shuffle_order_is_the_shuffle_of_channel_indices(groups):
    channels = torch.arange(24, dtype=torch.float32).reshape(1, 24, 1, 1)
    shuffled = ChannelShuffle(groups)(channels).flatten().numpy().astype(int)
    assert shuffled.tolist() == shuffle_order(24, groups).tolist()


def test_two_groups_become_dense_and_the_shuffle_folds_away(tmp_path):
    """No kernel of the network reshapes (the shuffle is gone), and the output is torch's; the
    dense 1x1 after the depthwise may now join it (`dw_pw_fusion`)."""
    names, err = _kernels_and_output(Shuffled(2), tmp_path, "g2")
    assert not [n for n in names if "reshape" in n], names
    assert err < 1e-5, err


@pytest.mark.parametrize("case", ["four-groups", "second-reader"])
def test_what_the_rewrite_leaves_alone_still_computes_the_same(tmp_path, case):
    """Four groups stay grouped (dense would quadruple the arithmetic), and a shuffle whose input is
    also read elsewhere stays a shuffle (folding it would compute the convolution twice)."""
    net = Shuffled(4) if case == "four-groups" else Shuffled(2, reuse=True)
    names, err = _kernels_and_output(net, tmp_path, case)
    assert [n for n in names if "reshape" in n], names
    assert err < 1e-5, err

"""Depthwise kernels alone, the rule's default tile against `max_channel_vectors=1` (one AVX-512
vector of channels), 9 interleaved rounds; run from the repository root:
    .venv/bin/python docs/measurements/artifact-vs-ort-xeon-2026-12-03/probe_depthwise_tiles.py
(as run on 2026-12-03 the default was two vectors; it is one vector now, so both columns match)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import torch
from probe import run

from lutnas.lowering.rules import ChannelsLastDepthwise, default_cpu_rules


def dw(c, h, k, s):
    net = torch.nn.Sequential(torch.nn.Conv2d(c, c, k, s, k // 2, groups=c), torch.nn.ReLU6())
    return (f"dw c{c} {h} k{k} s{s}", net, (1, c, h, h))


def variant(**kw):
    def mk():
        return [ChannelsLastDepthwise(**kw) if isinstance(r, ChannelsLastDepthwise) else r for r in default_cpu_rules()]
    return mk


if __name__ == "__main__":
    shapes = [(96, 112, 5, 1), (96, 112, 3, 2), (16, 112, 5, 2), (144, 56, 5, 2), (24, 56, 3, 1), (144, 56, 3, 1),
              (72, 56, 5, 1), (240, 28, 5, 1), (240, 28, 3, 2), (480, 14, 5, 1), (672, 14, 5, 2), (1152, 7, 5, 1),
              (960, 7, 3, 1), (32, 112, 3, 1), (192, 28, 7, 1)]
    run([dw(*s) for s in shapes], [("default", default_cpu_rules), ("cv1", variant(max_channel_vectors=1))], rounds=9)

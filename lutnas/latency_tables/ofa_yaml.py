"""The Once-for-All / ProxylessNAS YAML lookup-table key format, both ways.

Their tables (`mobile_trim.yaml`, `pixel_trim.yaml`, OFA's `*_lookup_table.yaml`) map a layer key to
`{mean, var, count}`; their predictors (OFA `ProxylessNASLatencyTable` / `MBv3LatencyTable.query`,
ProxylessNAS `LatencyEstimator.predict`) build the key from the layer and read `lut[key]["mean"]`.
Keys are `-`-joined fields, shapes `HxWxC` (channels last):

  Conv-input:HxWx3-output:HxWxC                       the stem 3x3 conv
  expanded_conv-input:..-output:..-expand:E-kernel:K-stride:S-idskip:I
                                                     an MBConv; ProxylessNAS: E = expand ratio;
                                                     OFA MobileNetV3 adds -se:0|1-hs:0|1 and E = mid channels
  Conv_1-input:HxWxC-output:HxWxC'                    1x1 conv before pooling (feature mix / final expand)
  AvgPool2D-input:..-output:1x1xC', Conv_2-..         MobileNetV3 only: pooling and the 1x1 feature mix
  Logits-input:..-output:N                            the classifier (ProxylessNAS: pooling + FC)

Mapping to lutnas blocks: the stem and every `mbconv` map one to one. lutnas measures the whole
head (1x1 conv, pooling, [1x1 conv], classifier) as ONE block; their key set splits it into 2
(ProxylessNAS) or 4 (MobileNetV3) keys. Export writes the whole head on `Conv_1` and 0.0 on the
others (every OFA predictor sums them, so network predictions are unchanged); import sums them.
Not representable: FBNet's `irf` blocks (grouped convs, channel shuffle, a 1x1 expansion even at
e1) have no key in this format, so fbnet tables neither export nor import here.

Values: `mean` is the table's point estimate (median by default, whatever the table's estimator
is); `var` the sample variance of the pooled kept samples; `count` their number. An imported entry
becomes one summary pass (`meta.summary`), never invented samples; its estimate's variance is
var / count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lutnas.errors import TableError

if TYPE_CHECKING:
    from lutnas.spaces import Block

STYLES = {"proxyless": "proxyless", "ofa-mbv3": "mbv3"}


def style_for(space: str) -> str:
    if space not in STYLES:
        raise TableError(f"space {space!r} has no Once-for-All / ProxylessNAS YAML key form (FBNet's grouped and "
                         f"always-expanding blocks have none); spaces with one: {', '.join(STYLES)}")
    return STYLES[space]


def _shape(h: int, w: int, c: int) -> str:
    return f"{h}x{w}x{c}"


def block_keys(block: Block, style: str) -> list[str]:
    """The YAML key(s) of one lutnas block, in their order; the first carries the block's latency."""
    spec, (_, c, h, w) = block.spec, block.input_shape
    if spec.op == "conv":
        _, oc, oh, ow = block.output_shape
        return [f"Conv-input:{_shape(h, w, c)}-output:{_shape(oh, ow, oc)}"]
    if spec.op == "mbconv" and spec.groups == 1:
        _, oc, oh, ow = block.output_shape
        expand = spec.mid_ch if style == "mbv3" else spec.expand
        if float(expand) != int(expand):
            raise TableError(f"block {block.key}: expand {expand} is not an integer; no YAML key for it")
        key = (f"expanded_conv-input:{_shape(h, w, c)}-output:{_shape(oh, ow, oc)}-expand:{int(expand)}"
               f"-kernel:{spec.kernel}-stride:{spec.stride}-idskip:{int(spec.residual)}")
        if style == "mbv3":
            key += f"-se:{int(spec.se)}-hs:{int(spec.act == 'hswish')}"
        return [key]
    if spec.op == "head":
        mid = spec.out_ch
        if style == "proxyless":
            if spec.hidden:
                raise TableError(f"block {block.key}: a ProxylessNAS head has no hidden 1x1 conv")
            return [f"Conv_1-input:{_shape(h, w, c)}-output:{_shape(h, w, mid)}",
                    f"Logits-input:{_shape(h, w, mid)}-output:{spec.classes}"]
        hidden = spec.hidden or mid
        return [f"Conv_1-input:{_shape(h, w, c)}-output:{_shape(h, w, mid)}",
                f"AvgPool2D-input:{_shape(h, w, mid)}-output:{_shape(1, 1, mid)}",
                f"Conv_2-input:{_shape(1, 1, mid)}-output:{_shape(1, 1, hidden)}",
                f"Logits-input:{_shape(1, 1, hidden)}-output:{spec.classes}"]
    raise TableError(f"block {block.key}: op {spec.op!r} (groups {spec.groups}) has no YAML key")


def to_yaml_dict(blocks: Sequence[Block], values: dict[str, dict[str, float]], style: str) -> dict[str, dict]:
    """{key: {mean, var, count}} for blocks; `values[block.key]` = {"mean", "var", "count"}."""
    out: dict[str, dict] = {}
    for block in blocks:
        keys = block_keys(block, style)
        v = values[block.key]
        rows = [{"mean": float(v["mean"]), "var": float(v["var"]), "count": int(v["count"])}]
        rows += [{"mean": 0.0, "var": 0.0, "count": int(v["count"])} for _ in keys[1:]]
        for key, row in zip(keys, rows):
            if key in out and out[key] != row:
                raise TableError(f"two blocks map to the YAML key {key} with different values")
            out[key] = row
    return out


def from_yaml_dict(lut: dict[str, Any], blocks: Sequence[Any], style: str
                   ) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    """Match a YAML table to blocks: ({block key: summary}, missing block keys, unused YAML keys)."""
    if not isinstance(lut, dict):
        raise TableError("YAML lookup table must be a mapping of layer keys to {mean, var, count}")
    used: set[str] = set()
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for block in blocks:
        keys = block_keys(block, style)
        if not all(k in lut for k in keys):
            missing.append(block.key)
            continue
        parts = [_entry(lut[k], k) for k in keys]
        used.update(keys)
        count = min(p["count"] for p in parts)
        found[block.key] = {"mean": sum(p["mean"] for p in parts), "var": sum(p["var"] for p in parts),
                            "count": count, "keys": keys}
    unused = sorted(k for k in lut if k not in used)
    return found, missing, unused


def _entry(value: Any, key: str) -> dict[str, Any]:
    if isinstance(value, (int, float)):
        return {"mean": float(value), "var": 0.0, "count": 0}
    if not isinstance(value, dict) or "mean" not in value:
        raise TableError(f"YAML key {key}: expected {{mean, var, count}}, got {value!r}")
    try:
        return {"mean": float(value["mean"]), "var": float(value.get("var", 0.0) or 0.0),
                "count": int(value.get("count", 0) or 0)}
    except (TypeError, ValueError) as err:
        raise TableError(f"YAML key {key}: bad value ({err})") from None

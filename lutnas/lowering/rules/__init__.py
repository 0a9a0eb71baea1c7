"""lutnas's default CPU schedule rules (dlight-style) and the pass that applies them.

TVM 0.27's dlight has CPU rules for GEMV and row reductions only; an unscheduled convolution is
lowered as naive single-threaded loops. These rules give every fused function of a MobileNet-style
network a parallel, vectorized schedule without tuning, and serve as the fallback for tasks a
MetaSchedule database has no record for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lutnas.lowering.rules.banded import ChannelsLastExpandDepthwisePointwise
from lutnas.lowering.rules.base import Rule, int32_indices
from lutnas.lowering.rules.conv import ConvGEMM
from lutnas.lowering.rules.depthwise import DepthwiseConv
from lutnas.lowering.rules.elementwise import Fallback, Injective, RowReduction
from lutnas.lowering.rules.gemv import PixelGEMV
from lutnas.lowering.rules.head import HeadClassifier
from lutnas.lowering.rules.matmul import MatmulGEMM
from lutnas.lowering.rules.nhwc import ChannelsLastConv, ChannelsLastDepthwise, ChannelsLastDepthwisePointwise
from lutnas.lowering.rules.softmax import RowSoftmax

if TYPE_CHECKING:
    import tvm


def default_cpu_rules() -> list[Rule]:
    """Ordered: first match wins; `Fallback` (parallelise outer spatial loops) last. The conv rules
    read the layout (NCHW or NHWC) from the loop nest, so one list serves both pipelines."""
    return [HeadClassifier(), ChannelsLastExpandDepthwisePointwise(), ChannelsLastDepthwisePointwise(), PixelGEMV(), ConvGEMM(), DepthwiseConv(), ChannelsLastConv(),
            ChannelsLastDepthwise(), MatmulGEMM(), RowSoftmax(), Injective(), RowReduction(), Fallback()]


def apply_rules(func: Any, target: tvm.target.Target, rules: list[Rule]) -> tuple[Any, str] | tuple[None, None]:
    """The first rule's schedule for `func` and that rule's name, or (None, None)."""
    from tvm.s_tir import ScheduleError

    for rule in rules:
        try:
            sch = rule.apply(func, target, False)
        except (ScheduleError, ValueError, IndexError):  # a shape the rule did not foresee: not its function
            continue
        if sch is not None:
            return sch, rule.name
    return None, None


def apply_rules_pass(target: tvm.target.Target, rules: list[Rule] | None = None) -> Any:
    """A module pass scheduling every not-yet-scheduled PrimFunc with `rules` for `target`.

    Functions already scheduled (e.g. by `MetaScheduleApplyDatabase`, which marks them
    `tirx.is_scheduled`) are left alone, so tuned records win and rules fill in the rest.
    """
    import tvm
    from tvm import tirx

    rules = default_cpu_rules() if rules is None else rules

    @tvm.transform.module_pass(opt_level=0, name="LutnasApplyCPURules")
    def _pass(mod: Any, _ctx: Any) -> Any:
        updated = {}
        for gvar, func in mod.functions_items():
            if not isinstance(func, tirx.PrimFunc) or _is_scheduled(func):
                continue
            sch, _name = apply_rules(func, target, rules)
            if sch is not None:
                updated[gvar] = sch.mod["main"].with_attr("tirx.is_scheduled", True)
        for gvar, func in updated.items():
            mod[gvar] = func
        return mod

    return _pass


# Whether `narrow_indices_pass` narrows (`rules.base.int32_indices`: without it no loop-partition hint
# of the rules takes effect).
NARROW_INDICES = True


def narrow_indices_pass() -> Any:
    """A module pass giving every scheduled PrimFunc 32-bit indices (`rules.base.int32_indices`). It
    runs after Relax's `SplitLayoutRewritePreproc`, which builds the weight-packing functions from the
    scheduled ones and refuses a narrowed one (an int32 extent on an int64 block variable)."""
    import tvm
    from tvm import tirx

    @tvm.transform.module_pass(opt_level=0, name="LutnasNarrowIndices")
    def _pass(mod: Any, _ctx: Any) -> Any:
        if not NARROW_INDICES:
            return mod
        narrowed = {gvar: int32_indices(func) for gvar, func in mod.functions_items()
                    if isinstance(func, tirx.PrimFunc) and _is_scheduled(func)}
        for gvar, func in narrowed.items():
            mod[gvar] = func
        return mod

    return _pass


def _is_scheduled(func: Any) -> bool:
    attrs = func.attrs
    return attrs is not None and "tirx.is_scheduled" in attrs and int(attrs["tirx.is_scheduled"]) == 1


__all__ = [
    "ChannelsLastConv",
    "ChannelsLastDepthwise",
    "ChannelsLastDepthwisePointwise",
    "ConvGEMM",
    "DepthwiseConv",
    "Fallback",
    "Injective",
    "MatmulGEMM",
    "PixelGEMV",
    "RowReduction",
    "RowSoftmax",
    "Rule",
    "apply_rules",
    "apply_rules_pass",
    "default_cpu_rules",
    "int32_indices",
    "narrow_indices_pass",
]

"""Compilation pipelines as values (TVM's `relax.pipeline` style), behind names.

A pipeline name is recorded with every artifact and table, because the schedules it produces decide
the latency that is measured: a table only describes the runtime that was built the same way.

`build_pipeline(name, target)` returns the `pipeline=` argument for `tvm.compile`; `None` means TVM's
own default pipeline for the target. The passes up to fusion (`fusion_passes`) are written once:
the `lutnas-cpu` pipelines run them, and tuning extracts its tasks from their output
(`fused_module`), so a tuned record's task is structurally the function a build looks up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lutnas.lowering.targets import (
    TargetSpec,
    get_target,
    host_cpu_options,
    takes_host_mcpu,
    takes_num_cores,
    target_from_json,
)
from lutnas.registry import Registry

if TYPE_CHECKING:
    import onnx
    import tvm

    from lutnas.lowering.rules import Rule

PipelineFactory = Callable[["tvm.target.Target"], "tvm.transform.Pass | None"]

PIPELINES: Registry[PipelineFactory] = Registry("pipeline")


def _tvm_default(target: tvm.target.Target) -> tvm.transform.Pass | None:
    """TVM 0.27's default build pipeline for the target (untuned; on CPU: no fusion, one thread)."""
    return None


PIPELINES.register("tvm-default", _tvm_default)


def fusion_passes(target: tvm.target.Target, layout: str = "NHWC") -> list[tvm.transform.Pass]:
    """Layout, library dispatch, legalize + fold + fuse: where MetaSchedule's tasks appear.

    The network is put into `layout` (`lowering.layout`: channels-last unless NCHW is asked for;
    channels-last, its channel counts padded to whole vectors, `lowering.channel_pad`), then TVM's
    CPU library dispatch and legalization passes
    (`tvm.relax.backend.cpu_generic.get_default_pipeline`'s first steps) run as they are, except
    that float32 transcendentals legalize to vectorizable polynomials and divisions by a constant
    scalar to multiplications by its reciprocal (`lowering.fast_math`).
    """
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

    from lutnas.lowering.channel_pad import pad_channels
    from lutnas.lowering.channel_slices import fuse_channel_slices, keep_channel_slices
    from lutnas.lowering.dw_pw_fusion import fuse_depthwise_pointwise
    from lutnas.lowering.fast_math import fast_math_legalize
    from lutnas.lowering.fold import fold_in_numpy
    from lutnas.lowering.grouped_pointwise import dense_grouped_pointwise
    from lutnas.lowering.head_classifier import fuse_head_classifier, pooled_mix_as_matmul
    from lutnas.lowering.input_layout_fusion import fuse_input_transpose
    from lutnas.lowering.layout import global_pools_as_means, layout_passes
    from lutnas.lowering.rules.base import target_cores, vector_lanes

    padding = [fold_in_numpy(), pad_channels(vector_lanes(target))] if layout == "NHWC" else []
    legalize = cpu_generic.legalize_passes(target)   # ... FuseOps, FuseTIR
    if layout == "NHWC":   # a depthwise and the 1x1 reading it become one function (`dw_pw_fusion`),
        # the input's transpose is computed by the stem conv's padding (`input_layout_fusion`), a 1x1
        # reads the real channels of a padded input in place (`channel_slices`)
        fuse = next(i for i, p in enumerate(legalize) if p.info.name == "FuseOps")
        legalize = (legalize[:fuse] + [keep_channel_slices(), legalize[fuse]]
                    + [fuse_depthwise_pointwise(), fuse_input_transpose(), fuse_channel_slices(),
                       fuse_head_classifier(target_cores(target))] + legalize[fuse + 1:])
    # two-group 1x1s dense, shuffles folded; a pooled feature-mix 1x1 a matmul the head's kernel can take
    graph = layout_passes(layout, [dense_grouped_pointwise(), pooled_mix_as_matmul()])
    return ([global_pools_as_means()] + graph + padding + cpu_generic.library_dispatch_passes(target)
            + [fold_in_numpy()]  # the weights' reshapes and layout transposes, before they become kernels
            + [fast_math_legalize()]  # then TVM's own LegalizeOps finds nothing left to legalize
            + legalize)


def fused_module(model: onnx.ModelProto | str | Path | tvm.IRModule, input_shape: tuple[int, ...],
                 target: tvm.target.Target, layout: str = "NHWC") -> tvm.IRModule:
    """`model` (ONNX path/proto, imported by `frontend.import_onnx`, or a Relax IRModule) after
    `fusion_passes` for `target`: the module whose functions a `lutnas-cpu` build schedules."""
    import tvm

    from lutnas.lowering.frontend import import_onnx

    mod = model if isinstance(model, tvm.IRModule) else import_onnx(model, input_shape).mod
    with target:  # TVM's legalization reads the current target
        return tvm.transform.Sequential(fusion_passes(target, layout))(mod)


def cpu_pipeline(target: tvm.target.Target, database_dir: str | Path | None = None,
                 rules: list[Rule] | None = None, layout: str = "NHWC") -> tvm.transform.Pass:
    """TVM's CPU pipeline with lutnas's schedule rules (and optionally a tuning database).

    `fusion_passes`, then two steps before TVM's dataflow lowering and finalize passes:
    `MetaScheduleApplyDatabase` (when `database_dir` holds a MetaSchedule JSON database: tuned
    records win) and then `lutnas.lowering.rules` for every function still unscheduled.
    """
    import tvm
    from tvm import relax
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

    from lutnas.lowering.fold import drop_folded_functions, fold_in_numpy
    from lutnas.lowering.rules import apply_rules_pass, narrow_indices_pass

    tuned = []
    if database_dir is not None:
        from lutnas.lowering.database import apply_database_pass

        tuned = [apply_database_pass(database_dir, target)]
    seq = tvm.transform.Sequential(
        fusion_passes(target, layout)
        + tuned
        + [
            apply_rules_pass(target, rules),
            # weights the rules repacked (`rules.nhwc.pack_weights`): split off, packed at compile time
            relax.transform.SplitLayoutRewritePreproc(),
            fold_in_numpy(),  # (FoldConstant builds and runs one LLVM module per weight: `lowering.fold`)
            relax.transform.FoldConstant(),
            narrow_indices_pass(),  # after the split: the rules' loop-partition hints reach LoopPartition
        ]
        + cpu_generic.dataflow_lower_passes(target)
        + cpu_generic.finalize_passes(target)
        + [drop_folded_functions()],  # the preprocesses FoldConstant ran, and the like: not for the library
        name="lutnas_cpu",
    )

    @tvm.transform.module_pass(opt_level=0, name="LutnasCPUPipeline")
    def _pipeline(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        with target:  # TVM's own legalization and lowering passes read the current target
            return seq(mod)

    return _pipeline


def _lutnas_cpu(target: tvm.target.Target) -> tvm.transform.Pass:
    """Channels-last network, legalize, fold, fuse, then lutnas's CPU rules; no tuning."""
    return cpu_pipeline(target)


def _lutnas_cpu_nchw(target: tvm.target.Target) -> tvm.transform.Pass:
    """As `lutnas-cpu` but in ONNX's NCHW layout (lutnas's rules before the channels-last change)."""
    return cpu_pipeline(target, layout="NCHW")


PIPELINES.register("lutnas-cpu", _lutnas_cpu)
PIPELINES.register("lutnas-cpu-nchw", _lutnas_cpu_nchw)

TUNED_PREFIX = "lutnas-cpu+tuned:"


def tuned_pipeline_name(database_dir: str | Path) -> str:
    """The recorded name of a build that applies the database in `database_dir` (by content hash)."""
    from lutnas.lowering.database import database_hash

    return f"{TUNED_PREFIX}{database_hash(database_dir)}"

# The library functions' default (`build`, `lower`, `measure_archs`, ...): TVM's own pipeline, for any
# target. The commands choose theirs with `resolve_build` (lutnas-cpu on x86 and arm64).
DEFAULT_PIPELINE = "tvm-default"

# Bumped when what a pipeline name builds changes, so libraries compiled by an older lutnas under the
# same name are not taken from the compile cache (`profiler.workers.cache_key`): 2 = channels-last;
# 3 (NCHW rules: 2) = register tiles sized by the target's vector registers (changed for AVX-512 and
# AArch64, 32 registers; the same schedules as before for 16-register x86 CPUs).
# 4 (lutnas-cpu) = inverse transposes cancelled (`layout.cancel_inverse_permutes`); 5 = depthwise
# convolutions read their input in place, rows across cores (`rules.nhwc.ChannelsLastDepthwise`); 6 = its tiles one AVX-512 vector of channels.
# 7 (both, and tvm-default is untouched) = a dense layer's rows split across cores (`rules.elementwise`).
# 8 (lutnas-cpu) = channel counts padded to whole vectors (`lowering.channel_pad`).
# 9 / 4 = whole-plane average pools become means (`layout.global_pools_as_means`).
# 10 / 5 = float32 exp, sigmoid, erf, tanh and softmax as vectorizable polynomials (`lowering.fast_math`).
# 11 / 6 = matrix products register-tiled (`rules.matmul`); 12 / 7 = their right operand packed
# in column-tile strips, and softmax rows in vector passes (`rules.softmax`).
# 13 (lutnas-cpu) = a depthwise fused with the 1x1 reading it (`lowering.dw_pw_fusion`).
# 14 (lutnas-cpu) = two-group 1x1s dense, channel shuffles folded into their conv (`lowering.grouped_pointwise`).
# 15 / 8 = tile accumulators as stack arrays, at most 15 AVX-512 vectors (`rules.base.ACCUMULATOR_SCOPE`).
# 16 (lutnas-cpu) = deep 1x1s prefetch their next weight strip (`rules.nhwc.prefetch_next_strip`).
# 17 (lutnas-cpu) = every 1x1 over fewer pixels than channels prefetches its next strip, whatever its size.
# 18 (lutnas-cpu) = the stem conv reads the NCHW input in place, no transpose kernel (`lowering.input_layout_fusion`).
# 19 (lutnas-cpu) = a fused depthwise + 1x1 tiles 7 pixels where its 1x1 then holds two vectors (`rules.nhwc.fused_pixels`).
# 20 / 9 = row reductions vectorize by 4, 2 or 1 whole vectors, never 3 (`rules.elementwise`).
# 21 / 10 = elementwise loops and padding copies vectorize by a power of two (`rules.base.vectorize_inner`).
# 22 / 11 = a softmax beyond 1 MB runs row by row (`rules.softmax`).
# 23 (lutnas-cpu) = 1x1s with at most 256 KB of weights walk pixel tiles outermost (`rules.nhwc`).
# 24 (lutnas-cpu) = ... at most 512 KB (`rules.nhwc.PIXEL_MAJOR_MAX_WEIGHT_BYTES`).
# 25 (lutnas-cpu) = built for one thread (`num-cores` 1), 1x1s with >= 16 KB of weights walk strips outermost
#    (`rules.nhwc.single_core_strips_outer`); builds for other or unknown thread counts are unchanged.
# 27 (lutnas-cpu) = a 1x1 reading a channel-padded tensor reads its real channels in place, no zero weight
#    rows (`lowering.channel_slices`).
# 28 (lutnas-cpu) = built for one thread, the head 1x1, its global mean and the classifier are one kernel
#    that streams the classifier's weights under the head's FMAs (`lowering.head_classifier`, `rules.head`).
# 29 (lutnas-cpu) = ... also built for N threads (a 1/N of the head's channels per core, N partial classifier
#    outputs added), and that kernel's accumulators are a stack array, no longer a heap block.
# 30 (lutnas-cpu) = that kernel's classifier accumulates up to 8 output vectors side by side (independent FMA
#    chains), and its conv prefetches its next weight strip with the classifier's (`rules.head`).
# 31 / 12 = a float32 division by a constant scalar (h-swish's / 6) is a multiplication by its reciprocal
#    (`lowering.fast_math.RECIPROCAL_DIVIDE`).
# 32 / 13 = ... the reciprocal keeps the divisor's shape (a (1, 1, 1) divisor of a matrix broadcasts it to rank 3;
#    revision 31 dropped that rank), and the head kernel's prefetch index is 64-bit wherever 32 could
#    overflow (31's bound missed heads of over 65536 steps a strip). The spaces' networks build as in 31.
# 33 (lutnas-cpu) = built for known cores, a depthwise whose input rows each serve several output rows walks
#    its channel vectors outside one band of rows per core (`rules.nhwc.depthwise_bands`).
# 34 (lutnas-cpu) = AVX2: the depthwise under a fused 1x1's tile of 8 pixels takes one vector of channels, not
#    two (`rules.nhwc.fused_depthwise_channels`: 16 accumulators spilled AVX2's 16 registers); AVX-512 and
#    NEON build as in 33 (structural hashes of six networks identical).
# 35 (lutnas-cpu) = AVX2: a depthwise alone tiles 8 pixels x one vector of channels, not 4 x two
#    (`rules.nhwc.depthwise_channel_vectors` reads the target's accumulators); AVX-512 and NEON as in 33.
# 36 / 14 = the PrimFuncs no Relax function calls any more (weight packings FoldConstant ran) are dropped
#    before codegen (`fold.drop_folded_functions`): the same kernels, a smaller library.
# 37 (lutnas-cpu) = a flat 1x1 (and the head kernel's conv) whose dividing register tiles leave FMAs idle
#    computes a GEMM padded to whole tiles (`rules.nhwc.pad_gemm`): on AVX2 49 pixels as 50 in tiles of
#    5 x 2 vectors, not 7 x 1; AVX-512 where 35 vectors of channels gave 7 x 1 (fbnet's 560). NEON
#    builds as in 36 (structural hashes of six networks identical). A 1x1 writing the function's output
#    itself (no bias, no activation) builds channels-last (it raised before).
# 38 (lutnas-cpu) = a 1x1 whose one weight strip is all its channels no longer prefetches it as its "next"
#    strip at every step (`rules.nhwc.prefetches_strips`).
# 39 / 15 = the rules' loop-partition hints take effect: scheduled functions get 32-bit indices before the
#    lowering (`rules.narrow_indices_pass`; TVM's NarrowDataType renamed the hinted loops, so no hint
#    ever reached LoopPartition), which splits padding copies at their borders as their rules meant;
#    and (lutnas-cpu) a fused 5x5 or 7x7 depthwise hints its pixel tiles apart, border and interior, and
#    loops over its window's rows (`rules.nhwc.PARTITION_MIN_WINDOW`).
# 40 (lutnas-cpu) = ... at stride 2 over its window's columns too (`rules.nhwc.UNROLL_STRIDED_COLUMNS`).
# 41 (lutnas-cpu) = a fused 1x1 projects a depthwise tile of 8 pixels in sub-tiles of 4 (or 2) pixels x 2-5
#    vectors where 8 pixels x one vector was load-bound (`rules.nhwc.pointwise_subtile`): AVX2 on 112- and
#    56-pixel rows; AVX-512 on 80- and 40-pixel rows (160 px) into 32 channels; NEON builds as in 40.
# 42 (lutnas-cpu) = AVX2, rows of 28: a fused tile of 14 pixels (the depthwise in two halves of 7) whose 1x1
#    projects 2 pixels x 4-6 vectors instead of 7 x 1 (`rules.nhwc.fused_pixels`); a sub-tile must keep 8 FMA
#    chains in flight (`FMA_LATENCY_CYCLES`). AVX-512 and NEON build as in 41.
# 43 (lutnas-cpu) = a register tile whose re-read weight strip leaves L1 keeps at least as many pixels as
#    vectors (`rules.nhwc._too_wide`; on AVX2 14x14 1x1s into 80 channels take 4 x 2, not 2 x 5). AVX-512
#    and NEON tiles change too where the rule applies (proxyless and ofa-mbv3 at 224 px), unmeasured there.
# 44 (lutnas-cpu) = a banded block's expansion rolled through a ring of the depthwise window's rows, one
#    band per core (`rules.banded.roll_expansion`): no halo computed again, the ring in L2.
# 45 (lutnas-cpu) = the head kernel prefetches its next strip every 8 reduction steps, as many lines a
#    point as the strip's rate needs (`rules.head.PREFETCH_EVERY_STEPS`), not a line at every step.
# 46 (lutnas-cpu) = a banded block's 3x3 depthwise partitions its pixel tiles, border and interior, as 5x5
#    and 7x7 ones did (`rules.banded.BANDED_PARTITION_MIN_WINDOW`); every ISA's banded 3x3 kernels change.
# 47 (lutnas-cpu) = a pooled feature-mix 1x1 (ofa-mbv3's 960 -> 1280) is a matmul that the head's conv and mean
#    join in one kernel where the build knows its cores (`head_classifier.pooled_mix_as_matmul`), else a
#    matmul kernel of its own.
# 48 (lutnas-cpu) = built for one core, a flat 1x1 whose input has more than 8 times its weights' bytes walks
#    pixel tiles outermost, not strips (`rules.nhwc.STRIPS_OUTER_MAX_INPUT_PER_WEIGHT`): ofa-mbv3's 28x28
#    squeeze-excite projections. Every ISA's one-core builds of such convs change.
_REVISIONS = {"lutnas-cpu": 48, "lutnas-cpu-nchw": 15}


def pipeline_revision(name: str) -> int:
    """The revision of what `name` builds (a tuned name follows `lutnas-cpu`)."""
    return _REVISIONS.get(_base(name), 1)


def is_channels_last(name: str) -> bool:
    """Whether `name` runs networks channels-last (NHWC) between their layers."""
    return _base(name) == "lutnas-cpu"


def _base(name: str) -> str:
    return "lutnas-cpu" if name.startswith(TUNED_PREFIX) else name


def build_pipeline(name: str, target: tvm.target.Target, database_dir: str | Path | None = None
                   ) -> tvm.transform.Pass | None:
    """The pass for `name`; a `lutnas-cpu+tuned:<hash>` name needs the database it names."""
    if name.startswith(TUNED_PREFIX):
        if database_dir is None:
            from lutnas.errors import UnknownNameError

            raise UnknownNameError(f"pipeline {name!r} needs its tuning database directory (--tuning-db)")
        return cpu_pipeline(target, database_dir=database_dir)
    return PIPELINES.get(name)(target)


@dataclass(frozen=True)
class RecordedBuild:
    """The build a latency table (or artifact) recorded: target short name, target JSON, pipeline."""

    target_name: str
    target_json: str
    pipeline: str


@dataclass(frozen=True)
class BuildChoice:
    """What a command builds with, and which parts were not given but filled in (and why)."""

    target: TargetSpec
    pipeline: str
    filled: tuple[str, ...] = ()  # phrases: "x86's default pipeline", ...

    def describe(self) -> str:
        """One line for the user: the resolved target and pipeline, and what was defaulted."""
        mcpu = self.target.target_json.get("mcpu")
        cpu = f" -mcpu={mcpu}" if mcpu else ""
        cores = self.target.target_json.get("num-cores")
        threads = f" for {cores} thread(s)" if cores else ""
        how = f" ({'; '.join(self.filled)})" if self.filled else ""
        return f"build: target {self.target.name}{cpu}{threads}, pipeline {self.pipeline}{how}"


def check_pipeline_name(name: str) -> str:
    """`name` if lutnas can build it, else `UnknownNameError` listing the pipelines."""
    if not name.startswith(TUNED_PREFIX):
        PIPELINES.get(name)
    return name


def resolve_build(target_name: str, *, pipeline: str | None = None, mcpu: str | None = None,
                  cuda_arch: str | None = None, runtime: str = "tvm",
                  recorded: RecordedBuild | None = None, threads: int | None = None) -> BuildChoice:
    """The target and pipeline every command builds with, from what the user gave (None: not given).

    Why one function: the default must be the same for `lower`, `profile`, `measure` and `export`, or
    a table would describe another runtime than the artifact it predicts. Unless named, a target
    builds with its `default_pipeline` (x86, arm64: `lutnas-cpu`; cuda: TVM's own), and a pipeline other
    than `tvm-default` on a target that runs here gets this host's `-mcpu` (LLVM's name for it), which
    the rules size their vectors by. A table's `recorded` build, when nothing was named and it is for
    the same target, wins: an old `tvm-default` table keeps predicting what it measured. Runtimes other
    than `tvm` build nothing, so their tables keep TVM's default identity. `threads`, where the command
    knows how many threads the code will run on, goes into a channels-last build's target as
    `num-cores` (its rules order some loops by it: `rules.nhwc.single_core_strips_outer`).
    """
    if recorded is not None and pipeline is None and mcpu is None and recorded.target_name == target_name:
        spec = target_from_json(recorded.target_name, recorded.target_json)
        return BuildChoice(spec, check_pipeline_name(recorded.pipeline), ("the table's recorded build",))
    options = {k: v for k, v in (("arch", cuda_arch), ("mcpu", mcpu)) if v is not None}
    spec = get_target(target_name, **options)
    if runtime != "tvm":
        return BuildChoice(spec, check_pipeline_name(pipeline or DEFAULT_PIPELINE))
    filled = []
    if pipeline is None:
        pipeline = spec.default_pipeline
        filled.append(f"{target_name}'s default pipeline")
    check_pipeline_name(pipeline)
    if mcpu is None and pipeline != DEFAULT_PIPELINE and takes_host_mcpu(spec):
        options.update(host_cpu_options())
        hidden = f" without {', '.join(a[1:] for a in options['mattr'])}, which it lacks" if "mattr" in options else ""
        filled.append(f"-mcpu of this host's CPU, {options['mcpu']}{hidden}")
    if threads is not None and is_channels_last(pipeline) and takes_num_cores(spec):
        options["num_cores"] = int(threads)
    return BuildChoice(get_target(target_name, **options), pipeline, tuple(filled))

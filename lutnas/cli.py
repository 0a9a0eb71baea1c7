"""The `lutnas` command line: composes the stages; nothing imports this module.

Commands stay thin: parse options, call one entry point of a stage, print. Heavy imports happen
inside the commands so `lutnas --help` is instant. A `LutnasError` becomes one line on stderr and
a non-zero exit; anything else is a bug: one line saying so, the traceback in a file, exit 70.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from lutnas.errors import LutnasError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lutnas")
def cli() -> None:
    """Latency lookup tables for hardware-aware NAS, lowered and timed with Apache TVM."""


# Counts, sizes, resolutions and times: 0 or a negative value is a one-line usage error, never "unset".
POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.FloatRange(min=0)
WIDTH = click.FloatRange(min=0, min_open=True, max=8)
# An input file (--arch, --archs, --onnx, --weights, an imported table) must exist: checked while parsing,
# before TVM is imported (~5 s).
INPUT_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


def _write_json(obj: object, out: Path | None) -> None:
    text = json.dumps(obj, indent=2)
    if out is None:
        click.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def _remote_options(f):
    """--rpc / --tracker / --key / --emulated, shared by export, run, profile and measure."""
    f = click.option("--emulated/--native", "emulated", default=None,
                     help="Say whether the device is emulated (default: inferred from the board).")(f)
    f = click.option("--key", default=None, help="Device key the boards registered under (with --tracker).")(f)
    f = click.option("--tracker", default=None, metavar="HOST:PORT", help="TVM RPC tracker of a device farm.")(f)
    f = click.option("--rpc", default=None, metavar="HOST:PORT", help="A TVM RPC server (a board).")(f)
    return f


def _no_wait_option(f):
    """--no-wait, for commands that time: refuse, rather than wait, when another run is timing on the
    device (profiler.timing_lock)."""

    def set_policy(ctx: click.Context, param: click.Parameter, no_wait: bool) -> None:
        from lutnas.profiler.timing_lock import set_wait

        set_wait(not no_wait)

    return click.option("--no-wait", is_flag=True, expose_value=False, callback=set_policy,
                        help="If another run is timing on the device, stop with an error instead of waiting.")(f)


def _target_options(default: str | None = None, table_build: bool = False):
    """--target / --cuda-arch / --mcpu, turned into one `target` (a lowering TargetSpec) argument; with the
    command's --pipeline, resolved by `lowering.pipeline.resolve_build` (x86: lutnas-cpu, host -mcpu; arm64:
    lutnas-cpu) and printed. `table_build`: a --db table's recorded build is the default (export predicts from it)."""

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, target_name, cuda_arch, mcpu, **kwargs):
            from lutnas.lowering.pipeline import resolve_build

            recorded = _recorded_build(kwargs.get("db"), kwargs.get("table_id")) if table_build else None
            runtime = kwargs.get("runtime", "tvm")
            choice = resolve_build(target_name, pipeline=kwargs.get("pipeline"), mcpu=mcpu, cuda_arch=cuda_arch,
                                   runtime=runtime, recorded=recorded, threads=kwargs.get("threads"))
            if "pipeline" in kwargs:
                kwargs["pipeline"] = choice.pipeline
            if runtime == "tvm":
                click.echo(choice.describe(), err=True)
            return f(*args, target=choice.target, **kwargs)

        wrapper = click.option("--mcpu", default=None, help="x86 target: LLVM -mcpu (default: this host's CPU "
                               "for lutnas-cpu pipelines, plain llvm for tvm-default).")(wrapper)
        wrapper = click.option("--cuda-arch", default=None, help="cuda target: GPU arch (default sm_80).")(wrapper)
        # click >= 8.3 takes an explicit default=None as a value, which satisfies required=True: pass none
        fallback = {} if default is None else {"default": default, "show_default": True}
        return click.option("--target", "target_name", required=default is None, **fallback,
                            help="Target name: x86 | arm64 | cuda.")(wrapper)

    return decorate


def _recorded_build(db: Path | None, table_id: str | None):
    """The target and pipeline a TVM table in `db` was built with (None without a db, or for another runtime)."""
    if db is None or not Path(db).exists():
        return None
    from lutnas.latency_tables import open_table
    from lutnas.lowering.pipeline import RecordedBuild

    table = open_table(db, table_id)
    try:
        meta = table.meta
        return RecordedBuild(meta.target_name, meta.target_json, meta.pipeline) if meta.runtime == "tvm" else None
    finally:
        table.close()


PIPELINE_HELP = "Compilation pipeline (default: lutnas-cpu on x86 and arm64, tvm-default on cuda)."


def _warn_if_busy() -> None:
    """Timings taken on a busy machine are inflated uniformly, which no stability check can see: say so."""
    from lutnas.profiler.doctor import run_checks

    for check in run_checks(["load-average"]):
        if check.status == "warn":
            click.echo(f"warning: load average {check.value}: {check.advice} (see `lutnas doctor`)", err=True)


# ---- spaces -------------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.pass_context
def spaces(ctx: click.Context) -> None:
    """List the search spaces (or `spaces show NAME` for one space's layers)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from lutnas.spaces import get_space, space_names

    table = Table(title="search spaces")
    for col in ("name", "description", "layers", "size", "resolution"):
        table.add_column(col)
    for name in space_names():
        s = get_space(name)
        table.add_row(name, s.description, str(s.num_layers), f"{s.size():.3e}", str(s.default_resolution))
    Console().print(table)


@spaces.command("show")
@click.argument("name")
@click.option("--resolution", "-r", type=POSITIVE, default=None, help="Input resolution (default: the space's).")
def spaces_show(name: str, resolution: int | None) -> None:
    """Print a space's searchable layers: stage, input shape and choices in index order."""
    from rich.console import Console
    from rich.table import Table

    from lutnas.spaces import get_space

    space = get_space(name)
    lt = space.layer_table(space.resolve_resolution(resolution))
    table = Table(title=f"{space.name} @ {lt.resolution}: {space.num_layers} layers, {space.size():.3e} archs")
    for col in ("layer", "stage", "input", "choices"):
        table.add_column(col)
    for i in range(space.num_layers):
        _, c, h, w = lt.input_shape(i)
        choices = " ".join(f"{j}:{n}" for j, n in enumerate(lt.choice_names[i]))
        table.add_row(str(i), str(lt.stages[i]), f"{c}x{h}x{w}", choices)
    console = Console()
    console.print(table)
    for block in lt.fixed:
        console.print(f"fixed: {block.key}", highlight=False)


@cli.command("sample")
@click.option("--space", "space_name", required=True, help="Search space name (see `lutnas spaces`).")
@click.option("-n", "count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Archs JSON file to write (default: stdout).")
def sample(space_name: str, count: int, seed: int, output: Path | None) -> None:
    """Sample architectures uniformly from a space, as an archs JSON file."""
    from lutnas.progress import iter_progress
    from lutnas.spaces import dump_archs, sample_archs

    archs = iter_progress(sample_archs(space_name, count, seed), count, f"sampling {space_name}",
                          enabled=count >= 10_000 and sys.stderr.isatty())
    _write_json(dump_archs(space_name, archs), output)


# ---- lowering -----------------------------------------------------------------------------------


@cli.command("lower")
@click.option("--space", "space_name", default=None, help="Search space (default: the archs file's).")
@click.option("--arch", "arch_file", type=INPUT_FILE, required=True,
              help='Archs file: {"space": NAME, "archs": [[...], ...]}.')
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True, help="Which arch of the file.")
@click.option("--resolution", "-r", type=POSITIVE, default=None, help="Input resolution (default: the space's).")
@click.option("--num-classes", type=POSITIVE, default=1000, show_default=True)
@click.option("--width-mult", type=WIDTH, default=1.0, show_default=True)
@_target_options()
@click.option("--pipeline", default=None, help=PIPELINE_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def lower_cmd(space_name, arch_file, index, resolution, num_classes, width_mult, target,
              pipeline, out_dir) -> None:
    """Lower one architecture to ONNX and a TVM library for a target; check numerics vs torch."""
    from lutnas.deploy import lower_arch

    done = lower_arch(arch_file, index, target, out_dir, space=space_name, resolution=resolution,
                      num_classes=num_classes, width_mult=width_mult, pipeline=pipeline)
    art = done.artifact
    click.echo(f"{done.space} arch {index} @ {done.resolution}: {art.onnx_path} -> {art.library_path}")
    click.echo(f"target {target.name} {target.canonical_json()} (hash {target.target_hash()}), "
               f"pipeline {art.pipeline}")
    click.echo(art.numerics.summary)
    art.numerics.raise_if_failed()


# ---- profiling and tables -----------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--fingerprint", "show_fp", is_flag=True, help="Also print this machine's fingerprint.")
def doctor(as_json: bool, show_fp: bool) -> None:
    """Check what on this machine makes latency measurements noisy."""
    from dataclasses import asdict

    from lutnas.profiler.doctor import run_checks

    results = run_checks()
    if as_json:
        out: dict = {"checks": [asdict(r) for r in results]}
        if show_fp:
            from lutnas.profiler.fingerprint import fingerprint

            out["fingerprint"] = fingerprint()
        _write_json(out, None)
        return
    from rich.console import Console
    from rich.table import Table

    colors = {"ok": "green", "warn": "yellow", "skip": "dim"}
    table = Table("check", "status", "value", "advice", title="lutnas doctor")
    for r in results:
        table.add_row(r.name, f"[{colors[r.status]}]{r.status}[/]", r.value, r.advice)
    Console().print(table)
    if show_fp:
        from lutnas.profiler.fingerprint import fingerprint

        _write_json(fingerprint(), None)


@cli.command("profile")
@_no_wait_option
@click.option("--space", "space_name", default=None, help="Search space name (see `lutnas spaces`).")
@click.option("--resolution", "-r", type=POSITIVE, default=None, help="Input resolution (with --space).")
@click.option("--onnx", "onnx_paths", multiple=True, type=INPUT_FILE,
              help="ONNX model(s): per-operator (fused-kernel) tables instead of a search space's blocks.")
@click.option("--cache-mode", type=click.Choice(["in-model", "hot", "flush"]), default=None,
              help="--onnx: how kernels are timed: inside their model's loop on its own buffers (in-model, the "
              "default here and on `lutnas board up` boards), or alone on random tensors, hot or flushed (a stock "
              "TVM RPC server: hot).")
@click.option("--zoo", type=click.IntRange(min=0, max=512), default=0, show_default=True,
              help="--onnx: also profile N small random networks (conv, depthwise, grouped, pooling, shuffle, "
              "gates, MLP/GELU, attention, layer norm, heads) whose kernels only teach the regressor that "
              "predicts kernels the table lacks (~11 s per network here).")
@_target_options(default="x86")
@click.option("--runtime", type=click.Choice(["tvm", "onnxruntime"]), default="tvm", show_default=True)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True, help="SQLite database")
@click.option("--threads", type=POSITIVE, default=1, show_default=True)
@click.option("--pipeline", default=None, help=PIPELINE_HELP)
@click.option("--remeasure", is_flag=True, help="Add a fresh pass for every entry.")
@click.option("--workers", type=POSITIVE, default=2, show_default=True, help="compile workers")
@click.option("--repeats", type=POSITIVE, default=None, help="samples per pass (default 10; --onnx: 5, in three passes)")
@click.option("--min-repeat-ms", type=NON_NEGATIVE, default=None, help="ms per sample (default 20)")
@click.option("--estimator", default="median", show_default=True,
              help="median | min | trimmed_mean | mad_mean | median_of_round_minima (bench/retest.py compares them)")
@click.option("--limit", type=POSITIVE, default=None,
              help="Measure only the first N entries (smoke tests; the table stays incomplete).")
@click.option("--measure-mode", type=click.Choice(["auto", "isolated", "in-network"]), default="auto",
              show_default=True, help="How blocks are timed: alone, or inside covering networks with "
              "onnxruntime's profiler (auto: in-network for onnxruntime, isolated for tvm).")
@click.option("--compile-only", is_flag=True, help="Export and compile every block into the caches "
              "(LUTNAS_CACHE) and stop: copy them to a device that cannot compile, then profile there.")
@click.option("--tune", "tune_trials", type=click.IntRange(min=0), default=None,
              help="MetaSchedule trials per block before profiling (tvm only); builds with lutnas-cpu+tuned.")
@click.option("--tuning-db", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Root of the tuning databases (one per device fingerprint + target; default "
              "$LUTNAS_CACHE/tuning).")
@click.option("--context/--no-context", "context", default=None,
              help="After the blocks, time the space's covering networks whole and keep them with the table, "
              "so its blocks predict in their network's context (plain predict). Default: on for tvm tables "
              "of channels-last blocks (lutnas-cpu), whose blocks alone run faster than inside a network.")
@click.option("--fit-networks", type=click.IntRange(min=0), default=None,
              help="After the blocks, measure N whole networks and store a scale fit of them as the "
              "table's calibration (--calibrated applies it). Default: 0 where the context is measured; "
              "8 for tvm tables of another pipeline than tvm-default built with --no-context.")
@_remote_options
def profile_cmd(space_name, resolution, onnx_paths, cache_mode, zoo, target, runtime, db, threads, pipeline, remeasure,
                workers, repeats, min_repeat_ms, estimator, limit, measure_mode, compile_only, tune_trials, tuning_db,
                context, fit_networks, rpc, tracker, key, emulated) -> None:
    """Measure every unique block of a space (or every fused kernel of --onnx models) into a table (resumable)."""
    if onnx_paths:
        from lutnas.deploy import make_runner
        from lutnas.latency_tables.kernel_commands import profile_onnx

        runner = make_runner(target, rpc, tracker, key, threads, emulated)
        click.echo(profile_onnx(onnx_paths, target, db, threads=threads, pipeline=pipeline, remeasure=remeasure,
                                workers=workers, repeats=repeats, min_repeat_ms=min_repeat_ms, cache_mode=cache_mode,
                                runner=runner, progress=sys.stderr.isatty(), zoo=zoo,
                                before_timing=_warn_if_busy if runner is None else None))
        return
    if zoo:
        raise LutnasError("--zoo profiles kernel tables: give it with --onnx MODEL")
    if space_name is None or resolution is None:
        raise LutnasError("give --space NAME --resolution N, or --onnx MODEL")
    from lutnas.deploy import make_runner
    from lutnas.latency_tables.context import resolve_method
    from lutnas.latency_tables.make import TableRequest, make_table
    from lutnas.latency_tables.settings import ProfileSettings
    from lutnas.lowering.pipeline import DEFAULT_PIPELINE
    from lutnas.profiler.measurement import DEFAULT_MIN_REPEAT_MS, DEFAULT_REPEATS

    settings = ProfileSettings(repeats=repeats or DEFAULT_REPEATS,
                               min_repeat_ms=DEFAULT_MIN_REPEAT_MS if min_repeat_ms is None else min_repeat_ms,
                               estimator=estimator, measure_mode=resolve_method(measure_mode, runtime))
    request = TableRequest(space_name, resolution, target, runtime, db, threads=threads,
                           pipeline=pipeline or DEFAULT_PIPELINE, settings=settings, workers=workers,
                           remeasure=remeasure, limit=limit, compile_only=compile_only, tune_trials=tune_trials,
                           tuning_root=tuning_db, fit_networks=fit_networks, context=context)
    runner = None if compile_only else make_runner(target, rpc, tracker, key, threads, emulated, runtime=runtime)
    if runner is None and not compile_only:
        _warn_if_busy()
    make_table(request, runner, progress=sys.stderr.isatty(), say=click.echo)


@cli.command("predict")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--table", "table_id", default=None, help="table id (needed if the db holds several)")
@click.option("--archs", "archs_file", type=INPUT_FILE, default=None)
@click.option("--onnx", "onnx_paths", multiple=True, type=INPUT_FILE,
              help="ONNX model(s): per-operator (fused-kernel) tables instead of a search space's blocks.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per arch.")
@click.option("--allow-mismatch", is_flag=True, help="Use a table of another space/resolution anyway.")
@click.option("--calibrated", is_flag=True,
              help="Apply the table's stored calibration (profile --fit-networks, validate --calibrate).")
def predict_cmd(db, table_id, archs_file, onnx_paths, as_json, allow_mismatch, calibrated) -> None:
    """Predict the latency of every arch of an archs file (or --onnx model) from a latency table."""
    if onnx_paths:
        from lutnas.latency_tables.kernel_commands import predict_onnx

        click.echo(predict_onnx(db, onnx_paths, table_id, as_json))
        return
    if archs_file is None:
        raise LutnasError("give --archs FILE or --onnx MODEL")
    from lutnas.latency_tables.predict import predict_archs

    rows, mismatch = predict_archs(db, table_id, archs_file, allow_mismatch=allow_mismatch, calibrated=calibrated)
    _note_stored_calibration(db, table_id, calibrated)
    if as_json:
        _write_json(rows, None)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "arch", "latency ms", "95% interval", title=f"{archs_file} on {db}")
    for i, r in enumerate(rows):
        table.add_row(str(i), " ".join(map(str, r["arch"])), f"{r['latency_ms']:.4f}",
                      f"[{r['low_ms']:.4f}, {r['high_ms']:.4f}]")
    Console().print(table)
    for line in mismatch:
        click.echo(f"warning: mismatch allowed: {line}", err=True)


def _note_stored_calibration(db, table_id, calibrated: bool) -> None:
    """A table fitted to whole networks predicts them better with its fit: say so when it is not used."""
    from lutnas.latency_tables.table import unused_calibration_note

    note = None if calibrated else unused_calibration_note(db, table_id)
    if note:
        click.echo(note, err=True)


@cli.group("table")
def table_group() -> None:
    """List, export and import latency tables."""


@table_group.command("list")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True)
def table_list(db, as_json) -> None:
    """The tables of a database with their identity and progress."""
    from lutnas.latency_tables.formats import table_summaries

    rows = table_summaries(db)
    if as_json:
        _write_json(rows, None)
        return
    if not rows:
        click.echo(f"{db}: no table yet (run `lutnas profile`)")
    for r in rows:
        what = (f"{r['space']} @{r['resolution']}" if r["kind"] == "blocks" else f"kernels of {r['models']} model(s)")
        counted = "entries" if r["kind"] == "blocks" else "kernels"
        click.echo(f"{r['id']}  {what} {r['target_name']}/{r['runtime']} threads={r['threads']} {counted} "
                   f"{r['measured']}/{r[counted]} passes {r['passes']} device {r['fingerprint_id']} ({r['cpu_model']})")


@table_group.command("export")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--table", "table_id", default=None)
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "ofa-yaml"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def table_export(db, table_id, fmt, output) -> None:
    """Write a table as self-describing JSON, CSV, or Once-for-All / ProxylessNAS YAML (a kernel table of
    `profile --onnx`: JSON or CSV)."""
    from lutnas.latency_tables.formats import export_table

    info = export_table(db, table_id, fmt, output)
    click.echo(f"wrote {output} ({fmt}, {info})")


@table_group.command("import")
@click.argument("file", type=INPUT_FILE)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--space", "space_name", default=None, help="ofa-yaml: the space its keys belong to")
@click.option("--resolution", "-r", type=POSITIVE, default=None, help="ofa-yaml: the resolution")
@click.option("--target", "target_name", default=None, help="ofa-yaml: the target it was measured for")
@click.option("--runtime", default=None, help="ofa-yaml: the runtime it was measured with")
@click.option("--into", "into", default=None, help="merge into this table (refused unless all metadata match)")
def table_import(file, db, space_name, resolution, target_name, runtime, into) -> None:
    """Load a lutnas JSON export or an OFA / ProxylessNAS YAML lookup table into a database."""
    from lutnas.latency_tables.formats import import_table

    result = import_table(file, db, space=space_name, resolution=resolution, target=target_name, runtime=runtime,
                          into=into)
    click.echo(f"imported table {result.table_id} into {db}: {result.entries} entries, {result.passes} pass(es)")
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} key(s) that map to no block of the space: "
                   f"{', '.join(result.skipped[:5])}{' ...' if len(result.skipped) > 5 else ''}")


@cli.command("measure")
@_no_wait_option
@click.option("--space", "space_name", default=None, help="Search space (default: the archs file's).")
@click.option("--resolution", "-r", type=POSITIVE, default=None, help="Input resolution (with --archs).")
@_target_options(default="x86")
@click.option("--runtime", type=click.Choice(["tvm", "onnxruntime"]), default="tvm", show_default=True)
@click.option("--archs", "archs_file", type=INPUT_FILE, default=None)
@click.option("--onnx", "onnx_paths", multiple=True, type=INPUT_FILE,
              help="ONNX model(s): per-operator (fused-kernel) tables instead of a search space's blocks.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pipeline", default=None, help=PIPELINE_HELP)
@click.option("--workers", type=POSITIVE, default=2, show_default=True, help="compile workers")
@click.option("--rounds", type=POSITIVE, default=15, show_default=True,
              help="Cycles of one sample of every network, interleaved (the spread between the two halves of "
              "the cycles is reported); on a --tracker farm, up to 3 rounds of passes.")
@click.option("--reference/--no-reference", default=True, show_default=True,
              help="Time the space's fixed reference network at every round boundary and give each network "
              "as a ratio to it (ratios repeat on a machine whose speed drifts; absolute latency does not).")
@click.option("--estimator", default="median", show_default=True,
              help="median | min | trimmed_mean | mad_mean | median_of_round_minima")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per arch.")
@_remote_options
def measure_cmd(space_name, resolution, target, runtime, archs_file, onnx_paths, threads, pipeline, workers,
                rounds, reference, estimator, as_json, rpc, tracker, key, emulated) -> None:
    """Compile and time whole networks (or --onnx models) with the profiler's harness, in rounds."""
    if onnx_paths:
        from lutnas.deploy import make_runner
        from lutnas.latency_tables.kernel_commands import measure_onnx

        runner = make_runner(target, rpc, tracker, key, threads, emulated)
        click.echo(measure_onnx(onnx_paths, target, threads=threads, pipeline=pipeline, workers=workers,
                                runner=runner, as_json=as_json, progress=sys.stderr.isatty(),
                                before_timing=_warn_if_busy if runner is None else None))
        return
    if archs_file is None or resolution is None:
        raise LutnasError("give --archs FILE --resolution N, or --onnx MODEL")
    from lutnas.deploy import make_runner
    from lutnas.latency_tables.network_run import measure_networks
    from lutnas.lowering.pipeline import DEFAULT_PIPELINE
    from lutnas.spaces import load_archs

    file_space, archs = load_archs(archs_file, space_name)
    runner = make_runner(target, rpc, tracker, key, threads, emulated, runtime=runtime)
    if runner is None:
        _warn_if_busy()
    run = measure_networks(file_space, archs, resolution, target, runtime, threads=threads, runner=runner,
                           rounds=rounds, reference=reference, estimator=estimator, progress=sys.stderr.isatty(),
                           pipeline=pipeline or DEFAULT_PIPELINE, workers=workers)
    if as_json:
        _write_json(run.rows(), None)
        for line in run.lines():
            click.echo(line, err=True)
        return
    _print_network_run(run, f"{file_space} @ {resolution}px, {runtime}/{target.name}, {threads} thread(s), {estimator}")


def _print_network_run(run, title: str) -> None:
    """`measure`'s table: every network's latency and its ratio to the reference, then what repeated."""
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "arch", "latency ms", "x reference", "samples", "passes", "stable", title=title)
    for i, r in enumerate(run.networks):
        ratio = run.ratio(i)
        table.add_row(str(i), " ".join(map(str, r.arch)), f"{r.latency_ms:.4f}", "-" if ratio is None else f"{ratio:.4f}",
                      str(len(r.samples_ms)), str(len(r.passes)), "no: " + r.verdict.reason if r.unstable else "yes")
    Console().print(table)
    for line in run.lines():
        click.echo(line)


@cli.command("validate")
@_no_wait_option
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--table", "table_id", default=None, help="table id (needed if the db holds several)")
@click.option("--archs", "archs_file", type=INPUT_FILE, default=None,
              help="Archs file to validate on (or -n/--seed to sample).")
@click.option("--onnx", "onnx_paths", multiple=True, type=INPUT_FILE,
              help="ONNX model(s): per-operator (fused-kernel) tables instead of a search space's blocks.")
@click.option("-n", "count", type=click.IntRange(min=1), default=None, help="Sample N archs (with --seed).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Sampling seed (use one never used to build the table).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--calibrate", is_flag=True, help="Fit a linear calibration on a subset, score on the rest, store it.")
@click.option("--fit-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1 / 3, show_default=True, help="Share of archs used to fit.")
@click.option("--allow-mismatch", is_flag=True, help="Validate on another device/setup anyway (recorded).")
@click.option("--tuning-db", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Tuned tables: the database directory (default: the one the table records, or this "
              "device's under $LUTNAS_CACHE/tuning).")
@click.option("--anchors", type=click.IntRange(min=0), default=None,
              help="Table entries or networks re-timed at every round boundary to correct each round of "
              "networks by the device's drift (0: off). Default: up to 12 networks timed whole where the "
              "table has them (covering or fit networks; up to 24 covering networks of an in-network "
              "table), else its 4 slowest block entries.")
@click.option("--rounds", type=POSITIVE, default=15, show_default=True,
              help="Cycles of one sample of every network, the anchors timed between cycles; the spread "
              "between the two halves of the cycles says which accuracy the run supports.")
@click.option("--estimator", default=None, help="Summarise the networks with this estimator (default: the "
              "table's): median | min | trimmed_mean | mad_mean | median_of_round_minima.")
@_remote_options
def validate_cmd(db, table_id, archs_file, onnx_paths, count, seed, out_dir, calibrate, fit_fraction, allow_mismatch,
                 tuning_db, anchors, rounds, estimator, rpc, tracker, key, emulated) -> None:
    """Measure whole networks (or --onnx models), compare with the table's predictions, write report + scatter."""
    from lutnas.deploy import make_runner
    from lutnas.lowering.targets import target_from_json

    if onnx_paths:
        from lutnas.latency_tables.kernel_commands import validate_onnx
        from lutnas.latency_tables.kernel_table import open_kernel_table

        ktable = open_kernel_table(db, table_id)
        meta = ktable.meta
        ktable.ks.store.close()
        runner = make_runner(target_from_json(meta.target_name, meta.target_json), rpc, tracker, key, meta.threads,
                             emulated)
        click.echo(validate_onnx(db, onnx_paths, out_dir, table_id=table_id, allow_mismatch=allow_mismatch,
                                 runner=runner, progress=sys.stderr.isatty(),
                                 before_timing=_warn_if_busy if runner is None else None))
        return
    from lutnas.latency_tables import open_table
    from lutnas.latency_tables.validate import validate, validation_archs

    table = open_table(db, table_id)
    archs = validation_archs(table.meta.space, archs_file, count, seed)
    runner = make_runner(target_from_json(table.meta.target_name, table.meta.target_json), rpc, tracker, key,
                         table.meta.threads, emulated, runtime=table.meta.runtime)
    if runner is None:
        _warn_if_busy()
    report = validate(table, archs, out_dir, runner=runner, calibrate=calibrate, fit_fraction=fit_fraction,
                      allow_mismatch=allow_mismatch, seed=seed or 0, progress=sys.stderr.isatty(),
                      tuning_db=tuning_db, anchors=anchors, rounds=rounds, estimator=estimator)
    if report.mismatched:
        click.echo(f"warning: table used despite mismatch (recorded): {'; '.join(report.mismatched)}", err=True)
    click.echo(report.line())
    _warn_if_drifted(report.drift)
    click.echo(f"wrote {report.paths['report']}, {report.paths['scatter']}")


def _warn_if_drifted(drift, tolerance: float = 0.10) -> None:
    """A table whose anchors moved more than `tolerance` describes another state of the device."""
    if drift is not None and abs(drift.overall - 1.0) > tolerance:
        click.echo(f"warning: the table's anchors now take x{drift.overall:.2f} the time they took when it was "
                   "profiled (the device changed speed): re-profile with `lutnas profile ... --remeasure` on a "
                   "quiet machine, or read the round-corrected line", err=True)


# ---- search -------------------------------------------------------------------------------------


class _SearchNumber(click.ParamType):
    """An int or float option of `search` with bounds (`low`, inclusive unless `strict`; `high` exclusive);
    a bad value is one `error:` line (a LutnasError), not click's usage block."""

    def __init__(self, kind: type, low: float, strict: bool = False, note: str = "", high: float | None = None) -> None:
        self.kind, self.low, self.strict, self.note, self.high = kind, low, strict, note, high
        self.name = kind.__name__

    def convert(self, value, param, ctx):
        import math

        name = param.opts[0] if param is not None else "value"
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            raise LutnasError(f"{name}: {value!r} is not {'an integer' if self.kind is int else 'a number'}") from None
        too_low = number < self.low or (self.strict and number == self.low)
        if not math.isfinite(number) or too_low or (self.high is not None and number >= self.high):
            rule = f"{'>' if self.strict else '>='} {self.low:g}" + (f" and < {self.high:g}" if self.high else "")
            finite = "a finite number " if self.kind is float else ""
            raise LutnasError(f"{name} must be {finite}{rule}{self.note}, got {value}")
        return number


@cli.command("search")
@click.option("--db", type=click.Path(path_type=Path), required=True, help="latency table database")
@click.option("--table", "table_id", default=None, help="table id (needed if the db holds several)")
@click.option("--strategy", required=True, help="fbnet | proxyless | evolution")
@click.option("--latency-ms", type=_SearchNumber(float, 0, strict=True), required=True,
              help="latency target (dnas) / budget (evolution)")
@click.option("--data", "data_source", default="digits", show_default=True,
              help="'digits' (built in), an .npz with x/y, or an ImageFolder directory (streamed)")
@click.option("--val-fraction", type=_SearchNumber(float, 0, strict=True, high=1), default=0.2, show_default=True,
              help="held-out share: architecture steps and accuracy estimates (FBNet's 80/20)")
@click.option("--max-samples", type=_SearchNumber(int, 4), default=None, help="use at most N images of the data")
@click.option("--workers", type=_SearchNumber(int, 0), default=4, show_default=True,
              help="DataLoader processes decoding an image folder")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when torch sees one) | cpu | cuda[:N]")
@click.option("--amp/--no-amp", default=None, help="mixed precision (default: on for CUDA)")
@click.option("--epochs", type=_SearchNumber(int, 1), default=10, show_default=True)
@click.option("--warmup-epochs", type=_SearchNumber(int, 0), default=None,
              help="weight-only epochs first, part of --epochs (default: fbnet 10/90, proxyless 40/160 of them)")
@click.option("--arch-every", type=_SearchNumber(int, 1), default=None,
              help="proxyless: an architecture step after every N weight steps (default 5)")
@click.option("--lr-weights", type=_SearchNumber(float, 0, strict=True), default=None,
              help="supernet SGD rate (default: the paper's, scaled linearly to --batch-size)")
@click.option("--lr-arch", type=_SearchNumber(float, 0, strict=True), default=None,
              help="architecture Adam rate (default: fbnet 0.01, proxyless 1e-3)")
@click.option("--seed", type=_SearchNumber(int, 0), default=0, show_default=True)
@click.option("--proxy", default="naswot", show_default=True, help="evolution: naswot | synflow | supernet")
@click.option("--population", type=_SearchNumber(int, 2), default=32, show_default=True)
@click.option("--generations", type=_SearchNumber(int, 1), default=20, show_default=True)
@click.option("--latency-loss", default=None, help="fbnet | mul#log | add#linear | none (strategy default)")
@click.option("--train-resolution", type=_SearchNumber(int, 8), default=32, show_default=True,
              help="supernet / proxy input size (the LUT keeps the table's resolution)")
@click.option("--width-mult", type=_SearchNumber(float, 0, strict=True), default=0.25, show_default=True,
              help="supernet width")
@click.option("--batch-size", type=_SearchNumber(int, 2, note=" (train-mode BatchNorm needs two images)"), default=64,
              show_default=True)
@click.option("--batches-per-epoch", type=_SearchNumber(int, 1), default=None)
@click.option("--calibrated", is_flag=True,
              help="Search with the table's stored calibration (profile --fit-networks, validate --calibrate; e.g. "
              "for lutnas-cpu tables, whose blocks alone run faster than inside a network).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def search_cmd(db, table_id, strategy, latency_ms, data_source, val_fraction, max_samples, workers, device, amp,
               epochs, warmup_epochs, arch_every, lr_weights, lr_arch, seed, proxy, population, generations, latency_loss,
               train_resolution, width_mult, batch_size, batches_per_epoch, calibrated, out_dir) -> None:
    """Search an architecture against a latency table (FBNet, ProxylessNAS or NSGA-II)."""
    from lutnas.search.base import STRATEGIES, SearchOptions, resolve_device
    from lutnas.search.data import load_data
    from lutnas.search.proxies import PROXIES
    from lutnas.search.runner import run_search

    STRATEGIES.get(strategy)
    PROXIES.get(proxy)
    if warmup_epochs is not None and warmup_epochs >= epochs:
        raise LutnasError(f"--warmup-epochs {warmup_epochs} leaves none of --epochs {epochs} for the architecture")
    torch_device = resolve_device(device)
    from lutnas.latency_tables import open_table
    from lutnas.spaces import get_space

    table = open_table(db, table_id)
    space = get_space(table.meta.space)
    options = SearchOptions(latency_ms=latency_ms, epochs=epochs, seed=seed, proxy=proxy, population=population,
                            generations=generations, latency_loss=latency_loss, width_mult=width_mult,
                            batch_size=batch_size, batches_per_epoch=batches_per_epoch, warmup_epochs=warmup_epochs,
                            arch_every=arch_every, lr_weights=lr_weights, lr_arch=lr_arch, device=str(torch_device),
                            amp=amp)
    data = load_data(data_source, train_resolution, val_fraction, max_samples, workers,
                     pin_memory=torch_device.type == "cuda")
    _note_stored_calibration(db, table_id, calibrated)
    result = run_search(strategy, table.dense(calibrated=calibrated), space, data, options, out_dir)
    names = [space.choice_names(layer)[c] for layer, c in enumerate(result.arch)]
    click.echo(f"{strategy} on {space.name} @ {table.meta.resolution}px, target {latency_ms:g} ms, {torch_device}")
    click.echo(f"arch: {list(result.arch)}")
    click.echo(f"choices: {' '.join(names)}")
    click.echo(f"predicted latency: {result.latency_ms:.3f} ms  [{result.low_ms:.3f}, {result.high_ms:.3f}]")
    click.echo(f"wrote {', '.join(str(p) for p in result.artifacts.values())}")

# ---- export, run and boards ---------------------------------------------------------------------


@cli.command("export")
@_no_wait_option
@click.option("--space", "space_name", default=None, help="Search space (default: the archs file's).")
@click.option("--arch", "arch_file", type=INPUT_FILE, required=True,
              help='Archs file: {"space": NAME, "archs": [[...], ...]}.')
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True, help="Which arch of the file.")
@click.option("--weights", type=INPUT_FILE, default=None,
              help="weights.safetensors written by `lutnas search` (the chosen supernet path).")
@_target_options(table_build=True)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Latency table db: record the table's prediction for this arch (and build as the table "
              "was, unless --pipeline / --mcpu say otherwise).")
@click.option("--table", "table_id", default=None, help="Table id in --db (default: the only one).")
@click.option("--calibrated", is_flag=True, help="Predict with the table's stored calibration (profile --fit-networks, validate --calibrate).")
@click.option("--allow-mismatch", is_flag=True, help="Use a table made for another setup (recorded).")
@click.option("--resolution", "-r", type=POSITIVE, default=None, help="Input resolution (default: the space's).")
@click.option("--num-classes", type=POSITIVE, default=None, help="Classes (default 1000, or read from --weights).")
@click.option("--width-mult", type=WIDTH, default=None, help="Width (default 1.0, or found from --weights).")
@click.option("--pipeline", default=None, help=PIPELINE_HELP)
@click.option("--threads", type=POSITIVE, default=1, show_default=True, help="Runtime threads when measuring.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--tune", "tune_trials", type=click.IntRange(min=0), default=None,
              help="MetaSchedule trials for the network (reuses what `profile --tune` tuned); "
              "builds with lutnas-cpu+tuned.")
@click.option("--tuning-db", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Root of the tuning databases (default $LUTNAS_CACHE/tuning).")
@click.option("--anchors", type=click.IntRange(min=0), default=None,
              help="With --db: the table's drift anchors timed around the artifact to give its latency at "
              "the table's profiling speed (default: as validate; 0: off). Anchors validate has not built "
              "are compiled first.")
@_remote_options
def export_cmd(space_name, arch_file, index, weights, target, db, table_id, calibrated, allow_mismatch,
               resolution, num_classes, width_mult, pipeline, threads, out_dir, tune_trials, tuning_db, anchors,
               rpc, tracker, key, emulated) -> None:
    """Export a deployable artifact: ONNX, compiled library, reference pair, sha256 manifest, latencies."""
    from lutnas.deploy import ExportRequest, export_arch, make_runner
    from lutnas.errors import NumericsError

    request = ExportRequest(arch_file, target, out_dir, index=index, space=space_name, weights=weights, db=db,
                            table_id=table_id, calibrated=calibrated, allow_mismatch=allow_mismatch,
                            resolution=resolution, num_classes=num_classes, width_mult=width_mult,
                            pipeline=pipeline, threads=threads, tune_trials=tune_trials, tuning_root=tuning_db,
                            anchors=anchors)
    runner = make_runner(target, rpc, tracker, key, threads, emulated)
    done = export_arch(request, runner, progress=sys.stderr.isatty(), say=click.echo)
    if done.run is None:
        click.echo(f"measured: not measured here ({done.not_measured})")
        return
    _echo_run(done.run)
    if not done.run.check.ok:
        raise NumericsError(f"{out_dir}: on {done.run.where}: {done.run.check.summary()}")
    if done.anchored is not None:   # only timed where the manifest has the table's prediction
        click.echo(done.anchored.line(done.manifest["predicted"]["latency_ms"]))
    elif done.not_anchored:
        click.echo(f"not timed at the table's profiling speed: {done.not_anchored}")


def _echo_run(report) -> None:
    emu = " [EMULATED: not an ARM latency]" if report.fingerprint.get("emulated") else ""
    click.echo(f"{report.where}: {report.check.summary()}")
    v = report.result.verdict
    state = "stable" if v.stable else f"unstable: {v.reason}"
    click.echo(f"measured: {report.latency_ms:.4f} ms median over {len(report.result.passes)} pass(es), "
               f"{state}{emu}")


@cli.command("run")
@_no_wait_option
@click.argument("art_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--threads", type=POSITIVE, default=1, show_default=True)
@click.option("--repeats", type=POSITIVE, default=None, help="Samples per pass (default: the profiler's).")
@click.option("--min-repeat-ms", type=NON_NEGATIVE, default=None, help="Minimum ms per sample (default: the profiler's).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Latency table db: its prediction for the artifact's network, and the artifact timed at "
              "the table's profiling speed with its drift anchors (the table's error today).")
@click.option("--table", "table_id", default=None, help="Table id in --db (default: the only one).")
@click.option("--anchors", type=click.IntRange(min=0), default=None,
              help="With --db: how many drift anchors (default: as validate; 0: prediction only).")
@_remote_options
def run_cmd(art_dir, threads, repeats, min_repeat_ms, as_json, db, table_id, anchors, rpc, tracker, key,
            emulated) -> None:
    """Verify an artifact's sha256 manifest, run it against its reference output, and time it."""
    from lutnas.deploy import make_runner
    from lutnas.errors import NumericsError
    from lutnas.lowering.artifact import verify_artifact
    from lutnas.profiler.deploy import run_artifact, target_from_manifest
    from lutnas.profiler.workers import hide_torch

    if db is None:
        hide_torch()         # an artifact runs without torch (as on a device that has none); a table's anchors need it
    manifest = verify_artifact(art_dir)
    runner = make_runner(target_from_manifest(manifest), rpc, tracker, key, threads, emulated)
    report = run_artifact(art_dir, runner, threads, repeats=repeats, min_repeat_ms=min_repeat_ms, strict=False)
    if not as_json:   # printed first: a table that cannot be used then loses none of it
        click.echo(f"{art_dir}: sha256 of {len(manifest['files'])} files verified; "
                   f"{manifest.get('space')} arch for {manifest['target']['name']}")
        _echo_run(report)
    checked = None
    if db is not None and report.check.ok:
        from lutnas.deploy import check_against_table

        try:
            checked = check_against_table(art_dir, db, table_id, runner, threads=threads, anchors=anchors,
                                          progress=sys.stderr.isatty())
        except LutnasError:
            if as_json:
                _write_json(report.to_dict(), None)
            raise
    if as_json:
        _write_json({**report.to_dict(), **({"table": checked.to_dict()} if checked else {})}, None)
    elif checked is not None:
        p = checked.predicted
        click.echo(f"predicted: {p['latency_ms']:.3f} ms [{p['low_ms']:.3f}, {p['high_ms']:.3f}] (table {p['table']})")
        click.echo(checked.anchored.line(p["latency_ms"]) if checked.anchored
                   else f"not timed at the table's profiling speed: {checked.not_anchored}")
    if not report.check.ok:
        raise NumericsError(f"{art_dir}: {report.check.summary()}")


@cli.group("board")
def board() -> None:
    """Boards on this machine: an emulated aarch64 board, local x86 RPC servers, TVM's tracker."""


@board.command("build")
@click.argument("kind", type=click.Choice(["arm64"]))
def board_build(kind: str) -> None:
    """Build (once; cached) the emulated arm64 board's rootfs."""
    from lutnas.profiler.boards import build_arm64, rootfs_dir

    info = build_arm64(progress=lambda msg: click.echo(f"board: {msg}"))
    what = f"built in {info['seconds']:.0f} s" if info["built"] else "already built (cached)"
    click.echo(f"arm64 board {what}: {rootfs_dir()} ({info['bytes'] / 1e9:.2f} GB)")


@board.command("up")
@click.argument("kind", type=click.Choice(["arm64", "x86", "tracker"]))
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 9090; 9190 for the tracker).")
@click.option("-n", "count", type=click.IntRange(1, 16), default=1, show_default=True,
              help="How many servers (ports PORT, PORT+2, ...).")
@click.option("--tracker", default=None, metavar="HOST:PORT", help="Register with this TVM RPC tracker.")
@click.option("--key", default=None, help="Device key to register under (with --tracker).")
@click.option("--threads", type=POSITIVE, default=1, show_default=True, help="TVM_NUM_THREADS of the server.")
def board_up(kind, port, count, tracker, key, threads) -> None:
    """Start boards on 127.0.0.1 (TVM's RPC server; arm64 runs in the emulated chroot)."""
    from lutnas.profiler import boards

    if kind == "tracker":
        state = boards.start_tracker(port or 9190)
        click.echo(f"tracker up at {state.address()} (pid {state.pid}); register boards with "
                   f"--tracker {state.address()} --key KEY")
        return
    base = port or 9090
    for state in boards.start_boards(kind, [base + 2 * i for i in range(count)], tracker, key, threads):
        reg = f", registered with {tracker} as {key!r}" if tracker else ""
        emu = " (EMULATED aarch64 under qemu-user: timings are not ARM latencies)" if state.emulated else ""
        click.echo(f"{state.name} up at {state.address()}{reg}{emu}")


@board.command("down")
@click.argument("names", nargs=-1)
def board_down(names) -> None:
    """Stop boards (all of them when no NAME is given) and unmount the arm64 chroot."""
    from lutnas.profiler import boards

    stopped = [n for n in names if boards.stop_board(n) is not None] if names else boards.stop_all()
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@board.command("status")
@click.option("--json", "as_json", is_flag=True)
def board_status(as_json: bool) -> None:
    """List the boards started here and whether they are alive."""
    from lutnas.profiler import boards

    rows = boards.board_status()
    ready, why = boards.arm64_ready()
    if as_json:
        _write_json({"boards": rows, "arm64_built": ready, "arm64_note": why}, None)
        return
    click.echo(f"arm64 rootfs: {'built' if ready else why}")
    for r in rows:
        state = "up" if r["alive"] and r["listening"] else "DOWN"
        reg = f" tracker {r['tracker']} key {r['key']}" if r["tracker"] else ""
        click.echo(f"{r['name']:<16} {r['host']}:{r['port']:<6} {state}{reg}{' emulated' if r['emulated'] else ''}")


def spread_values(argv: list[str], option: str = "--onnx") -> list[str]:
    """`--onnx A.onnx B.onnx` -> `--onnx A.onnx --onnx B.onnx` (click options take one value each;
    the commands with --onnx have no positional arguments, so every bare word after it is a model)."""
    out: list[str] = []
    values = -1                      # values taken by the current --onnx; -1: not inside one
    for word in [*argv, None]:
        if values >= 0 and word is not None and not word.startswith("-"):
            out += [option, word]
            values += 1
            continue
        if values == 0:              # --onnx without a value: left for click to refuse
            out.append(option)
        values = 0 if word == option else -1
        if word is not None and values < 0:
            out.append(word)
    return out


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=spread_values(sys.argv[1:] if argv is None else list(argv)), standalone_mode=False)
    except LutnasError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.UsageError as err:
        _usage_error(err)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; measured data is kept, re-run to resume", err=True)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 -- anything else is a bug in lutnas: say so, keep the traceback
        click.echo(_report_bug(err, sys.argv[1:] if argv is None else argv), err=True)
        sys.exit(INTERNAL_ERROR_EXIT)


def _usage_error(err: click.UsageError) -> None:
    """A bad option is one line like every other error (help on request: `-h`)."""
    if isinstance(err, click.exceptions.NoArgsIsHelpError):
        err.show()
    else:
        where = f" (see `{err.ctx.command_path} -h`)" if err.ctx is not None else ""
        click.echo(f"error: {err.format_message()}{where}", err=True)
    sys.exit(err.exit_code)


INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE (sysexits.h): an internal software error


def _report_bug(err: Exception, argv: list[str]) -> str:
    """The one line an unexpected exception becomes; its traceback goes to a file (or, with
    LUTNAS_DEBUG=1, to stderr), so a user can report it without rerunning."""
    import os
    import tempfile
    import time
    import traceback

    text = "".join(traceback.format_exception(err))
    first = (str(err).strip().splitlines() or [""])[0][:200]
    head = f"internal error: {type(err).__name__}: {first} -- this is a bug in lutnas; please report it"
    if os.environ.get("LUTNAS_DEBUG") == "1":
        click.echo(text, err=True, nl=False)
        return f"{head} with the traceback above"
    try:
        fd, path = tempfile.mkstemp(prefix=f"lutnas-traceback-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(f"lutnas {' '.join(argv)}\n{text}")
    except OSError:
        return f"{head} (rerun with LUTNAS_DEBUG=1 for the traceback)"
    return f"{head} with the traceback in {path}"


if __name__ == "__main__":
    main()

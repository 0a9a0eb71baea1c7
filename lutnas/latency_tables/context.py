"""Block latencies measured in context: inside whole networks, with the runtime's own profiler.

Why blocks timed alone mispredict whole networks on onnxruntime (measured; see docs/architecture.md):
1. every standalone call pays the session's per-call cost (feeds, output allocation, executor
   start), which a network pays once, not once per block;
2. onnxruntime's NCHWc layout transformer (graph optimization level ALL, x86) wraps a standalone
   block in ReorderInput / ReorderOutput nodes; inside a network activations stay in NCHWc between
   blocks, so those reorders do not exist there;
3. a block alone runs with its weights hot in cache; inside a network whose weights exceed the
   last-level cache, every block's weights come from DRAM.
(1) and (2) over-predict, (3) under-predicts; their balance depends on the resolution and the
machine's cache sizes, so no constant correction fixes them. Measuring each block where it really
runs does: the "in-network" method profiles a few covering networks (every layer x choice appears
in at least `rounds` of them, placed Latin-square style so neighbours vary) with onnxruntime's
profiler, attributes each node's time to its block by the node name's `/<i>/` prefix (the
`nn.Sequential` index of `space.build`, which equals the index in `space.blocks()`), and keeps the
network's measured latency as the total: the profiler's fixed cost per node is taken off every
node (measured on this machine, `node_cost`), then each block's time is scaled by (measured latency
/ block sum) of its network, which spreads the session call and the glue nodes (layout reorders,
the final ReorderOutput) over the blocks, so a profiled network's blocks add up to its measured
latency. nn-Meter (MobiSys 2021) reaches the same
conclusion for fused kernels: predict the units the runtime actually executes, in the graph it
actually runs.

TVM's Relax VM has no per-kernel profiler in 0.27, so tables for the tvm runtime time blocks alone
("isolated") and measure their network context separately (`network_context`: covering networks
timed whole, interleaved with the blocks).
"""

from __future__ import annotations

import itertools
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutnas.errors import ArchError, LutnasError
from lutnas.latency_tables.footprint import ATTACHMENT as FOOTPRINT_ATTACHMENT
from lutnas.latency_tables.footprint import FOOTPRINT_ARCHS, cell_mb, footprint_archs, weight_mb
from lutnas.profiler.harness import settled_sample_ms
from lutnas.profiler.measurement import Measurement

if TYPE_CHECKING:
    import onnxruntime as ort

    from lutnas.latency_tables.settings import ProfileResult, ProfileSettings
    from lutnas.latency_tables.store import Store
    from lutnas.profiler.runners import Runner
    from lutnas.profiler.stability import StabilityPolicy
    from lutnas.spaces import SearchSpace

METHODS = ("isolated", "in-network")
DEFAULT_METHOD = "isolated"
_BLOCK_PREFIX = re.compile(r"^/(\d+)/")


def check_method(method: str, runtime: str) -> str:
    if method not in METHODS:
        raise LutnasError(f"unknown block-measurement method {method!r}; valid: {', '.join(METHODS)}")
    if method == "in-network" and runtime != "onnxruntime":
        raise LutnasError("method 'in-network' needs a runtime with a per-node profiler: onnxruntime only "
                          "(TVM 0.27's Relax VM has none); use method 'isolated' for tvm")
    return method


def default_method(runtime: str) -> str:
    return "in-network" if runtime == "onnxruntime" else "isolated"


def resolve_method(method: str, runtime: str) -> str:
    """`method` checked for `runtime`; "auto" is the runtime's default (`default_method`)."""
    return check_method(default_method(runtime) if method == "auto" else method, runtime)


# -- which networks to profile ------------------------------------------------------------------------
def covering_archs(space: SearchSpace, rounds: int = 2, seed: int = 0, max_tries: int = 2000) -> list[tuple[int, ...]]:
    """Archs in which every non-skip (layer, choice) appears at least `rounds` times.

    Each round is a Latin square: network c uses choice perm_l[c mod n_l] at layer l, with a fresh
    random permutation per layer, so each cell appears once per round next to varying neighbours.
    Rows the space rejects (e.g. OFA's depth rule) are repaired greedily from `space.sample`.
    """
    rng = np.random.default_rng(seed)
    num_layers = space.num_layers
    counts = [len(space.choice_names(layer)) for layer in range(num_layers)]
    skip = [{c for c, n in enumerate(space.choice_names(layer)) if _is_skip(space, layer, c)}
            for layer in range(num_layers)]
    need = {(layer, c): rounds for layer in range(num_layers) for c in range(counts[layer]) if c not in skip[layer]}
    archs: list[tuple[int, ...]] = []
    for _ in range(rounds):
        perms = [rng.permutation(n) for n in counts]
        for col in range(max(counts)):
            arch = tuple(int(perms[layer][col % counts[layer]]) for layer in range(num_layers))
            try:
                arch = space.validate(arch)
            except ArchError:
                continue
            _take(arch, need, archs)
    tries = 0
    while any(v > 0 for v in need.values()):
        tries += 1
        if tries > max_tries:
            missing = [k for k, v in need.items() if v > 0][:3]
            raise LutnasError(f"{space.name}: could not cover layer/choice cells {missing} with valid archs")
        candidates = [space.sample(rng) for _ in range(32)]
        best = max(candidates, key=lambda a: sum(need.get((layer, c), 0) > 0 for layer, c in enumerate(a)))
        if any(need.get((layer, c), 0) > 0 for layer, c in enumerate(best)):
            _take(best, need, archs)
    return archs


def profiled_archs(space: SearchSpace, cells_mb: np.ndarray, rounds: int, seed: int) -> list[tuple[int, ...]]:
    """A table's context networks: the covering ones, then the footprint networks
    (`footprint.footprint_archs` over `cells_mb`, the weights of each layer x choice) not among them."""
    archs = [tuple(int(c) for c in a) for a in covering_archs(space, rounds, seed)]
    return archs + [a for a in footprint_archs(space, cells_mb, FOOTPRINT_ARCHS, seed) if a not in archs]


def _is_skip(space: SearchSpace, layer: int, choice: int) -> bool:
    return space.layers[layer].choices[choice].is_skip


def _take(arch: tuple[int, ...], need: dict[tuple[int, int], int], archs: list[tuple[int, ...]]) -> None:
    archs.append(arch)
    for layer, c in enumerate(arch):
        if (layer, c) in need:
            need[(layer, c)] -= 1


# -- profiling networks -----------------------------------------------------------------------------
@dataclass
class NetworkProfile:
    """In-network time of each block of one network, in harness-shaped samples.

    Like the harness, a sample is the mean over a group of consecutive calls lasting at least
    `min_repeat_ms`, so preemption on a shared machine lands in blocks in proportion to their time,
    exactly as it lands in a whole network's samples (a per-call median would drop it from short
    blocks and not from networks).
    """

    arch: tuple[int, ...]
    block_keys: list[str]
    block_ms: np.ndarray          # [groups, blocks] mean node time of each block over a group of calls
    plain_ms: np.ndarray          # [groups] mean unprofiled call time over the same group
    calls_per_group: int
    started_at: float
    glue_nodes: list[str] = field(default_factory=list)
    ended_at: float = 0.0
    block_nodes: np.ndarray | None = None   # [blocks] onnxruntime nodes of each block in one run
    node_cost_ms: float = 0.0     # the profiler's cost per node (`node_cost`), taken off every node

    @property
    def profiled_ms(self) -> np.ndarray:
        """[groups, blocks] node time less the profiler's per-node cost (floored at a tenth of the
        profiled time, so no block reads zero or negative)."""
        if self.block_nodes is None or self.node_cost_ms == 0.0:
            return self.block_ms
        return np.maximum(self.block_ms - self.node_cost_ms * self.block_nodes, 0.1 * self.block_ms)

    @property
    def scale(self) -> float:
        """Median unprofiled call time over the sum of the blocks' median (profiler-cost-free) times.

        The session call and glue nodes (the final ReorderOutput) belong to no block, and on a shared
        machine preemptions land in a few blocks of a few groups, which per-block medians drop while
        a network's median keeps them. Scaling every block by this one ratio spreads what is left
        over the blocks in proportion to their time, so the medians of a profiled network's blocks
        add up to its unprofiled median latency (the table's default estimator). Unprofiled and
        profiled calls alternate, so drift cancels.
        """
        return float(self.latency_ms / np.median(self.profiled_ms, axis=0).sum())

    @property
    def latency_ms(self) -> float:
        """The network's median unprofiled latency: what `validate` re-times as an anchor."""
        return float(np.median(self.plain_ms))

    def block_samples_ms(self, i: int) -> list[float]:
        scale = self.scale
        return [max(float(v) * scale, 1e-6) for v in self.profiled_ms[:, i]]


def parse_profile(events: list[dict[str, Any]], num_blocks: int,
                  skip_runs: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """onnxruntime profile events -> [runs, blocks] node time (ms) per block, [blocks] nodes per
    block in one run (the most any kept run recorded), and glue node names.

    Runs are delimited by the Session "model_run" events; a node belongs to the run whose span holds
    its start. The first `skip_runs` runs (warm-up) are dropped. Glue nodes (layout reorders between
    blocks, named by the optimizer) belong to no block: `NetworkProfile.scale` spreads them. (Charging
    each to the block it precedes or follows was tried, 2026-12-04: no better on held-out archs.)
    """
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    nodes = sorted((e["ts"], e["dur"], e["name"]) for e in events if e.get("cat") == "Node")
    out = np.zeros((len(runs), num_blocks))
    counts = np.zeros((len(runs), num_blocks))
    glue: set[str] = set()
    r = 0
    for ts, dur, name in nodes:
        while r < len(runs) and ts > runs[r][1]:
            r += 1
        if r >= len(runs) or ts < runs[r][0]:
            continue
        m = _BLOCK_PREFIX.match(name)
        if m is None or int(m.group(1)) >= num_blocks:
            glue.add(name)
            continue
        out[r, int(m.group(1))] += dur * 1e-3
        counts[r, int(m.group(1))] += 1
    kept = counts[skip_runs:]
    return out[skip_runs:], kept.max(axis=0) if len(kept) else np.zeros(num_blocks), sorted(glue)


@dataclass
class _ProfiledNetwork:
    """One network under profiling: an unprofiled and a profiling session on the same file."""

    path: Path
    plain: ort.InferenceSession
    prof: ort.InferenceSession
    feeds: dict[str, np.ndarray]
    group: int = 1

    def warm(self, warmup: int, min_repeat_ms: float) -> None:
        """`warmup` calls of each session, then the group size: calls lasting >= `min_repeat_ms`."""
        for _ in range(warmup):
            self.plain.run(None, self.feeds)
            self.prof.run(None, self.feeds)
        t0 = time.perf_counter()
        self.plain.run(None, self.feeds)
        self.group = max(1, int(np.ceil(min_repeat_ms / max((time.perf_counter() - t0) * 1e3, 1e-3))))

    def cycle(self) -> float:
        """One sample of unprofiled calls (mean ms per call, taken as `measure` and `validate` take
        theirs: `harness.settled_sample_ms`), then one group of profiled calls."""
        ms = settled_sample_ms(lambda: self.plain.run(None, self.feeds), self.group)
        for _ in range(self.group + 1):   # the first settles the caches, as above; `block_groups` drops it
            self.prof.run(None, self.feeds)
        return ms

    def block_groups(self, num_blocks: int, warmup: int, repeats: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """[repeats, blocks] mean node time per group, [blocks] nodes per block, and the glue nodes;
        the trace file is removed."""
        from lutnas.lowering.ort import profile_events

        block_ms, nodes, glue = parse_profile(profile_events(self.prof), num_blocks, warmup)
        runs = (self.group + 1) * repeats
        if block_ms.shape[0] != runs:
            raise LutnasError(f"{self.path}: onnxruntime's profile holds {block_ms.shape[0]} runs, expected {runs}")
        return block_ms.reshape(repeats, self.group + 1, -1)[:, 1:].mean(axis=1), nodes, glue


def _open_profiled(onnx_path: Path, threads: int, input_name: str, work_dir: Path | None) -> _ProfiledNetwork:
    from lutnas.lowering.ort import ort_session

    plain = ort_session(onnx_path, threads)
    prefix = (work_dir or onnx_path.parent) / f"ortprof_{onnx_path.stem}_{time.time_ns()}"
    prof = ort_session(onnx_path, threads, profile_prefix=prefix)
    shape = tuple(int(d) for d in plain.get_inputs()[0].shape)
    feeds = {input_name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    return _ProfiledNetwork(onnx_path, plain, prof, feeds)


def profile_networks(onnx_paths: Sequence[Path], archs: Sequence[tuple[int, ...]], block_keys: Sequence[Sequence[str]],
                     *, threads: int = 1, repeats: int = 10, min_repeat_ms: float = 20.0, warmup: int = 3,
                     input_name: str = "input", work_dir: Path | None = None,
                     on_cycle: Callable[[int], None] | None = None,
                     node_cost_ms: float | None = None) -> list[NetworkProfile]:
    """Profile several networks in `repeats` interleaved cycles: each cycle times one group of
    unprofiled calls and runs one group of profiled calls of every network in turn (order rotated).

    This VM's speed moves by 20-40% in phases of seconds (docs/measurements/in-network-2026-12-03.md);
    profiled one after another, each network caught one phase, so its blocks and its latency carried
    it: the slowest covering networks of an ofa-mbv3 table read x0.70-0.79 when re-profiled a minute
    later. Interleaved, every network's samples span the same phases. Groups of back-to-back calls
    keep the cache state of the harness's loops, and alternating unprofiled with profiled groups keeps
    drift out of the ratio between them. `on_cycle(k)` runs after cycle k (progress). The
    profiler's cost per node is taken off every node (`NetworkProfile.profiled_ms`): `node_cost_ms`,
    or measured here first (`node_cost.measure_node_cost`) when None.
    """
    from lutnas.latency_tables.node_cost import measure_node_cost
    from lutnas.profiler.timing_lock import LOCAL, timing_lock

    nets = [_open_profiled(Path(p), threads, input_name, work_dir) for p in onnx_paths]
    plain_ms = np.empty((len(nets), repeats))
    with timing_lock(LOCAL):  # no other run times on this machine meanwhile
        started = time.time()
        if node_cost_ms is None:
            node_cost_ms = measure_node_cost(work_dir or Path(onnx_paths[0]).parent, threads).cost_ms
        for net in nets:
            net.warm(warmup, min_repeat_ms)
        for cycle in range(repeats):
            for k in range(len(nets)):
                i = (k + cycle) % len(nets)
                plain_ms[i, cycle] = nets[i].cycle()
            if on_cycle is not None:
                on_cycle(cycle + 1)
        ended = time.time()
    out = []
    for net, arch, keys, plain in zip(nets, archs, block_keys, plain_ms):
        block_ms, nodes, glue = net.block_groups(len(keys), warmup, repeats)
        out.append(NetworkProfile(tuple(arch), list(keys), block_ms, plain, net.group, started, glue, ended, nodes,
                                  node_cost_ms))
    return out


def profile_network(onnx_path: Path, arch: tuple[int, ...], block_keys: Sequence[str], **kwargs: Any) -> NetworkProfile:
    """`profile_networks` of one network (same keyword options)."""
    return profile_networks([onnx_path], [arch], [block_keys], **kwargs)[0]


# -- a whole in-network table ---------------------------------------------------------------------
IN_NETWORK_CHUNK = 32   # networks interleaved together; a finished chunk is stored (the unit of resume)


@dataclass
class InNetworkResult:
    """Measurements per block key (one per network containing it) and what was profiled."""

    entries: dict[str, list[Measurement]]
    archs: list[tuple[int, ...]]
    scales: list[float]           # per network: measured / profiled block sum
    glue_nodes: list[str]


def chunk_bounds(count: int, chunk: int) -> list[tuple[int, int]]:
    """[lo, hi) of `count` networks in chunks of at most `chunk`, as even as can be (33 by 32 is
    17 + 16, not 32 + 1: a network profiled alone interleaves with nothing and catches one phase)."""
    if chunk <= 0:
        raise LutnasError(f"chunk must be >= 1 network, got {chunk}")
    parts = -(-count // chunk)
    edges = [-(-k * count // parts) for k in range(parts + 1)] if parts else [0]
    return list(itertools.pairwise(edges))


BRIDGE_NETWORKS = 4   # networks of the first chunk re-timed in every later chunk


def iter_in_network(space: SearchSpace, resolution: int, archs: Sequence[Sequence[int]], *, threads: int = 1,
                    work_dir: Path | None = None, progress: bool = True, width_mult: float = 1.0,
                    num_classes: int = 1000, repeats: int = 10, min_repeat_ms: float = 20.0, warmup: int = 3,
                    chunk: int = IN_NETWORK_CHUNK, node_cost_ms: float | None = None,
                    bridge_ms: dict[tuple[int, ...], float] | None = None) -> Iterator[InNetworkResult]:
    """Profile `archs` with onnxruntime, `chunk` networks interleaved at a time, and yield each
    chunk's per-block measurements as soon as it is done (a caller stores them: Ctrl-C loses at most
    the chunk in progress). The profiler's cost per node: `node_cost_ms`, or measured before each
    chunk (`profile_networks`).

    Chunks profiled seconds apart sit on different time bases: the two chunks of an ofa-mbv3 table
    read 4-7% apart when validated (2026-12-04), so a table's entries and its anchors mixed two
    speeds of the device. Every chunk but the first therefore re-times `BRIDGE_NETWORKS` networks of
    the first (or `bridge_ms`, latencies already stored, when resuming) and is brought to their time
    base (`on_time_base`)."""
    from lutnas.latency_tables.jobs import default_network_dir, export_networks
    from lutnas.progress import ProgressBar

    bounds = chunk_bounds(len(archs), chunk)
    archs = [space.validate(a) for a in archs]
    net_dir = Path(work_dir) if work_dir is not None else default_network_dir()
    export = partial(export_networks, space, resolution=resolution, out_dir=net_dir / space.name,
                     width_mult=width_mult, num_classes=num_classes)
    keys_of = partial(_block_keys, space, resolution, width_mult, num_classes)
    paths = export(archs)
    with ProgressBar("profiling networks (in-network, interleaved)", len(archs) * repeats, enabled=progress,
                     stderr=True) as bar:
        for lo, hi in bounds:
            part = archs[lo:hi]
            extra = [a for a in (bridge_ms or {}) if a not in part]
            step = len(part)
            profs = profile_networks(paths[lo:hi] + (export(extra) if extra else []), part + extra,
                                     keys_of(part + extra), threads=threads, repeats=repeats,
                                     min_repeat_ms=min_repeat_ms, warmup=warmup, work_dir=net_dir,
                                     on_cycle=lambda _k, n=step: bar.advance(n), node_cost_ms=node_cost_ms)
            profs, factor = on_time_base(profs[:step], profs, bridge_ms or {})   # bridges in the chunk too
            bridge_ms = bridge_ms or bridge_latencies({p.arch: p.latency_ms for p in profs})
            entries = _chunk_entries(space.name, resolution, width_mult, num_classes, keys_of(part), profs,
                                     threads, factor)
            yield InNetworkResult(entries, list(part), [p.scale for p in profs],
                                  sorted({g for p in profs for g in p.glue_nodes}))


def _block_keys(space: SearchSpace, resolution: int, width_mult: float, num_classes: int,
                archs: Sequence[tuple[int, ...]]) -> list[list[str]]:
    return [[b.key for b in space.blocks(a, resolution, width_mult=width_mult, num_classes=num_classes)]
            for a in archs]


def spread_pick(archs: Sequence[tuple[int, ...]], count: int) -> list[tuple[int, ...]]:
    """`count` of `archs` (all when fewer), evenly spaced in sorted order: a choice that does not look
    at any timing, so the anchors' "then" (`drift`) and the bridges' carry no selection bias."""
    ordered = sorted(archs)
    if count >= len(ordered):
        return ordered
    return [ordered[int(i)] for i in np.round(np.linspace(0, len(ordered) - 1, count))]


def bridge_latencies(latency_by_arch: dict[tuple[int, ...], float],
                     count: int = BRIDGE_NETWORKS) -> dict[tuple[int, ...], float]:
    """`count` of the networks (`spread_pick`) and their latency: the time base later chunks are
    brought to."""
    return {a: latency_by_arch[a] for a in spread_pick(list(latency_by_arch), count)}


def on_time_base(profs: list[NetworkProfile], bridges: Sequence[NetworkProfile],
                 bridge_ms: dict[tuple[int, ...], float]) -> tuple[list[NetworkProfile], float]:
    """`profs` divided by how much slower the bridge networks ran now than then (median of their
    ratios, in logs), and that factor; unchanged (factor 1) without bridges."""
    ratios = [b.latency_ms / bridge_ms[b.arch] for b in bridges if b.arch in bridge_ms]
    if not ratios:
        return profs, 1.0
    factor = float(np.exp(np.median(np.log(ratios))))
    return [replace(p, block_ms=p.block_ms / factor, plain_ms=p.plain_ms / factor) for p in profs], factor


def _chunk_entries(space_name: str, resolution: int, width_mult: float, num_classes: int, keys: list[list[str]],
                   profs: list[NetworkProfile], threads: int, factor: float) -> dict[str, list[Measurement]]:
    """One measurement per block of every profiled network, keyed by block."""
    from lutnas.latency_tables.jobs import network_key

    entries: dict[str, list[Measurement]] = defaultdict(list)
    for block_keys, prof in zip(keys, profs):
        meta = {"network": network_key(space_name, prof.arch, resolution, width_mult, num_classes),
                "arch": list(prof.arch), "network_ms": prof.latency_ms, "scale": prof.scale,
                "node_cost_ms": prof.node_cost_ms, "time_base_factor": factor}
        for i, key in enumerate(block_keys):
            entries[key].append(_record(key, prof.block_samples_ms(i), prof, len(entries[key]) + 1, threads,
                                        {**meta, "position": i}))
    return dict(entries)


def profile_in_network(space: SearchSpace, resolution: int, *, rounds: int = 2, seed: int = 0,
                       archs: Sequence[Sequence[int]] | None = None, **kwargs: Any) -> InNetworkResult:
    """Every chunk of `iter_in_network` over `archs` (default: the covering networks), merged."""
    archs = list(archs) if archs is not None else covering_archs(space, rounds, seed)
    entries: dict[str, list[Measurement]] = defaultdict(list)
    done, scales, glue = [], [], set()
    for part in iter_in_network(space, resolution, archs, **kwargs):
        for key, ms in part.entries.items():
            entries[key].extend(replace(m, pass_no=len(entries[key]) + 1) for m in ms)
        done += part.archs
        scales += part.scales
        glue.update(part.glue_nodes)
    return InNetworkResult(dict(entries), done, scales, sorted(glue))


def _record(key: str, samples: list[float], prof: NetworkProfile, pass_no: int, threads: int,
            meta: dict[str, Any]) -> Measurement:
    return Measurement(
        samples_ms=tuple(samples), inner_loops=prof.calls_per_group, warmup=3, threads=threads, started_at=prof.started_at,
        ended_at=prof.ended_at, pass_no=pass_no, runtime="onnxruntime", key=key,
        meta={"method": "in-network", **meta},
    )


# -- into a latency table ---------------------------------------------------------------------------
def profile_into_store(store: Store, table_id: str, ids: dict[str, int], space: SearchSpace, resolution: int, *,
                       runner: Runner, settings: ProfileSettings, threads: int, work_dir: Path,
                       progress: bool = True, remeasure: bool = False,
                       policy: StabilityPolicy | None = None) -> ProfileResult:
    """`profile_table` for measure_mode "in-network": profile the covering networks not profiled yet.

    Resumable per network: every pass records its network's key (meta["network"]), and a network
    whose passes are stored is skipped on the next run (unless `remeasure`). Covering networks come
    from `settings.extra` ("rounds", default 2; "cover_seed", default 0), which is part of the table
    identity. Returns a `ProfileResult`.
    """
    from lutnas.latency_tables.jobs import network_key
    from lutnas.latency_tables.settings import ProfileResult
    from lutnas.profiler.stability import DEFAULT_POLICY, assess, verdict

    policy = policy or DEFAULT_POLICY
    extra = dict(settings.extra)
    wm, nc = settings.width_mult, settings.num_classes
    layout = space.layer_table(resolution, width_mult=wm, num_classes=nc)
    block_mb = weight_mb(layout.unique_blocks().values())
    store.set_attachment(table_id, FOOTPRINT_ATTACHMENT, {"block_mb": block_mb})
    archs = profiled_archs(space, cell_mb(layout, block_mb)[0], int(extra.get("rounds", 2)),
                           int(extra.get("cover_seed", 0)))
    stored = {p.measurement.meta["network"]: p.measurement.meta for p in store.passes(table_id)
              if "network_ms" in p.measurement.meta}
    done = set() if remeasure else set(stored)
    bridges = {tuple(m["arch"]): float(m["network_ms"]) for m in stored.values()}   # the table's time base
    todo = [a for a in archs if network_key(space.name, a, resolution, wm, nc) not in done]
    t0 = time.perf_counter()
    added = 0
    for part in iter_in_network(space, resolution, todo, threads=threads, work_dir=work_dir, progress=progress,
                                width_mult=wm, num_classes=nc, repeats=settings.repeats,
                                min_repeat_ms=settings.min_repeat_ms, warmup=settings.warmup,
                                bridge_ms=bridge_latencies(bridges) or None):
        for key, ms in part.entries.items():   # stored per chunk: Ctrl-C keeps every finished chunk
            for m in ms:
                store.add_pass(ids[key], assess(m, policy), runner=runner.name)
                added += 1
    by_key: dict[str, list[Measurement]] = defaultdict(list)
    entry_key = {i: k for k, i in ids.items()}
    for p in store.passes(table_id):
        by_key[entry_key[p.entry_id]].append(p.measurement)
    missing = [k for k in ids if not by_key[k]]
    if missing:
        raise LutnasError(f"in-network profiling left {len(missing)} block(s) without a measurement "
                          f"(e.g. {missing[0]}): the covering networks do not contain them")
    unstable = sum(1 for k in ids if not verdict(by_key[k], policy).stable)
    return ProfileResult(table_id, Path(store.path), len(ids), len({k for k in ids if by_key[k]}) if todo else 0,
                         len(ids) if not todo else 0, added, unstable, 0.0, time.perf_counter() - t0)

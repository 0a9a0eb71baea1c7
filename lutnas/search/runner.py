"""One entry point for a search run: table + space + data + strategy name -> SearchResult, and the
files a run leaves in its output directory:

- ``arch.json``        the archs format {"space": NAME, "archs": [[...]]} with the chosen architecture
- ``weights.safetensors``  the chosen subnet's supernet weights (strategies that train a supernet)
- ``search_log.jsonl`` one JSON object per epoch / generation
- ``latency.png`` (fbnet / proxyless) or ``pareto.json`` + ``pareto.png`` (evolution)
- ``result.json``      chosen arch, predicted latency and interval, strategy, options
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from lutnas.search import evolution, fbnet, proxyless  # noqa: F401  (register the strategies)
from lutnas.search.base import STRATEGIES, SearchOptions, SearchResult, options_dict
from lutnas.search.pareto import plot_dnas_log, plot_front, write_front


def strategy_names() -> list[str]:
    return STRATEGIES.names()


def run_search(strategy: str, table: Any, space: Any, data: Any, options: SearchOptions,
               out_dir: Path | None = None) -> SearchResult:
    """Looks the strategy up first (unknown -> UnknownNameError listing the valid ones), runs it."""
    fn = STRATEGIES.get(strategy)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        options = dataclasses.replace(options, log_path=out_dir / "search_log.jsonl")
    result = fn(table, space, data, options)
    if out_dir is not None:
        result.artifacts.update(write_outputs(result, strategy, space.name, options, out_dir))
    return result


def write_outputs(result: SearchResult, strategy: str, space_name: str, options: SearchOptions,
                  out_dir: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    files["arch"] = out_dir / "arch.json"
    files["arch"].write_text(json.dumps({"space": space_name, "archs": [list(result.arch)]}) + "\n")
    if options.log_path is not None:
        files["log"] = options.log_path
    if result.weights:
        from safetensors.torch import save_file

        files["weights"] = out_dir / "weights.safetensors"
        save_file(result.weights, str(files["weights"]), metadata={"space": space_name, "arch": json.dumps(list(result.arch))})
    if strategy == "evolution":
        files["front"] = write_front(out_dir / "pareto.json", space_name, result)
        chosen_est = dict(zip(map(tuple, (p["arch"] for p in result.extra["front"])),
                              (p["estimate"] for p in result.extra["front"])))
        est = chosen_est.get(tuple(result.arch), max((e for e in result.extra["all_estimate"] if math.isfinite(e)), default=0.0))
        files["plot"] = plot_front(out_dir / "pareto.png", result.extra["all_latency_ms"],
                                   result.extra["all_estimate"], result.extra["front"],
                                   result.extra["budget_ms"], (result.latency_ms, est),
                                   ylabel=f"accuracy estimate ({result.extra['proxy']})")
    elif result.log:
        files["plot"] = plot_dnas_log(out_dir / "latency.png", result.log)
    summary = {"strategy": strategy, "space": space_name, "arch": list(result.arch),
               "latency_ms": result.latency_ms, "low_ms": result.low_ms, "high_ms": result.high_ms,
               "target_ms": options.latency_ms, "options": options_dict(options),
               "files": {k: str(v) for k, v in files.items()}}
    files["result"] = out_dir / "result.json"
    files["result"].write_text(json.dumps(summary, indent=2) + "\n")
    return files

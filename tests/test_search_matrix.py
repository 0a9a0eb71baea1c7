"""A slice of the search goal matrix (bench/search_matrix.py runs all of it: 3 strategies x seeds 0-9 x
batch sizes {2, 7, 16, 64}): `lutnas search` through the CLI, on the measured proxyless @ 32 px table,
with data whose train and held-out splits each leave a remainder of one image at the batch size;
`lutnas predict` accepts the arch, and so do what `lutnas export` parses (the archs file against its
space) and loads (the searched weights into the subnet, which runs).
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch

from lutnas.search.data import split_counts


@pytest.fixture(autouse=True)
def one_torch_thread():
    """OpenMP barriers stall on a busy shared machine; these tensors are tiny (see test_search.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lutnas(*args: str) -> tuple[int, str, str]:
    """The CLI in this process (no interpreter start-up per run): (exit code, stdout, stderr)."""
    from lutnas.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as stop:
            code = int(stop.code or 0)
    torch.set_num_threads(torch.get_num_threads())   # numba's first parallel kernel (predict) resets OpenMP's
    return code, out.getvalue(), err.getvalue()      # thread count under torch: 0.07 -> 1.5 s a step here


def remainder_of_one(batch: int) -> tuple[int, float]:
    """--max-samples / --val-fraction for 5B+1 train and B+1 held-out digits."""
    total, fraction = 6 * batch + 2, (batch + 1) / (6 * batch + 2)
    assert split_counts(1797, fraction, total) == (5 * batch + 1, batch + 1)
    return total, fraction


@pytest.mark.parametrize("batch,seed", [(2, 3), (7, 8)])
@pytest.mark.parametrize("strategy", ["fbnet", "proxyless", "evolution"])
def test_cli_search_with_a_remainder_of_one_feeds_predict_and_export(tmp_path, proxyless_table_db, strategy,
                                                                       batch, seed):
    from lutnas.deploy import subnet_module
    from lutnas.spaces import get_space, load_archs

    db = str(proxyless_table_db)
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps({"space": "proxyless", "archs": [[0] * 21, [5] * 21]}))
    rows = json.loads(lutnas("predict", "--db", db, "--archs", str(probe), "--json")[1])
    budget = 0.5 * (rows[0]["latency_ms"] + rows[1]["latency_ms"])
    total, fraction = remainder_of_one(batch)
    out = tmp_path / "run"
    code, _, err = lutnas("search", "--db", db, "--strategy", strategy, "--latency-ms", f"{budget:.6f}", "--seed",
                          str(seed), "--batch-size", str(batch), "--epochs", "1", "--max-samples", str(total),
                          "--val-fraction", repr(fraction), "--population", "8", "--generations", "2",
                          "--device", "cpu", "--out", str(out))
    assert code == 0, err
    code, text, err = lutnas("predict", "--db", db, "--archs", str(out / "arch.json"), "--json")
    assert code == 0, err
    (row,) = json.loads(text)
    assert row["low_ms"] <= row["latency_ms"] <= row["high_ms"]
    if strategy == "evolution":
        assert row["latency_ms"] <= budget
    name, archs = load_archs(out / "arch.json")
    log = [json.loads(line) for line in (out / "search_log.jsonl").read_text().splitlines()]
    if strategy == "evolution":
        return
    assert all(r["val_loss"] is not None for r in log)   # architecture steps ran, on the folded batch
    module, _ = subnet_module(get_space(name), archs[0], 32, out / "weights.safetensors")
    with torch.no_grad():
        assert torch.isfinite(module(torch.zeros(1, 3, 32, 32))).all()

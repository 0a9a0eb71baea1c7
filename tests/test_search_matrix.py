"""A slice of the search goal matrix, run with bench/search_matrix.py's own code (the script runs all of
it: 3 strategies x seeds 0-9 x batch sizes {2, 7, 16, 64}): `lutnas search` through the CLI, on the
measured proxyless @ 32 px table, with data whose train and held-out splits each leave a remainder
of one image at the batch size; `lutnas predict` accepts the arch, and so do what `lutnas export`
parses (the archs file against its space) and loads (the searched weights into the subnet, which runs).
"""

from __future__ import annotations

import json

import pytest
from helpers import bench_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py: tiny tensors, one thread
matrix = bench_script("search_matrix")


@pytest.mark.parametrize("batch,seed", [(2, 3), (7, 8)])
@pytest.mark.parametrize("strategy", ["fbnet", "proxyless", "evolution"])
def test_cli_search_with_a_remainder_of_one_feeds_predict_and_export(tmp_path, proxyless_table_db, strategy,
                                                                       batch, seed):
    budget = matrix.mid_budget(proxyless_table_db, tmp_path)
    out = tmp_path / "run"
    cell = matrix.run_cell(proxyless_table_db, budget, strategy, seed, batch, out)
    assert cell.ok, cell.note
    if strategy != "evolution":
        log = [json.loads(line) for line in (out / "search_log.jsonl").read_text().splitlines()]
        assert all(r["val_loss"] is not None for r in log)   # architecture steps ran, on the folded batch

"""Search: the differentiable latency term, FBNet / ProxylessNAS reacting to it, NSGA-II respecting
its budget, zero-cost proxies, the data loaders and the files a run writes.

Tables are built directly from numbers (test data): a plausible cost per candidate derived from its
block spec, skip = 0.0, choices a layer lacks = NaN. Everything runs at resolution 32, width 0.25,
on a few batches of scikit-learn's digits.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lutnas.errors import LutnasError, UnknownNameError
from lutnas.latency_tables.dense import DenseTable
from lutnas.latency_tables.synthetic import synthetic_table
from lutnas.search.base import SearchOptions
from lutnas.search.data import DataError, load_data
from lutnas.search.latency_loss import ExpectedLatency, make_objective, min_latency_ms
from lutnas.search.proxies import naswot_score, synflow_score
from lutnas.search.runner import run_search
from lutnas.spaces import get_space, load_archs
from lutnas.spaces.blocks import Block

RES = 32
pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py: tiny tensors, one thread


def _rough_cost_ms(block: Block) -> float:
    """1e-6 ms per MAC of a cruder MAC count than block_macs: the numbers these tests always used."""
    s, (_, _, h, w) = block.spec, block.input_shape
    return 1e-6 * (h * w / s.stride**2 * (s.in_ch * s.out_ch * max(s.expand, 1.0) + s.kernel**2 * s.in_ch * s.expand))


def table_for(space, resolution=224, seed=0) -> DenseTable:
    """Per-entry cost ~ MACs of the candidate (from its spec) with a little noise; skip = 0; missing = NaN."""
    return synthetic_table(space, resolution, seed=seed, cost_ms=_rough_cost_ms, overhead_ms=0.01, fixed_ms=1.5,
                           fixed_var_ms2=1e-3)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", RES, max_samples=320)


@pytest.fixture(scope="module")
def proxyless():
    space = get_space("proxyless")
    return space, table_for(space)


def tiny(**kw) -> SearchOptions:
    base = {"latency_ms": 5.0, "epochs": 2, "batches_per_epoch": 3, "batch_size": 32, "width_mult": 0.25,
            "progress": False, "population": 8, "generations": 3}
    base.update(kw)
    return SearchOptions(**base)


def test_expected_latency_gradient_matches_finite_differences(proxyless):
    _, table = proxyless
    term = ExpectedLatency(table)
    logits = torch.randn(table.latency_ms.shape, dtype=torch.float64, requires_grad=True)
    value = term(logits)
    value.backward()
    eps, scale = 1e-5, float(np.nanmax(table.latency_ms))
    for layer, i in zip(*np.nonzero(term.mask_np)):
        bump = torch.zeros_like(logits)
        bump[layer, i] = eps
        numeric = (term(logits.detach() + bump) - term(logits.detach() - bump)) / (2 * eps)
        assert float(logits.grad[layer, i]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-8 * scale)
    probs = term.probs(logits.detach())
    assert torch.all(probs[~term.mask] == 0)
    assert torch.allclose(probs.sum(1), torch.ones(probs.shape[0], dtype=torch.float64))


@pytest.mark.parametrize("mode", ["fbnet", "mul#log", "add#linear"])
def test_latency_objectives_are_differentiable(proxyless, mode):
    _, table = proxyless
    term = ExpectedLatency(table)
    objective = make_objective(mode, table, ref_ms=min_latency_ms(table) * 2)
    logits = torch.randn(table.latency_ms.shape, dtype=torch.float64, requires_grad=True)
    ce = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c: objective(c, term(a)), (logits, ce))


@pytest.mark.parametrize("strategy", ["fbnet", "proxyless"])
def test_latency_weight_lowers_searched_latency(digits, proxyless, strategy):
    space, table = proxyless
    plain = run_search(strategy, table, space, digits, tiny(latency_loss="none", lr_arch=0.1, arch_every=1))
    heavy = run_search(strategy, table, space, digits,
                       tiny(latency_loss="add#linear", loss_lambda=50.0, lr_arch=0.1, arch_every=1,
                            latency_ms=min_latency_ms(table)))
    assert heavy.latency_ms < plain.latency_ms
    assert heavy.log[-1]["expected_latency_ms"] < heavy.log[0]["expected_latency_ms"] or len(heavy.log) == 1


@pytest.mark.parametrize("fraction", [0.15, 0.5])
def test_evolution_never_exceeds_budget(digits, proxyless, fraction):
    space, table = proxyless
    floor, ceil = min_latency_ms(table), float(np.nansum(np.nanmax(table.latency_ms, 1))) + table.fixed_ms
    budget = floor + fraction * (ceil - floor)
    result = run_search("evolution", table, space, digits, tiny(latency_ms=budget, proxy="naswot"))
    assert result.latency_ms <= budget
    assert all(p["latency_ms"] <= budget for p in result.extra["front"])
    space.validate(result.arch)
    lat, est = np.asarray(result.extra["all_latency_ms"]), np.asarray(result.extra["all_estimate"])
    np.testing.assert_array_equal(np.isnan(est), lat > budget)   # only archs within the budget are scored


def test_evolution_infeasible_budget_names_minimum(digits, proxyless):
    space, table = proxyless
    with pytest.raises(LutnasError, match="minimum achievable latency"):
        run_search("evolution", table, space, digits, tiny(latency_ms=min_latency_ms(table) * 0.5))


def test_zero_cost_proxies_finite_and_discriminative(digits):
    space = get_space("proxyless")
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(3)]
    x = digits.images("train", range(32))[0]
    naswot, synflow = [], []
    for arch in archs:
        torch.manual_seed(0)
        naswot.append(naswot_score(space.build(arch, 224, 10, 0.25), x))
        torch.manual_seed(0)
        synflow.append(synflow_score(space.build(arch, 224, 10, 0.25), (1, 3, RES, RES)))
    assert np.all(np.isfinite(naswot)) and np.all(np.isfinite(synflow))
    assert len(set(np.round(naswot, 6))) > 1 and len(set(np.round(synflow, 6))) > 1


def textbook_naswot(supernet: torch.nn.Module, arch, x: torch.Tensor) -> float:
    """NASWOT by its definition, in the supernet's current mode: codes at every ReLU-family unit of the
    path, one pass, scored as log|C C^T + (1-C)(1-C)^T|."""
    from lutnas.search.naswot import naswot_logdet
    from lutnas.search.proxies import _PathModel

    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: codes.append((out.flatten(1) > 0).double()))
             for m in supernet.modules() if type(m).__name__ in ("ReLU6", "ReLU", "Hardswish")]
    with torch.no_grad():
        _PathModel(supernet, arch)(x)
    for h in hooks:
        h.remove()
    c = torch.cat(codes, dim=1)
    return naswot_logdet(c @ c.T + (1 - c) @ (1 - c).T)


def test_naswot_prefix_cache_and_threads_give_the_plain_score(digits):
    """NaswotPaths (per-block kernel sums, prefix cache, concurrent threads) == the textbook score."""
    from lutnas.search.inference import for_scoring
    from lutnas.search.naswot import NaswotPaths
    from lutnas.search.proxies import _init_supernet

    space = get_space("proxyless")
    options = SearchOptions(latency_ms=1.0, batch_size=16, width_mult=0.25, seed=0)
    supernet = for_scoring(_init_supernet(space, digits, options, 224))
    x = digits.images("train", range(16))[0].contiguous(memory_format=torch.channels_last)
    rng = np.random.default_rng(5)
    base = list(space.sample(rng))
    archs = [tuple(base[:k] + list(space.sample(rng))[k:]) for k in (0, 5, 12, 20, 21)]  # shared prefixes
    archs = [space.validate(a) for a in archs]
    expected = [textbook_naswot(supernet, a, x) for a in archs]
    paths = NaswotPaths(supernet, x)
    assert [paths.score(a) for a in archs] == pytest.approx(expected, rel=1e-12)
    assert paths.score_many(archs[::-1], threads=2) == pytest.approx(expected[::-1], rel=1e-12)   # cache hits
    cold = NaswotPaths(supernet, x, cache_bytes=0)
    assert cold.score_many(archs, threads=2) == pytest.approx(expected, rel=1e-12)
    assert len(set(np.round(expected, 6))) > 1


def test_scoring_rewrites_keep_every_path_function(digits):
    """Batch-statistics BN and 1x1 convs as linear layers change the ops, not what a path computes in
    train mode (the mode NASWOT scores in), whatever running statistics the plain model holds."""
    import copy

    from lutnas.search.inference import PointwiseLinear, for_scoring
    from lutnas.search.proxies import _init_supernet, _PathModel

    space = get_space("proxyless")
    options = SearchOptions(latency_ms=1.0, batch_size=8, width_mult=0.25, seed=0)
    plain = _init_supernet(space, digits, options, 224)
    with torch.no_grad():   # running statistics that eval mode would use and train mode must not
        for m in plain.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    fast = for_scoring(copy.deepcopy(plain))
    assert sum(isinstance(m, PointwiseLinear) for m in fast.modules()) > 20
    norms = [m for m in fast.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.running_mean is None and not m.track_running_stats for m in norms)
    x = digits.images("train", range(8))[0].contiguous(memory_format=torch.channels_last)
    rng = np.random.default_rng(2)
    plain.train()
    with torch.no_grad():
        for _ in range(3):
            arch = space.sample(rng)
            want, got = _PathModel(plain, arch)(x), _PathModel(fast, arch)(x)
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)
            assert not torch.allclose(_PathModel(plain.eval(), arch)(x), want, rtol=1e-2, atol=1e-2)
            plain.train()


def test_naswot_scores_in_train_mode_like_the_reference(digits):
    """The evolution proxy (rewrites, prefix cache) scores an arch as the reference does: the plain
    network in train mode, codes at every ReLU-family unit; eval mode would score something else."""
    from lutnas.search.proxies import _init_supernet, make_estimator

    space = get_space("proxyless")
    options = SearchOptions(latency_ms=1.0, batch_size=16, width_mult=0.25, seed=0)
    estimate = make_estimator("naswot", space, digits, options, 224)
    plain = _init_supernet(space, digits, options, 224)
    g = torch.Generator().manual_seed(options.seed)   # the proxy's batch (see proxies._naswot)
    x = digits.images("train", torch.randperm(len(digits.train_y), generator=g)[:16])[0]

    def reference(arch, train: bool):
        return textbook_naswot(plain.train(train), arch, x)

    rng = np.random.default_rng(7)
    archs = [space.sample(rng) for _ in range(4)]
    train_mode = [reference(a, train=True) for a in archs]
    assert estimate.many(archs) == pytest.approx(train_mode, rel=1e-3)
    assert [reference(a, train=False) for a in archs] != pytest.approx(train_mode, rel=1e-3)


def test_npz_loader_refuses_pickled_arrays(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.array([object(), object()], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match="pickled"):
        load_data(str(bad), RES)


def test_npz_loader_reads_images(tmp_path):
    good = tmp_path / "good.npz"
    rng = np.random.default_rng(0)
    np.savez(good, x=rng.random((20, 16, 16, 3)).astype(np.float32), y=np.arange(20) % 4)
    data = load_data(str(good), RES)
    assert data.images("train", [0])[0].shape[1:] == (3, RES, RES) and data.num_classes == 4
    assert len(data.train_y) + len(data.val_y) == 20


def test_missing_data_source_is_a_lutnas_error():
    with pytest.raises(DataError, match="not found"):
        load_data("/nonexistent/data.npz", RES)


@pytest.mark.parametrize("strategy", ["fbnet", "proxyless", "evolution"])
def test_arch_json_loads_and_validates(tmp_path, digits, strategy):
    space = get_space("ofa-mbv3") if strategy == "evolution" else get_space("proxyless")
    table = table_for(space)
    budget = min_latency_ms(table) * 1.5
    result = run_search(strategy, table, space, digits, tiny(latency_ms=budget, proxy="synflow"), tmp_path)
    name, archs = load_archs(tmp_path / "arch.json")
    assert name == space.name and [tuple(a) for a in archs] == [result.arch]
    space.validate(archs[0])
    lines = (tmp_path / "search_log.jsonl").read_text().splitlines()
    assert lines and all("target_ms" in json.loads(line) for line in lines)
    assert (tmp_path / "result.json").exists()
    if strategy != "evolution":
        assert (tmp_path / "weights.safetensors").exists()


def test_unknown_strategy_lists_valid_ones(digits, proxyless):
    space, table = proxyless
    with pytest.raises(UnknownNameError, match="evolution, fbnet, proxyless"):
        run_search("darts", table, space, digits, tiny())


def test_cli_unknown_strategy_is_one_line(tmp_path, capsys):
    from lutnas.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["search", "--db", str(tmp_path / "x.db"), "--strategy", "darts", "--latency-ms", "5",
              "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fbnet" in err and "proxyless" in err


def _image_folder(root, per_class=10, classes=("cat", "dog")):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, cls in enumerate(classes):
        (root / cls).mkdir()
        for k in range(per_class):
            size = (40, 30) if k % 2 else (25, 50)
            pixels = (rng.random((size[1], size[0], 3)) * 127 + 64 * c).astype(np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{k}.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_streams_with_workers_and_transforms(tmp_path):
    """An ImageFolder split holds file paths, not pixels; batches come through DataLoader workers, the
    train split randomly cropped and flipped (two passes differ), the held-out split centre-cropped
    (identical every pass); no batch is smaller than 2."""
    from lutnas.search.image_folder import FolderImages

    data = load_data(str(_image_folder(tmp_path)), RES, val_fraction=0.2, workers=2)
    assert data.num_classes == 2 and (len(data.train_y), len(data.val_y)) == (16, 4)
    assert sorted(torch.cat([data.train_y, data.val_y]).tolist()) == [0] * 10 + [1] * 10
    assert isinstance(data.train, FolderImages)
    held = sum(t.numel() for t in vars(data.train).values() if isinstance(t, torch.Tensor))
    assert held == len(data.train_y) + 6   # labels, mean and std: no pixels
    for split, augmented in (("train", True), ("val", False)):
        passes = []
        for _ in range(2):
            batches = list(data.batches(split, 7, np.random.default_rng(0)))
            assert all(x.shape[1:] == (3, RES, RES) and len(x) == len(y) >= 2 for x, y in batches)
            passes.append(torch.cat([x for x, _ in batches]))
        assert len(passes[0]) == len(data.train_y if split == "train" else data.val_y)
        assert torch.equal(passes[0], passes[1]) != augmented
    x, _ = data.images("train", range(16))
    assert abs(float(x.mean())) < 0.2 and 0.6 < float(x.std()) < 1.4   # standardized by the train statistics


def test_image_folder_reads_lazily_and_names_a_bad_file(tmp_path):
    root = _image_folder(tmp_path, per_class=4)
    data = load_data(str(root), RES, val_fraction=0.25)
    victim = data.train.paths[len(data.train_y) - 1]
    with open(victim, "wb") as fh:
        fh.write(b"not a png")
    with pytest.raises(DataError, match="unreadable image") as err:
        list(data.batches("train", 2, np.random.default_rng(0)))
    assert victim in str(err.value) and len(str(err.value).splitlines()) == 1


def test_image_transforms():
    from PIL import Image

    from lutnas.search.image_folder import centre_crop, random_resized_crop, to_tensor

    ramp = np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (100, 1, 3))   # value = x coordinate
    img = Image.fromarray(ramp)
    centre = to_tensor(centre_crop(img, 35))   # short side 100 -> 40 px; the middle 35 of 80 columns
    assert centre.shape == (3, 35, 35)
    assert float(centre[0, :, 17].mean()) * 255 == pytest.approx(100, abs=2)
    assert float(centre[0, :, 0].mean()) * 255 == pytest.approx(100 - 100 * 35 / 40 / 2, abs=3)
    torch.manual_seed(0)
    crops = [to_tensor(random_resized_crop(img, 16)) for _ in range(8)]
    assert all(c.shape == (3, 16, 16) for c in crops)
    assert len({round(float(c[0, 0, 0]), 3) for c in crops}) > 4   # crops start at different columns


def _lutnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lutnas", *args], capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.mark.slow
def test_cli_search_on_a_measured_table_feeds_predict_and_lower(tmp_path, proxyless_table_db):
    """`lutnas search` (evolution, synflow proxy) on a real (tiny, measured) table: its arch.json is
    accepted by `lutnas predict` within its budget and by `lutnas lower`. Every strategy through the
    CLI, predict and export's parsing: tests/test_search_matrix.py."""
    db = str(proxyless_table_db)
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps({"space": "proxyless", "archs": [[0] * 21, [5] * 21]}))
    bounds = json.loads(_lutnas("predict", "--db", db, "--archs", str(probe), "--json").stdout)
    budget = 0.5 * (bounds[0]["latency_ms"] + bounds[1]["latency_ms"])
    out = tmp_path / "evolution"
    proc = _lutnas("search", "--db", db, "--strategy", "evolution", "--latency-ms", f"{budget:.4f}",
                   "--proxy", "synflow", "--population", "8", "--generations", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    pred = _lutnas("predict", "--db", db, "--archs", str(out / "arch.json"), "--json")
    assert pred.returncode == 0, pred.stderr
    (row,) = json.loads(pred.stdout)
    assert row["low_ms"] <= row["latency_ms"] <= row["high_ms"] and row["latency_ms"] <= budget
    lowered = _lutnas("lower", "--arch", str(out / "arch.json"), "-r", "32", "--target", "x86",
                      "--out", str(tmp_path / "lowered"))
    assert lowered.returncode == 0, lowered.stderr
    assert (tmp_path / "lowered" / "model.x86.so").is_file()


@pytest.mark.parametrize("count,batch", [(449, 64), (9, 2), (3, 2), (2, 7), (15, 7), (64, 64), (65, 64)])
def test_fold_batches_cover_everything_and_never_leave_one(count, batch):
    from lutnas.search.data import fold_batches

    chunks = fold_batches(count, batch)
    sizes = [c.stop - c.start for c in chunks]
    assert sum(sizes) == count and chunks[0].start == 0
    assert all(a.stop == b.start for a, b in itertools.pairwise(chunks))
    assert min(sizes) >= 2 and max(sizes) <= batch + 1


@pytest.mark.parametrize("count,batch", [(1, 64), (0, 2), (5, 1)])
def test_fold_batches_refuse_what_cannot_train(count, batch):
    from lutnas.search.data import fold_batches

    with pytest.raises(DataError):
        fold_batches(count, batch)


@pytest.mark.parametrize("field,value", [("population", 0), ("generations", 0), ("batch_size", 1), ("epochs", 0),
                                         ("latency_ms", -1.0), ("latency_ms", float("nan")), ("width_mult", 0.0),
                                         ("warmup_epochs", -1), ("batches_per_epoch", 0)])
def test_search_options_refuse_absurd_values(field, value):
    with pytest.raises(LutnasError, match=field):
        tiny(**{field: value})


@pytest.mark.parametrize("option,value", [("--population", "0"), ("--batch-size", "1"), ("--epochs", "0"),
                                          ("--generations", "-2"), ("--latency-ms", "0")])
def test_cli_search_refuses_absurd_values_in_one_line(tmp_path, capsys, option, value):
    from lutnas.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["search", "--db", str(tmp_path / "x.db"), "--strategy", "fbnet", "--latency-ms", "5",
              option, value, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err and value in err


def test_too_small_a_dataset_is_one_clear_error(tmp_path):
    tiny_npz = tmp_path / "three.npz"
    np.savez(tiny_npz, x=np.zeros((3, 8, 8), np.float32), y=np.array([0, 1, 0]))
    with pytest.raises(DataError, match="too few to search"):
        load_data(str(tiny_npz), RES)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where torch sees no CUDA device")
def test_device_cuda_without_cuda_is_one_line(tmp_path, capsys):
    from lutnas.cli import main
    from lutnas.search.base import resolve_device

    assert resolve_device("auto").type == "cpu"
    with pytest.raises(LutnasError, match="sees no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(LutnasError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(SystemExit) as exc:
        main(["search", "--db", str(tmp_path / "x.db"), "--strategy", "fbnet", "--latency-ms", "5",
              "--device", "cuda", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "CUDA" in err


def test_cli_warm_up_must_leave_architecture_epochs(tmp_path, capsys):
    from lutnas.cli import main

    with pytest.raises(SystemExit):
        main(["search", "--db", str(tmp_path / "x.db"), "--strategy", "proxyless", "--latency-ms", "5",
              "--epochs", "2", "--warmup-epochs", "2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--warmup-epochs" in err


@pytest.mark.parametrize("strategy", ["fbnet", "proxyless"])
def test_mixed_precision_steps_run(digits, proxyless, strategy):
    """The autocast path (bfloat16; what CUDA runs by default) on CPU: it trains and keeps the latency
    term in float64."""
    space, table = proxyless
    result = run_search(strategy, table, space, digits, tiny(amp=True, epochs=1, batches_per_epoch=2, arch_every=1,
                                                             batch_size=16))
    space.validate(result.arch)
    assert np.isfinite(result.log[0]["train_loss"]) and np.isfinite(result.log[0]["val_loss"])


def test_builtin_digits_are_scikit_learns_without_importing_it(tmp_path):
    """`digits` reads the CSV scikit-learn ships (sklearn's import is ~2 s of every search's start):
    the same images and labels as `load_digits`, and the process never imports sklearn."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    npz = tmp_path / "digits.npz"
    np.savez(npz, x=bunch.images.astype(np.float32)[:, None] / 16.0, y=bunch.target.astype(np.int64))
    ours, theirs = load_data("digits", 16), load_data(str(npz), 16)
    for a, b in ((ours.train, theirs.train), (ours.val, theirs.val)):
        assert torch.equal(a.labels, b.labels) and torch.equal(a.images, b.images)
    probe = "import sys; from lutnas.search.data import load_data; load_data('digits', 8); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Search spaces: structure, counting, sampling, validation, block keys, builds and the CLI."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lutnas.cli import cli, main
from lutnas.errors import ArchError, UnknownNameError
from lutnas.spaces import Block, BlockSpec, dump_archs, get_space, load_archs, space_names

SMALL = {"proxyless": 64, "fbnet": 64, "ofa-mbv3": 128}


def test_registry_lists_the_three_spaces():
    assert space_names() == ["fbnet", "ofa-mbv3", "proxyless"]
    with pytest.raises(UnknownNameError, match="fbnet, ofa-mbv3, proxyless"):
        get_space("mobilenet")


def test_macro_structure_matches_the_papers():
    px, fb, ofa = get_space("proxyless"), get_space("fbnet"), get_space("ofa-mbv3")
    assert (px.num_layers, fb.num_layers, ofa.num_layers) == (21, 22, 20)
    # ProxylessNAS: 6 choices on the first layer of each stage, 7 (with zero) elsewhere.
    assert [len(px.choice_names(i)) for i in range(21)] == [6, 7, 7, 7] * 5 + [6]
    assert px.choice_names(1) == ["k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6", "zero"]
    # FBNet: first layer 16->16 s1 keeps shape, so 9 choices; every stage's first layer after: 8.
    assert [len(fb.choice_names(i)) for i in range(22)] == [9] + [8, 9, 9, 9] * 5 + [8]
    assert fb.choice_names(0)[:4] == ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6"]
    assert [len(ofa.choice_names(i)) for i in range(20)] == [9, 9, 10, 10] * 5
    fixed = [b.key for b in ofa.fixed_blocks(224)]
    assert fixed == [
        "conv_k3_e1_s2_i3_o16_g1_hswish@3x224x224",
        "mbconv_k3_e1_s1_i16_o16_g1_relu@16x112x112",
        "head_k1_e1_s1_i160_o960_g1_hswish_h1280_c1000@160x7x7",
    ]
    assert [b.key for b in px.fixed_blocks(224)][-1] == "head_k1_e1_s1_i320_o1280_g1_relu6_c1000@320x7x7"
    assert [b.key for b in fb.fixed_blocks(224)][-1] == "head_k1_e1_s1_i352_o1984_g1_relu_c1000@352x7x7"
    # OFA: SE in the 40/112/160 stages, h-swish from the 80 stage on.
    stage_of = {layer.out_ch: (layer.se, layer.act) for layer in ofa.layers}
    assert stage_of == {24: (False, "relu"), 40: (True, "relu"), 80: (False, "hswish"),
                        112: (True, "hswish"), 160: (True, "hswish")}


def test_size_closed_forms():
    assert get_space("proxyless").size() == 6**6 * 7**15
    assert get_space("fbnet").size() == 8**6 * 9**16
    assert get_space("ofa-mbv3").size() == (9**2 + 9**3 + 9**4) ** 5


def _brute_force_count(space):
    count = 0
    for arch in itertools.product(*(range(len(layer.choices)) for layer in space.layers)):
        try:
            space.validate(arch)
        except ArchError:
            continue
        count += 1
    return count


def test_size_matches_brute_force_on_reduced_copies():
    ofa = get_space("ofa-mbv3")
    # one elastic stage, 2 kept choices + skip per layer: depths 2..4 -> 2^2 + 2^3 + 2^4
    small = [dataclasses.replace(layer, choices=layer.choices[:2] + layer.choices[9:]) for layer in ofa.layers[:4]]
    reduced = dataclasses.replace(ofa, layers=tuple(small))
    assert [len(layer.choices) for layer in reduced.layers] == [2, 2, 3, 3]
    assert reduced.size() == _brute_force_count(reduced) == 4 + 8 + 16
    px = get_space("proxyless")
    small = [dataclasses.replace(layer, choices=layer.choices[:1] + layer.choices[6:]) for layer in px.layers[:6]]
    reduced = dataclasses.replace(px, layers=tuple(small))
    assert reduced.size() == _brute_force_count(reduced) == 1 * 2**3 * 1 * 2


@pytest.mark.parametrize("name", sorted(SMALL))
def test_samples_validate_and_round_trip_through_json(name, tmp_path):
    space = get_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(50)]
    assert all(space.validate(a) == a and all(type(c) is int for c in a) for a in archs)
    path = tmp_path / "archs.json"
    path.write_text(json.dumps(dump_archs(name, archs)))
    assert load_archs(path) == (name, archs)


def test_ofa_sampling_covers_every_depth_and_respects_the_constraint():
    space = get_space("ofa-mbv3")
    rng = np.random.default_rng(1)
    depths = set()
    for _ in range(300):
        arch = space.sample(rng)
        for stage in range(5):
            names = [space.choice_names(4 * stage + p)[arch[4 * stage + p]] for p in range(4)]
            depths.add(4 - names.count("skip"))
            assert names[2] != "skip" or names[3] == "skip"
    assert depths == {2, 3, 4}


@pytest.mark.parametrize("name", ["proxyless", "ofa-mbv3"])
def test_sample_many_draws_the_distribution_of_sample(name):
    """Vectorised sampling: every row valid, and each layer's choice frequencies those of `sample`."""
    space = get_space(name)
    many = space.sample_many(np.random.default_rng(0), 6000)
    one_by_one = np.asarray([space.sample(np.random.default_rng(seed)) for seed in range(6000)])
    assert many.shape == (6000, space.num_layers) and many.dtype == np.int64
    assert all(space.validate(row) == tuple(row) for row in many[:500])
    for i, layer in enumerate(space.layers):
        freq = np.bincount(many[:, i], minlength=len(layer.choices)) / 6000
        expected = np.bincount(one_by_one[:, i], minlength=len(layer.choices)) / 6000
        assert np.abs(freq - expected).max() < 0.035, (i, freq, expected)   # ~5 sigma at n=6000


def test_ofa_depth_constraint():
    space = get_space("ofa-mbv3")
    ok = [0] * 20
    ok[2], ok[3] = 9, 9  # depth 2 in stage 1
    space.validate(ok)
    ok[2] = 0  # depth 3
    space.validate(ok)
    bad = [0] * 20
    bad[2] = 9  # layer 2 skipped, layer 3 kept
    with pytest.raises(ArchError, match=r"layer 3: .*layer 2 is skipped.*9=skip"):
        space.validate(bad)


@pytest.mark.parametrize(
    "arch, pattern",
    [
        ([0] * 20, r"has 20 choices; the space has 21 layers"),
        ([0] * 20 + [6], r"layer 20: choice 6 out of range; valid: 0=k3_e3, .*5=k7_e6$"),
        ([0] * 5 + [-1] + [0] * 15, r"layer 5: choice -1 out of range"),
        ([0] * 3 + [1.0] + [0] * 17, r"layer 3: choice 1.0 is not an int; valid: 0=k3_e3.*6=zero"),
        ([True] + [0] * 20, r"layer 0: choice True is not an int"),
        ("0" * 21, r"an arch is a list of 21 ints"),
    ],
)
def test_validate_names_the_layer_and_valid_choices(arch, pattern):
    with pytest.raises(ArchError, match=pattern):
        get_space("proxyless").validate(arch)


def test_validate_accepts_numpy_ints():
    arch = np.zeros(21, dtype=np.int64)
    assert get_space("proxyless").validate(arch) == (0,) * 21


def test_resolution_rules():
    with pytest.raises(ArchError, match=r"128\.\.224 in steps of 4"):
        get_space("ofa-mbv3").fixed_blocks(224 + 32)
    assert get_space("ofa-mbv3").fixed_blocks(132)[-1].input_shape == (1, 160, 5, 5)
    with pytest.raises(ArchError, match="multiples of 32"):
        get_space("proxyless").fixed_blocks(100)
    assert get_space("fbnet").fixed_blocks(32)[-1].input_shape == (1, 352, 1, 1)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_candidate_spec_round_trips(name):
    space = get_space(name)
    table = space.layer_table(SMALL[name])
    for block in (*table.fixed, *(b for row in table.cells for b in row if b is not None)):
        assert BlockSpec.parse(block.spec.encode()) == block.spec
        assert block.key == f"{block.spec.encode()}@{'x'.join(map(str, block.input_shape[1:]))}"


@pytest.mark.parametrize(
    "text",
    ["mbconv_k5_e6_s2_i40_o80_g1", "mbconv_k5_e6.0_s2_i40_o80_g1_relu6", "mbconv_e6_k5_s2_i40_o80_g1_relu6",
     "mbconv_k4_e6_s2_i40_o80_g1_relu6", "foo_k5_e6_s2_i40_o80_g1_relu6", "mbconv_k5_e6_s2_i40_o80_g1_gelu",
     "mbconv_k5_e1_s1_i16_o15_g2_relu", "head_k1_e1_s1_i320_o1280_g1_relu6", ""],
)
def test_parse_rejects_bad_text(text):
    with pytest.raises(ArchError):
        BlockSpec.parse(text)


def test_parse_decimal_expand_and_flags():
    spec = BlockSpec.parse("mbconv_k3_e0.5_s1_i16_o16_g1_se_hswish")
    assert spec.expand == 0.5 and spec.se and spec.act == "hswish" and spec.mid_ch == 8
    assert BlockSpec("mbconv", 16, 16, 1, 3, 6) == BlockSpec("mbconv", 16, 16, 1, 3, 6.0)


def test_blocks_dedupe_equal_layers():
    space = get_space("proxyless")
    arch = [0] * 21  # every layer k3_e3: layers 1..3 of a stage have equal spec and shape
    keys = [b.key for b in space.blocks(arch, 224)]
    assert len(keys) == 2 + 21 + 1
    assert keys[3] == keys[4] == keys[5] == "mbconv_k3_e3_s1_i24_o24_g1_relu6@24x56x56"
    assert len(set(keys)) == len(keys) - 2 * 5  # layers 1..3 equal in the five 4-layer stages
    table = space.layer_table(224)
    assert len(table.unique_blocks()) == 3 + 6 * 6 + 6 * 5  # fixed + stage firsts + rests


def test_skipped_layers_leave_blocks_and_keep_shapes():
    space = get_space("proxyless")
    arch = [0, 6, 6, 6] * 5 + [0]
    blocks = space.blocks(arch, 64)
    assert len(blocks) == 2 + 6 + 1
    for prev, nxt in itertools.pairwise(blocks):
        assert prev.output_shape == nxt.input_shape
    assert space.candidate_blocks(1, 64)[6] is None


@pytest.mark.parametrize("name", sorted(SMALL))
def test_build_forward_shape_and_equals_block_composition(name):
    space = get_space(name)
    res = SMALL[name]
    arch = space.sample(np.random.default_rng(7))
    torch.manual_seed(0)
    net = space.build(arch, res, num_classes=10)
    assert not net.training
    blocks = space.blocks(arch, res, num_classes=10)
    assert len(net) == len(blocks)
    x = torch.randn(1, 3, res, res)
    y = x
    with torch.no_grad():
        for block, module in zip(blocks, net):
            alone = block.build()
            alone.load_state_dict(module.state_dict())  # strict: same structure, same parameter names
            y_net = module(y)
            y = alone(y)
            assert tuple(y.shape) == block.output_shape
            torch.testing.assert_close(y, y_net)
        out = net(x)
    assert out.shape == (1, 10)
    torch.testing.assert_close(out, y)


def test_fbnet_grouped_candidate_has_shuffle_and_grouped_convs():
    space = get_space("fbnet")
    block = space.candidate_blocks(2, 64)[1]  # k3_e1_g2 at 24 channels
    assert block.spec.encode() == "irf_k3_e1_s1_i24_o24_g2_relu"
    module = block.build()
    names = [type(m).__name__ for m in module.body]
    assert names == ["ConvBNAct", "ChannelShuffle", "ConvBNAct", "ConvBNAct"]
    assert module.body.expand.conv.groups == 2 and module.body.project.conv.groups == 2
    assert module.residual
    x = torch.randn(1, 24, 16, 16)
    assert module(x).shape == x.shape


def test_width_mult_scales_channels_to_multiples_of_8():
    space = get_space("proxyless")
    arch = space.sample(np.random.default_rng(3))
    blocks = space.blocks(arch, 64, width_mult=0.35, num_classes=5)
    assert all(b.spec.out_ch % 8 == 0 for b in blocks)
    assert blocks[0].spec.out_ch == 16 and blocks[-1].spec.out_ch == 1280
    out = space.build(arch, 64, num_classes=5, width_mult=0.35)(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 5)


def test_load_archs_errors(tmp_path):
    def write(obj):
        path = tmp_path / "a.json"
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
        return path

    with pytest.raises(ArchError, match="cannot read"):
        load_archs(tmp_path / "missing.json")
    with pytest.raises(ArchError, match="a.json: not valid JSON"):
        load_archs(write("{nope"))
    with pytest.raises(ArchError, match="missing key 'archs'"):
        load_archs(write({"space": "fbnet"}))
    with pytest.raises(UnknownNameError, match="a.json: unknown search space 'x'; valid: fbnet"):
        load_archs(write({"space": "x", "archs": []}))
    bad = {"space": "proxyless", "archs": [[0] * 21, [0] * 20 + [9]]}
    with pytest.raises(ArchError, match=r"a.json: arch 1: proxyless: layer 20: choice 9 out of range"):
        load_archs(write(bad))


def test_block_rejects_wrong_input_channels():
    spec = BlockSpec.parse("mbconv_k3_e3_s1_i24_o24_g1_relu6")
    with pytest.raises(ArchError, match="not \\(1, 24, H, W\\)"):
        Block(spec, (1, 16, 8, 8))


def test_cli_lists_and_shows_spaces():
    runner = CliRunner()
    result = runner.invoke(cli, ["spaces"], terminal_width=160)
    assert result.exit_code == 0, result.output
    for name in space_names():
        assert name in result.output
    assert "2.215e+17" in result.output
    result = runner.invoke(cli, ["spaces", "show", "ofa-mbv3", "--resolution", "128"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "0:k3_e3 1:k3_e4 2:k3_e6" in result.output and "9:skip" in result.output
    assert "16x64x64" in result.output


def test_cli_sample_writes_a_loadable_file(tmp_path):
    out = tmp_path / "sub" / "archs.json"
    result = CliRunner().invoke(cli, ["sample", "--space", "fbnet", "-n", "5", "--seed", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    name, archs = load_archs(out)
    assert name == "fbnet" and len(archs) == 5
    again = CliRunner().invoke(cli, ["sample", "--space", "fbnet", "-n", "5", "--seed", "4"])
    assert json.loads(again.output)["archs"] == [list(a) for a in archs]


def test_cli_bad_space_name_exits_nonzero_with_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["spaces", "show", "nasnet"])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "unknown search space 'nasnet'" in err and "fbnet, ofa-mbv3, proxyless" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--space", "nasnet"])
    assert exit_info.value.code != 0

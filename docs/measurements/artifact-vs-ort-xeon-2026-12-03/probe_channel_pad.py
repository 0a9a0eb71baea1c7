import sys; sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
from probe import run
import torch
from lutnas.lowering.rules import default_cpu_rules
from lutnas.spaces.blocks import Block, BlockSpec
def blk(spec, hw):
    b = BlockSpec.parse(spec); bl = Block(b, (1, b.in_ch, hw, hw))
    return (f"{spec}@{hw}", bl.build(), bl.input_shape)
def pw(ci,co,h): return (f"pw {ci}->{co} {h}", torch.nn.Sequential(torch.nn.Conv2d(ci,co,1), torch.nn.ReLU()), (1,ci,h,h))
if __name__ == "__main__":
    run([pw(24,72,56), pw(72,24,56), blk("mbconv_k3_e3_s1_i24_o24_g1_relu6", 56), blk("mbconv_k5_e3_s1_i40_o40_g1_se_hswish", 28)], [("default", default_cpu_rules)], rounds=3)

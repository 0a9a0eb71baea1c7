"""lutnas: latency lookup tables for hardware-aware NAS, lowered and timed with Apache TVM.

Stages (dependencies point one way):
    lowering  -> profiler -> latency_tables -> search
                               spaces ----------^
Heavy libraries (torch, tvm, onnxruntime, numba) are imported lazily inside functions so that
`lutnas --help` stays instant.
"""

__version__ = "0.1.0"

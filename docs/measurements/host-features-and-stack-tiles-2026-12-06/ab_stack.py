"""A/B: accumulators <= LIMIT bytes as stack allocas (annotated) vs TVM's 1 KB stack limit."""
import sys, os
from contextlib import ExitStack, contextmanager
from unittest.mock import patch
sys.path.insert(0, "/work/main/bench"); sys.path.insert(0, "/tmp/probe")
import fusion_ab as ab
import bigstack

LIMITS = os.environ.get("LIMITS", "2048").split(",")

@contextmanager
def stack_limit(spec):
    limit = int(str(spec).lstrip('a'))
    only_annotate = str(spec).startswith('a')
    import tvm
    from tvm.s_tir.pipeline import default_s_tir_pipeline
    from lutnas.lowering.rules import base
    with ExitStack() as st:
        if limit:
            def factory():
                pipe, fin_host, fin_dev = default_s_tir_pipeline()
                return pipe, (lambda: tvm.ir.transform.Sequential([bigstack.annotate(limit), fin_host()])), fin_dev
            st.enter_context(patch.dict(tvm.tirx.compilation_pipeline.PIPELINE_MAP, {"s_tir": factory}))
            if not only_annotate:
                st.enter_context(patch.object(base, "STACK_ARRAY_BYTES", limit))
        yield

def variants(args):
    return [("1 KB", lambda: stack_limit(0))] + [(f"{l} B", lambda l=l: stack_limit(l)) for l in LIMITS]

ab.variants = variants
bigstack.print = lambda *a, **k: None
ab.main()

"""A/B: accumulators <= LIMIT bytes as stack allocas (annotated) vs TVM's 1 KB stack limit."""
import sys, os
from contextlib import ExitStack, contextmanager
from unittest.mock import patch
sys.path.insert(0, "/work/main/bench"); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_ab as ab
import bigstack

LIMITS = os.environ.get("LIMITS", "2048").split(",")

@contextmanager
def stack_limit(spec):
    limit = int(str(spec).lstrip('a'))
    only_annotate = str(spec).startswith('a')
    from lutnas.lowering.rules import base
    with ExitStack() as st:
        if limit:
            st.enter_context(bigstack.as_default_pipeline(limit))
            if not only_annotate:
                st.enter_context(patch.object(base, "STACK_ARRAY_BYTES", limit))
        yield

def variants(args):
    return [("1 KB", lambda: stack_limit(0))] + [(f"{l} B", lambda l=l: stack_limit(l)) for l in LIMITS]

ab.variants = variants
bigstack.print = lambda *a, **k: None
ab.main()

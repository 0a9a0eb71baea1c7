"""blockab.py of k5-block-2026-12-06 (one block alone, built with patched settings, its kernels timed hot
in alternating rounds), its settings read by lib2.py: also 'rows:N' and 'rowsout:N' (tworow.py).
python blockab2.py BLOCK SIZE THREADS ROUNDS 'label:spec' ..."""
import os, runpy, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib2, blockab_lib   # lib2 puts blockab_lib's folder on the path

blockab_lib.patched_or_config = lib2.patched_or_config   # blockab.py imports it by name when it runs
runpy.run_path("/work/main/docs/measurements/k5-block-2026-12-06/blockab.py", run_name="__main__")

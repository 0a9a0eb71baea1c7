import runpy, sys
sys.path.insert(0, "/tmp/wt-old")
import lutnas
print("lutnas from", lutnas.__file__, flush=True)
assert lutnas.__file__.startswith("/tmp/wt-old")
sys.argv = ["bench/validate_repeat.py"] + sys.argv[1:]
runpy.run_path("/tmp/wt-old/bench/validate_repeat.py", run_name="__main__")

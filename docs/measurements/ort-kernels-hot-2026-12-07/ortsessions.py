"""The two onnxruntime sessions the profiler probes of this folder compare: plain and profiled, 1 thread."""
import tempfile
import onnxruntime as ort


def sessions(path):
    """(plain, profiled) sessions of the ONNX file `path`, one intra- and one inter-op thread."""
    out = []
    for profile in (False, True):
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        if profile:
            so.enable_profiling = True; so.profile_file_prefix = tempfile.mkdtemp() + "/p"
        out.append(ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]))
    return tuple(out)

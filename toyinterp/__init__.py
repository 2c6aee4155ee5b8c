"""toyinterp: reproducible mechanistic-interpretability studies of toy models (see the README)."""
import warnings

# tqdm.auto (imported by TransformerLens and its dependencies) warns "IProgress not found" inside a Jupyter
# kernel without ipywidgets; our bars are text bars (toyinterp.progress), so the warning only litters the
# chapters' executed notebooks.
warnings.filterwarnings("ignore", message="IProgress not found")

# Flush subnormal floats to zero on the CPU (FTZ/DAZ). Once a model has memorized its training set, the
# probabilities of the wrong answers fall below float32's smallest normal number (1.2e-38), and every operation
# on such a subnormal number takes the x86 slow path: measured on the grokking run at step 2,200 (2 threads),
# a training step costs 80 ms with subnormals and 34 ms without, the same as at initialization. The values flushed
# are below 1.2e-38 in a loss of order 1e-7 and more, so the science is unchanged. The setting is per thread and
# new threads inherit it, so it is made here, before torch starts its pool of worker threads (importing
# toyinterp before the first parallel torch operation, as every chapter does). GPUs are not affected.
import torch as _torch

_torch.set_flush_denormal(True)


def _keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the kernel.

    A full-batch step allocates and frees dozens of large tensors ([3,830 x 512] float32 in the grokking and
    BitNet models, 7.8 MB; [32,000 x 200] float64 logits in min-of-two, 51 MB). With glibc's defaults a block
    that large is mmap'ed fresh and unmapped when freed, so every step page-faults all of them in again, 4 KB at
    a time. Measured on 2 threads (2026-12-03, interleaved runs with and without, a fresh process each):
    1,600-2,300 minor page faults per grokking step and 27,000-49,000 per min-of-two step without this, under
    400 with it; a min-of-two step 133-151 ms without, 72-74 ms with; a grokking step 44-48 ms against 42-44;
    BitNet models' steps equal within this machine's run-to-run noise. Same losses to the last bit: only where
    memory comes from changes. In the fresh-clone builds before and after, the min-of-two chapter took 306 s
    and 244 s. So: no mmap for large blocks (they come from the heap), no trimming of the heap below 1 GB,
    64 MB of padding when it grows; the process keeps its peak memory until it exits. A no-op where the C
    library is not glibc, or when the environment sets ``TOYINTERP_KEEP_FREED_MEMORY=0`` (to measure the
    difference). Returns whether it took.
    """
    import ctypes
    import ctypes.util
    import os

    if os.environ.get("TOYINTERP_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4  # malloc.h
    return all(mallopt(opt, value) == 1 for opt, value in
               ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 64 << 20)))


KEEPS_FREED_MEMORY = _keep_freed_memory()

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

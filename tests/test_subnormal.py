"""Importing toyinterp flushes subnormal floats to zero in every CPU thread torch computes on (toyinterp/__init__)."""
import subprocess
import sys

CHECK = """
import torch, toyinterp
torch.set_num_threads(2)
x = torch.full((4_000_000,), 1e-39)           # float32 subnormals, enough work for every thread
y = x * 3.0                                   # DAZ/FTZ: read and written as zero, in each thread's chunk
print(int((y != 0).sum()), torch.finfo(torch.float32).tiny)
"""


def test_subnormals_are_flushed_in_every_thread():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) == 0


def test_without_the_flag_they_are_not():  # the control: the check above can fail
    out = subprocess.run([sys.executable, "-c", CHECK.replace("import torch, toyinterp", "import torch")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 0

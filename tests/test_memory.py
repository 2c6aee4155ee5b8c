"""Importing toyinterp makes glibc keep freed memory, so a training step does not page-fault its large tensors in
again every time (toyinterp/__init__._keep_freed_memory)."""
import os
import platform
import subprocess
import sys

import pytest

CHECK = """
import resource, torch, toyinterp
def step():                                   # what a min-of-two step does: a 51 MB float64 logit tensor, freed
    logits = torch.randn(32_000, 200, dtype=torch.float64)
    return logits.log_softmax(-1).sum().item()
for _ in range(5):                            # the heap grows to the step's peak in the first few
    step()
faults = []
for _ in range(11):                           # a step's faults; the median is the steady state (the heap may
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt   # still grow once, in one step, after the warm-up)
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(toyinterp.KEEPS_FREED_MEMORY, sorted(faults)[len(faults) // 2])
"""

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")


def faults_per_step(keep: str) -> tuple[bool, int]:
    env = {**os.environ, "TOYINTERP_KEEP_FREED_MEMORY": keep}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, env=env)
    took, faults = out.stdout.split()
    return took == "True", int(faults)


@glibc
def test_freed_tensors_are_reused_without_page_faults():
    took, faults = faults_per_step("1")
    assert took and faults < 500  # 4 KB pages: one 51 MB tensor faulted in anew would be 12,500


@glibc
def test_with_glibcs_defaults_every_step_faults_its_tensors_in_again():  # the control: the check above can fail
    took, faults = faults_per_step("0")
    assert not took and faults > 12_500

"""A backend adapter that misbehaves on request, to test the conformance runner.

lr=0.1 kills its process, lr=0.2 hangs, lr=0.3 raises; anything else answers with the
oracle's own trajectory (so the case is exact).
"""

import os
import time

from eps_ref.conformance.runner import reference_trajectory


def available():
    return True, ""


def versions():
    return {"fake": "1"}


def run_optimizer(name, kwargs, param0, grads, device="cpu"):
    lr = kwargs.get("lr")
    if lr == 0.1:
        os.write(2, b"fatal: simulated abort\n")
        os._exit(3)
    if lr == 0.2:
        time.sleep(600)
    if lr == 0.3:
        raise RuntimeError("the framework refused")
    return reference_trajectory(name, kwargs, param0, grads)

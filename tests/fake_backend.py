"""A backend adapter that misbehaves on request, to test the conformance runner.

lr=0.1 kills its process, lr=0.2 hangs, lr=0.3 raises; anything else answers with the
oracle's own trajectory (so the case is exact), on ``FAKE_THREADS`` threads if set.
"""

import os
import time

from eps_ref.conformance.runner import reference_trajectory


def available():
    return True, ""


def versions():
    """``FAKE_THREADS`` set: the worker says it runs on that many intra-op threads."""
    threads = os.environ.get("FAKE_THREADS")
    return {"fake": "1", **({"intra-op threads": int(threads)} if threads else {})}


LABEL = os.environ.get("FAKE_LABEL")
"""The backend label whose kernels the fake answers with (``"fake/torch"``: Keras on torch)."""


def run_optimizer(name, kwargs, param0, grads, device="cpu"):
    lr = kwargs.get("lr")
    if lr == 0.1:
        os.write(2, b"fatal: simulated abort\n")
        os._exit(3)
    if lr == 0.2:
        time.sleep(600)
    if lr == 0.3:
        raise RuntimeError("the framework refused")
    return reference_trajectory(name, kwargs, param0, grads, LABEL,
                                threads=int(os.environ.get("FAKE_THREADS", 1)))

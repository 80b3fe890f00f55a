"""scikit-learn reference for neglect's logistic probes.

Fits StandardScaler + LogisticRegression(C, tol, max_iter; lbfgs) on every layer of an
activation file written by `neglect cache`, on the training rows of a split, and prints one JSON
line: the seconds the fits took (standardisation included, reading excluded), and per layer the
held-out accuracy and the solver's iterations. Used by `neglect bench probe` and the parity test.

usage: probe_sklearn.py ACTS.h5 SPLIT.json C TOL MAX_ITER THREADS
SPLIT.json: {"train": [row indices], "test": [row indices]}
"""

import json
import os
import sys

path, split_path, c, tol, max_iter, threads = sys.argv[1:7]
# BLAS and OpenMP read their thread counts when they load.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = threads

import time  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

with open(split_path) as f:
    split = json.load(f)
train, test = np.array(split["train"]), np.array(split["test"])
with h5py.File(path, "r") as f:
    layers = [int(layer) for layer in f.attrs["layers"]]
    labels = f["labels"][...].astype(np.int64)
    acts = [f[f"layer_{layer:02d}"][...].astype(np.float32) for layer in layers]
x_train = [a[train] for a in acts]
x_test = [a[test] for a in acts]

start = time.perf_counter()
fits = [
    make_pipeline(
        StandardScaler(),
        LogisticRegression(C=float(c), tol=float(tol), max_iter=int(max_iter)),
    ).fit(x, labels[train])
    for x in x_train
]
seconds = time.perf_counter() - start

print(
    json.dumps(
        {
            "seconds": seconds,
            "layers": layers,
            "accuracy": [float(m.score(x, labels[test])) for m, x in zip(fits, x_test)],
            "n_iter": [int(m[-1].n_iter_[0]) for m in fits],
        }
    )
)

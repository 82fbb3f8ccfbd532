"""Compile one registered model with TL2cgen; run by ``compare.py`` in a subprocess with a timeout.

Usage: python tl2cgen_compile.py MODEL_NAME LIB_PATH META_JSON
Writes the shared library and a JSON file with the compile time and the settings used.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import tl2cgen

from compare_engines import _treelite_model
from compare_models import MODELS


def main():
    name, lib, meta = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    spec = MODELS[name]
    t0 = time.perf_counter()
    model = _treelite_model(spec)
    ncores = os.cpu_count() or 1
    params = {"parallel_comp": max(ncores * 2, 2)}  # split the C source so gcc runs on all cores
    tmp = lib.with_name(lib.stem + ".tmp" + lib.suffix)
    t1 = time.perf_counter()
    tl2cgen.export_lib(model, toolchain="gcc", libpath=str(tmp), params=params, nthread=ncores)
    t2 = time.perf_counter()
    tmp.replace(lib)
    meta.write_text(json.dumps({"compile_s": t2 - t1, "treelite_convert_s": t1 - t0, "params": params,
                                "toolchain": "gcc -O3", "compile_jobs": ncores}))


if __name__ == "__main__":
    main()

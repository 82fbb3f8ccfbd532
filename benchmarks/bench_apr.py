"""File size and load time of ``.apr`` containers against ``.xgbrs``, and the cost of signing,
verifying and decrypting.

Models: the schema golden files (``fixtures/schema/v1/*.xgbrs``, small) and ``bench_xgboost.py``'s
500-tree depth-8 binary model (cached under ``benchmarks/.cache/``). For each: the ``.xgbrs`` file
(``gbinfer.load``, memory-mapped) and ``.apr`` with compression none / zstd / zstd-max / lz4
(``gbinfer.apr.load``); then, on the 500 x 8 model with zstd, save and load times plain, signed
(Ed25519), password-encrypted (Argon2id + AES-256-GCM) and recipient-encrypted (X25519 + AES-256-GCM).
Every load is checked to predict identically. Times are medians of ``--repeats`` runs after one warm-up.
Run: python benchmarks/bench_apr.py [--repeats 15] [--skip-500x8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def models(skip_large: bool) -> dict:
    import gbinfer

    out = {p.stem: (gbinfer.load(p), np.load(p.with_suffix(".npz"))["X"])
           for p in sorted((ROOT / "fixtures" / "schema" / "v1").glob("*.xgbrs"))}
    if not skip_large:
        import xgboost as xgb
        from bench_xgboost import data, model_500x8

        out["500x8"] = (gbinfer.load(model_500x8(xgb)), data(200))
    return out


def main() -> int:
    import gbinfer
    from gbinfer import apr
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--skip-500x8", action="store_true", help="only the small fixture models")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_apr_"))

    # 1. sizes and load times per compression
    print(f"gbinfer {gbinfer.__version__}; median of {args.repeats} loads; size and load time, "
          "ratio of size to .xgbrs in brackets\n")
    print("| model | .xgbrs | apr none | apr zstd | apr zstd-max | apr lz4 |")
    print("|---|---|---|---|---|---|")
    all_models = models(args.skip_500x8)
    for name, (model, X) in all_models.items():
        want = model.predict(X, output_margin=True)
        ref = tmp / f"{name}.xgbrs"
        gbinfer.save(model, ref)
        cells = [f"{ref.stat().st_size:,} B, {fmt_time(median_time(lambda: gbinfer.load(ref), args.repeats))}"]
        for compression in (None, "zstd", "zstd-max", "lz4"):
            path = tmp / f"{name}-{compression}.apr"
            apr.save(model, path, compression=compression)
            assert np.array_equal(apr.load(path).predict(X, output_margin=True), want), (name, compression)
            size = path.stat().st_size
            cells.append(f"{size:,} B ({size / ref.stat().st_size:.2f}), "
                         f"{fmt_time(median_time(lambda: apr.load(path), args.repeats))}")
        print(f"| {name} | " + " | ".join(cells) + " |")

    # 2. signing, verifying, decrypting: the largest model, zstd
    name = "500x8" if "500x8" in all_models else "gbtree_multiclass"
    model, X = all_models[name]
    signer, box = ed25519.Ed25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    modes = {
        "plain": ({}, {}),
        "signed": ({"signing_key": signer}, {"trusted_key": signer.public_key()}),
        "password": ({"password": "pw"}, {"password": "pw"}),
        "recipient": ({"recipient": box.public_key()}, {"recipient_key": box}),
        "signed + recipient": ({"signing_key": signer, "recipient": box.public_key()},
                               {"trusted_key": signer.public_key(), "recipient_key": box}),
    }
    print(f"\nmodel {name}, zstd: median save (apr.dumps) and load (apr.load from bytes)\n")
    print("| mode | size | save | load |")
    print("|---|---|---|---|")
    for mode, (save_kw, load_kw) in modes.items():
        data = apr.dumps(model, compression="zstd", **save_kw)
        assert np.array_equal(apr.load(data, **load_kw).predict(X, output_margin=True),
                              model.predict(X, output_margin=True)), mode
        save_t = median_time(lambda: apr.dumps(model, compression="zstd", **save_kw), args.repeats)
        load_t = median_time(lambda: apr.load(data, **load_kw), args.repeats)
        print(f"| {mode} | {len(data):,} B | {fmt_time(save_t)} | {fmt_time(load_t)} |")

    # 3. the primitives alone, on the same file's bytes
    from gbinfer.apr import crypto

    body = apr.dumps(model, compression="zstd")[:-4]
    sig = crypto.sign(signer, body)
    sealed = crypto.encrypt_recipient(body, box.public_key(), b"aad")
    costs = {
        "Ed25519 sign": lambda: crypto.sign(signer, body),
        "Ed25519 verify": lambda: crypto.verify(sig[:64], sig[64:], body, signer.public_key(), "bench"),
        "Argon2id key (m=19456 KiB, t=2, p=1)": lambda: crypto.password_key(b"pw", bytes(16)),
        "X25519 + HKDF + AES-GCM decrypt": lambda: crypto.decrypt_recipient(sealed, box, b"aad", "bench"),
    }
    print(f"\nprimitives over the {len(body):,}-byte file body\n")
    print("| operation | median |")
    print("|---|---|")
    for label, fn in costs.items():
        print(f"| {label} | {fmt_time(median_time(fn, args.repeats))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Builds the bundled example (run from the repository root): a 100-tree binary classifier on synthetic data."""
import numpy as np, xgboost as xgb
rng = np.random.default_rng(42)
X = rng.normal(size=(5000, 20)).astype(np.float32)
X[rng.random(X.shape) < 0.02] = np.nan
y = ((np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) + rng.normal(0, 0.5, 5000)) > 0)
names = [f"f{i}" for i in range(20)]
bst = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 2, "seed": 0},
                xgb.DMatrix(X, y.astype(float), feature_names=names), 100)
bst.save_model("examples/model.ubj")
Xt = X[:200]
with open("examples/data.csv", "w") as fh:
    fh.write(",".join(names) + "\n")
    for row in Xt:
        fh.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")
np.save("examples/expected.npy", bst.predict(xgb.DMatrix(Xt, feature_names=names)))

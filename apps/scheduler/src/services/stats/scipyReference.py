"""Reference values for stats.test.ts, from SciPy and NumPy (Debian: apt-get install -y python3-scipy).

Reads the test's fixed inputs as JSON on stdin and writes the values SciPy gives for them as JSON
on stdout. Nothing here is used by the product; it only checks the TypeScript statistics.
"""
import json
import sys

import numpy as np
from scipy import stats


def weighted_f1(labels, predicted, class_count, axis=-1):
    """scikit-learn's f1_score(average="weighted"), for rows of resamples along `axis`."""
    labels = np.asarray(labels)
    predicted = np.asarray(predicted)
    n = labels.shape[axis]
    total = 0.0
    for c in range(class_count):
        tp = np.sum((labels == c) & (predicted == c), axis=axis)
        support = np.sum(labels == c, axis=axis)
        predicted_as = np.sum(predicted == c, axis=axis)
        denominator = support + predicted_as
        f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
        total = total + support * f1
    return total / n


def main():
    spec = json.load(sys.stdin)
    out = {}
    out["binomtest"] = [
        stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue if b + c > 0 else 1.0
        for b, c in spec["discordant"]
    ]
    out["mcnemarCorrected"] = [
        float(stats.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1)) if b + c > 0 else 1.0 for b, c in spec["discordant"]
    ]
    out["chi2sf"] = [float(stats.chi2.sf(x, 1)) for x in spec["chi2"]]
    out["percentile"] = [float(np.percentile(spec["values"], 100 * q)) for q in spec["quantiles"]]
    out["weightedF1"] = [
        float(weighted_f1(case["labels"], case["predicted"], case["classCount"])) for case in spec["f1Cases"]
    ]
    boot = spec["bootstrap"]
    k = boot["classCount"]

    def delta(labels, candidate, baseline, axis=-1):
        return weighted_f1(labels, candidate, k, axis) - weighted_f1(labels, baseline, k, axis)

    res = stats.bootstrap(
        (np.array(boot["labels"]), np.array(boot["candidate"]), np.array(boot["baseline"])),
        delta,
        paired=True,
        vectorized=True,
        n_resamples=boot["resamples"],
        confidence_level=1 - boot["alpha"],
        method="percentile",
        random_state=np.random.default_rng(0),
    )
    out["bootstrap"] = {
        "delta": float(delta(boot["labels"], boot["candidate"], boot["baseline"])),
        "low": float(res.confidence_interval.low),
        "high": float(res.confidence_interval.high),
        "standardError": float(res.standard_error),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

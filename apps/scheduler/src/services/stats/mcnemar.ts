/**
 * McNemar's test on paired predictions. Only the discordant items matter: `candidateOnly` items the
 * candidate got right and the baseline wrong, `baselineOnly` the reverse.
 */
export interface McNemarResult {
  candidateOnly: number;
  baselineOnly: number;
  /**
   * Exact (binomial) two-sided p-value: `scipy.stats.binomtest(candidateOnly, candidateOnly +
   * baselineOnly, 0.5).pvalue`, i.e. statsmodels' `mcnemar(table, exact=True)`. This is the one a
   * promotion decides on: it is valid for any count, however few items disagree.
   */
  pExact: number;
  /** Continuity-corrected chi-squared statistic, (|b - c| - 1)^2 / (b + c); 0 when b + c = 0. */
  chi2: number;
  /** Its p-value, `scipy.stats.chi2.sf(chi2, 1)` (statsmodels' `exact=False, correction=True`). */
  pCorrected: number;
}

export function mcnemar(candidateOnly: number, baselineOnly: number): McNemarResult {
  for (const [name, v] of [
    ["candidateOnly", candidateOnly],
    ["baselineOnly", baselineOnly],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`mcnemar: ${name} must be a count, got ${v}`);
  }
  const n = candidateOnly + baselineOnly;
  if (n === 0) return { candidateOnly, baselineOnly, pExact: 1, chi2: 0, pCorrected: 1 };
  const chi2 = (Math.abs(candidateOnly - baselineOnly) - 1) ** 2 / n;
  return {
    candidateOnly,
    baselineOnly,
    pExact: Math.min(1, 2 * binomialCdfHalf(Math.min(candidateOnly, baselineOnly), n)),
    chi2,
    pCorrected: chiSquared1Sf(chi2),
  };
}

/**
 * P(X <= k) for X ~ Binomial(n, 1/2), summed in log space so that n in the tens of thousands
 * neither overflows the binomial coefficients nor underflows 2^-n.
 */
export function binomialCdfHalf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  const logHalfN = -n * Math.LN2;
  let logTerm = logHalfN; // log C(n, 0) / 2^n
  let maxLog = logTerm;
  const logs: number[] = [logTerm];
  for (let i = 0; i < k; i++) {
    logTerm += Math.log(n - i) - Math.log(i + 1);
    logs.push(logTerm);
    if (logTerm > maxLog) maxLog = logTerm;
  }
  let sum = 0;
  for (const l of logs) sum += Math.exp(l - maxLog);
  return Math.min(1, Math.exp(maxLog + Math.log(sum)));
}

/** Survival function of the chi-squared distribution with one degree of freedom: erfc(sqrt(x / 2)). */
export function chiSquared1Sf(x: number): number {
  if (!(x >= 0)) throw new Error(`chiSquared1Sf: x must be >= 0, got ${x}`);
  return erfc(Math.sqrt(x / 2));
}

/** The complementary error function for z >= 0, to about 1e-14 relative error. */
export function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 2) {
    // erf(z) = 2/sqrt(pi) e^(-z^2) sum_n 2^n z^(2n+1) / (1*3*...*(2n+1)): all terms positive, no cancellation.
    let term = z;
    let sum = z;
    for (let n = 0; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * z * z) / (2 * n + 3);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
  }
  // Continued fraction erfc(z) = e^(-z^2)/sqrt(pi) / (z + (1/2)/(z + (2/2)/(z + (3/2)/(z + ...)))),
  // evaluated from the tail; at z >= 2 a hundred levels are far past convergence.
  let t = z;
  for (let n = 100; n >= 1; n--) t = z + n / 2 / t;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * t);
}

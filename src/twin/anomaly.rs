//! Anomalous samples in one numeric property: a robust EWMA control chart.
//!
//! Twin telemetry drifts (a pump warms up, a tank fills), so a chart against a fixed centre line
//! would flag every sample of a slow trend. Instead the centre is an exponentially weighted
//! moving average of the series itself and the control limits come from an exponentially
//! weighted variance of the one-step deviations: a sample is anomalous when it lies more than
//! `k` standard deviations from the EWMA of the samples before it.
//!
//! Flagged samples update the EWMA and variance only after being clamped to the control limit,
//! so one spike does not widen the limits and hide the next spike, while a genuine level shift
//! still pulls the centre over within a few samples. The chart starts from the median and MAD
//! of the first `warmup` samples, so a spike at the very start does not poison the baseline.
//!
//! The first samples only seed and settle the chart (see [`ewma_anomalies`]). One pass, O(n), no
//! allocation beyond the warm-up buffer and the result; deterministic.

/// Parameters of [`ewma_anomalies`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EwmaParams {
    /// Smoothing weight of the newest sample for the centre line, in (0, 1]; small values
    /// remember longer.
    pub lambda: f64,
    /// Smoothing weight for the variance. Smaller than `lambda`, because a variance estimate
    /// from ~20 samples swings enough to put clean noise outside the limits now and then.
    pub lambda_var: f64,
    /// Control limit in standard deviations of the one-step deviation.
    pub k: f64,
    /// Finite samples used to seed the chart (median and MAD); none of them is flagged.
    pub warmup: usize,
}

impl Default for EwmaParams {
    fn default() -> Self {
        Self {
            lambda: 0.05,
            lambda_var: 0.02,
            k: 4.0,
            warmup: 20,
        }
    }
}

/// Indices (into `values`) of anomalous samples, ascending. NaN and infinite samples are
/// skipped: they are neither flagged nor used. The first `warmup + ceil(1 / lambda_var)` finite
/// samples (70 by default) are never flagged, while the chart learns the noise level.
#[must_use]
pub fn ewma_anomalies(values: &[f64], params: &EwmaParams) -> Vec<usize> {
    let clamp = |l: f64, default: f64| {
        if l.is_finite() {
            l.clamp(1e-6, 1.0)
        } else {
            default
        }
    };
    let lambda = clamp(params.lambda, 0.05);
    let lambda_var = clamp(params.lambda_var, 0.02);
    let k = if params.k.is_finite() && params.k > 0.0 {
        params.k
    } else {
        4.0
    };
    let warmup = params.warmup.max(2);

    let mut finite = values.iter().enumerate().filter(|(_, v)| v.is_finite());
    let mut seed: Vec<f64> = finite.by_ref().take(warmup).map(|(_, &v)| v).collect();
    if seed.len() < warmup {
        return Vec::new();
    }
    let mean = median(&mut seed);
    let mut dev: Vec<f64> = seed.iter().map(|v| (v - mean).abs()).collect();
    // 1.4826·MAD estimates σ for normal noise.
    let sigma = 1.4826 * median(&mut dev);
    // A floor keeps a constant series from flagging rounding noise as infinite-σ events.
    let floor = 1e-9 * mean.abs().max(1.0);
    let mut mean = mean;
    let mut var = sigma.max(floor).powi(2);

    // The seed's σ comes from few samples and can be well off; let the variance settle for about
    // one memory length before trusting it to flag (outliers are still clamped meanwhile).
    let burn_in = (1.0 / lambda_var).ceil() as usize;
    let mut out = Vec::new();
    for (n, (i, &v)) in finite.enumerate() {
        let sd = var.sqrt().max(floor);
        let e = v - mean;
        let limit = k * sd;
        let e_used = if e.abs() > limit {
            if n >= burn_in {
                out.push(i);
            }
            limit.copysign(e)
        } else {
            e
        };
        mean += lambda * e_used;
        var = (1.0 - lambda_var) * var + lambda_var * e_used * e_used;
    }
    out
}

/// Median of a non-empty slice (reorders it); 0 for an empty one.
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        // Sum of 4 uniforms: bell-shaped, sd ≈ 0.577, bounded at ±2, so k = 4 never trips on it.
        (0..n)
            .map(|i| 10.0 + 0.001 * i as f64 + (0..4).map(|_| rng.f64() - 0.5).sum::<f64>())
            .collect()
    }

    #[test]
    fn flags_injected_spikes_and_only_them() {
        let mut v = noise(2_000, 1);
        let spikes = [300usize, 301, 900, 1500, 1999];
        for (j, &i) in spikes.iter().enumerate() {
            v[i] += if j % 2 == 0 { 8.0 } else { -8.0 };
        }
        assert_eq!(ewma_anomalies(&v, &EwmaParams::default()), spikes);
    }

    #[test]
    fn clean_noise_and_slow_drift_flag_nothing() {
        for seed in 0..5 {
            let v = noise(5_000, seed);
            assert!(
                ewma_anomalies(&v, &EwmaParams::default()).is_empty(),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn spike_in_warmup_does_not_poison_baseline() {
        let mut v = noise(500, 7);
        v[3] += 50.0;
        v[200] += 8.0;
        assert_eq!(ewma_anomalies(&v, &EwmaParams::default()), vec![200]);
    }

    #[test]
    fn level_shift_is_flagged_briefly_then_accepted() {
        let mut v = noise(1_000, 3);
        for x in &mut v[500..] {
            *x += 10.0;
        }
        let a = ewma_anomalies(&v, &EwmaParams::default());
        assert_eq!(a.first(), Some(&500));
        assert!(a.len() < 60, "{} flags after a step", a.len());
        assert!(a.iter().all(|&i| (500..600).contains(&i)), "{a:?}");
    }

    #[test]
    fn degenerate_inputs() {
        let p = EwmaParams::default();
        assert!(ewma_anomalies(&[], &p).is_empty());
        assert!(ewma_anomalies(&[1.0; 5], &p).is_empty());
        assert!(ewma_anomalies(&[f64::NAN; 100], &p).is_empty());
        assert!(ewma_anomalies(&[3.0; 100], &p).is_empty());
        // Within the burn-in nothing is flagged.
        let mut early = vec![3.0; 100];
        early[60] = 4.0;
        assert!(ewma_anomalies(&early, &p).is_empty());
        // A step on a constant series is an anomaly; NaNs are skipped but indices stay true.
        let mut c = vec![3.0; 100];
        c[10] = f64::NAN;
        c[90] = 4.0;
        assert_eq!(ewma_anomalies(&c, &p), vec![90]);
    }
}

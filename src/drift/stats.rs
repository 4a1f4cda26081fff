//! The drift statistics, each computed the way SciPy computes it (the
//! oracle the tests compare with, within 1e-9 relative):
//!
//! - [`ks_2samp`]: two-sample Kolmogorov–Smirnov, two-sided, SciPy's
//!   `method="auto"`: exact when both samples have at most 10,000 values
//!   (Hodges' lattice-path counts, `_compute_prob_outside_square` for equal
//!   sizes, the "outer probability inside" recursion of Viehmann,
//!   arXiv:2102.08037, otherwise), else the asymptotic Kolmogorov
//!   distribution;
//! - [`chisquare`]: Pearson's statistic and its χ² survival p-value;
//! - [`two_proportion_z`]: the pooled two-proportion z-test, as Evidently
//!   computes it (`2 * (1 - Φ(|z|))`);
//! - [`wasserstein`]: the first Wasserstein distance of two empirical
//!   distributions (`scipy.stats.wasserstein_distance`);
//! - [`jensen_shannon`]: the Jensen–Shannon *distance* with the natural log
//!   (`scipy.spatial.distance.jensenshannon`);
//! - [`psi`]: the population stability index over given shares.
//!
//! Samples are sorted `f64` slices without NaN (missing values are left out
//! before a test, as Evidently leaves them out).

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// SciPy's `MAX_AUTO_N`: above it `ks_2samp` goes asymptotic.
const KS_EXACT_MAX: usize = 10_000;

/// Sorts `v` in `f64::total_cmp` order: a least-significant-digit radix
/// sort over the bits (11-bit digits, six passes, linear in `v`) for long
/// columns, where comparison sorting was most of a wide table's drift
/// time; a comparison sort for short ones.
pub fn sort_f64(v: &mut [f64]) {
    const SMALL: usize = 4096;
    if v.len() < SMALL {
        v.sort_unstable_by(f64::total_cmp);
        return;
    }
    // total_cmp's key: flip every bit of negatives, the sign bit of the
    // rest, so unsigned order is total order.
    let key = |x: f64| {
        let b = x.to_bits();
        if b >> 63 == 1 {
            !b
        } else {
            b | (1 << 63)
        }
    };
    let unkey = |k: u64| f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k });
    let mut a: Vec<u64> = v.iter().map(|x| key(*x)).collect();
    let mut b = vec![0u64; a.len()];
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    for pass in 0..6 {
        let shift = pass * BITS;
        let mut counts = [0usize; BUCKETS];
        for k in &a {
            counts[((k >> shift) as usize) & (BUCKETS - 1)] += 1;
        }
        // A digit every key shares leaves the order as it is.
        if counts.contains(&a.len()) {
            continue;
        }
        let mut at = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for k in &a {
            let d = ((k >> shift) as usize) & (BUCKETS - 1);
            b[counts[d]] = *k;
            counts[d] += 1;
        }
        std::mem::swap(&mut a, &mut b);
    }
    for (x, k) in v.iter_mut().zip(a) {
        *x = unkey(k);
    }
}

/// The KS statistic D (the largest gap between the two empirical CDFs) and
/// its two-sided p-value. `a`, `b`: sorted, non-empty.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (n1, n2) = (a.len(), b.len());
    // The CDF gap is largest at one of the sample values: walk both.
    let (mut i, mut j) = (0usize, 0usize);
    let (mut max_pos, mut max_neg) = (0.0f64, 0.0f64);
    while i < n1 || j < n2 {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < n1 && a[i] <= x {
            i += 1;
        }
        while j < n2 && b[j] <= x {
            j += 1;
        }
        let diff = i as f64 / n1 as f64 - j as f64 / n2 as f64;
        max_pos = max_pos.max(diff);
        max_neg = max_neg.max(-diff);
    }
    let d = max_pos.max(max_neg.clamp(0.0, 1.0));
    let g = gcd(n1, n2);
    if n1.max(n2) <= KS_EXACT_MAX {
        let lcm = (n1 / g) as f64 * n2 as f64;
        let h = (d * lcm).round_ties_even() as u64;
        let d_exact = h as f64 / lcm;
        if h == 0 {
            return (d_exact, 1.0);
        }
        let p = if n1 == n2 {
            prob_outside_square(n1 as u64, h)
        } else {
            outer_prob_inside(n1 as u64, n2 as u64, g as u64, h)
        };
        if p.is_finite() && (0.0..=1.0).contains(&p) {
            return (d_exact, p);
        }
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round_ties_even();
    (d, kolmogorov_sf(d, en).clamp(0.0, 1.0))
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// P(D_{n,n} >= h/n): twice the alternating sum of binomial ratios, by a
/// Horner-like scheme that avoids subtractive cancellation.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0f64;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let kk = k as u64;
        let mut p1 = 1.0f64;
        for j in 0..h {
            p1 = (n as f64 - (kk * h) as f64 - j as f64) * p1 / ((n + kk * h + j + 1) as f64);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// 1 − the share of lattice paths from (0,0) to (m,n) that stay strictly
/// inside |x/m − y/n| < h/lcm(m,n), computed as the share that leaves.
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = (m / g, n / g);
    let ceil_div = |a: i128, b: i128| -> i128 { (a + b - 1).div_euclid(b) };
    let floor_div = |a: i128, b: i128| -> i128 { a.div_euclid(b) };
    let (h, mg_i, ng_i, n_i) = (h as i128, mg as i128, ng as i128, n as i128);
    let mut minj: i128 = 0;
    let mut maxj: i128 = ceil_div(h, mg_i).min(n_i + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n_i + 1) as usize;
    let mut a = vec![1.0f64; len_a.max(1)];
    for v in a.iter_mut().take(maxj as usize) {
        *v = 0.0;
    }
    for i in 1..=(m as i128) {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng_i * i - h, mg_i) + 1).max(0).min(n_i);
        maxj = ceil_div(ng_i * i + h, mg_i).min(n_i + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let idx = (jj + minj - lastminj) as usize;
            val = (a[idx] * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let from = (maxj - minj) as usize;
            let to = (from + (lastlen - curlen) as usize).min(a.len());
            for v in &mut a[from..to] {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// The survival function of the one-sample Kolmogorov statistic D_n at
/// `d` for `n` values, by the asymptotic series of sqrt(n)·D_n (used only
/// past SciPy's exact range).
fn kolmogorov_sf(d: f64, n: f64) -> f64 {
    let x = d * n.sqrt();
    if x <= 0.0 {
        return 1.0;
    }
    // Kolmogorov's series: 2 Σ (-1)^(k-1) exp(-2 k² x²).
    let mut s = 0.0;
    for k in 1..=100 {
        let kf = k as f64;
        let term = (-2.0 * kf * kf * x * x).exp();
        s += if k % 2 == 1 { term } else { -term };
        if term < 1e-300 {
            break;
        }
    }
    (2.0 * s).clamp(0.0, 1.0)
}

/// Pearson's χ² statistic of observed against expected counts and its
/// p-value with `len − 1` degrees of freedom (`scipy.stats.chisquare`).
pub fn chisquare(observed: &[f64], expected: &[f64]) -> (f64, f64) {
    let stat: f64 = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    let dof = observed.len().saturating_sub(1) as f64;
    // An expected count of 0 with observations (a new category) makes the
    // statistic infinite and the p-value 0, as in SciPy.
    if stat == f64::INFINITY {
        return (stat, 0.0);
    }
    if dof < 1.0 || !stat.is_finite() {
        return (stat, f64::NAN);
    }
    let p = ChiSquared::new(dof).map(|c| c.sf(stat)).unwrap_or(f64::NAN);
    (stat, p)
}

/// The pooled two-proportion z statistic of the shares of ones in two
/// 0/1 samples (`ones`, `n` each), and `2 * (1 − Φ(|z|))`.
pub fn two_proportion_z(ones1: u64, n1: u64, ones2: u64, n2: u64) -> (f64, f64) {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (p1, p2) = (ones1 as f64 / n1f, ones2 as f64 / n2f);
    let pooled = (p1 * n1f + p2 * n2f) / (n1f + n2f);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    let phi = Normal::standard().cdf(z.abs());
    (z, 2.0 * (1.0 - phi))
}

/// The first Wasserstein distance between the empirical distributions of
/// sorted samples `u` and `v`: ∫ |F_u − F_v| over the merged values.
pub fn wasserstein(u: &[f64], v: &[f64]) -> f64 {
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    // Walk the merged sorted values; between consecutive ones both CDFs
    // are constant.
    while i < u.len() || j < v.len() {
        let x = match (u.get(i), v.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        if let Some(p) = prev {
            total += ((i as f64 / nu) - (j as f64 / nv)).abs() * (x - p);
        }
        while i < u.len() && u[i] <= x {
            i += 1;
        }
        while j < v.len() && v[j] <= x {
            j += 1;
        }
        prev = Some(x);
    }
    total
}

/// The Jensen–Shannon distance (natural log) of two distributions given as
/// non-negative weights (normalised here).
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let rel_entr = |x: f64, y: f64| {
        if x > 0.0 && y > 0.0 {
            x * (x / y).ln()
        } else if x == 0.0 && y >= 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    };
    let mut left = 0.0;
    let mut right = 0.0;
    for (x, y) in p.iter().zip(q) {
        let (x, y) = (x / sp, y / sq);
        let m = (x + y) / 2.0;
        left += rel_entr(x, m);
        right += rel_entr(y, m);
    }
    ((left + right) / 2.0).sqrt()
}

/// PSI = Σ (r − c) · ln(r / c) over bins, shares `r` (reference) and `c`
/// (current) with empty bins already replaced by ε.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// NumPy's `histogram_bin_edges(data, bins="sturges")` for data whose
/// minimum, maximum and size are given: `ceil(ptp / (ptp / (log2 n + 1)))`
/// equal bins from the minimum to the maximum (±0.5 when they are equal).
pub fn sturges_edges(min: f64, max: f64, n: usize) -> Vec<f64> {
    let (first, last) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let ptp = max - min;
    let width = ptp / ((n as f64).log2() + 1.0);
    let bins = if width > 0.0 {
        ((last - first) / width).ceil() as usize
    } else {
        1
    };
    linspace(first, last, bins + 1)
}

/// NumPy's `linspace(start, stop, num)` (endpoint included).
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut out: Vec<f64> = (0..num)
        .map(|i| {
            if step == 0.0 {
                (i as f64 / div) * delta + start
            } else {
                i as f64 * step + start
            }
        })
        .collect();
    if let Some(l) = out.last_mut() {
        *l = stop;
    }
    out
}

/// NumPy's `histogram(sorted, bins=edges)` with explicit edges: counts in
/// [e_i, e_{i+1}), the last bin closed.
pub fn histogram_sorted(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let lower = |x: f64| sorted.partition_point(|v| *v < x);
    let upper = |x: f64| sorted.partition_point(|v| *v <= x);
    let mut cum: Vec<usize> = edges[..edges.len() - 1].iter().map(|e| lower(*e)).collect();
    cum.push(upper(edges[edges.len() - 1]));
    cum.windows(2).map(|w| (w[1] - w[0]) as u64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases_match_scipy() {
        // scipy.stats.ks_2samp([1,2,3,4,5], [3,4,5,6,7,8]) -> D=0.5, p=0.35714285714285715 (SciPy 1.17.1)
        let (d, p) = ks_2samp(&[1., 2., 3., 4., 5.], &[3., 4., 5., 6., 7., 8.]);
        assert!((d - 0.5).abs() < 1e-15);
        assert!((p - 0.35714285714285715).abs() < 1e-15, "{p}");
        // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) -> 5.0
        assert!((wasserstein(&[0., 1., 3.], &[5., 6., 8.]) - 5.0).abs() < 1e-15);
        // scipy.spatial.distance.jensenshannon([1, 0], [0, 1]) -> sqrt(ln 2)
        assert!((jensen_shannon(&[1., 0.], &[0., 1.]) - 2f64.ln().sqrt()).abs() < 1e-15);
        assert_eq!(histogram_sorted(&[1., 2., 2., 3.], &[1., 2., 3.]), [1, 3]);
    }
}

#[cfg(test)]
mod sort_tests {
    #[test]
    fn radix_sort_matches_total_cmp_order() {
        let mut v: Vec<f64> = (0..20_000u64)
            .map(|i| {
                let x = (i.wrapping_mul(2654435761) % 100_003) as f64 - 50_000.0;
                match i % 97 {
                    0 => -0.0,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    3 => 1e-310,
                    _ => x / 7.0,
                }
            })
            .collect();
        let mut want = v.clone();
        want.sort_unstable_by(f64::total_cmp);
        super::sort_f64(&mut v);
        assert_eq!(
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}

//! Statistics of a period of one channel: minimum, maximum, time-weighted mean, time outside limits, and the mean
//! kinetic temperature (MKT) of USP <1160>.
//!
//! Samples may be irregular (a logger that also samples on change, a gap while it was unplugged), so every sample
//! is weighted by the time it stands for: half the interval to its previous sample plus half the interval to its
//! next one (the first and last sample: the half-interval on their one side). A single sample weighs one second.
//!
//! MKT = (ΔH/R) / −ln( Σ wᵢ·e^(−ΔH/(R·Tᵢ)) / Σ wᵢ ), with Tᵢ in kelvin, R = 8.3144 J/(mol·K) and ΔH the activation
//! energy (USP default 83.144 kJ/mol, so ΔH/R = 10,000 K).

/// USP <1160>'s default activation energy, kJ/mol.
pub const DEFAULT_DELTA_H_KJ_PER_MOL: f64 = 83.144;
/// The gas constant as USP <1160> uses it, kJ/(mol·K).
pub const GAS_CONSTANT_KJ_PER_MOL_K: f64 = 8.3144e-3;
const KELVIN_OFFSET: f64 = 273.15;

/// Statistics of a series; times in seconds, values in the channel's unit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Statistics {
    pub count: usize,
    pub min: f64,
    pub max: f64,
    /// Time-weighted mean.
    pub mean: f64,
    /// Seconds the series stood above `upper` / below `lower` (when given).
    pub seconds_above: Option<f64>,
    pub seconds_below: Option<f64>,
    /// Mean kinetic temperature, for temperature series.
    pub mkt: Option<f64>,
}

/// Limits to measure time outside of, and whether to compute MKT (with this ΔH in kJ/mol).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub mkt_delta_h: Option<f64>,
}

/// The statistics of `samples` (`(t_s, value)`, in time order); `None` for no samples.
pub fn statistics(samples: &[(i64, f64)], options: Options) -> Option<Statistics> {
    let weights = weights(samples);
    let total: f64 = weights.iter().sum();
    samples.first()?;
    let min = samples.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
    let max = samples.iter().map(|(_, v)| *v).fold(f64::NEG_INFINITY, f64::max);
    let mean = samples.iter().zip(&weights).map(|((_, v), w)| v * w).sum::<f64>() / total;
    let seconds = |outside: &dyn Fn(f64) -> bool| -> f64 {
        samples.iter().zip(&weights).filter(|((_, v), _)| outside(*v)).map(|(_, w)| *w).sum()
    };
    let seconds_above = options.upper.map(|upper| seconds(&|v| v > upper));
    let seconds_below = options.lower.map(|lower| seconds(&|v| v < lower));
    let mkt = options.mkt_delta_h.map(|delta_h| mean_kinetic_temperature(samples, &weights, delta_h));
    Some(Statistics { count: samples.len(), min, max, mean, seconds_above, seconds_below, mkt })
}

/// Each sample's weight: the time it stands for (see the module documentation).
fn weights(samples: &[(i64, f64)]) -> Vec<f64> {
    if samples.len() == 1 {
        return vec![1.0];
    }
    (0..samples.len())
        .map(|i| {
            let before = if i > 0 { (samples[i].0 - samples[i - 1].0) as f64 / 2.0 } else { 0.0 };
            let after = if i + 1 < samples.len() { (samples[i + 1].0 - samples[i].0) as f64 / 2.0 } else { 0.0 };
            before + after
        })
        .collect()
}

fn mean_kinetic_temperature(samples: &[(i64, f64)], weights: &[f64], delta_h: f64) -> f64 {
    let activation = delta_h / GAS_CONSTANT_KJ_PER_MOL_K;
    let total: f64 = weights.iter().sum();
    let sum: f64 =
        samples.iter().zip(weights).map(|((_, celsius), w)| w * (-activation / (celsius + KELVIN_OFFSET)).exp()).sum();
    activation / -(sum / total).ln() - KELVIN_OFFSET
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed fixtures (worked out independently with the USP formula, R = 8.3144 J/(mol·K)).
    const EPSILON: f64 = 1e-6;

    fn mkt_of(samples: &[(i64, f64)]) -> f64 {
        let options = Options { mkt_delta_h: Some(DEFAULT_DELTA_H_KJ_PER_MOL), ..Options::default() };
        statistics(samples, options).unwrap().mkt.unwrap()
    }

    #[test]
    fn a_constant_temperature_is_its_own_mkt() {
        assert!((mkt_of(&[(0, 25.0), (300, 25.0), (600, 25.0)]) - 25.0).abs() < EPSILON);
    }

    #[test]
    fn mkt_weighs_warm_excursions_more_than_the_arithmetic_mean() {
        // Two equally weighted halves at 20 °C and 30 °C: MKT 26.259887 °C, above the mean of 25 °C.
        let stats = statistics(
            &[(0, 20.0), (600, 20.0), (600, 30.0), (1_200, 30.0)],
            Options { mkt_delta_h: Some(DEFAULT_DELTA_H_KJ_PER_MOL), ..Options::default() },
        )
        .unwrap();
        assert!((stats.mkt.unwrap() - 26.259_886_916).abs() < EPSILON, "{stats:?}");
        assert!((stats.mean - 25.0).abs() < EPSILON);
        // Four regular fridge readings 2, 8, 5 and 25 °C (end samples weigh half): see the irregular case for weights.
        let regular = mkt_of(&[(0, 2.0), (300, 8.0), (600, 5.0), (900, 25.0)]);
        let expected = {
            let activation = DEFAULT_DELTA_H_KJ_PER_MOL / GAS_CONSTANT_KJ_PER_MOL_K;
            let w = [150.0, 300.0, 300.0, 150.0];
            let v = [2.0f64, 8.0, 5.0, 25.0];
            let s: f64 = w.iter().zip(v).map(|(w, v)| w * (-activation / (v + 273.15)).exp()).sum::<f64>() / 900.0;
            activation / -s.ln() - 273.15
        };
        assert!((regular - expected).abs() < EPSILON);
    }

    #[test]
    fn irregular_samples_are_weighted_by_the_time_they_stand_for() {
        // 5 °C at 0 s, 8 °C at 600 s, 30 °C at 900 s, 6 °C at 4,500 s: weights 300, 450, 1,950 and 1,800 s.
        let samples = [(0, 5.0), (600, 8.0), (900, 30.0), (4_500, 6.0)];
        let options = Options { lower: Some(6.0), upper: Some(25.0), mkt_delta_h: Some(DEFAULT_DELTA_H_KJ_PER_MOL) };
        let stats = statistics(&samples, options).unwrap();
        assert!((stats.mkt.unwrap() - 23.175_437_738).abs() < EPSILON, "{stats:?}");
        assert!((stats.mean - 16.533_333_333).abs() < EPSILON, "{stats:?}");
        assert_eq!((stats.seconds_above, stats.seconds_below), (Some(1_950.0), Some(300.0)));
        assert_eq!((stats.count, stats.min, stats.max), (4, 5.0, 30.0));
    }

    #[test]
    fn no_samples_have_no_statistics_and_one_sample_is_its_own() {
        assert_eq!(statistics(&[], Options::default()), None);
        let one = statistics(&[(7, 4.5)], Options { mkt_delta_h: Some(83.144), ..Options::default() }).unwrap();
        assert!((one.mean - 4.5).abs() < EPSILON && (one.mkt.unwrap() - 4.5).abs() < EPSILON);
    }
}

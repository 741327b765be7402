// SPDX-License-Identifier: MPL-2.0
//! Per-track temporal models over the classifier's probabilities (pure, no model).
//!
//! A [`SequenceModel`] turns the per-frame class probabilities of one face into smoothed
//! probabilities; [`Hysteresis`] turns those into a label that does not flicker. Both live in an
//! [`ExpressionSmoother`], one per track.
//!
//! The default [`HmmFilter`] is the forward pass of a hidden Markov model whose hidden state is
//! the expression: the transition matrix has `stickiness` on its diagonal and
//! `(1 − stickiness) / (K − 1)` elsewhere; each frame the prior is propagated through it and
//! multiplied by the emission (the classifier's probabilities, read as scaled likelihoods,
//! optionally tempered as `p^(1/temperature)`), then renormalised. A learned sequence model (an
//! RNN/LSTM over the same inputs) can implement the trait instead.

use std::fmt;

/// Floor for emissions and posteriors, so one confident wrong frame cannot zero a class forever.
const FLOOR: f32 = 1e-6;

/// A per-track filter over class probabilities.
pub trait SequenceModel: Send + fmt::Debug {
    /// Feeds the probabilities observed on this frame and returns the filtered probabilities.
    fn update(&mut self, observation: &[f32]) -> &[f32];
    /// The current filtered probabilities (empty before the first update).
    fn probabilities(&self) -> &[f32];
    /// Forgets the history.
    fn reset(&mut self);
}

/// Which [`SequenceModel`] to use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smoothing {
    /// Raw probabilities.
    None,
    /// Exponential moving average: `s ← alpha · p + (1 − alpha) · s`.
    Ema {
        /// Weight of the new observation, in `(0, 1]`.
        alpha: f32,
    },
    /// HMM forward filter.
    Hmm {
        /// Probability of staying in the same expression from one observation to the next,
        /// in `[1/K, 1)`.
        stickiness: f32,
        /// Emission temperature (`p^(1/temperature)`); 1 uses the probabilities as they are,
        /// larger values trust a single frame less.
        temperature: f32,
    },
}

impl Default for Smoothing {
    fn default() -> Self {
        Smoothing::hmm(Smoothing::DEFAULT_STICKINESS)
    }
}

impl Smoothing {
    /// Stickiness of the default HMM filter.
    pub const DEFAULT_STICKINESS: f32 = 0.9;
    /// Emission temperature of the HMM filter unless told otherwise: the probabilities as they are.
    pub const DEFAULT_TEMPERATURE: f32 = 1.0;

    /// The HMM forward filter with this stickiness and the default temperature.
    pub fn hmm(stickiness: f32) -> Smoothing {
        Smoothing::Hmm {
            stickiness,
            temperature: Smoothing::DEFAULT_TEMPERATURE,
        }
    }

    /// A fresh model of this kind.
    pub fn build(&self) -> Box<dyn SequenceModel> {
        match *self {
            Smoothing::None => Box::new(Passthrough::default()),
            Smoothing::Ema { alpha } => Box::new(Ema::new(alpha)),
            Smoothing::Hmm {
                stickiness,
                temperature,
            } => Box::new(HmmFilter::new(stickiness, temperature)),
        }
    }
}

/// No smoothing: the last observation.
#[derive(Debug, Clone, Default)]
pub struct Passthrough {
    last: Vec<f32>,
}

impl SequenceModel for Passthrough {
    fn update(&mut self, observation: &[f32]) -> &[f32] {
        self.last.clear();
        self.last.extend_from_slice(observation);
        &self.last
    }
    fn probabilities(&self) -> &[f32] {
        &self.last
    }
    fn reset(&mut self) {
        self.last.clear();
    }
}

/// Exponential moving average of the probabilities.
#[derive(Debug, Clone)]
pub struct Ema {
    alpha: f32,
    state: Vec<f32>,
}

impl Ema {
    /// `alpha` is clamped to `(0, 1]`.
    pub fn new(alpha: f32) -> Ema {
        let alpha = if alpha.is_finite() {
            alpha.clamp(1e-3, 1.0)
        } else {
            1.0
        };
        Ema {
            alpha,
            state: Vec::new(),
        }
    }
}

impl SequenceModel for Ema {
    fn update(&mut self, observation: &[f32]) -> &[f32] {
        if self.state.len() != observation.len() {
            self.state = observation.to_vec();
        } else {
            for (s, &p) in self.state.iter_mut().zip(observation) {
                *s += self.alpha * (p - *s);
            }
        }
        &self.state
    }
    fn probabilities(&self) -> &[f32] {
        &self.state
    }
    fn reset(&mut self) {
        self.state.clear();
    }
}

/// HMM forward filter with a "sticky" uniform transition matrix (see the module docs).
#[derive(Debug, Clone)]
pub struct HmmFilter {
    stickiness: f32,
    inverse_temperature: f32,
    posterior: Vec<f32>,
}

impl HmmFilter {
    /// `stickiness` is clamped to `[0, 0.9999]` (and, per update, to at least `1/K`: below that
    /// the matrix would prefer switching); `temperature` to at least 0.01.
    pub fn new(stickiness: f32, temperature: f32) -> HmmFilter {
        let stickiness = if stickiness.is_finite() {
            stickiness.clamp(0.0, 0.9999)
        } else {
            0.9
        };
        let temperature = if temperature.is_finite() {
            temperature.max(0.01)
        } else {
            1.0
        };
        HmmFilter {
            stickiness,
            inverse_temperature: 1.0 / temperature,
            posterior: Vec::new(),
        }
    }
}

impl SequenceModel for HmmFilter {
    fn update(&mut self, observation: &[f32]) -> &[f32] {
        let k = observation.len();
        if k == 0 {
            self.posterior.clear();
            return &self.posterior;
        }
        if self.posterior.len() != k {
            self.posterior = vec![1.0 / k as f32; k];
        }
        let stay = self.stickiness.max(1.0 / k as f32);
        let switch = if k > 1 {
            (1.0 - stay) / (k - 1) as f32
        } else {
            0.0
        };
        let mut total = 0.0;
        for (post, &obs) in self.posterior.iter_mut().zip(observation) {
            // Σ_i T[i][j] post[i] with T = stay on the diagonal, switch elsewhere (Σ post = 1).
            let prior = stay * *post + switch * (1.0 - *post);
            let emission = if obs.is_finite() {
                obs.max(FLOOR)
            } else {
                FLOOR
            };
            let emission = if self.inverse_temperature == 1.0 {
                emission
            } else {
                emission.powf(self.inverse_temperature)
            };
            *post = prior * emission;
            total += *post;
        }
        for post in &mut self.posterior {
            *post = (*post / total).max(FLOOR);
        }
        let total: f32 = self.posterior.iter().sum();
        for post in &mut self.posterior {
            *post /= total;
        }
        &self.posterior
    }
    fn probabilities(&self) -> &[f32] {
        &self.posterior
    }
    fn reset(&mut self) {
        self.posterior.clear();
    }
}

/// Index and value of the largest probability (first one on ties); None for an empty slice.
pub fn argmax(probabilities: &[f32]) -> Option<(usize, f32)> {
    probabilities
        .iter()
        .copied()
        .enumerate()
        .fold(None, |best, (i, p)| match best {
            Some((_, bp)) if bp >= p || p.is_nan() => best,
            _ => Some((i, p)),
        })
}

/// When the label may change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HysteresisConfig {
    /// The challenger's probability must exceed the current label's by this much.
    pub margin: f32,
    /// … on this many consecutive updates.
    pub frames: u32,
}

impl Default for HysteresisConfig {
    fn default() -> Self {
        HysteresisConfig {
            margin: 0.1,
            frames: 2,
        }
    }
}

/// Label selection with hysteresis: the first update sets the label to the argmax; afterwards
/// another class takes over only when it beats the current label by `margin` on `frames`
/// consecutive updates.
#[derive(Debug, Clone, Default)]
pub struct Hysteresis {
    config: HysteresisConfig,
    current: Option<usize>,
    challenger: Option<(usize, u32)>,
}

impl Hysteresis {
    /// No label yet.
    pub fn new(config: HysteresisConfig) -> Hysteresis {
        Hysteresis {
            config,
            current: None,
            challenger: None,
        }
    }

    /// The current label.
    pub fn label(&self) -> Option<usize> {
        self.current
    }

    /// Feeds one set of (smoothed) probabilities; returns `Some((old, new))` when the label changed.
    pub fn update(&mut self, probabilities: &[f32]) -> Option<(Option<usize>, usize)> {
        let (best, best_p) = argmax(probabilities)?;
        let current = match self.current {
            Some(c) if c < probabilities.len() => c,
            old => {
                self.current = Some(best);
                self.challenger = None;
                return Some((old, best));
            }
        };
        if best == current || best_p - probabilities[current] < self.config.margin {
            self.challenger = None;
            return None;
        }
        let count = match self.challenger {
            Some((c, n)) if c == best => n + 1,
            _ => 1,
        };
        if count >= self.config.frames.max(1) {
            self.current = Some(best);
            self.challenger = None;
            Some((Some(current), best))
        } else {
            self.challenger = Some((best, count));
            None
        }
    }

    /// Forgets the label.
    pub fn reset(&mut self) {
        self.current = None;
        self.challenger = None;
    }
}

/// The per-track expression state: a sequence model followed by hysteresis.
#[derive(Debug)]
pub struct ExpressionSmoother {
    model: Box<dyn SequenceModel>,
    hysteresis: Hysteresis,
    raw: Vec<f32>,
}

impl ExpressionSmoother {
    /// A fresh smoother.
    pub fn new(smoothing: Smoothing, hysteresis: HysteresisConfig) -> ExpressionSmoother {
        ExpressionSmoother::with_model(smoothing.build(), hysteresis)
    }

    /// A smoother around any sequence model.
    pub fn with_model(
        model: Box<dyn SequenceModel>,
        hysteresis: HysteresisConfig,
    ) -> ExpressionSmoother {
        ExpressionSmoother {
            model,
            hysteresis: Hysteresis::new(hysteresis),
            raw: Vec::new(),
        }
    }

    /// Feeds one observation; returns `Some((old, new))` when the label changed.
    pub fn update(&mut self, raw: &[f32]) -> Option<(Option<usize>, usize)> {
        self.raw.clear();
        self.raw.extend_from_slice(raw);
        let smoothed = self.model.update(raw);
        self.hysteresis.update(smoothed)
    }

    /// The stable label, once observed.
    pub fn label(&self) -> Option<usize> {
        self.hysteresis.label()
    }

    /// The smoothed probabilities (empty before the first observation).
    pub fn probabilities(&self) -> &[f32] {
        self.model.probabilities()
    }

    /// The last raw observation.
    pub fn raw(&self) -> &[f32] {
        &self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noisy sequence: class `truth` usually wins, but every other frame a wrong
    /// class leads by a little.
    fn noisy(truth: usize, frame: usize) -> Vec<f32> {
        let mut p = [0.05; 4];
        let wrong = (truth + 1 + frame % 3) % 4;
        if frame.is_multiple_of(2) {
            p[truth] = 0.6;
            p[wrong] = 0.25;
        } else {
            p[truth] = 0.38;
            p[wrong] = 0.47;
        }
        let s: f32 = p.iter().sum();
        p.iter().map(|v| v / s).collect()
    }

    fn flips(labels: &[usize]) -> usize {
        labels.windows(2).filter(|w| w[0] != w[1]).count()
    }

    fn labels(smoothing: Smoothing, hysteresis: HysteresisConfig, seq: &[Vec<f32>]) -> Vec<usize> {
        let mut s = ExpressionSmoother::new(smoothing, hysteresis);
        seq.iter()
            .map(|p| {
                s.update(p);
                s.label().unwrap()
            })
            .collect()
    }

    const NO_HYSTERESIS: HysteresisConfig = HysteresisConfig {
        margin: 0.0,
        frames: 1,
    };

    #[test]
    fn hmm_flips_far_less_than_raw_and_follows_a_sustained_change() {
        let seq: Vec<Vec<f32>> = (0..60)
            .map(|f| noisy(if f < 30 { 1 } else { 3 }, f))
            .collect();
        let raw = labels(Smoothing::None, NO_HYSTERESIS, &seq);
        let hmm = labels(Smoothing::default(), NO_HYSTERESIS, &seq);
        assert!(flips(&raw) >= 40, "raw flips {}", flips(&raw));
        assert!(flips(&hmm) <= 2, "hmm flips {}: {hmm:?}", flips(&hmm));
        assert_eq!(hmm[29], 1);
        // Follows the change within a few frames.
        let switched = hmm[30..].iter().position(|&l| l == 3).unwrap();
        assert!(switched <= 4, "switched after {switched} frames");
        assert!(hmm[35..].iter().all(|&l| l == 3));
        let with_hysteresis = labels(Smoothing::default(), HysteresisConfig::default(), &seq);
        assert!(flips(&with_hysteresis) <= 1);
        let switched = with_hysteresis[30..].iter().position(|&l| l == 3).unwrap();
        assert!(switched <= 6, "switched after {switched} frames");
    }

    #[test]
    fn ema_smooths_too() {
        let seq: Vec<Vec<f32>> = (0..40).map(|f| noisy(2, f)).collect();
        let ema = labels(Smoothing::Ema { alpha: 0.3 }, NO_HYSTERESIS, &seq);
        assert!(ema[1..].iter().all(|&l| l == 2), "{ema:?}");
    }

    #[test]
    fn hmm_is_a_distribution_and_survives_zeros() {
        let mut hmm = HmmFilter::new(0.95, 2.0);
        for _ in 0..50 {
            hmm.update(&[1.0, 0.0, 0.0]);
        }
        let p = hmm.update(&[0.0, f32::NAN, 1.0]).to_vec();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(p.iter().all(|v| *v > 0.0));
        // Recovers after a sustained change despite the saturation.
        for _ in 0..10 {
            hmm.update(&[0.0, 0.0, 1.0]);
        }
        assert_eq!(argmax(hmm.probabilities()).unwrap().0, 2);
        hmm.reset();
        assert!(hmm.probabilities().is_empty());
    }

    #[test]
    fn hysteresis_needs_margin_and_frames() {
        let mut h = Hysteresis::new(HysteresisConfig {
            margin: 0.2,
            frames: 2,
        });
        assert_eq!(h.update(&[0.6, 0.4]), Some((None, 0)));
        assert_eq!(h.update(&[0.45, 0.55]), None); // below margin
        assert_eq!(h.update(&[0.3, 0.7]), None); // 1st frame
        assert_eq!(h.update(&[0.3, 0.7]), Some((Some(0), 1)));
        assert_eq!(h.label(), Some(1));
        assert_eq!(h.update(&[]), None);
        h.reset();
        assert_eq!(h.label(), None);
        assert_eq!(argmax(&[0.1, 0.5, 0.5]), Some((1, 0.5)));
    }
}

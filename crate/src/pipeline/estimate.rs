//! The whole run's remaining time: the UNet passes still to come (a range while auto-stop
//! decides the iteration count) times the measured time per pass, plus the measured time
//! between passes (VAE decode, CLIP, re-encode) for every iteration boundary still to come.

use super::SamplingOptions;

/// A running mean.
#[derive(Clone, Copy, Debug, Default)]
struct Mean {
    sum: f64,
    n: usize,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.n += 1;
    }

    fn get(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// Where a run stands and how fast it goes.
#[derive(Clone, Debug)]
pub struct Estimate {
    opts: SamplingOptions,
    editing: bool,
    /// UNet passes of the denoising runs and inversions finished so far.
    done: usize,
    /// The iteration of the pass under way (0: the initial run).
    iteration: usize,
    last_tick: Option<f64>,
    first_in_pass: bool,
    pass_ms: Mean,
    between_ms: Mean,
}

impl Estimate {
    /// A run with `opts`; `editing` selects the edit's structure (inversion + denoising per
    /// iteration, no initial run).
    pub fn new(opts: &SamplingOptions, editing: bool) -> Self {
        Self { opts: opts.clone(), editing, done: 0, iteration: 0, last_tick: None, first_in_pass: true, pass_ms: Mean::default(), between_ms: Mean::default() }
    }

    /// The next UNet pass follows other work (text encoding, a decode, CLIP, an encode): its
    /// interval is timed as "between passes", not as a pass.
    pub fn begin_pass(&mut self, now: Option<f64>) {
        self.first_in_pass = true;
        if self.last_tick.is_none() {
            self.last_tick = now;
        }
    }

    /// A UNet pass of iteration `iteration` finished at `now` (ms, when a clock is known).
    pub fn pass_done(&mut self, iteration: usize, now: Option<f64>) {
        self.done += 1;
        self.iteration = iteration;
        if let (Some(now), Some(last)) = (now, self.last_tick) {
            let dt = (now - last).max(0.0);
            if self.first_in_pass {
                if let Some(p) = self.pass_ms.get() {
                    self.between_ms.add((dt - p).max(0.0));
                }
            } else {
                self.pass_ms.add(dt);
            }
        }
        self.last_tick = now.or(self.last_tick);
        self.first_in_pass = false;
    }

    /// Passes per iteration and passes before the first iteration.
    fn shape(&self) -> (usize, usize) {
        let t = self.opts.transfer_steps();
        if self.editing { (2 * t, 0) } else { (t, self.opts.steps) }
    }

    /// UNet passes still to come, fewest and most.
    pub fn passes_left(&self) -> (usize, usize) {
        let (per, first) = self.shape();
        let (lo, hi) = self.opts.iterations_left(0);
        let min_total = first + lo.max(self.iteration) * per;
        let max_total = first + hi.max(self.iteration) * per;
        (min_total.saturating_sub(self.done), max_total.saturating_sub(self.done))
    }

    /// Seconds left, fewest and most, once a pass has been timed.
    pub fn seconds_left(&self) -> Option<[f64; 2]> {
        let pass = self.pass_ms.get()?;
        let between = self.between_ms.get().unwrap_or(0.0);
        let (per, first) = self.shape();
        let (lo, hi) = self.passes_left();
        // Every iteration boundary still to come costs one "between" (the decode and CLIP at
        // the end of the current pass included).
        let boundaries = |passes: usize| {
            let before_loops = (first.saturating_sub(self.done)).min(passes);
            (passes - before_loops).div_ceil(per.max(1)) + usize::from(before_loops > 0)
        };
        let secs = |passes: usize| (passes as f64 * pass + boundaries(passes) as f64 * between) / 1000.0;
        Some([secs(lo), secs(hi)])
    }
}

/// The estimate in words, as the CLI and the page show it: "about 40–70 s left", "about
/// 3–9 min left" (minutes from 90 s on), "about 12 s left" when the range rounds to one
/// figure, "estimating…" before a pass has been timed.
pub fn describe(seconds_left: Option<[f64; 2]>) -> String {
    let Some([lo, hi]) = seconds_left else { return "estimating…".into() };
    let hi = hi.max(lo);
    let (a, b, unit) = if hi >= 90.0 {
        ((lo / 60.0).round().max(1.0), (hi / 60.0).round().max(1.0), "min")
    } else {
        (lo.round().max(1.0), hi.round().max(1.0), "s")
    };
    if a == b { format!("about {a} {unit} left") } else { format!("about {a}–{b} {unit} left") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(iterations: Option<usize>) -> SamplingOptions {
        SamplingOptions { steps: 10, iterations, ..Default::default() }
    }

    #[test]
    fn passes_left_count_down_and_auto_stop_gives_a_range() {
        // Generate, 10 steps, 4 per iteration, 2 fixed iterations: 10 + 8 passes.
        let mut e = Estimate::new(&opts(Some(2)), false);
        assert_eq!(e.passes_left(), (18, 18));
        for _ in 0..10 {
            e.pass_done(0, None);
        }
        assert_eq!(e.passes_left(), (8, 8));
        // Auto-stop: 3 to 9 iterations.
        let e = Estimate::new(&opts(None), false);
        assert_eq!(e.passes_left(), (10 + 12, 10 + 36));
        // Edit: inversion + denoising, 8 passes per iteration, no initial run.
        let mut e = Estimate::new(&opts(None), true);
        assert_eq!(e.passes_left(), (24, 72));
        // In iteration 4 of an auto-stop run the fewest is the rest of that iteration.
        for _ in 0..26 {
            e.pass_done(4, None);
        }
        assert_eq!(e.passes_left(), (6, 46));
    }

    #[test]
    fn descriptions_round_to_seconds_or_minutes() {
        assert_eq!(describe(None), "estimating…");
        assert_eq!(describe(Some([40.2, 69.7])), "about 40–70 s left");
        assert_eq!(describe(Some([12.2, 12.4])), "about 12 s left");
        assert_eq!(describe(Some([0.1, 0.3])), "about 1 s left");
        assert_eq!(describe(Some([170.0, 545.0])), "about 3–9 min left");
        assert_eq!(describe(Some([30.0, 100.0])), "about 1–2 min left");
    }

    #[test]
    fn seconds_left_use_the_measured_pass_and_boundary_times() {
        let mut e = Estimate::new(&opts(Some(1)), false);
        assert_eq!(e.seconds_left(), None, "nothing timed yet");
        e.begin_pass(Some(0.0));
        let mut now = 500.0; // the first pass's interval includes the text encoding: not a pass
        e.pass_done(0, Some(now));
        for _ in 1..10 {
            now += 100.0;
            e.pass_done(0, Some(now));
        }
        // 4 passes of the loop at 100 ms + 1 boundary of unknown (0) cost so far.
        let s = e.seconds_left().unwrap();
        assert!((s[0] - 0.4).abs() < 1e-9 && (s[1] - 0.4).abs() < 1e-9, "{s:?}");
        // The loop's first pass comes 1000 ms later: 900 ms between passes.
        e.begin_pass(Some(now));
        now += 1000.0;
        e.pass_done(1, Some(now));
        let s = e.seconds_left().unwrap();
        assert!((s[0] - 0.3 - 0.9).abs() < 1e-9, "3 passes and the final decode: {s:?}");
    }
}

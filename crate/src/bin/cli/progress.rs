//! What a run shows on the command line: progress on stderr with the whole run's time left,
//! and the live previews written as PNGs.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use ezigen::Error;
use ezigen::pipeline::{Event, ProgressSink};
use indicatif::{ProgressBar, ProgressStyle};

/// Progress on stderr: on a terminal an indicatif bar for the current stage with the whole
/// run's time left; elsewhere (a log file, CI) one plain line per finished stage. Either way one
/// line per finished iteration.
pub struct StderrProgress {
    /// When the run started.
    pub start: Instant,
    /// `None` when stderr is not a terminal.
    bar: Option<ProgressBar>,
}

impl StderrProgress {
    /// A bar on a terminal, plain lines elsewhere.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg:<40} [{bar:30}] {pos}/{len}  {elapsed_precise}")
                    .expect("a valid template")
                    .progress_chars("#>-"),
            );
            bar
        });
        Self { start: Instant::now(), bar }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl ProgressSink for StderrProgress {
    fn event(&mut self, event: Event<'_>) -> ControlFlow<()> {
        match event {
            Event::Progress { stage, step, total, iteration, passes_left, time_left, .. } => match &self.bar {
                Some(bar) => {
                    bar.set_length(total as u64);
                    bar.set_position(step as u64);
                    bar.set_message(format!("{stage:?} it {iteration} · {time_left}"));
                }
                None if step == total => {
                    let passes = if passes_left[0] == passes_left[1] { passes_left[0].to_string() } else { format!("{}–{}", passes_left[0], passes_left[1]) };
                    eprintln!(
                        "{stage:?} (iteration {iteration}): {total} step(s) done at {:.1} s; {passes} UNet passes to go, {time_left}",
                        self.start.elapsed().as_secs_f64(),
                    );
                }
                None => {}
            },
            Event::Image { iteration, similarity, last, .. } => {
                let sim = similarity.map_or("—".to_string(), |s| format!("{s:.4}"));
                self.line(format!("iteration {iteration} done, similarity to previous {sim}{}", if last { " (final)" } else { "" }));
                if let (true, Some(bar)) = (last, &self.bar) {
                    bar.finish_and_clear();
                }
            }
            Event::Latent { .. } | Event::StepPreview { .. } => {}
        }
        ControlFlow::Continue(())
    }

    fn clock_ms(&self) -> Option<f64> {
        Some(self.start.elapsed().as_secs_f64() * 1000.0)
    }
}

/// Writes every N-th preview as `DIR/{n:04}-{stage}-it{iteration}-step{step:02}.png` (n counts
/// the UNet steps from 1), upscaled 8× to the image size, and forwards every event.
pub struct PreviewWriter<'s> {
    inner: &'s mut dyn ProgressSink,
    every: usize,
    dir: PathBuf,
    seen: usize,
    written: usize,
    host_ms: f64,
    error: Option<Error>,
}

impl<'s> PreviewWriter<'s> {
    /// Creates DIR.
    pub fn new(inner: &'s mut dyn ProgressSink, every: usize, dir: PathBuf) -> ezigen::Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
        Ok(Self { inner, every, dir, seen: 0, written: 0, host_ms: 0.0, error: None })
    }

    /// One line: previews written and where.
    pub fn report(&self) {
        eprintln!("wrote {} preview(s) of {} UNet step(s) to {}", self.written, self.seen, self.dir.display());
    }

    fn write(&mut self, stage: &str, iteration: usize, step: usize, img: &ezigen::pipeline::RgbaImage) -> ezigen::Result<()> {
        let t = Instant::now();
        let small = image::RgbaImage::from_raw(img.width as u32, img.height as u32, img.data.clone()).expect("preview size matches its data");
        let big = image::imageops::resize(&small, 8 * img.width as u32, 8 * img.height as u32, image::imageops::FilterType::Triangle);
        let path = self.dir.join(format!("{:04}-{stage}-it{iteration}-step{step:02}.png", self.seen));
        big.save(&path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        self.host_ms += t.elapsed().as_secs_f64() * 1000.0;
        self.written += 1;
        Ok(())
    }
}

impl ProgressSink for PreviewWriter<'_> {
    fn event(&mut self, event: Event<'_>) -> ControlFlow<()> {
        if let Event::StepPreview { stage, step, iteration, image, .. } = &event {
            self.seen += 1;
            if (self.seen - 1) % self.every == 0 {
                let stage = serde_json::to_value(stage).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                if let Err(e) = self.write(&stage, *iteration, *step, image) {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        self.inner.event(event)
    }

    fn wants_previews(&self) -> bool {
        true
    }

    fn wants_latents(&self) -> bool {
        self.inner.wants_latents()
    }

    fn clock_ms(&self) -> Option<f64> {
        self.inner.clock_ms()
    }
}

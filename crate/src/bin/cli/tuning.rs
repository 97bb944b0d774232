//! `ezigen tune` and the kept GEMM choices of the other commands: a table tuned on this device
//! and build is read from the cache file ([`ezigen::native::tune_cache_path`]) and installed
//! before a run; where none is kept, a GPU (not a CPU rasteriser) is tuned before the first run
//! and the table is kept.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use ezigen::device::AdapterReport;
use ezigen::kernels::tune;
use ezigen::pipeline::Pipeline;

/// Default time budget of a tuning run, ms (about 40 problems × 15 candidates on a GPU take a
/// few seconds; the budget only bounds slow devices).
pub const DEFAULT_BUDGET_MS: f64 = 30_000.0;

/// Options of `ezigen tune`.
#[derive(Args)]
pub struct TuneArgs {
    /// Full-size SD 2.1-base + adapters + CLIP ViT-B/32 architecture with random weights
    /// (default: the built-in tiny model).
    #[arg(long)]
    pub random_sd21: bool,
    /// Converted weights folder instead (from `ezigen convert`).
    #[arg(long, conflicts_with = "random_sd21")]
    pub weights: Option<PathBuf>,
    /// f32 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Stop starting new problems after this many ms (the rest keep the defaults).
    #[arg(long, default_value_t = DEFAULT_BUDGET_MS)]
    pub budget_ms: f64,
    /// Tune even on a CPU rasteriser (lavapipe), and again where a table is kept.
    #[arg(long)]
    pub force: bool,
    /// Print every candidate's time per problem as JSON lines (the sweep), not only the choice.
    #[arg(long)]
    pub sweep: bool,
    /// Keep nothing: neither read nor write the cache file.
    #[arg(long)]
    pub no_cache: bool,
}

/// Installs the table kept for this device and build, if any; returns it.
pub fn apply_kept(pipe: &Pipeline, adapter: &AdapterReport) -> Option<tune::TuneTable> {
    let key = tune::device_key(adapter, "");
    let path = ezigen::native::tune_cache_path();
    let tables = match ezigen::native::read_tune_tables(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warning: {e}");
            return None;
        }
    };
    let table = tables.into_iter().find(|t| t.key == key)?;
    eprintln!("GEMM choices kept for this device and build: {} problems ({})", table.choices.len(), path.display());
    tune::install(pipe.device(), table.clone());
    Some(table)
}

/// Tunes `pipe`'s GEMMs on its device, installs the table and keeps it (unless `keep` is
/// false); `emit` gets each problem's result.
pub fn tune_and_keep(pipe: &Pipeline, adapter: &AdapterReport, budget_ms: f64, keep: bool, emit: &mut dyn FnMut(&tune::TunedProblem)) -> ezigen::Result<tune::TuneReport> {
    let key = tune::device_key(adapter, "");
    let start = Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1000.0;
    let report = pollster::block_on(ezigen::tuning::tune_pipeline(pipe, &key, budget_ms, &now, emit))?;
    eprintln!(
        "GEMM tuning: {} problems in {:.1} s{}; chosen: {:?}",
        report.problems.len(),
        start.elapsed().as_secs_f64(),
        if report.skipped > 0 { format!(" ({} left to the defaults: budget spent)", report.skipped) } else { String::new() },
        report.table.summary()
    );
    if keep {
        let path = ezigen::native::tune_cache_path();
        match ezigen::native::write_tune_table(&path, &report.table) {
            Ok(()) => eprintln!("kept in {}", path.display()),
            Err(e) => eprintln!("warning: the tuning table was not kept: {e}"),
        }
    }
    Ok(report)
}

/// Before a generate or edit: the kept table, else (on a GPU) a tuning run that is kept.
pub fn kept_or_tuned(pipe: &Pipeline, adapter: &AdapterReport) {
    if apply_kept(pipe, adapter).is_some() || !tune::tunable(adapter) {
        return;
    }
    eprintln!("first run on this device and build: timing the GEMM kernels (once; the choice is kept)");
    if let Err(e) = tune_and_keep(pipe, adapter, DEFAULT_BUDGET_MS, true, &mut |_| {}) {
        eprintln!("warning: GEMM tuning failed ({e}); the defaults are used");
    }
}

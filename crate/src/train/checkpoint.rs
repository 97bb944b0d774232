//! Checkpoints in the official layout (spec §3.4): `checkpoint-{step}/model.safetensors` holds
//! the full main-UNet state dict in f32 (every stock key of the base UNet, unchanged, plus the
//! 112 adapter tensors and `learnable_weights`), so `ezigen convert --ezigen` reads it as it
//! reads the released `checkpoint-200000`. Next to it, what a resume needs: the AdamW moments
//! (`optimizer.safetensors`) and `trainer_state.json` (step, data cursor, counters).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::adamw::Moments;
use super::data::{Cursor, DataStats};
use super::Trainer;
use crate::files::read;
use crate::weights::is_adapter_key;
use crate::weights::safetensors::{SafetensorsHeader, StoredDType, TensorToWrite, float_data, write};
use crate::{Error, Result};

/// What `trainer_state.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Optimiser steps taken.
    pub step: u64,
    /// The run's seed.
    pub seed: u64,
    /// Micro-samples per optimiser step (`batch · grad_accum`).
    pub micro_per_step: u64,
    /// Where the data loader is.
    pub cursor: Cursor,
    /// What the loader met so far.
    pub stats: DataStats,
    /// Smoothed loss at this step.
    pub loss_ema: Option<f64>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Weights { file: path.display().to_string(), reason: e.to_string() }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn host(t: Tensor<1>) -> Vec<f32> {
    t.cast(DType::F32).into_data().try_to_vec::<f32>().unwrap_or_default()
}

/// The folder of the checkpoint at `step`.
pub fn checkpoint_dir(out: &Path, step: u64) -> PathBuf {
    out.join(format!("checkpoint-{step}"))
}

/// Writes `checkpoint-{step}` under `out` (the stock UNet keys copied from `base_unet`, the
/// base's `diffusion_pytorch_model.safetensors`) and removes the oldest so that `keep` remain.
pub fn save(out: &Path, base_unet: &Path, trainer: &mut Trainer, state: &TrainerState, keep: usize) -> Result<PathBuf> {
    let dir = checkpoint_dir(out, state.step);
    let tmp = out.join(format!(".checkpoint-{}.partial", state.step));
    std::fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;

    // model.safetensors: stock keys in f32 + the trainable tensors.
    let base = read(base_unet)?;
    let file = base_unet.display().to_string();
    let header = SafetensorsHeader::parse(&base, &file)?;
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for info in header.tensors.iter().filter(|t| !is_adapter_key(&t.name)) {
        let data = float_data(info, &base[info.range.clone()], DType::F32, &file)?;
        owned.push((info.name.clone(), info.shape.clone(), data.as_bytes().to_vec()));
    }
    drop(base);
    let mut shapes = BTreeMap::new();
    trainer.models.unet.visit_trainable(&mut |k, p| {
        shapes.insert(k.to_string(), p.shape());
    });
    for (key, value) in trainer.parameters() {
        owned.push((key.clone(), shapes[&key].clone(), f32_bytes(&host(value))));
    }
    let tensors: Vec<TensorToWrite> = owned.iter().map(|(n, s, b)| TensorToWrite { name: n, dtype: StoredDType::F32, shape: s, bytes: b }).collect();
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string()), ("ezigen_train_step".to_string(), state.step.to_string())]);
    let model = tmp.join("model.safetensors");
    std::fs::write(&model, write(&tensors, &meta)).map_err(|e| io_err(&model, e))?;
    drop(tensors);
    drop(owned);

    // optimizer.safetensors: exp_avg / exp_avg_sq per key, the step count in the metadata.
    let mut opt: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (key, m) in &trainer.optimizer.moments {
        let (a, b) = (host(m.m.clone()), host(m.v.clone()));
        opt.push((format!("exp_avg/{key}"), vec![a.len()], f32_bytes(&a)));
        opt.push((format!("exp_avg_sq/{key}"), vec![b.len()], f32_bytes(&b)));
    }
    let tensors: Vec<TensorToWrite> = opt.iter().map(|(n, s, b)| TensorToWrite { name: n, dtype: StoredDType::F32, shape: s, bytes: b }).collect();
    let meta = BTreeMap::from([("adamw_step".to_string(), trainer.optimizer.step.to_string())]);
    let path = tmp.join("optimizer.safetensors");
    std::fs::write(&path, write(&tensors, &meta)).map_err(|e| io_err(&path, e))?;

    let path = tmp.join("trainer_state.json");
    std::fs::write(&path, serde_json::to_string_pretty(state).expect("serialisable")).map_err(|e| io_err(&path, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| io_err(&dir, e))?;

    // keep the newest `keep`
    let mut steps = list(out);
    steps.sort_unstable();
    while keep > 0 && steps.len() > keep {
        let old = checkpoint_dir(out, steps.remove(0));
        std::fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
    }
    Ok(dir)
}

/// The steps of the complete checkpoints under `out`.
pub fn list(out: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(out) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("checkpoint-")?.parse().ok())
        .filter(|&s| checkpoint_dir(out, s).join("trainer_state.json").is_file())
        .collect()
}

/// `--resume DIR`: a checkpoint folder itself, or a run's `--out` folder (its newest checkpoint).
pub fn resolve(resume: &Path) -> Result<PathBuf> {
    if resume.join("trainer_state.json").is_file() {
        return Ok(resume.to_path_buf());
    }
    list(resume)
        .into_iter()
        .max()
        .map(|s| checkpoint_dir(resume, s))
        .ok_or_else(|| Error::Input(format!("--resume {}: no checkpoint-N folder with trainer_state.json there", resume.display())))
}

/// Restores the trainable tensors, the optimiser and the trainer state from `dir` (made by
/// [`save`]); the trainer must have been built on the same base.
pub fn restore(dir: &Path, trainer: &mut Trainer, device: &Device) -> Result<TrainerState> {
    let path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| io_err(&path, e))?;

    let load = |path: &Path| -> Result<(Vec<u8>, SafetensorsHeader)> {
        let bytes = read(path)?;
        let header = SafetensorsHeader::parse(&bytes, &path.display().to_string())?;
        Ok((bytes, header))
    };
    let tensor = |bytes: &[u8], header: &SafetensorsHeader, name: &str, file: &Path| -> Result<Tensor<1>> {
        let info = header.tensors.iter().find(|t| t.name == name).ok_or_else(|| io_err(file, format!("{name} is missing")))?;
        let data = float_data(info, &bytes[info.range.clone()], DType::F32, &file.display().to_string())?;
        let n = info.numel();
        debug_assert_eq!(data.num_elements(), n);
        Ok(Tensor::<1>::from_data(data, (device, DType::F32)))
    };

    let model = dir.join("model.safetensors");
    let (bytes, header) = load(&model)?;
    let mut failure = None;
    let checkpointing = trainer.checkpointing;
    trainer.models.unet.visit_trainable(&mut |key, mut p| match tensor(&bytes, &header, key, &model) {
        Ok(t) if t.dims()[0] == p.shape().iter().product::<usize>() => {
            p.set_flat(t);
            p.make_trainable_with(checkpointing);
        }
        Ok(_) => failure = Some(io_err(&model, format!("{key} has another shape than this base's"))),
        Err(e) => failure = Some(e),
    });
    if let Some(e) = failure {
        return Err(e);
    }

    let opt = dir.join("optimizer.safetensors");
    let (bytes, header) = load(&opt)?;
    trainer.optimizer.step = header.metadata.get("adamw_step").and_then(|s| s.parse().ok()).unwrap_or(state.step);
    trainer.optimizer.moments.clear();
    for info in header.tensors.iter().filter(|t| t.name.starts_with("exp_avg/")) {
        let key = &info.name["exp_avg/".len()..];
        let m = tensor(&bytes, &header, &info.name, &opt)?;
        let v = tensor(&bytes, &header, &format!("exp_avg_sq/{key}"), &opt)?;
        trainer.optimizer.moments.insert(key.to_string(), Moments { m, v });
    }
    Ok(state)
}

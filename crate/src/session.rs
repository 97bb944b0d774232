//! The page's loaded model as one state machine: the generation model (built component by
//! component from pushed shards) and its optional metric models, which belong to it. `web.rs`
//! keeps one [`ModelSession`] per WebGPU session and only translates; the rules (what a new
//! model drops, when a model or the metric models are complete, which builder a shard goes to)
//! live here, where native tests check them.

use std::rc::Rc;

use burn::tensor::{DType, Device};

use crate::eval::{Metrics, MetricsBuilder};
use crate::loader::ModelBuilder;
use crate::pipeline::Pipeline;
use crate::weights::components::Component;
use crate::weights::manifest::Manifest;
use crate::weights::safetensors::SourceFile;
use crate::{Error, Result};

/// The loaded (or loading) model and metric models of one device.
pub struct ModelSession {
    device: Device,
    max_binding: Option<u64>,
    builder: Option<ModelBuilder>,
    pipeline: Option<Rc<Pipeline>>,
    metrics_builder: Option<MetricsBuilder>,
    metrics: Option<Rc<Metrics>>,
}

impl ModelSession {
    /// Nothing loaded yet; every model built later keeps its largest tensor within
    /// `max_binding` bytes (the adapter's `maxStorageBufferBindingSize`).
    pub fn new(device: &Device, max_binding: Option<u64>) -> Self {
        Self { device: device.clone(), max_binding, builder: None, pipeline: None, metrics_builder: None, metrics: None }
    }

    /// Starts loading the model `manifest_json` describes in `dtype`; drops the previous model
    /// and its metric models (loaded or loading).
    pub fn begin_model(&mut self, manifest_json: &str, dtype: DType) -> Result<()> {
        let manifest = Manifest::from_json(manifest_json)?;
        let mut builder = ModelBuilder::new(&manifest.config, &self.device, dtype)?;
        builder.set_max_binding(self.max_binding);
        self.drop_model();
        self.builder = Some(builder);
        Ok(())
    }

    /// Installs a finished pipeline (the random full-size model of the benchmarks), dropping
    /// the previous model and its metric models.
    pub fn set_pipeline(&mut self, pipeline: Pipeline) {
        self.drop_model();
        self.pipeline = Some(Rc::new(pipeline));
    }

    /// Starts loading the metric models of `manifest_json` (CLIP's text tower and DINO) in
    /// `dtype`; fails when the model was converted without them.
    pub fn begin_metrics(&mut self, manifest_json: &str, dtype: DType) -> Result<()> {
        let manifest = Manifest::from_json(manifest_json)?;
        self.metrics_builder = Some(MetricsBuilder::new(&manifest.config, &self.device, dtype)?);
        self.metrics = None;
        Ok(())
    }

    /// Feeds one shard of `component` (read by range; `file` names it in errors) to the builder
    /// it belongs to.
    pub fn load_shard(&mut self, component: Component, bytes: &dyn SourceFile, file: &str) -> Result<()> {
        if Component::EVAL.contains(&component) {
            let b = self.metrics_builder.as_mut().ok_or_else(|| Error::Input("call beginMetrics before loading a metric model".into()))?;
            return b.load_shard(component, bytes, file);
        }
        let b = self.builder.as_mut().ok_or_else(|| Error::Input("call beginModel before loadShard".into()))?;
        b.load_shard_from(component, bytes, file, |n| Some(n.to_string()))
    }

    /// Builds `component`'s model; once its builder reports every component built, the
    /// pipeline (or the metric models) is ready.
    pub fn finish_component(&mut self, component: Component) -> Result<()> {
        if Component::EVAL.contains(&component) {
            let b = self.metrics_builder.as_mut().ok_or_else(|| Error::Input("call beginMetrics before finishing a metric model".into()))?;
            b.finish_component(component)?;
            if b.is_complete() {
                let b = self.metrics_builder.take().expect("present above");
                self.metrics = Some(Rc::new(b.into_metrics()?));
            }
            return Ok(());
        }
        let b = self.builder.as_mut().ok_or_else(|| Error::Input("call beginModel before finishComponent".into()))?;
        b.finish_component(component)?;
        if b.is_complete() {
            self.pipeline = Some(Rc::new(self.builder.take().expect("present above").into_pipeline()?));
        }
        Ok(())
    }

    /// The loaded pipeline; an error while none is complete.
    pub fn pipeline(&self) -> Result<Rc<Pipeline>> {
        self.pipeline.clone().ok_or_else(|| Error::Input("no model is loaded yet".into()))
    }

    /// The loaded model's metric models; an error while they are not loaded.
    pub fn metrics(&self) -> Result<Rc<Metrics>> {
        self.metrics.clone().ok_or_else(|| Error::Input("the metric models are not loaded".into()))
    }

    /// Whether a complete model is loaded.
    pub fn model_ready(&self) -> bool {
        self.pipeline.is_some()
    }

    /// Whether the loaded model's metric models are loaded.
    pub fn metrics_ready(&self) -> bool {
        self.metrics.is_some()
    }

    /// Drops the model and everything that belongs to it.
    fn drop_model(&mut self) {
        self.builder = None;
        self.pipeline = None;
        self.metrics_builder = None;
        self.metrics = None;
    }
}

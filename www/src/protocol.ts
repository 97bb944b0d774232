// Typed messages between the page (main.ts) and the worker (worker.ts).

/** What the wasm core reports about the WebGPU adapter (crate/src/device.rs AdapterReport). */
export interface AdapterReport {
  name: string;
  backend: string;
  device_type: string;
  driver: string;
  shader_f16: boolean;
  max_buffer_size: number;
  max_storage_buffer_binding_size: number;
  max_compute_workgroup_storage_size: number;
}

/** Output of the smoke computation (crate/src/smoke.rs SmokeOutput). */
export interface SmokeOutput {
  shape: number[];
  values: number[];
  dtype: string;
}

/** Why the GPU could not be used, in categories the page explains to the user. */
export type GpuFailure = 'no-webgpu' | 'no-adapter' | 'device-failed';

/** Page → worker. */
export type Request = { type: 'smoke'; f16: boolean };

/** Worker → page. */
export type Reply =
  | { type: 'ready'; adapter: AdapterReport }
  | { type: 'gpu-unavailable'; reason: GpuFailure; detail: string }
  | { type: 'smoke-result'; output: SmokeOutput; ms: number }
  | { type: 'error'; message: string };

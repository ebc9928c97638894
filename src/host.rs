//! Moving numbers between the host and a device.
//!
//! Every read from a device goes through [`read`], which is async: a synchronous read panics on
//! WebGPU, and batching the tensors of one phase into one burn `Transaction` costs one GPU sync
//! instead of one per tensor. The native CLI drives the same async code with `pollster`.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Transaction;

/// A host-side matrix in row-major order, as read back from a device.
pub type HostVec = Vec<f32>;

/// Upload a row-major `(rows, cols)` matrix.
pub fn matrix(data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    debug_assert_eq!(data.len(), rows * cols);
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// Upload a vector.
pub fn vector(data: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// Upload indices (for `select`).
pub fn indices(data: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = data.iter().map(|&i| i as i64).collect();
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// A device failed to execute or read back: the message of burn's error.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceError(pub String);

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "device error: {}", self.0)
    }
}

impl std::error::Error for DeviceError {}

/// Reads float tensors of any rank back to the host in one transaction.
#[derive(Default)]
pub struct Reads {
    tx: Transaction,
    count: usize,
}

impl Reads {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a tensor; its data comes back at position [`Reads::len`] before the call.
    pub fn push<const D: usize>(&mut self, tensor: Tensor<D>) -> usize {
        let tx = std::mem::take(&mut self.tx);
        self.tx = tx.register(tensor);
        self.count += 1;
        self.count - 1
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// One sync: every queued tensor, flattened to `f32`, in the order pushed.
    pub async fn execute(self) -> Result<Vec<HostVec>, DeviceError> {
        if self.count == 0 {
            return Ok(Vec::new());
        }
        let data = self.tx.execute_async().await.map_err(|e| DeviceError(format!("{e:?}")))?;
        data.into_iter()
            .map(|d| d.convert::<f32>().try_into_vec::<f32>().map_err(|e| DeviceError(format!("{e:?}"))))
            .collect()
    }
}

/// Read a single tensor (one sync).
pub async fn read<const D: usize>(tensor: Tensor<D>) -> Result<HostVec, DeviceError> {
    let mut reads = Reads::new();
    reads.push(tensor);
    Ok(reads.execute().await?.pop().expect("one tensor was queued"))
}

/// Which float parameters of a module train, in visiting order (a LoRA model: its adapters and
/// heads, not its frozen base), as the `only` of [`read_params`] and [`load_params`]. Only an
/// autodiff module knows: on a device without autodiff every parameter reads as frozen, and
/// then this is `None`, all of them.
pub fn trainable<M: Module>(module: &M) -> Option<Vec<bool>> {
    struct Flags(Vec<bool>);
    impl ModuleVisitor for Flags {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.is_require_grad());
        }
    }
    let mut flags = Flags(Vec::new());
    module.visit(&mut flags);
    Some(flags.0).filter(|only| only.contains(&true))
}

/// The float parameters of a module, in visiting order, read to the host in one sync: all of
/// them, or those `only` marks (see [`trainable`]). Together with [`load_params`] this copies a
/// module between devices of different backends (burn's own cross-backend `to_device` reads
/// synchronously, which WebGPU forbids).
pub async fn read_params<M: Module>(module: &M, only: Option<&[bool]>) -> Result<Vec<HostVec>, DeviceError> {
    struct Collect<'a> {
        reads: &'a mut Reads,
        only: Option<&'a [bool]>,
        index: usize,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.only.is_none_or(|only| only[self.index]) {
                self.reads.push(param.val());
            }
            self.index += 1;
        }
    }
    let mut reads = Reads::new();
    module.visit(&mut Collect { reads: &mut reads, only, index: 0 });
    reads.execute().await
}

/// Replace the float parameters of `module` (all, or those `only` marks, in visiting order)
/// with host data on `device`; the others keep their values.
pub fn load_params<M: Module>(module: M, params: Vec<HostVec>, device: &Device, only: Option<&[bool]>) -> M {
    struct Load<'a> {
        params: std::vec::IntoIter<HostVec>,
        device: &'a Device,
        only: Option<&'a [bool]>,
        index: usize,
    }
    impl ModuleMapper for Load<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            self.index += 1;
            if self.only.is_some_and(|only| !only[self.index - 1]) {
                return param;
            }
            let data = self.params.next().expect("as many parameters as the module has");
            let shape = param.lazy_shape();
            let device = self.device.clone();
            param.map(move |_| Tensor::from_data(TensorData::new(data, shape), &device))
        }
    }
    let n = params.len();
    let mut mapper = Load { params: params.into_iter(), device, only, index: 0 };
    let module = module.map(&mut mapper);
    assert!(mapper.params.next().is_none(), "{n} parameters given, fewer in the module");
    module
}

/// The gradients of a module's trainable parameters (those `is_require_grad`), in visiting
/// order, read to the host in one sync; `None` for one that the loss did not reach.
pub async fn read_grads<M: Module>(module: &M, grads: &GradientsParams) -> Result<Vec<Option<HostVec>>, DeviceError> {
    struct Collect<'a> {
        grads: &'a GradientsParams,
        reads: Reads,
        present: Vec<bool>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.is_require_grad() {
                let grad = self.grads.get::<D>(param.id);
                self.present.push(grad.is_some());
                if let Some(g) = grad {
                    self.reads.push(g);
                }
            }
        }
    }
    let mut collect = Collect { grads, reads: Reads::new(), present: Vec::new() };
    module.visit(&mut collect);
    let mut data = collect.reads.execute().await?.into_iter();
    Ok(collect.present.into_iter().map(|p| p.then(|| data.next().expect("one read per gradient"))).collect())
}

/// Gradients of a module's trainable parameters from host data, as [`read_grads`] gives them,
/// on `device` (the learner's) for its optimiser.
pub fn grads_from_host<M: Module>(module: &M, grads: Vec<Option<HostVec>>, device: &Device) -> GradientsParams {
    struct Register<'a> {
        grads: std::vec::IntoIter<Option<HostVec>>,
        out: GradientsParams,
        device: &'a Device,
    }
    impl ModuleVisitor for Register<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.is_require_grad()
                && let Some(data) = self.grads.next().expect("one entry per trainable parameter")
            {
                let shape = param.lazy_shape();
                self.out.register::<D>(param.id, Tensor::from_data(TensorData::new(data, shape), self.device));
            }
        }
    }
    let n = grads.len();
    let mut register = Register { grads: grads.into_iter(), out: GradientsParams::new(), device: &device.clone().inner() };
    module.visit(&mut register);
    assert!(register.grads.next().is_none(), "{n} gradients given, fewer trainable parameters");
    register.out
}

/// The copy of a learner that rollouts act with, without autodiff.
///
/// When acting runs on the learner's own device, the copy is `valid()`: the same tensors, no
/// transfer. Otherwise (a WebGPU learner acting on the CPU, where tiny forward passes are faster
/// than a GPU round trip per env step) the trainable weights travel through the host in one
/// sync; the frozen ones (a LoRA model's base) are the template's own, made from the same base.
pub struct ActingCopy<M> {
    device: Device,
    /// A module of the learner's architecture on `device`, when that is not the learner's.
    template: Option<M>,
}

impl<M: Module> ActingCopy<M> {
    /// `make` builds a module of the learner's architecture on a given device (its trainable
    /// weights are overwritten at every snapshot; its frozen ones must be the learner's).
    pub fn new(learner_device: &Device, acting_device: &Device, make: impl FnOnce(&Device) -> M) -> Self {
        let same = learner_device.clone().inner() == acting_device.clone().inner();
        Self { device: acting_device.clone().inner(), template: (!same).then(|| make(acting_device)) }
    }

    /// The device the copy's tensors (and the observations fed to it) live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Acting on the learner's own device (its tensors, no copy).
    pub fn same(learner: &Device) -> Self {
        Self { device: learner.clone().inner(), template: None }
    }

    /// A copy of `learner` that learns on this copy's device (with autodiff, training what the
    /// learner trains), and that device.
    pub async fn learner_copy(&self, learner: &M) -> Result<(M, Device), DeviceError> {
        Ok((self.snapshot(learner).await?.train(), self.device.clone().autodiff()))
    }

    pub async fn snapshot(&self, learner: &M) -> Result<M, DeviceError> {
        match &self.template {
            None => Ok(learner.valid()),
            Some(template) => {
                let only = trainable(learner);
                let trained = read_params(learner, only.as_deref()).await?;
                Ok(load_params(template.clone(), trained, &self.device, only.as_deref()))
            }
        }
    }
}

/// A copy that overwrites `template` on `device`: for tests that force a copy where the
/// learner's device is also the acting one.
#[cfg(test)]
impl<M> ActingCopy<M> {
    pub(crate) fn with_template(device: &Device, template: M) -> Self {
        Self { device: device.clone(), template: Some(template) }
    }
}

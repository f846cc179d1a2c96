//! burn tensors of any rank behind one type.
//!
//! burn 0.22 tensors carry their rank in their type (`Tensor<D>`); lossgp's backend trait has
//! one tensor type for every rank, so a [`BurnTensor`] is an enum over ranks 1 to 6 and each
//! operation dispatches on the rank once, then runs burn's own kernel.

use burn::prelude::Device;
use burn::tensor::{Tensor, TensorData};
use lossgp_core::backend::{BResult, BackendError};

/// A burn float tensor of rank 1 to 6.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum BurnTensor {
    R1(Tensor<1>),
    R2(Tensor<2>),
    R3(Tensor<3>),
    R4(Tensor<4>),
    R5(Tensor<5>),
    R6(Tensor<6>),
}

/// Applies a rank-generic burn expression to a [`BurnTensor`], keeping its rank.
macro_rules! map_rank {
    ($t:expr, |$x:ident| $body:expr) => {
        match $t {
            $crate::burn::tensor::BurnTensor::R1($x) => $crate::burn::tensor::BurnTensor::R1($body),
            $crate::burn::tensor::BurnTensor::R2($x) => $crate::burn::tensor::BurnTensor::R2($body),
            $crate::burn::tensor::BurnTensor::R3($x) => $crate::burn::tensor::BurnTensor::R3($body),
            $crate::burn::tensor::BurnTensor::R4($x) => $crate::burn::tensor::BurnTensor::R4($body),
            $crate::burn::tensor::BurnTensor::R5($x) => $crate::burn::tensor::BurnTensor::R5($body),
            $crate::burn::tensor::BurnTensor::R6($x) => $crate::burn::tensor::BurnTensor::R6($body),
        }
    };
}

/// Evaluates a rank-generic burn expression on a [`BurnTensor`] to some other value.
macro_rules! with_rank {
    ($t:expr, |$x:ident| $body:expr) => {
        match $t {
            $crate::burn::tensor::BurnTensor::R1($x) => $body,
            $crate::burn::tensor::BurnTensor::R2($x) => $body,
            $crate::burn::tensor::BurnTensor::R3($x) => $body,
            $crate::burn::tensor::BurnTensor::R4($x) => $body,
            $crate::burn::tensor::BurnTensor::R5($x) => $body,
            $crate::burn::tensor::BurnTensor::R6($x) => $body,
        }
    };
}

/// Applies a rank-generic burn expression to two tensors of the same rank.
macro_rules! zip_rank {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr, $err:expr) => {
        match ($a, $b) {
            ($crate::burn::tensor::BurnTensor::R1($x), $crate::burn::tensor::BurnTensor::R1($y)) => {
                $crate::burn::tensor::BurnTensor::R1($body)
            }
            ($crate::burn::tensor::BurnTensor::R2($x), $crate::burn::tensor::BurnTensor::R2($y)) => {
                $crate::burn::tensor::BurnTensor::R2($body)
            }
            ($crate::burn::tensor::BurnTensor::R3($x), $crate::burn::tensor::BurnTensor::R3($y)) => {
                $crate::burn::tensor::BurnTensor::R3($body)
            }
            ($crate::burn::tensor::BurnTensor::R4($x), $crate::burn::tensor::BurnTensor::R4($y)) => {
                $crate::burn::tensor::BurnTensor::R4($body)
            }
            ($crate::burn::tensor::BurnTensor::R5($x), $crate::burn::tensor::BurnTensor::R5($y)) => {
                $crate::burn::tensor::BurnTensor::R5($body)
            }
            ($crate::burn::tensor::BurnTensor::R6($x), $crate::burn::tensor::BurnTensor::R6($y)) => {
                $crate::burn::tensor::BurnTensor::R6($body)
            }
            _ => return Err($err),
        }
    };
}

pub(crate) use {map_rank, with_rank, zip_rank};

fn unsupported_rank(rank: usize) -> BackendError {
    BackendError::Unsupported { backend: "burn".into(), what: format!("tensors of rank {rank} (ranks 1 to 6 are)") }
}

impl BurnTensor {
    /// The shape.
    pub fn dims(&self) -> Vec<usize> {
        with_rank!(self, |x| x.dims().to_vec())
    }

    /// Whether gradients flow through it (it is a parameter or was computed from one).
    pub fn is_tracked(&self) -> bool {
        with_rank!(self, |x| x.is_tracked())
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        with_rank!(self, |x| x.dims().len())
    }

    /// A tensor from host data.
    pub fn from_data(data: &[f32], shape: &[usize], device: &Device) -> BResult<BurnTensor> {
        let data = TensorData::new(data.to_vec(), shape.to_vec());
        Ok(match shape.len() {
            1 => BurnTensor::R1(Tensor::from_data(data, device)),
            2 => BurnTensor::R2(Tensor::from_data(data, device)),
            3 => BurnTensor::R3(Tensor::from_data(data, device)),
            4 => BurnTensor::R4(Tensor::from_data(data, device)),
            5 => BurnTensor::R5(Tensor::from_data(data, device)),
            6 => BurnTensor::R6(Tensor::from_data(data, device)),
            rank => return Err(unsupported_rank(rank)),
        })
    }

    /// The same elements in `shape`, whose rank may differ.
    pub fn reshaped(self, shape: &[usize]) -> BResult<BurnTensor> {
        fn to<const D: usize>(x: Tensor<D>, s: &[usize]) -> BResult<BurnTensor> {
            Ok(match s.len() {
                1 => BurnTensor::R1(x.reshape([s[0]])),
                2 => BurnTensor::R2(x.reshape([s[0], s[1]])),
                3 => BurnTensor::R3(x.reshape([s[0], s[1], s[2]])),
                4 => BurnTensor::R4(x.reshape([s[0], s[1], s[2], s[3]])),
                5 => BurnTensor::R5(x.reshape([s[0], s[1], s[2], s[3], s[4]])),
                6 => BurnTensor::R6(x.reshape([s[0], s[1], s[2], s[3], s[4], s[5]])),
                rank => return Err(unsupported_rank(rank)),
            })
        }
        with_rank!(self, |x| to(x, shape))
    }

    /// The rank-1 tensor inside, for operands such as a bias.
    pub fn r1(&self, op: &'static str) -> BResult<Tensor<1>> {
        match self {
            BurnTensor::R1(x) => Ok(x.clone()),
            other => Err(BackendError::shape(op, format!("expected a vector, got shape {:?}", other.dims()))),
        }
    }

    /// The rank-4 tensor inside, for image operations.
    pub fn r4(&self, op: &'static str) -> BResult<Tensor<4>> {
        match self {
            BurnTensor::R4(x) => Ok(x.clone()),
            other => Err(BackendError::shape(
                op,
                format!("expected [batch, channels, height, width], got shape {:?}", other.dims()),
            )),
        }
    }
}

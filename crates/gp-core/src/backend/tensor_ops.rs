//! The loss language's operators on tensors, composed from [`Backend`] primitives, so that
//! every backend computes exactly the semantics of [`ops`](crate::expr::ops), protected forms
//! included.
//!
//! Each composition is written so that no intermediate is infinite where the result is finite:
//! the protected reciprocal never divides by a small number, and `pow` caps its exponent below
//! overflow before saturating. Otherwise an infinite intermediate times a zero in the backward
//! pass would turn a gradient into NaN.

use super::{BResult, Backend, BinaryOp, ReduceOp, UnaryOp};
use crate::expr::{Binary, PROTECT_EPS, Reduce, Unary};

const EPS: f32 = PROTECT_EPS as f32;
/// Slightly below `ln(f32::MAX)`: `exp` of it is finite in `f32`.
const LN_MAX: f32 = 88.72;

/// The protected reciprocal: `1/x` where `|x| >= eps`, `x/eps²` inside, without ever dividing
/// by a number smaller than `eps`.
fn recip<B: Backend>(b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
    let big = b.mask_ge(&b.unary(UnaryOp::Abs, x)?, EPS)?;
    let small = b.affine(&big, -1.0, 1.0)?;
    // x where |x| >= eps, 1 elsewhere: a divisor that is never small.
    let safe = b.binary(BinaryOp::Add, &b.binary(BinaryOp::Mul, x, &big)?, &small)?;
    let outside = b.binary(BinaryOp::Mul, &b.unary(UnaryOp::Recip, &safe)?, &big)?;
    let inside = b.binary(BinaryOp::Mul, &b.affine(x, 1.0 / (EPS * EPS), 0.0)?, &small)?;
    b.binary(BinaryOp::Add, &outside, &inside)
}

/// `max(|x|, eps)`
fn floor_abs<B: Backend>(b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
    b.clamp(&b.unary(UnaryOp::Abs, x)?, EPS, f32::INFINITY)
}

/// Clamps infinities to the largest finite `f32`.
fn saturate<B: Backend>(b: &B, x: &B::Tensor) -> BResult<B::Tensor> {
    b.clamp(x, -f32::MAX, f32::MAX)
}

/// An element-wise operator of the language on a tensor.
pub fn unary<B: Backend>(b: &B, op: Unary, x: &B::Tensor) -> BResult<B::Tensor> {
    match op {
        Unary::Neg => b.unary(UnaryOp::Neg, x),
        Unary::Exp => b.unary(UnaryOp::Exp, x),
        Unary::Log => b.unary(UnaryOp::Log, &floor_abs(b, x)?),
        Unary::Sqrt => b.unary(UnaryOp::Sqrt, &floor_abs(b, x)?),
        Unary::Abs => b.unary(UnaryOp::Abs, x),
        Unary::Square => b.binary(BinaryOp::Mul, x, x),
        Unary::Sin => b.unary(UnaryOp::Sin, x),
        Unary::Cos => b.unary(UnaryOp::Cos, x),
        Unary::Tanh => b.unary(UnaryOp::Tanh, x),
        Unary::Sigmoid => b.unary(UnaryOp::Sigmoid, x),
        Unary::Softplus => {
            // max(x, 0) + ln(1 + e^-|x|): no overflow for large |x|.
            let tail = b.unary(UnaryOp::Exp, &b.unary(UnaryOp::Neg, &b.unary(UnaryOp::Abs, x)?)?)?;
            let log1p = b.unary(UnaryOp::Log, &b.affine(&tail, 1.0, 1.0)?)?;
            b.binary(BinaryOp::Add, &b.unary(UnaryOp::Relu, x)?, &log1p)
        }
        Unary::Recip => recip(b, x),
    }
}

/// An element-wise operator of the language on two tensors of equal rank, broadcasting.
pub fn binary<B: Backend>(b: &B, op: Binary, x: &B::Tensor, y: &B::Tensor) -> BResult<B::Tensor> {
    match op {
        Binary::Add => b.binary(BinaryOp::Add, x, y),
        Binary::Sub => b.binary(BinaryOp::Sub, x, y),
        Binary::Mul => b.binary(BinaryOp::Mul, x, y),
        Binary::Div => saturate(b, &b.binary(BinaryOp::Mul, x, &recip(b, y)?)?),
        Binary::Aq => {
            let norm = b.unary(UnaryOp::Sqrt, &b.affine(&b.binary(BinaryOp::Mul, y, y)?, 1.0, 1.0)?)?;
            b.binary(BinaryOp::Div, x, &norm)
        }
        Binary::Pow => {
            // max(|x|, eps)^y = exp(y ln max(|x|, eps)), saturated at f32::MAX without an
            // infinite intermediate: where the exponent t reaches ln(MAX) the result is MAX and
            // the gradient 0.
            let t = b.binary(BinaryOp::Mul, y, &b.unary(UnaryOp::Log, &floor_abs(b, x)?)?)?;
            let saturated = b.mask_ge(&t, LN_MAX)?;
            let value = b.unary(UnaryOp::Exp, &b.clamp(&t, f32::NEG_INFINITY, LN_MAX)?)?;
            // value + saturated * (MAX - value)
            let gap = b.affine(&value, -1.0, f32::MAX)?;
            b.binary(BinaryOp::Add, &value, &b.binary(BinaryOp::Mul, &saturated, &gap)?)
        }
        Binary::Min => b.binary(BinaryOp::Min, x, y),
        Binary::Max => b.binary(BinaryOp::Max, x, y),
    }
}

/// A class reduction (over dimension 1) of a tensor that varies over the classes.
pub fn reduce<B: Backend>(b: &B, op: Reduce, x: &B::Tensor) -> BResult<B::Tensor> {
    match op {
        Reduce::Sum => b.reduce(ReduceOp::Sum, x, 1),
        Reduce::Mean => b.reduce(ReduceOp::Mean, x, 1),
        Reduce::Max => b.reduce(ReduceOp::Max, x, 1),
        Reduce::LogSumExp => {
            // m + ln Σ e^(x - m), with m the maximum held constant (its gradient cancels).
            let m = b.detach(&b.reduce(ReduceOp::Max, x, 1)?);
            let shifted = b.unary(UnaryOp::Exp, &b.binary(BinaryOp::Sub, x, &m)?)?;
            let log_sum = b.unary(UnaryOp::Log, &b.reduce(ReduceOp::Sum, &shifted, 1)?)?;
            b.binary(BinaryOp::Add, &m, &log_sum)
        }
    }
}

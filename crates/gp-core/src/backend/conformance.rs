//! The conformance suite: what every backend must do, checked against plain-Rust references.
//!
//! A backend crate runs it from a test: `assert_conformant(&MyBackend::new())`. It checks
//! every method of [`Backend`] against a straightforward reference implementation (naive
//! convolution, pooling, resizing, ...), every gradient against central finite differences,
//! every operator of the loss language and every built-in loss against the reference
//! interpreter (values and gradients), the safetensors round trip, and finally that a small
//! network trained with the core optimiser learns a synthetic problem. Tolerances are those of
//! `f32` arithmetic.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    BResult, Backend, BatchNormMode, BinaryOp, Conv2d, ParamKind, Params, Pool, ReduceOp, TensorLoss, TensorTargets,
    UnaryOp,
};
use crate::expr::Op;
use crate::interp::Batch;
use crate::loss::{BUILTINS, Loss, Reduction};
use crate::train::{Optimizer, OptimizerConfig};

/// The result of one check.
#[derive(Debug)]
pub struct Outcome {
    /// What was checked.
    pub check: &'static str,
    /// What came of it.
    pub verdict: Verdict,
}

/// What came of a check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The backend does it right.
    Pass,
    /// It does it wrong: what differed.
    Fail(String),
    /// It refuses it with [`BackendError::Unsupported`](super::BackendError::Unsupported), as a
    /// backend may for an operation its framework lacks: the message.
    Unsupported(String),
}

impl From<Result<(), String>> for Verdict {
    fn from(result: Result<(), String>) -> Verdict {
        result.map_or_else(Verdict::Fail, |()| Verdict::Pass)
    }
}

type Check<B> = (&'static str, fn(&B) -> Verdict);
/// A unary operation, its reference and whether it needs a positive input.
type UnaryReference = (UnaryOp, fn(f64) -> f64, bool);
/// A binary operation and its reference.
type BinaryReference = (BinaryOp, fn(f64, f64) -> f64);
/// A function of a tensor, whose gradient is checked.
type TensorFn<'a, B> = dyn Fn(&B, &<B as Backend>::Tensor) -> BResult<<B as Backend>::Tensor> + 'a;

/// Runs every check on `b`.
pub fn run<B: Backend>(b: &B) -> Vec<Outcome> {
    let checks: Vec<Check<B>> = vec![
        ("round trip", |b| round_trip(b).into()),
        ("unary operations", |b| unary_ops(b).into()),
        ("binary operations with broadcasting", |b| binary_ops(b).into()),
        ("affine, clamp, mask", |b| scalar_ops(b).into()),
        ("reductions", |b| reductions(b).into()),
        ("softmax and log-softmax", |b| softmaxes(b).into()),
        ("reshape, permute, narrow, cat", |b| shape_ops(b).into()),
        ("matmul", |b| matmul(b).into()),
        ("conv2d", |b| conv2d(b).into()),
        ("pooling", |b| pooling(b).into()),
        ("batch norm", |b| batch_norm(b).into()),
        ("dropout", |b| dropout(b).into()),
        ("bilinear upsampling", |b| upsampling(b).into()),
        ("gradients against finite differences", |b| gradients(b).into()),
        ("bilinear upsampling gradient", upsampling_gradient),
        ("loss language against the interpreter", |b| losses(b).into()),
        ("segmentation losses with ignored pixels", |b| segmentation_losses(b).into()),
        ("safetensors round trip", |b| store(b).into()),
        ("a small network learns", |b| learns(b).into()),
    ];
    checks
        .into_iter()
        .map(|(check, f)| {
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(b)))
                .unwrap_or_else(|_| Verdict::Fail("the backend panicked".to_owned()));
            Outcome { check, verdict }
        })
        .collect()
}

/// Runs every check and panics with the list of failures, for use in a test. Every check
/// must pass except those named in `unsupported`, which the backend must refuse with
/// [`BackendError::Unsupported`](super::BackendError::Unsupported) (and not get wrong).
pub fn assert_conformant<B: Backend>(b: &B, unsupported: &[&str]) {
    let mut problems = Vec::new();
    for o in run(b) {
        match (o.verdict, unsupported.contains(&o.check)) {
            (Verdict::Pass, false) | (Verdict::Unsupported(_), true) => {}
            (Verdict::Pass, true) => problems.push(format!("{}: passes, but is listed as unsupported", o.check)),
            (Verdict::Fail(e), _) => problems.push(format!("{}: {e}", o.check)),
            (Verdict::Unsupported(e), false) => problems.push(format!("{}: unsupported: {e}", o.check)),
        }
    }
    assert!(
        problems.is_empty(),
        "{} fails {} conformance check(s):\n  {}",
        b.name(),
        problems.len(),
        problems.join("\n  ")
    );
}

fn err(e: super::BackendError) -> String {
    e.to_string()
}

fn random(rng: &mut ChaCha8Rng, n: usize, low: f32, high: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(low..high)).collect()
}

fn tensor<B: Backend>(b: &B, data: &[f32], shape: &[usize]) -> Result<B::Tensor, String> {
    b.tensor(data, shape).map_err(err)
}

fn host<B: Backend>(b: &B, x: &B::Tensor) -> Result<Vec<f32>, String> {
    b.to_vec(x).map_err(err)
}

/// Checks `got` against `want` element by element within `atol + rtol·|want|`.
fn close(what: &str, got: &[f32], want: &[f64], rtol: f64, atol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, expected {}", got.len(), want.len()));
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(g);
        let ok = (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan()) || (g == w);
        if !ok {
            return Err(format!("{what}: element {i} is {g}, expected {w}"));
        }
    }
    Ok(())
}

fn checked<B: Backend>(
    b: &B,
    what: &str,
    x: &B::Tensor,
    shape: &[usize],
    want: &[f64],
    rtol: f64,
) -> Result<(), String> {
    if b.shape(x) != shape {
        return Err(format!("{what}: shape {:?}, expected {shape:?}", b.shape(x)));
    }
    close(what, &host(b, x)?, want, rtol, 1e-6)
}

fn round_trip<B: Backend>(b: &B) -> Result<(), String> {
    let data: Vec<f32> = (0..24).map(|i| i as f32 - 7.5).collect();
    let x = tensor(b, &data, &[2, 3, 4])?;
    checked(b, "tensor", &x, &[2, 3, 4], &data.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), 0.0)?;
    let full = b.full(&[3, 1], 2.5).map_err(err)?;
    checked(b, "full", &full, &[3, 1], &[2.5; 3], 0.0)?;
    if b.tensor(&data, &[5, 5]).is_ok() {
        return Err("a tensor of 24 values with shape [5, 5] was accepted".into());
    }
    Ok(())
}

fn unary_ops<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let signed = random(&mut rng, 12, -3.0, 3.0);
    let positive = random(&mut rng, 12, 0.1, 4.0);
    let ops: [UnaryReference; 11] = [
        (UnaryOp::Neg, |x| -x, false),
        (UnaryOp::Exp, f64::exp, false),
        (UnaryOp::Log, f64::ln, true),
        (UnaryOp::Sqrt, f64::sqrt, true),
        (UnaryOp::Abs, f64::abs, false),
        (UnaryOp::Sin, f64::sin, false),
        (UnaryOp::Cos, f64::cos, false),
        (UnaryOp::Tanh, f64::tanh, false),
        (UnaryOp::Sigmoid, |x| 1.0 / (1.0 + (-x).exp()), false),
        (UnaryOp::Relu, |x| x.max(0.0), false),
        (UnaryOp::Recip, |x| 1.0 / x, true),
    ];
    for (op, reference, needs_positive) in ops {
        let input = if needs_positive { &positive } else { &signed };
        let x = tensor(b, input, &[3, 4])?;
        let want: Vec<f64> = input.iter().map(|&v| reference(f64::from(v))).collect();
        checked(b, &format!("{op:?}"), &b.unary(op, &x).map_err(err)?, &[3, 4], &want, 1e-5)?;
    }
    Ok(())
}

fn binary_ops<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let a = random(&mut rng, 6, -2.0, 2.0);
    let column = random(&mut rng, 2, 0.5, 2.0);
    let row = random(&mut rng, 3, 0.5, 2.0);
    let ops: [BinaryReference; 6] = [
        (BinaryOp::Add, |x, y| x + y),
        (BinaryOp::Sub, |x, y| x - y),
        (BinaryOp::Mul, |x, y| x * y),
        (BinaryOp::Div, |x, y| x / y),
        (BinaryOp::Max, f64::max),
        (BinaryOp::Min, f64::min),
    ];
    let ta = tensor(b, &a, &[2, 3])?;
    for (other, shape, at) in [(&column, [2, 1], (|i: usize| i / 3) as fn(usize) -> usize), (&row, [1, 3], |i| i % 3)] {
        let tb = tensor(b, other, &shape)?;
        for (op, reference) in ops {
            let want: Vec<f64> = (0..6).map(|i| reference(f64::from(a[i]), f64::from(other[at(i)]))).collect();
            checked(b, &format!("{op:?} with {shape:?}"), &b.binary(op, &ta, &tb).map_err(err)?, &[2, 3], &want, 1e-6)?;
            let swapped: Vec<f64> = (0..6).map(|i| reference(f64::from(other[at(i)]), f64::from(a[i]))).collect();
            checked(
                b,
                &format!("{op:?} of {shape:?} with [2, 3]"),
                &b.binary(op, &tb, &ta).map_err(err)?,
                &[2, 3],
                &swapped,
                1e-6,
            )?;
        }
    }
    if b.binary(BinaryOp::Add, &ta, &tensor(b, &[1.0; 4], &[2, 2])?).is_ok() {
        return Err("shapes [2, 3] and [2, 2] were accepted as broadcastable".into());
    }
    Ok(())
}

fn scalar_ops<B: Backend>(b: &B) -> Result<(), String> {
    let data = [-2.0f32, -0.5, 0.0, 0.5, 2.0, 3.0];
    let x = tensor(b, &data, &[6])?;
    let want = |f: fn(f64) -> f64| data.iter().map(|&v| f(f64::from(v))).collect::<Vec<_>>();
    checked(b, "affine", &b.affine(&x, 2.0, -1.0).map_err(err)?, &[6], &want(|v| 2.0 * v - 1.0), 1e-6)?;
    checked(b, "clamp", &b.clamp(&x, -1.0, 1.0).map_err(err)?, &[6], &want(|v| v.clamp(-1.0, 1.0)), 0.0)?;
    checked(b, "clamp below only", &b.clamp(&x, 0.1, f32::INFINITY).map_err(err)?, &[6], &want(|v| v.max(0.1)), 1e-7)?;
    checked(b, "mask_ge", &b.mask_ge(&x, 0.5).map_err(err)?, &[6], &want(|v| f64::from(u8::from(v >= 0.5))), 0.0)
}

fn reductions<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let data = random(&mut rng, 24, -3.0, 3.0);
    let x = tensor(b, &data, &[2, 3, 4])?;
    let dims = [2usize, 3, 4];
    for dim in 0..3 {
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
            let mut out_shape = dims.to_vec();
            out_shape[dim] = 1;
            let stride: usize = dims[dim + 1..].iter().product();
            let want: Vec<f64> = (0..24 / dims[dim])
                .map(|o| {
                    let (outer, inner) = (o / stride, o % stride);
                    let values = (0..dims[dim]).map(|k| f64::from(data[(outer * dims[dim] + k) * stride + inner]));
                    match op {
                        ReduceOp::Sum => values.sum(),
                        ReduceOp::Mean => values.sum::<f64>() / dims[dim] as f64,
                        ReduceOp::Max => values.fold(f64::NEG_INFINITY, f64::max),
                    }
                })
                .collect();
            checked(
                b,
                &format!("{op:?} over dimension {dim}"),
                &b.reduce(op, &x, dim).map_err(err)?,
                &out_shape,
                &want,
                1e-5,
            )?;
        }
    }
    Ok(())
}

fn softmaxes<B: Backend>(b: &B) -> Result<(), String> {
    let data = [1.0f32, 2.0, 3.0, -1.0, 0.0, 10.0, 10.0, 10.0, 10.0, 10.0];
    let x = tensor(b, &data, &[2, 5])?;
    let mut want = Vec::new();
    for row in data.chunks(5) {
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = row.iter().map(|&v| (f64::from(v) - m).exp()).sum();
        want.extend(row.iter().map(|&v| (f64::from(v) - m).exp() / sum));
    }
    checked(b, "softmax", &b.softmax(&x, 1).map_err(err)?, &[2, 5], &want, 1e-5)?;
    let logs: Vec<f64> = want.iter().map(|p| p.ln()).collect();
    checked(b, "log_softmax", &b.log_softmax(&x, 1).map_err(err)?, &[2, 5], &logs, 1e-5)
}

fn shape_ops<B: Backend>(b: &B) -> Result<(), String> {
    let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let as_f64 = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let x = tensor(b, &data, &[2, 3, 4])?;
    checked(b, "reshape", &b.reshape(&x, &[4, 6]).map_err(err)?, &[4, 6], &as_f64(&data), 0.0)?;
    let permuted: Vec<f32> = (0..24)
        .map(|i| {
            // result [4, 2, 3] with axes [2, 0, 1]: r[k][i][j] = x[i][j][k]
            let (k, rest) = (i / 6, i % 6);
            let (ii, j) = (rest / 3, rest % 3);
            data[ii * 12 + j * 4 + k]
        })
        .collect();
    checked(b, "permute", &b.permute(&x, &[2, 0, 1]).map_err(err)?, &[4, 2, 3], &as_f64(&permuted), 0.0)?;
    let narrowed: Vec<f32> =
        (0..2).flat_map(|i| (0..3).flat_map(move |j| (1..3).map(move |k| (i * 12 + j * 4 + k) as f32))).collect();
    checked(b, "narrow", &b.narrow(&x, 2, 1, 2).map_err(err)?, &[2, 3, 2], &as_f64(&narrowed), 0.0)?;
    let y = tensor(b, &[100.0; 8], &[2, 1, 4])?;
    let joined: Vec<f32> = (0..2).flat_map(|i| data[i * 12..(i + 1) * 12].iter().copied().chain([100.0; 4])).collect();
    checked(b, "cat", &b.cat(&[x.clone(), y], 1).map_err(err)?, &[2, 4, 4], &as_f64(&joined), 0.0)?;
    if b.reshape(&x, &[5, 5]).is_ok() || b.narrow(&x, 2, 3, 2).is_ok() || b.permute(&x, &[0, 0, 1]).is_ok() {
        return Err("an impossible reshape, narrow or permutation was accepted".into());
    }
    Ok(())
}

/// `[batch, m, k] x [batch, k, n]` on the host.
fn matmul_reference(a: &[f32], c: &[f32], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                out[(bi * m + i) * n + j] =
                    (0..k).map(|l| f64::from(a[(bi * m + i) * k + l]) * f64::from(c[(bi * k + l) * n + j])).sum();
            }
        }
    }
    out
}

fn matmul<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (a, c) = (random(&mut rng, 24, -1.0, 1.0), random(&mut rng, 40, -1.0, 1.0));
    let out = b.matmul(&tensor(b, &a, &[2, 3, 4])?, &tensor(b, &c, &[2, 4, 5])?).map_err(err)?;
    checked(b, "batched matmul", &out, &[2, 3, 5], &matmul_reference(&a, &c, 2, 3, 4, 5), 1e-5)?;
    let out = b.matmul(&tensor(b, &a[..12], &[3, 4])?, &tensor(b, &c[..20], &[4, 5])?).map_err(err)?;
    checked(b, "matmul", &out, &[3, 5], &matmul_reference(&a[..12], &c[..20], 1, 3, 4, 5), 1e-5)?;
    if b.matmul(&tensor(b, &a[..12], &[3, 4])?, &tensor(b, &c[..15], &[3, 5])?).is_ok() {
        return Err("matmul of [3, 4] and [3, 5] was accepted".into());
    }
    Ok(())
}

/// A direct convolution on the host.
fn conv_reference(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    wt: &[f32],
    [co, ci, kh, kw]: [usize; 4],
    bias: Option<&[f32]>,
    o: &Conv2d,
) -> (Vec<f64>, [usize; 4]) {
    let oh = (h + 2 * o.padding[0] - o.dilation[0] * (kh - 1) - 1) / o.stride[0] + 1;
    let ow = (w + 2 * o.padding[1] - o.dilation[1] * (kw - 1) - 1) / o.stride[1] + 1;
    let per_group = co / o.groups;
    let mut out = vec![0.0; n * co * oh * ow];
    for b in 0..n {
        for oc in 0..co {
            let g = oc / per_group;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut sum = bias.map_or(0.0, |bs| f64::from(bs[oc]));
                    for icg in 0..ci {
                        let ic = g * ci + icg;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y * o.stride[0] + ky * o.dilation[0]) as isize - o.padding[0] as isize;
                                let ix = (xo * o.stride[1] + kx * o.dilation[1]) as isize - o.padding[1] as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    let xv = x[((b * c + ic) * h + iy as usize) * w + ix as usize];
                                    sum += f64::from(xv) * f64::from(wt[((oc * ci + icg) * kh + ky) * kw + kx]);
                                }
                            }
                        }
                    }
                    out[((b * co + oc) * oh + y) * ow + xo] = sum;
                }
            }
        }
    }
    (out, [n, co, oh, ow])
}

fn conv2d<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let cases = [
        ([2, 4, 7, 6], [6, 2, 3, 3], Conv2d { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 }, true),
        ([1, 3, 5, 5], [4, 3, 1, 1], Conv2d::default(), false),
        ([1, 3, 6, 6], [3, 1, 3, 3], Conv2d { padding: [1, 1], groups: 3, ..Conv2d::default() }, true),
    ];
    for (xs, ws, options, with_bias) in cases {
        let x = random(&mut rng, xs.iter().product(), -1.0, 1.0);
        let w = random(&mut rng, ws.iter().product(), -1.0, 1.0);
        let bias = random(&mut rng, ws[0], -1.0, 1.0);
        let (want, out_shape) = conv_reference(&x, xs, &w, ws, with_bias.then_some(&bias[..]), &options);
        let tb = tensor(b, &bias, &[ws[0]])?;
        let out =
            b.conv2d(&tensor(b, &x, &xs)?, &tensor(b, &w, &ws)?, with_bias.then_some(&tb), &options).map_err(err)?;
        checked(b, &format!("conv2d {xs:?} * {ws:?} {options:?}"), &out, &out_shape, &want, 1e-4)?;
    }
    let bad = b.conv2d(
        &tensor(b, &[0.0; 48], &[1, 3, 4, 4])?,
        &tensor(b, &[0.0; 36], &[2, 2, 3, 3])?,
        None,
        &Conv2d::default(),
    );
    if bad.is_ok() {
        return Err("a convolution with mismatched channels was accepted".into());
    }
    Ok(())
}

/// Pooling on the host; average windows count padding, as PyTorch's default does.
fn pool_reference(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    pool: Pool,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
) -> (Vec<f64>, [usize; 4]) {
    let oh = (h + 2 * p[0] - k[0]) / s[0] + 1;
    let ow = (w + 2 * p[1] - k[1]) / s[1] + 1;
    let mut out = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        for y in 0..oh {
            for xo in 0..ow {
                let mut values = Vec::new();
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (y * s[0] + ky) as isize - p[0] as isize;
                        let ix = (xo * s[1] + kx) as isize - p[1] as isize;
                        let inside = iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w;
                        values.push(inside.then(|| f64::from(x[(plane * h + iy as usize) * w + ix as usize])));
                    }
                }
                out.push(match pool {
                    Pool::Max => values.iter().flatten().fold(f64::NEG_INFINITY, |m, &v| m.max(v)),
                    Pool::Avg => values.iter().map(|v| v.unwrap_or(0.0)).sum::<f64>() / values.len() as f64,
                });
            }
        }
    }
    (out, [n, c, oh, ow])
}

fn pooling<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let shape = [2, 3, 7, 6];
    let x = random(&mut rng, shape.iter().product(), -2.0, 2.0);
    let tx = tensor(b, &x, &shape)?;
    for pool in [Pool::Max, Pool::Avg] {
        for (k, s, p) in [([2, 2], [2, 2], [0, 0]), ([3, 3], [2, 1], [1, 1]), ([3, 2], [1, 2], [1, 0])] {
            let (want, out_shape) = pool_reference(&x, shape, pool, k, s, p);
            let out = b.pool2d(pool, &tx, k, s, p).map_err(err)?;
            checked(
                b,
                &format!("{pool:?} pool kernel {k:?} stride {s:?} padding {p:?}"),
                &out,
                &out_shape,
                &want,
                1e-5,
            )?;
        }
    }
    // Adaptive average pooling: window i spans floor(i*in/out) .. ceil((i+1)*in/out).
    let out = [3usize, 2];
    let (ih, iw) = (shape[2], shape[3]);
    let mut want = Vec::new();
    for plane in 0..6 {
        for y in 0..out[0] {
            for xo in 0..out[1] {
                let (y0, y1) = (y * ih / out[0], ((y + 1) * ih).div_ceil(out[0]));
                let (x0, x1) = (xo * iw / out[1], ((xo + 1) * iw).div_ceil(out[1]));
                let values: Vec<f64> = (y0..y1)
                    .flat_map(|r| (x0..x1).map(move |c| (r, c)))
                    .map(|(r, c)| f64::from(x[(plane * ih + r) * iw + c]))
                    .collect();
                want.push(values.iter().sum::<f64>() / values.len() as f64);
            }
        }
    }
    checked(b, "adaptive average pooling", &b.adaptive_avg_pool2d(&tx, out).map_err(err)?, &[2, 3, 3, 2], &want, 1e-5)
}

fn batch_norm<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let shape = [3, 2, 2, 2];
    let x = random(&mut rng, 24, -2.0, 2.0);
    let (gamma, beta) = ([1.5f32, 0.5], [0.1f32, -0.2]);
    let tx = tensor(b, &x, &shape)?;
    let (tg, tb) = (tensor(b, &gamma, &[2])?, tensor(b, &beta, &[2])?);
    let channel = |i: usize| (i / 4) % 2;
    let (mut mean, mut var) = ([0.0f64; 2], [0.0f64; 2]);
    for (i, &v) in x.iter().enumerate() {
        mean[channel(i)] += f64::from(v) / 12.0;
    }
    for (i, &v) in x.iter().enumerate() {
        var[channel(i)] += (f64::from(v) - mean[channel(i)]).powi(2) / 12.0;
    }
    let eps = 1e-5;
    let want: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = channel(i);
            (f64::from(v) - mean[c]) / (var[c] + eps).sqrt() * f64::from(gamma[c]) + f64::from(beta[c])
        })
        .collect();
    let train = b.batch_norm(&tx, &tg, &tb, BatchNormMode::Train, eps as f32).map_err(err)?;
    checked(b, "batch norm (training)", &train.output, &shape, &want, 1e-4)?;
    let (m, v) = train.statistics.ok_or("training batch norm returned no statistics")?;
    checked(b, "batch mean", &m, &[2], &mean, 1e-5)?;
    checked(b, "batch variance (biased)", &v, &[2], &var, 1e-5)?;
    let (rm, rv) = ([0.3f32, -0.1], [2.0f32, 0.5]);
    let (trm, trv) = (tensor(b, &rm, &[2])?, tensor(b, &rv, &[2])?);
    let eval =
        b.batch_norm(&tx, &tg, &tb, BatchNormMode::Eval { mean: &trm, variance: &trv }, eps as f32).map_err(err)?;
    let want: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = channel(i);
            (f64::from(v) - f64::from(rm[c])) / (f64::from(rv[c]) + eps).sqrt() * f64::from(gamma[c])
                + f64::from(beta[c])
        })
        .collect();
    checked(b, "batch norm (evaluation)", &eval.output, &shape, &want, 1e-4)
}

fn dropout<B: Backend>(b: &B) -> Result<(), String> {
    b.seed(11);
    let x = b.full(&[100, 100], 1.0).map_err(err)?;
    let values = host(b, &b.dropout(&x, 0.5).map_err(err)?)?;
    let zeros = values.iter().filter(|&&v| v == 0.0).count();
    if !(4_500..=5_500).contains(&zeros) {
        return Err(format!("dropout 0.5 zeroed {zeros} of 10000 values"));
    }
    if values.iter().any(|&v| v != 0.0 && (v - 2.0).abs() > 1e-6) {
        return Err("dropout 0.5 must scale the kept values by 2".into());
    }
    checked(b, "dropout 0", &b.dropout(&x, 0.0).map_err(err)?, &[100, 100], &[1.0; 10_000], 0.0)
}

fn upsampling<B: Backend>(b: &B) -> Result<(), String> {
    let data: Vec<f32> = (0..2 * 3 * 4).map(|i| ((i * 7) % 11) as f32).collect();
    let (h, w, oh, ow) = (3usize, 4usize, 5usize, 7usize);
    let source = |s: usize, out: usize, inp: usize| {
        let x = ((s as f64 + 0.5) * inp as f64 / out as f64 - 0.5).max(0.0);
        let x0 = (x.floor() as usize).min(inp - 1);
        (x0, (x0 + 1).min(inp - 1), x - x0 as f64)
    };
    let mut want = Vec::new();
    for plane in 0..2 {
        for y in 0..oh {
            let (y0, y1, ty) = source(y, oh, h);
            for xo in 0..ow {
                let (x0, x1, tx) = source(xo, ow, w);
                let at = |r: usize, c: usize| f64::from(data[(plane * h + r) * w + c]);
                let top = at(y0, x0) * (1.0 - tx) + at(y0, x1) * tx;
                let bottom = at(y1, x0) * (1.0 - tx) + at(y1, x1) * tx;
                want.push(top * (1.0 - ty) + bottom * ty);
            }
        }
    }
    let x = tensor(b, &data, &[1, 2, h, w])?;
    checked(b, "bilinear upsampling", &b.upsample_bilinear(&x, [oh, ow]).map_err(err)?, &[1, 2, oh, ow], &want, 1e-4)
}

/// `values` moved clear of the kinks of a piecewise function (by more than 0.05, several
/// finite-difference steps), where finite differences would straddle two pieces.
fn away_from(values: &[f32], kinks: &[f32]) -> Vec<f32> {
    values
        .iter()
        .map(|&v| match kinks.iter().find(|&&k| (v - k).abs() < 0.05) {
            Some(&k) => k + if v < k { -0.1 } else { 0.1 },
            None => v,
        })
        .collect()
}

/// Compares the backend's gradient of `f` at `point` with central finite differences.
fn gradient_of<B: Backend>(
    b: &B,
    what: &str,
    point: &[f32],
    shape: &[usize],
    f: &TensorFn<'_, B>,
) -> Result<(), String> {
    let value = |p: &[f32]| -> Result<f64, String> {
        let x = tensor(b, p, shape)?;
        Ok(f64::from(host(b, &f(b, &x).map_err(err)?)?[0]))
    };
    let param = b.param(tensor(b, point, shape)?);
    let out = f(b, &param).map_err(err)?;
    let grads = b.backward(&out).map_err(err)?;
    let analytic = host(b, &b.grad(&grads, &param).ok_or_else(|| format!("{what}: no gradient"))?)?;
    let mut numeric = Vec::with_capacity(point.len());
    for i in 0..point.len() {
        let h = 1e-2 * point[i].abs().max(0.5);
        let mut p = point.to_vec();
        p[i] = point[i] + h;
        let up = value(&p)?;
        p[i] = point[i] - h;
        let down = value(&p)?;
        numeric.push((up - down) / (2.0 * f64::from(h)));
    }
    let scale = numeric.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    close(&format!("gradient of {what}"), &analytic, &numeric, 2e-2, 2e-2 * scale)
}

/// The gradient of bilinear upsampling: a separate check, since some frameworks resize forward
/// but cannot differentiate their kernel (burn's ndarray and CubeCL backends), and a backend
/// that does not work around it must say so.
fn upsampling_gradient<B: Backend>(b: &B) -> Verdict {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let image = random(&mut rng, 2 * 16, -1.0, 1.0);
    let weights = random(&mut rng, 2 * 35, -1.0, 1.0);
    let tracked = match tensor(b, &image, &[1, 2, 4, 4]) {
        Ok(x) => b.param(x),
        Err(e) => return Verdict::Fail(e),
    };
    if let Err(super::BackendError::Unsupported { backend, what }) = b.upsample_bilinear(&tracked, [5, 7]) {
        return Verdict::Unsupported(format!("{backend} does not support {what}"));
    }
    gradient_of(b, "bilinear upsampling", &image, &[1, 2, 4, 4], &|b, x| {
        let y = b.upsample_bilinear(x, [5, 7])?;
        let product = b.binary(BinaryOp::Mul, &y, &b.tensor(&weights, &[1, 2, 5, 7])?)?;
        b.reduce(ReduceOp::Sum, &b.reshape(&product, &[70])?, 0)
    })
    .into()
}

fn gradients<B: Backend>(b: &B) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let point = random(&mut rng, 12, -1.5, 1.5);
    let positive = random(&mut rng, 12, 0.3, 2.0);
    let weights = random(&mut rng, 12, -1.0, 1.0);
    let w = weights.clone();
    // Sum of the output weighted by fixed random numbers: every element's gradient matters.
    let weighted = move |b: &B, y: &B::Tensor| -> BResult<B::Tensor> {
        let n = b.shape(y).iter().product::<usize>();
        let c = b.tensor(&w.iter().cycle().take(n).copied().collect::<Vec<_>>(), &b.shape(y))?;
        b.reduce(ReduceOp::Sum, &b.reshape(&b.binary(BinaryOp::Mul, y, &c)?, &[n])?, 0)
    };
    for op in [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Abs,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Recip,
    ] {
        let input = if matches!(op, UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Recip) {
            positive.clone()
        } else {
            away_from(&point, &[0.0])
        };
        let input = &input;
        gradient_of(b, &format!("{op:?}"), input, &[3, 4], &|b, x| weighted(b, &b.unary(op, x)?))?;
    }
    // Kept clear of the values of `x` it meets (difference > 0.05, several finite-difference
    // steps), so that max and min are differentiable at the test point.
    let mut other = random(&mut rng, 3, 0.5, 1.5);
    for (j, v) in other.iter_mut().enumerate() {
        while (0..2).any(|i| (point[i * 3 + j] - *v).abs() < 0.05) {
            *v += 0.05;
        }
    }
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Max, BinaryOp::Min] {
        let o = other.clone();
        gradient_of(b, &format!("{op:?} (broadcast operand)"), &other, &[1, 3], &|b, y| {
            let x = b.tensor(&point[..6], &[2, 3])?;
            weighted(b, &b.binary(op, &x, y)?)
        })?;
        gradient_of(b, &format!("{op:?}"), &point[..6], &[2, 3], &|b, x| {
            weighted(b, &b.binary(op, x, &b.tensor(&o, &[1, 3])?)?)
        })?;
    }
    gradient_of(b, "affine", &point, &[12], &|b, x| weighted(b, &b.affine(x, 3.0, 1.0)?))?;
    let off_the_edges = away_from(&point, &[-1.0, 1.0]);
    gradient_of(b, "clamp", &off_the_edges, &[12], &|b, x| weighted(b, &b.clamp(x, -1.0, 1.0)?))?;
    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
        gradient_of(b, &format!("{op:?} reduction"), &point, &[2, 3, 2], &|b, x| weighted(b, &b.reduce(op, x, 1)?))?;
    }
    gradient_of(b, "softmax", &point, &[3, 4], &|b, x| weighted(b, &b.softmax(x, 1)?))?;
    gradient_of(b, "log_softmax", &point, &[3, 4], &|b, x| weighted(b, &b.log_softmax(x, 1)?))?;
    gradient_of(b, "reshape and permute", &point, &[2, 3, 2], &|b, x| {
        weighted(b, &b.permute(&b.reshape(x, &[3, 2, 2])?, &[2, 0, 1])?)
    })?;
    gradient_of(b, "narrow and cat", &point, &[3, 4], &|b, x| {
        let parts = [b.narrow(x, 1, 0, 1)?, b.narrow(x, 1, 2, 2)?];
        weighted(b, &b.cat(&parts, 1)?)
    })?;
    let right = random(&mut rng, 8, -1.0, 1.0);
    gradient_of(b, "matmul", &point, &[3, 4], &|b, x| weighted(b, &b.matmul(x, &b.tensor(&right, &[4, 2])?)?))?;
    let image = random(&mut rng, 2 * 16, -1.0, 1.0);
    let kernel = random(&mut rng, 2 * 2 * 9, -1.0, 1.0);
    let options = Conv2d { stride: [1, 2], padding: [1, 1], ..Conv2d::default() };
    gradient_of(b, "conv2d (weight)", &kernel, &[2, 2, 3, 3], &|b, k| {
        weighted(b, &b.conv2d(&b.tensor(&image, &[1, 2, 4, 4])?, k, None, &options)?)
    })?;
    gradient_of(b, "conv2d (input)", &image, &[1, 2, 4, 4], &|b, x| {
        weighted(b, &b.conv2d(x, &b.tensor(&kernel, &[2, 2, 3, 3])?, None, &options)?)
    })?;
    gradient_of(b, "max pool", &image, &[1, 2, 4, 4], &|b, x| {
        weighted(b, &b.pool2d(Pool::Max, x, [2, 2], [2, 2], [0, 0])?)
    })?;
    gradient_of(b, "average pool", &image, &[1, 2, 4, 4], &|b, x| {
        weighted(b, &b.pool2d(Pool::Avg, x, [3, 3], [1, 1], [1, 1])?)
    })?;
    gradient_of(b, "adaptive average pool", &image, &[1, 2, 4, 4], &|b, x| {
        weighted(b, &b.adaptive_avg_pool2d(x, [3, 2])?)
    })?;
    gradient_of(b, "batch norm (input)", &image, &[4, 2, 2, 2], &|b, x| {
        let (g, s) = (b.tensor(&[1.5, 0.7], &[2])?, b.tensor(&[0.1, -0.3], &[2])?);
        weighted(b, &b.batch_norm(x, &g, &s, BatchNormMode::Train, 1e-5)?.output)
    })?;
    gradient_of(b, "batch norm (scale)", &[1.5, 0.7], &[2], &|b, g| {
        let (x, s) = (b.tensor(&image, &[4, 2, 2, 2])?, b.tensor(&[0.1, -0.3], &[2])?);
        weighted(b, &b.batch_norm(&x, g, &s, BatchNormMode::Train, 1e-5)?.output)
    })
}

/// Random logits and labels for loss checks.
fn logits_and_labels(seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (random(&mut rng, 3 * 5, -2.0, 2.0), (0..3).map(|_| rng.random_range(0..5u32)).collect())
}

/// A loss on the backend against the interpreter in `f64`: value and gradient.
fn loss_matches<B: Backend>(b: &B, loss: &Loss, seed: u64) -> Result<(), String> {
    let (logits, labels) = logits_and_labels(seed);
    let batch = Batch::<f64>::from_labels(
        logits.iter().map(|&v| f64::from(v)).collect(),
        5,
        &labels.iter().map(|&l| l as usize).collect::<Vec<_>>(),
    )
    .map_err(|e| e.to_string())?;
    let reference = loss.evaluate(&batch);
    let z = b.param(tensor(b, &logits, &[3, 5])?);
    let targets = TensorTargets::classes(b, &labels, 5).map_err(err)?;
    let value = TensorLoss::new(loss).forward(b, &z, &targets).map_err(err)?;
    let got = host(b, &value)?;
    let scale = reference.loss.abs().max(1.0);
    close(&format!("`{loss}`"), &got, &[reference.loss], 1e-4, 1e-4 * scale)?;
    let grads = b.backward(&value).map_err(err)?;
    let gradient = b.grad(&grads, &z).map(|g| host(b, &g)).transpose()?.unwrap_or_else(|| vec![0.0; 15]);
    let scale = reference.gradient.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
    close(&format!("gradient of `{loss}`"), &gradient, &reference.gradient, 1e-3, 1e-3 * scale)
}

/// A loss on segmentation logits `[2, 3, 2, 2]` against the interpreter on the labelled pixels
/// taken as rows; pixels labelled `IGNORE` must count for nothing and get no gradient.
fn segmentation_loss_matches<B: Backend>(b: &B, loss: &Loss, labels: &[u8]) -> Result<(), String> {
    const IGNORE: u8 = crate::data::IGNORE;
    let (n, c, h, w) = (2, 3, 2, 2);
    let plane = h * w;
    let mut rng = ChaCha8Rng::seed_from_u64(labels.iter().map(|&l| u64::from(l)).sum());
    let logits = random(&mut rng, n * c * plane, -2.0, 2.0);
    let at = |sample: usize, class: usize, pixel: usize| (sample * c + class) * plane + pixel;
    let kept: Vec<usize> = (0..n * plane).filter(|&i| labels[i] != IGNORE).collect();
    let logits_ref = &logits;
    let rows: Vec<f64> =
        kept.iter().flat_map(|&i| (0..c).map(move |k| f64::from(logits_ref[at(i / plane, k, i % plane)]))).collect();
    let row_labels: Vec<usize> = kept.iter().map(|&i| labels[i] as usize).collect();
    let reference = loss.evaluate(&Batch::<f64>::from_labels(rows, c, &row_labels).map_err(|e| e.to_string())?);
    let mut want_gradient = vec![0.0; logits.len()];
    for (row, &i) in kept.iter().enumerate() {
        for k in 0..c {
            want_gradient[at(i / plane, k, i % plane)] = reference.gradient[row * c + k];
        }
    }
    let z = b.param(tensor(b, &logits, &[n, c, h, w])?);
    let targets = TensorTargets::masks(b, labels, [n, h, w], c, IGNORE).map_err(err)?;
    let value = TensorLoss::new(loss).forward(b, &z, &targets).map_err(err)?;
    let what = format!("`{loss}` on masks {labels:?}");
    close(&what, &host(b, &value)?, &[reference.loss], 1e-4, 1e-4 * reference.loss.abs().max(1.0))?;
    let grads = b.backward(&value).map_err(err)?;
    let gradient = host(b, &b.grad(&grads, &z).ok_or_else(|| format!("{what}: no gradient"))?)?;
    let scale = want_gradient.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
    close(&format!("gradient of {what}"), &gradient, &want_gradient, 1e-3, 1e-3 * scale)
}

fn segmentation_losses<B: Backend>(b: &B) -> Result<(), String> {
    let all_labelled = [0, 1, 2, 1, 2, 2, 0, 1];
    let some_ignored = [0, 255, 2, 1, 255, 255, 0, 1];
    for text in ["ce", "ngl", "focal", "element-mean: square(p - y)", "sample-mean: -sum(y*log(p)) + amax(z)"] {
        let loss = Loss::resolve(text).map_err(|e| e.to_string())?;
        segmentation_loss_matches(b, &loss, &all_labelled)?;
        segmentation_loss_matches(b, &loss, &some_ignored)?;
    }
    Ok(())
}

fn losses<B: Backend>(b: &B) -> Result<(), String> {
    for (i, op) in Op::all().enumerate() {
        for reduction in Reduction::ALL {
            let text = match op.arity() {
                1 => format!("{op}(z - 0.5*p) + p*y"),
                _ => format!("{op}(2*p - 0.3, z*p + 0.5) + p*y"),
            };
            let loss = Loss::new(text.parse().map_err(|e| format!("{e}"))?, reduction);
            loss_matches(b, &loss, i as u64)?;
        }
    }
    for (i, builtin) in BUILTINS.iter().enumerate() {
        loss_matches(b, &builtin.loss(), 100 + i as u64)?;
    }
    // Constants on either side of every binary operator, which take the scalar paths.
    for text in [
        "2/(p + 1) + pow(2, z) + pow(p, 2) + aq(1, z) + aq(z, 2) + max(z, 0.5) + min(0.5, z) + y*p",
        "z/3 - 2*p - (1 - z) + y",
    ] {
        loss_matches(b, &Loss::new(text.parse().map_err(|e| format!("{e}"))?, Reduction::SampleMean), 7)?;
    }
    Ok(())
}

fn store<B: Backend>(b: &B) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "lossgp-conformance-{}-{:?}.safetensors",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut params = Params::new();
    let a = params.add(b, "layer.weight", tensor(b, &[1.0, -2.0, 3.5, 0.25], &[2, 2])?, ParamKind::Trainable);
    params.add(b, "layer.running_mean", tensor(b, &[7.0, 8.0], &[2])?, ParamKind::Buffer);
    params.save(b, &path).map_err(|e| e.to_string())?;
    let mut restored = Params::new();
    restored.add(b, "layer.weight", b.full(&[2, 2], 0.0).map_err(err)?, ParamKind::Trainable);
    let m = restored.add(b, "layer.running_mean", b.full(&[2], 0.0).map_err(err)?, ParamKind::Buffer);
    restored.load(b, &path).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path);
    checked(b, "loaded weight", restored.get(a), &[2, 2], &[1.0, -2.0, 3.5, 0.25], 0.0)?;
    checked(b, "loaded buffer", restored.get(m), &[2], &[7.0, 8.0], 0.0)
}

fn learns<B: Backend>(b: &B) -> Result<(), String> {
    // Four Gaussian blobs in the plane; a two-layer network must separate them.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let centres = [(-2.0f32, -2.0f32), (2.0, -2.0), (-2.0, 2.0), (2.0, 2.0)];
    let n = 256;
    let labels: Vec<u32> = (0..n).map(|i| (i % 4) as u32).collect();
    let points: Vec<f32> = labels
        .iter()
        .flat_map(|&l| {
            let (cx, cy) = centres[l as usize];
            [cx + rng.random_range(-1.0..1.0f32), cy + rng.random_range(-1.0..1.0f32)]
        })
        .collect();
    for name in ["ce", "ngl"] {
        let loss = TensorLoss::new(&crate::loss::builtin(name).ok_or("built-in loss")?.loss());
        let mut params = Params::new();
        let w1 = params.add(b, "w1", tensor(b, &random(&mut rng, 2 * 16, -0.7, 0.7), &[2, 16])?, ParamKind::Trainable);
        let w2 =
            params.add(b, "w2", tensor(b, &random(&mut rng, 16 * 4, -0.25, 0.25), &[16, 4])?, ParamKind::Trainable);
        let mut optimizer = Optimizer::<B>::new(OptimizerConfig::default());
        let x = tensor(b, &points, &[n, 2])?;
        let targets = TensorTargets::classes(b, &labels, 4).map_err(err)?;
        let forward = |p: &Params<B>| -> BResult<B::Tensor> {
            let hidden = b.unary(UnaryOp::Relu, &b.matmul(&x, p.get(w1))?)?;
            b.matmul(&hidden, p.get(w2))
        };
        for _ in 0..300 {
            let value = loss.forward(b, &forward(&params).map_err(err)?, &targets).map_err(err)?;
            let grads = b.backward(&value).map_err(err)?;
            optimizer.step(b, &mut params, &grads, 0.02).map_err(err)?;
        }
        let logits = host(b, &forward(&params).map_err(err)?)?;
        let correct = logits
            .chunks(4)
            .zip(&labels)
            .filter(|(row, l)| {
                let best = row.iter().enumerate().max_by(|a, c| a.1.total_cmp(c.1)).map_or(0, |(i, _)| i);
                best == **l as usize
            })
            .count();
        if correct * 10 < n * 9 {
            return Err(format!("with {name}, a two-layer network classified only {correct} of {n} separable points"));
        }
    }
    Ok(())
}

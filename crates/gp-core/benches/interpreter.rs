//! Speed of the loss language's reference machinery, each figure next to a reference in the
//! same process.
//!
//! * NGL's value and gradient through the interpreter, next to the same loss written by hand
//!   in Rust (the floor an interpreter can hope to reach);
//! * screening throughput: random candidate losses compiled, evaluated and differentiated on
//!   a probe batch, as the search does before any training;
//! * canonical keys and simplification per candidate, and how many of the random candidates
//!   the keys find to be duplicates.
//!
//! Run with `cargo bench -p lossgp-core --bench interpreter`.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use lossgp_core::expr::{Expr, PrimitiveSet, Var};
use lossgp_core::interp::Batch;
use lossgp_core::loss::{Loss, Reduction, builtin};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Runs `f` repeatedly for about `budget` and returns the mean time per call.
fn time<R>(budget: Duration, mut f: impl FnMut() -> R) -> Duration {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < budget || calls < 3 {
        black_box(f());
        calls += 1;
    }
    start.elapsed() / calls
}

fn random_batch(rng: &mut ChaCha8Rng, batch: usize, classes: usize) -> Batch<f64> {
    let logits = (0..batch * classes).map(|_| rng.random_range(-3.0..3.0)).collect();
    let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
    Batch::from_labels(logits, classes, &labels).expect("a valid batch")
}

/// NGL and its gradient with respect to the logits, written out by hand.
fn ngl_by_hand(batch: &Batch<f64>) -> (f64, Vec<f64>) {
    let (p, y) = (batch.var(Var::P), batch.var(Var::Y));
    let classes = batch.classes();
    let n = p.len() as f64;
    let mut loss = 0.0;
    let mut grad_p = vec![0.0; p.len()];
    for i in 0..p.len() {
        let e = (2.4092 - p[i] * (1.0 + y[i])).exp();
        let (s, c) = (p[i].sin(), p[i].cos());
        loss += e - s.cos().cos();
        grad_p[i] = (-(1.0 + y[i]) * e - s.cos().sin() * s.sin() * c) / n;
    }
    let mut grad = vec![0.0; p.len()];
    for ((gz, gp), pr) in grad.chunks_mut(classes).zip(grad_p.chunks(classes)).zip(p.chunks(classes)) {
        let dot: f64 = gp.iter().zip(pr).map(|(g, p)| g * p).sum();
        for k in 0..classes {
            gz[k] = pr[k] * (gp[k] - dot);
        }
    }
    (loss / n, grad)
}

fn main() {
    let budget = Duration::from_millis(700);
    let mut rng = ChaCha8Rng::seed_from_u64(2024);

    println!("NGL value + gradient, batch 128 x 10 classes, f64");
    let batch = random_batch(&mut rng, 128, 10);
    let ngl = builtin("ngl").expect("ngl is built in").loss().compile();
    let (by_hand, grad_by_hand) = ngl_by_hand(&batch);
    let trace = ngl.forward(&batch);
    let max_diff = trace.gradient().iter().zip(&grad_by_hand).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(
        (trace.loss() - by_hand).abs() < 1e-12 && max_diff < 1e-12,
        "the interpreter and the hand-written NGL disagree"
    );
    let hand = time(budget, || ngl_by_hand(&batch));
    let interp = time(budget, || {
        let trace = ngl.forward(&batch);
        (trace.loss(), trace.gradient())
    });
    println!("  hand-written Rust   {:>9.1} us", hand.as_secs_f64() * 1e6);
    println!(
        "  interpreter         {:>9.1} us   ({:.2}x the hand-written time)",
        interp.as_secs_f64() * 1e6,
        interp.as_secs_f64() / hand.as_secs_f64()
    );

    println!("\nScreening random candidates (default primitive set, grow, height <= 6), probe 32 x 10");
    let set = PrimitiveSet::default();
    let candidates: Vec<Loss> = (0..2000).map(|_| Loss::new(set.grow(&mut rng, 6), Reduction::ElementMean)).collect();
    let mean_size = candidates.iter().map(|l| l.expr.size()).sum::<usize>() as f64 / candidates.len() as f64;
    let probe = random_batch(&mut rng, 32, 10);
    let mut next = 0;
    let screen = time(budget, || {
        let loss = &candidates[next % candidates.len()];
        next += 1;
        loss.evaluate(&probe)
    });
    let mut next = 0;
    let key = time(budget, || {
        let loss = &candidates[next % candidates.len()];
        next += 1;
        loss.training_key()
    });
    let mut next = 0;
    let simplify = time(budget, || {
        let loss = &candidates[next % candidates.len()];
        next += 1;
        loss.expr.simplify()
    });
    println!("  mean size {mean_size:.1} nodes");
    println!(
        "  compile + value + gradient  {:>8.1} us   {:>8.0} candidates/s",
        screen.as_secs_f64() * 1e6,
        1.0 / screen.as_secs_f64()
    );
    println!(
        "  training key                {:>8.1} us   {:>8.0} candidates/s",
        key.as_secs_f64() * 1e6,
        1.0 / key.as_secs_f64()
    );
    println!(
        "  simplify                    {:>8.1} us   {:>8.0} candidates/s",
        simplify.as_secs_f64() * 1e6,
        1.0 / simplify.as_secs_f64()
    );

    // Duplicates among the candidates that the first screen lets through (they depend on the
    // target and on the prediction), next to a plain structural hash as the reference: the text
    // with the arguments of commutative operators sorted.
    let valid: Vec<&Loss> = candidates
        .iter()
        .filter(|l| {
            let c = l.expr.canonical();
            c.depends_on(Var::Y) && (c.depends_on(Var::P) || c.depends_on(Var::Z))
        })
        .collect();
    let distinct = |keys: Vec<String>| keys.into_iter().collect::<HashSet<_>>().len();
    let texts = distinct(valid.iter().map(|l| l.expr.to_string()).collect());
    let sorted = distinct(valid.iter().map(|l| sorted_text(&l.expr)).collect());
    let values = distinct(valid.iter().map(|l| l.key().to_string()).collect());
    let training = distinct(valid.iter().map(|l| l.training_key().to_string()).collect());
    println!("\nDuplicates among the {} candidates that depend on both prediction and target", valid.len());
    println!("  distinct texts                        {texts:>5}");
    println!("  distinct structural hashes (sorted)   {sorted:>5}");
    println!("  distinct value keys                   {values:>5}");
    println!("  distinct training keys                {training:>5}   ({} trainings saved)", valid.len() - training);
}

/// The text of `e` with the arguments of commutative operators in sorted order.
fn sorted_text(e: &Expr) -> String {
    match e {
        Expr::Binary(op, a, b) => {
            let (mut x, mut y) = (sorted_text(a), sorted_text(b));
            if matches!(op.name(), "add" | "mul" | "min" | "max") && x > y {
                std::mem::swap(&mut x, &mut y);
            }
            format!("{op}({x},{y})")
        }
        Expr::Unary(op, x) => format!("{op}({})", sorted_text(x)),
        Expr::Reduce(op, x) => format!("{op}({})", sorted_text(x)),
        leaf => leaf.to_string(),
    }
}

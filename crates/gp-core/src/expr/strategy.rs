//! Proptest strategies for expressions, shared by the property tests of the language.

use proptest::prelude::*;

use super::Expr;
use super::ops::{Binary, Reduce, Unary, Var};

fn arb_var() -> impl Strategy<Value = Var> {
    prop::sample::select(Var::ALL)
}

/// Constants of every kind the printer must handle: small integers, halves, awkward
/// decimals, tiny and huge magnitudes, negative zero.
fn arb_const() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-4i32..=4).prop_map(f64::from),
        (-8i32..=8).prop_map(|k| f64::from(k) / 2.0),
        prop::num::f64::NORMAL,
        Just(-0.0),
        Just(2.4092),
        Just(0.1),
    ]
}

fn leaf(constants: BoxedStrategy<f64>) -> impl Strategy<Value = Expr> {
    prop_oneof![3 => arb_var().prop_map(Expr::Var), 1 => constants.prop_map(Expr::Const)]
}

fn grow(leaves: BoxedStrategy<Expr>, depth: u32) -> impl Strategy<Value = Expr> {
    leaves.prop_recursive(depth, 48, 2, |inner| {
        prop_oneof![
            (prop::sample::select(Unary::ALL), inner.clone()).prop_map(|(op, x)| Expr::unary(op, x)),
            (prop::sample::select(Binary::ALL), inner.clone(), inner.clone())
                .prop_map(|(op, a, b)| Expr::binary(op, a, b)),
            (prop::sample::select(Reduce::ALL), inner).prop_map(|(op, x)| Expr::reduce(op, x)),
        ]
    })
}

/// Any expression of the language, with any finite constants.
pub(crate) fn arb_expr() -> impl Strategy<Value = Expr> {
    grow(leaf(arb_const().boxed()).boxed(), 6)
}

/// Expressions with moderate constants (|c| ≤ 5, some with many digits), for comparing values:
/// extreme constants only make every evaluation overflow.
pub(crate) fn arb_value_expr() -> impl Strategy<Value = Expr> {
    let constants = prop_oneof![
        (-4i32..=4).prop_map(f64::from),
        (-10i32..=10).prop_map(|k| f64::from(k) / 4.0),
        -5.0..5.0f64,
        Just(2.4092),
    ]
    .boxed();
    grow(leaf(constants).boxed(), 6)
}

/// Expressions whose constants are small multiples of 1/2, so that reordering sums of
/// constants is exact and algebraic identities hold to the last bit.
pub(crate) fn arb_exact_expr() -> impl Strategy<Value = Expr> {
    let constants = (-6i32..=6).prop_map(|k| f64::from(k) / 2.0).boxed();
    grow(leaf(constants).boxed(), 5)
}

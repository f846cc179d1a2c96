//! Helpers for the tests of the normal form: the key and the normal form of an expression
//! written as text, and assertions that two texts get one key or two.

use super::Key;
use crate::expr::Expr;

pub(super) fn key(text: &str) -> Key {
    text.parse::<Expr>().unwrap().canonical().key()
}

pub(super) fn canon(text: &str) -> String {
    text.parse::<Expr>().unwrap().canonical().expr().to_string()
}

#[track_caller]
pub(super) fn same(a: &str, b: &str) {
    assert_eq!(key(a), key(b), "`{a}` -> `{}` vs `{b}` -> `{}`", canon(a), canon(b));
}

#[track_caller]
pub(super) fn different(a: &str, b: &str) {
    assert_ne!(key(a), key(b), "`{a}` and `{b}` got one key (`{}`)", canon(a));
}

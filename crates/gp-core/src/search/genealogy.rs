//! Where each candidate came from: its parents and the operator that made it (PySR's "every
//! member knows its parents"). The search appends one [`Birth`] per new candidate to
//! `genealogy.jsonl` when it breeds a generation, before training it, so that a loss's family
//! can be traced back to the random trees of generation 0 ([`lineage`]).
//!
//! A generation bred again after a crash draws the same candidates (its generator is derived
//! from the seed, the generation and the island), so its births are written again: readers keep
//! the first line of each key.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::variation::Mutation;
use crate::expr::Expr;
use crate::expr::canon::Key;

/// The genealogy file of a run directory.
pub const GENEALOGY: &str = "genealogy.jsonl";

/// How a candidate came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Origin {
    /// One of the search's `start_from` losses.
    Start,
    /// A random tree of the first generation (ramped half-and-half).
    Random,
    /// A random tree drawn in a later generation once the redraw limit ran out.
    Immigrant,
    /// Bred from the population: subtree crossover of two parents, a mutation, or both (the
    /// crossover first). A crossover or mutation whose result would break the size limits
    /// leaves the tree as it was and is not listed.
    Offspring {
        /// The training keys of its parents: the one whose tree it started from, then the
        /// crossover's donor.
        parents: Vec<Key>,
        /// Whether subtree crossover made it.
        crossover: bool,
        /// The mutation applied, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mutation: Option<Mutation>,
    },
}

impl Origin {
    /// Its operator in words: `random`, `crossover`, `point mutation`, `crossover + hoist
    /// mutation`, `copy` (a parent that took a slot unchanged), ...
    pub fn operator(&self) -> String {
        match self {
            Origin::Start => "start".into(),
            Origin::Random => "random".into(),
            Origin::Immigrant => "immigrant".into(),
            Origin::Offspring { crossover, mutation, .. } => match (crossover, mutation) {
                (true, Some(m)) => format!("crossover + {} mutation", m.name()),
                (true, None) => "crossover".into(),
                (false, Some(m)) => format!("{} mutation", m.name()),
                (false, None) => "copy".into(),
            },
        }
    }

    /// The parents' keys (none for a tree not bred from the population).
    pub fn parents(&self) -> &[Key] {
        match self {
            Origin::Offspring { parents, .. } => parents,
            _ => &[],
        }
    }
}

/// A line of `genealogy.jsonl`: a new candidate of a generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Birth {
    /// The generation that bred it.
    pub generation: usize,
    /// The island.
    #[serde(default)]
    pub island: usize,
    /// Its training key.
    pub key: Key,
    /// Its tree.
    pub expr: Expr,
    /// Its parents and operator.
    pub origin: Origin,
}

/// The ancestry of `key`: its birth, then its parents' births, breadth first, each key once
/// (`births`: every birth of the run; the first of each key counts). Keys without a birth (a
/// run from before the genealogy was recorded) end their branch.
pub fn lineage(key: Key, births: &[Birth], limit: usize) -> Vec<&Birth> {
    let mut by_key: HashMap<Key, &Birth> = HashMap::new();
    for birth in births {
        by_key.entry(birth.key).or_insert(birth);
    }
    let mut out: Vec<&Birth> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut queue = std::collections::VecDeque::from([key]);
    while let Some(next) = queue.pop_front() {
        if out.len() >= limit || !seen.insert(next) {
            continue;
        }
        if let Some(birth) = by_key.get(&next) {
            out.push(birth);
            queue.extend(birth.origin.parents().iter().copied());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Key {
        text.parse::<Expr>().unwrap().canonical().key()
    }

    #[test]
    fn an_origin_reads_as_its_operator_and_round_trips() {
        let child =
            Origin::Offspring { parents: vec![key("p"), key("y")], crossover: true, mutation: Some(Mutation::Hoist) };
        assert_eq!(child.operator(), "crossover + hoist mutation");
        assert_eq!(Origin::Offspring { parents: vec![key("p")], crossover: false, mutation: None }.operator(), "copy");
        let text = serde_json::to_string(&child).unwrap();
        assert!(text.contains("\"by\":\"offspring\"") && text.contains("\"mutation\":\"hoist\""), "{text}");
        assert_eq!(serde_json::from_str::<Origin>(&text).unwrap(), child);
        assert_eq!(serde_json::from_str::<Origin>("{\"by\":\"random\"}").unwrap(), Origin::Random);
    }

    #[test]
    fn the_lineage_follows_parents_back_and_keeps_the_first_birth() {
        let birth = |g, text: &str, origin| Birth {
            generation: g,
            island: 0,
            key: key(text),
            expr: text.parse().unwrap(),
            origin,
        };
        let births = vec![
            birth(0, "p", Origin::Random),
            birth(0, "y", Origin::Random),
            birth(1, "p * y", Origin::Offspring { parents: vec![key("p"), key("y")], crossover: true, mutation: None }),
            // A generation bred again after a crash: the same key, written twice.
            birth(1, "p * y", Origin::Immigrant),
            birth(
                2,
                "log(p * y)",
                Origin::Offspring { parents: vec![key("p * y")], crossover: false, mutation: Some(Mutation::Subtree) },
            ),
        ];
        let line: Vec<usize> = lineage(key("log(p * y)"), &births, 10).iter().map(|b| b.generation).collect();
        assert_eq!(line, vec![2, 1, 0, 0]);
        assert_eq!(lineage(key("p * y"), &births, 10)[0].origin.operator(), "crossover");
        assert_eq!(lineage(key("log(p * y)"), &births, 2).len(), 2);
        assert!(lineage(key("exp(p)"), &births, 10).is_empty());
    }
}

//! The genetic operators: ramped half-and-half initialisation, tournament selection, subtree
//! crossover and five mutations. Every operator respects the height and size limits: an
//! offspring over them is replaced by a copy of its parent (Koza's rule, as in DEAP's
//! `staticLimit`).

use rand::{Rng, RngExt};

use super::config::{Mutations, SearchConfig, Selection};
use crate::expr::{Expr, Op, Var};
use crate::loss::Loss;

/// Chance that a crossover or mutation point is an internal node rather than a leaf (Koza's
/// 90/10 rule: leaves are most nodes, and swapping them changes little).
const INTERNAL_POINT: f64 = 0.9;

/// Height limit of the subtrees that subtree mutation grows.
const MUTATION_HEIGHT: usize = 2;

/// `n` random trees, ramped half-and-half: heights spread evenly over `init_height`, half
/// grown and half full at each height.
pub fn ramped_half_and_half<R: Rng + ?Sized>(config: &SearchConfig, rng: &mut R, n: usize) -> Vec<Expr> {
    (0..n).map(|i| ramped_tree(config, rng, i)).collect()
}

/// The `i`-th tree of a ramped half-and-half population: height `low + (i / 2) % heights`,
/// grown for even `i` and full for odd, so that every height gets both methods. A tree over
/// the size limit is grown again at the lowest height, and failing that becomes a leaf.
pub fn ramped_tree<R: Rng + ?Sized>(config: &SearchConfig, rng: &mut R, i: usize) -> Expr {
    let [low, high] = config.init_height;
    let height = low + (i / 2) % (high - low + 1);
    let set = &config.primitives;
    let tree = if i.is_multiple_of(2) { set.grow(rng, height) } else { set.full_tree(rng, height) };
    if fits(config, &tree) {
        return tree;
    }
    let tree = set.grow(rng, low);
    if fits(config, &tree) { tree } else { set.random_terminal(rng) }
}

/// A first generation of `n` distinct losses that each depend on the prediction and the
/// target (EvoMAL's rule): ramped half-and-half trees, redrawn while they fail either test,
/// up to 100 draws per tree, after which any tree is taken. Random trees over few leaves are
/// mostly constant, target-free or equal to one another; a population of them would start the
/// search from nothing.
pub fn initial_population<R: Rng + ?Sized>(config: &SearchConfig, rng: &mut R, n: usize) -> Vec<Expr> {
    let mut keys = std::collections::HashSet::new();
    let mut trees = Vec::with_capacity(n);
    for i in 0..n {
        let mut tree = Expr::Const(0.0);
        for _ in 0..100 {
            tree = ramped_tree(config, rng, i);
            let canonical = tree.canonical();
            let useful = (canonical.depends_on(Var::P) || canonical.depends_on(Var::Z)) && canonical.depends_on(Var::Y);
            if useful && keys.insert(Loss::new(tree.clone(), config.reduction).training_key()) {
                break;
            }
        }
        trees.push(tree);
    }
    trees
}

/// Whether `tree` is within the height and size limits.
pub fn fits(config: &SearchConfig, tree: &Expr) -> bool {
    tree.height() <= config.max_height && tree.size() <= config.max_size
}

/// The index of a parent chosen by `selection`, from fitnesses (higher is better) and sizes.
pub fn select<R: Rng + ?Sized>(selection: Selection, fitness: &[f64], sizes: &[usize], rng: &mut R) -> usize {
    let tournament = |rng: &mut R, size: usize| {
        (0..size.max(1))
            .map(|_| rng.random_range(0..fitness.len()))
            .reduce(|best, i| if fitness[i] > fitness[best] { i } else { best })
            .expect("a tournament of at least one")
    };
    match selection {
        Selection::Tournament { size } => tournament(rng, size),
        Selection::DoubleTournament { size, parsimony } => {
            let (a, b) = (tournament(rng, size), tournament(rng, size));
            let (small, large) = if sizes[a] <= sizes[b] { (a, b) } else { (b, a) };
            if rng.random_bool((parsimony / 2.0).clamp(0.0, 1.0)) { small } else { large }
        }
    }
}

/// A random node index of `tree`: an internal node with probability 0.9 when there is one.
fn pick_point<R: Rng + ?Sized>(tree: &Expr, rng: &mut R) -> usize {
    let (mut internal, mut leaves) = (Vec::new(), Vec::new());
    for (i, node) in tree.preorder().enumerate() {
        if node.op().is_some() { internal.push(i) } else { leaves.push(i) }
    }
    let pool =
        if !internal.is_empty() && (leaves.is_empty() || rng.random_bool(INTERNAL_POINT)) { internal } else { leaves };
    pool[rng.random_range(0..pool.len())]
}

/// Subtree crossover: a random subtree of `a` is replaced by a random subtree of `b`; `a`
/// itself where the child would break the height or size limits.
pub fn crossover<R: Rng + ?Sized>(config: &SearchConfig, a: &Expr, b: &Expr, rng: &mut R) -> Expr {
    crossover_fitting(config, a, b, rng).unwrap_or_else(|| a.clone())
}

/// [`crossover`], or none where the child would break the limits.
pub fn crossover_fitting<R: Rng + ?Sized>(config: &SearchConfig, a: &Expr, b: &Expr, rng: &mut R) -> Option<Expr> {
    let (i, j) = (pick_point(a, rng), pick_point(b, rng));
    let donor = b.subtree(j).expect("a point of b").clone();
    let mut child = a.clone();
    *child.subtree_mut(i).expect("a point of a") = donor;
    fits(config, &child).then_some(child)
}

/// Which mutation [`mutate`] applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mutation {
    /// A node became a new random subtree.
    Subtree,
    /// An operator or leaf became another of its kind.
    Point,
    /// The tree became one of its subtrees.
    Hoist,
    /// An operator was replaced by one of its arguments.
    Shrink,
    /// A constant moved.
    Constant,
}

impl Mutation {
    /// Its name: `subtree`, `point`, `hoist`, `shrink` or `constant`.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::Subtree => "subtree",
            Mutation::Point => "point",
            Mutation::Hoist => "hoist",
            Mutation::Shrink => "shrink",
            Mutation::Constant => "constant",
        }
    }

    fn choose<R: Rng + ?Sized>(weights: &Mutations, rng: &mut R) -> Mutation {
        let table = [
            (Mutation::Subtree, weights.subtree),
            (Mutation::Point, weights.point),
            (Mutation::Hoist, weights.hoist),
            (Mutation::Shrink, weights.shrink),
            (Mutation::Constant, weights.constant),
        ];
        let total: f64 = table.iter().map(|(_, w)| w).sum();
        let mut x = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
        for (m, w) in table {
            if x < w {
                return m;
            }
            x -= w;
        }
        Mutation::Subtree
    }
}

/// `tree` mutated by an operator chosen by the configured weights. A mutation that has
/// nothing to act on (no constant to move, a leaf to shrink) falls back to subtree mutation.
pub fn mutate<R: Rng + ?Sized>(config: &SearchConfig, tree: &Expr, rng: &mut R) -> Expr {
    mutate_by(config, tree, rng).0
}

/// [`mutate`], with the mutation it applied; none where the result would break the height or
/// size limits and the tree comes back unchanged.
pub fn mutate_by<R: Rng + ?Sized>(config: &SearchConfig, tree: &Expr, rng: &mut R) -> (Expr, Option<Mutation>) {
    let set = &config.primitives;
    let mut child = tree.clone();
    let mut mutation = Mutation::choose(&config.mutations, rng);
    let constants: Vec<usize> =
        tree.preorder().enumerate().filter(|(_, n)| matches!(n, Expr::Const(_))).map(|(i, _)| i).collect();
    let has_internal = tree.op().is_some();
    if (mutation == Mutation::Constant && constants.is_empty())
        || (matches!(mutation, Mutation::Shrink | Mutation::Hoist) && !has_internal)
    {
        mutation = Mutation::Subtree;
    }
    match mutation {
        Mutation::Subtree => {
            let i = pick_point(tree, rng);
            *child.subtree_mut(i).expect("a point") = set.grow(rng, MUTATION_HEIGHT);
        }
        Mutation::Point => {
            let i = pick_point(tree, rng);
            let node = child.subtree_mut(i).expect("a point");
            *node = match node.op() {
                Some(op) => {
                    let same_arity: Vec<Op> =
                        set.operators.iter().copied().filter(|o| o.arity() == op.arity()).collect();
                    let new = same_arity.get(rng.random_range(0..same_arity.len().max(1))).copied().unwrap_or(op);
                    Expr::apply(new, node.children().cloned().collect()).unwrap_or_else(|| node.clone())
                }
                None => set.random_terminal(rng),
            };
        }
        Mutation::Hoist => {
            let internal: Vec<usize> =
                tree.preorder().enumerate().skip(1).filter(|(_, n)| n.op().is_some()).map(|(i, _)| i).collect();
            let i = if internal.is_empty() {
                rng.random_range(1..tree.size())
            } else {
                internal[rng.random_range(0..internal.len())]
            };
            child = tree.subtree(i).expect("a point").clone();
        }
        Mutation::Shrink => {
            let internal: Vec<usize> =
                tree.preorder().enumerate().filter(|(_, n)| n.op().is_some()).map(|(i, _)| i).collect();
            let i = internal[rng.random_range(0..internal.len())];
            let node = child.subtree_mut(i).expect("a point");
            let args: Vec<Expr> = node.children().cloned().collect();
            *node = args[rng.random_range(0..args.len())].clone();
        }
        Mutation::Constant => {
            let i = constants[rng.random_range(0..constants.len())];
            let (range, decimals) = set.ephemeral.map_or((1.0, 4), |e| (e.max - e.min, e.decimals));
            if let Some(Expr::Const(c)) = child.subtree_mut(i) {
                let step = 0.1 * range * standard_normal(rng);
                let scale = 10f64.powi(decimals as i32);
                *c = ((*c + step) * scale).round() / scale + 0.0;
            }
        }
    }
    if fits(config, &child) { (child, Some(mutation)) } else { (tree.clone(), None) }
}

fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn config() -> SearchConfig {
        SearchConfig { max_height: 6, max_size: 30, ..SearchConfig::default() }
    }

    #[test]
    fn initial_trees_ramp_over_the_heights_within_the_limits() {
        let c = config();
        let trees = ramped_half_and_half(&c, &mut ChaCha8Rng::seed_from_u64(1), 60);
        assert!(trees.iter().all(|t| fits(&c, t)));
        let heights: std::collections::BTreeSet<usize> = trees.iter().map(Expr::height).collect();
        assert!(heights.len() >= 3, "{heights:?}");
        assert!(trees.iter().any(|t| t.height() == 4), "full trees of the top height");
        // With an even number of heights, each height still gets grown and full trees.
        let even = SearchConfig { init_height: [2, 3], ..config() };
        let trees = ramped_half_and_half(&even, &mut ChaCha8Rng::seed_from_u64(1), 40);
        let full_of_height = |h: usize| trees.iter().skip(1).step_by(2).filter(|t| t.height() == h).count();
        assert!(full_of_height(2) > 0 && full_of_height(3) > 0);
    }

    #[test]
    fn the_first_generation_is_distinct_and_depends_on_prediction_and_target() {
        let c = config();
        let trees = initial_population(&c, &mut ChaCha8Rng::seed_from_u64(5), 50);
        let keys: std::collections::HashSet<_> =
            trees.iter().map(|t| Loss::new(t.clone(), c.reduction).training_key()).collect();
        assert_eq!(keys.len(), 50);
        assert!(trees.iter().all(|t| t.uses(Var::Y) && t.uses(Var::P) && fits(&c, t)));
    }

    #[test]
    fn offspring_stay_within_the_limits_and_change_something() {
        let c = config();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let trees = ramped_half_and_half(&c, &mut rng, 40);
        let mut changed = 0;
        for pair in trees.windows(2) {
            let child = crossover(&c, &pair[0], &pair[1], &mut rng);
            let mutant = mutate(&c, &pair[0], &mut rng);
            assert!(fits(&c, &child) && fits(&c, &mutant));
            changed += usize::from(child != pair[0]) + usize::from(mutant != pair[0]);
        }
        assert!(changed > 50, "only {changed} of 78 offspring differ from their parent");
    }

    #[test]
    fn every_mutation_does_what_it_says() {
        let tree: Expr = "exp(2.5 - p*(1 + y)) - cos(p)".parse().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let only = |m: Mutations| SearchConfig { mutations: m, ..config() };
        let none = Mutations { subtree: 0.0, point: 0.0, hoist: 0.0, shrink: 0.0, constant: 0.0 };
        for _ in 0..20 {
            let hoisted = mutate(&only(Mutations { hoist: 1.0, ..none }), &tree, &mut rng);
            assert!(tree.preorder().skip(1).any(|s| *s == hoisted), "{hoisted} is a subtree");
            let shrunk = mutate(&only(Mutations { shrink: 1.0, ..none }), &tree, &mut rng);
            assert!(shrunk.size() < tree.size(), "{shrunk}");
            let moved = mutate(&only(Mutations { constant: 1.0, ..none }), &tree, &mut rng);
            assert_eq!((moved.size(), moved.height()), (tree.size(), tree.height()));
            let pointed = mutate(&only(Mutations { point: 1.0, ..none }), &tree, &mut rng);
            assert_eq!(pointed.size(), tree.size(), "{pointed}");
        }
    }

    #[test]
    fn tournaments_prefer_the_fit_and_double_tournaments_the_small() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let fitness = [0.1, 0.9, 0.5, 0.9];
        let sizes = [3, 20, 5, 4];
        let picks: Vec<usize> =
            (0..400).map(|_| select(Selection::Tournament { size: 3 }, &fitness, &sizes, &mut rng)).collect();
        assert!(picks.iter().filter(|&&i| i == 0).count() < 20, "the worst rarely wins");
        let small = (0..400)
            .filter(|_| {
                select(Selection::DoubleTournament { size: 4, parsimony: 2.0 }, &fitness, &sizes, &mut rng) == 3
            })
            .count();
        let large = (0..400)
            .filter(|_| {
                select(Selection::DoubleTournament { size: 4, parsimony: 2.0 }, &fitness, &sizes, &mut rng) == 1
            })
            .count();
        assert!(small > 2 * large, "equally fit: the smaller is preferred ({small} vs {large})");
    }
}

//! The primitive set of a search: which operators, variables and constants its trees are built
//! from. The paper does not publish its set, so it is a setting; the presets document where
//! each choice comes from.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::Expr;
use super::ops::{Binary, Op, Unary, Var};

/// Ephemeral random constants: a leaf that, each time the search creates it, becomes a fresh
/// number drawn uniformly from `[min, max]` and rounded to `decimals` decimal places (rounding
/// keeps evolved losses readable, like NGL's `2.4092`). Left out, a field takes its default:
/// `[-3, 3]`, 4 decimals.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ephemeral {
    /// Lower bound of the range.
    pub min: f64,
    /// Upper bound of the range.
    pub max: f64,
    /// Decimal places kept.
    pub decimals: u32,
}

impl Default for Ephemeral {
    fn default() -> Self {
        Ephemeral { min: -3.0, max: 3.0, decimals: 4 }
    }
}

impl Ephemeral {
    /// Draws one constant.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let x = rng.random_range(self.min..=self.max);
        let scale = 10f64.powi(self.decimals as i32);
        let rounded = (x * scale).round() / scale;
        // Rounding can step just outside the range or produce -0; neither is wanted.
        rounded.clamp(self.min, self.max) + 0.0
    }
}

/// The building blocks of a search's expression trees.
///
/// In JSON, operators and variables are their names:
///
/// ```json
/// {"operators": ["add", "mul", "exp", "cos"], "variables": ["p", "y"],
///  "constants": [1.0], "ephemeral": {"min": -3.0, "max": 3.0, "decimals": 4}}
/// ```
///
/// A field left out takes its value from [`PrimitiveSet::default`]; `"ephemeral": false`
/// turns ephemeral constants off (so does `null`, in JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrimitiveSet {
    /// Operators for internal nodes.
    pub operators: Vec<Op>,
    /// Variables for leaves.
    pub variables: Vec<Var>,
    /// Fixed constants for leaves.
    pub constants: Vec<f64>,
    /// Ephemeral random constants for leaves, if any.
    #[serde(with = "ephemeral_or_off")]
    pub ephemeral: Option<Ephemeral>,
}

/// `ephemeral` is a table, or `false` for none: TOML has no null, and a left-out table means
/// the default range.
mod ephemeral_or_off {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Ephemeral;

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Written {
        Switch(bool),
        Range(Ephemeral),
        Null(()),
    }

    pub fn serialize<S: Serializer>(value: &Option<Ephemeral>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(range) => Written::Range(*range),
            None => Written::Switch(false),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Ephemeral>, D::Error> {
        match Written::deserialize(deserializer) {
            Ok(Written::Switch(on)) => Ok(on.then(Ephemeral::default)),
            Ok(Written::Range(range)) => Ok(Some(range)),
            Ok(Written::Null(())) => Ok(None),
            Err(_) => Err(serde::de::Error::custom(
                "`ephemeral` is a table such as { min = -3.0, max = 3.0, decimals = 4 } (its fields: min, max, \
                 decimals), or false for no ephemeral constants",
            )),
        }
    }
}

/// Why a primitive set cannot be used, or why an expression is outside one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PrimitiveSetError {
    /// No operators: every tree would be a single leaf.
    #[error("the primitive set has no operators; list some under `operators`, e.g. [\"add\", \"mul\", \"exp\"]")]
    NoOperators,
    /// Without a prediction leaf or a target leaf no tree can be a loss.
    #[error("the primitive set's variables must include the target `y` and a prediction (`p` or `z`); it has {0:?}")]
    NotALoss(Vec<Var>),
    /// An entry listed twice (it would silently skew the sampling probabilities).
    #[error("`{0}` is listed twice in the primitive set")]
    Duplicate(String),
    /// A constant that is NaN or infinite.
    #[error("constant {0} in the primitive set is not finite")]
    NonFiniteConstant(f64),
    /// An empty, reversed or non-finite range of ephemeral constants.
    #[error("ephemeral constant range [{min}, {max}] is invalid; it needs finite min < max")]
    BadEphemeralRange {
        /// The range's lower bound.
        min: f64,
        /// The range's upper bound.
        max: f64,
    },
    /// More decimals than an `f64` holds.
    #[error("ephemeral constants keep at most 15 decimals, not {0}")]
    TooManyDecimals(u32),
    /// An expression uses an operator that is not in the set.
    #[error("operator `{0}` is not in the primitive set")]
    OperatorNotInSet(Op),
    /// An expression uses a variable that is not in the set.
    #[error("variable `{0}` is not in the primitive set")]
    VariableNotInSet(Var),
    /// An expression uses a constant that the set cannot produce.
    #[error("constant {0} is neither a fixed constant of the primitive set nor in its ephemeral range")]
    ConstantNotInSet(f64),
}

impl Default for PrimitiveSet {
    /// lossgp's default search space: the leaves the paper names (`p`, `y`, constants) and the
    /// element-wise operators that NGL and the other published losses are built from. `pow`
    /// (which overflows easily), `recip` (covered by `/`), `aq` and the class reductions are
    /// left out; add them to search a wider space.
    fn default() -> Self {
        use Binary::*;
        use Unary::*;
        let unary = [Exp, Log, Sqrt, Abs, Square, Sin, Cos, Tanh, Sigmoid, Softplus].map(Op::Unary);
        let binary = [Add, Sub, Mul, Div, Min, Max].map(Op::Binary);
        PrimitiveSet {
            operators: unary.into_iter().chain(binary).collect(),
            variables: vec![Var::P, Var::Y],
            constants: vec![1.0],
            ephemeral: Some(Ephemeral::default()),
        }
    }
}

impl PrimitiveSet {
    /// EvoMAL's set (Raymond et al., TPAMI 2023): add, sub, mul, analytic quotient, square, abs,
    /// protected log and sqrt, tanh, min, max over `y`, `p` and the constants ±1. EvoMAL also has
    /// `sign`, whose gradient is zero almost everywhere; lossgp's language leaves it out.
    pub fn evomal() -> Self {
        use Binary::*;
        use Unary::*;
        let unary = [Square, Abs, Log, Sqrt, Tanh].map(Op::Unary);
        let binary = [Add, Sub, Mul, Aq, Min, Max].map(Op::Binary);
        PrimitiveSet {
            operators: binary.into_iter().chain(unary).collect(),
            variables: vec![Var::Y, Var::P],
            constants: vec![1.0, -1.0],
            ephemeral: None,
        }
    }

    /// Every operator and variable of the language, with ephemeral constants in `[-3, 3]`.
    pub fn full() -> Self {
        PrimitiveSet {
            operators: Op::all().collect(),
            variables: Var::ALL.to_vec(),
            constants: vec![1.0],
            ephemeral: Some(Ephemeral { min: -3.0, max: 3.0, decimals: 4 }),
        }
    }

    /// A preset by name: `default`, `evomal` or `full`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::default()),
            "evomal" => Some(Self::evomal()),
            "full" => Some(Self::full()),
            _ => None,
        }
    }

    /// Checks that the set can build losses; run it on every set read from a configuration.
    pub fn validate(&self) -> Result<(), PrimitiveSetError> {
        if self.operators.is_empty() {
            return Err(PrimitiveSetError::NoOperators);
        }
        let has = |v| self.variables.contains(&v);
        if !has(Var::Y) || !(has(Var::P) || has(Var::Z)) {
            return Err(PrimitiveSetError::NotALoss(self.variables.clone()));
        }
        for (i, op) in self.operators.iter().enumerate() {
            if self.operators[..i].contains(op) {
                return Err(PrimitiveSetError::Duplicate(op.name().to_owned()));
            }
        }
        for (i, var) in self.variables.iter().enumerate() {
            if self.variables[..i].contains(var) {
                return Err(PrimitiveSetError::Duplicate(var.name().to_owned()));
            }
        }
        for (i, &c) in self.constants.iter().enumerate() {
            if !c.is_finite() {
                return Err(PrimitiveSetError::NonFiniteConstant(c));
            }
            if self.constants[..i].contains(&c) {
                return Err(PrimitiveSetError::Duplicate(c.to_string()));
            }
        }
        if let Some(Ephemeral { min, max, decimals }) = self.ephemeral {
            if !(min.is_finite() && max.is_finite() && min < max) {
                return Err(PrimitiveSetError::BadEphemeralRange { min, max });
            }
            if decimals > 15 {
                return Err(PrimitiveSetError::TooManyDecimals(decimals));
            }
        }
        Ok(())
    }

    /// Checks that every node of `expr` is something this set can produce.
    pub fn admits(&self, expr: &Expr) -> Result<(), PrimitiveSetError> {
        for node in expr.preorder() {
            match node {
                Expr::Var(v) if !self.variables.contains(v) => return Err(PrimitiveSetError::VariableNotInSet(*v)),
                Expr::Const(c) if !self.can_make_constant(*c) => return Err(PrimitiveSetError::ConstantNotInSet(*c)),
                _ => {}
            }
            if let Some(op) = node.op().filter(|op| !self.operators.contains(op)) {
                return Err(PrimitiveSetError::OperatorNotInSet(op));
            }
        }
        Ok(())
    }

    fn can_make_constant(&self, c: f64) -> bool {
        self.constants.contains(&c) || self.ephemeral.is_some_and(|e| (e.min..=e.max).contains(&c))
    }

    /// The number of distinct kinds of leaf: variables, fixed constants, and the ephemeral
    /// constant (counted once).
    pub fn terminal_count(&self) -> usize {
        self.variables.len() + self.constants.len() + usize::from(self.ephemeral.is_some())
    }

    /// A random leaf, each kind of leaf equally likely.
    pub fn random_terminal<R: Rng + ?Sized>(&self, rng: &mut R) -> Expr {
        let mut i = rng.random_range(0..self.terminal_count().max(1));
        if let Some(&v) = self.variables.get(i) {
            return Expr::Var(v);
        }
        i -= self.variables.len();
        if let Some(&c) = self.constants.get(i) {
            return Expr::Const(c);
        }
        match self.ephemeral {
            Some(e) => Expr::Const(e.sample(rng)),
            None => Expr::Var(self.variables.first().copied().unwrap_or(Var::P)),
        }
    }

    /// A random operator, each equally likely.
    pub fn random_operator<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Op> {
        (!self.operators.is_empty()).then(|| self.operators[rng.random_range(0..self.operators.len())])
    }

    /// A random tree by Koza's *grow* method: below `max_height`, each node is a leaf with
    /// probability (leaf kinds) / (leaf kinds + operators), as in DEAP's `genGrow`.
    pub fn grow<R: Rng + ?Sized>(&self, rng: &mut R, max_height: usize) -> Expr {
        let leaf_share = self.terminal_count() as f64 / (self.terminal_count() + self.operators.len()) as f64;
        self.random_tree(rng, max_height, &mut |rng: &mut R| rng.random_bool(leaf_share.clamp(0.0, 1.0)))
    }

    /// A random tree by Koza's *full* method: every leaf at exactly `height`.
    pub fn full_tree<R: Rng + ?Sized>(&self, rng: &mut R, height: usize) -> Expr {
        self.random_tree(rng, height, &mut |_: &mut R| false)
    }

    fn random_tree<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        height: usize,
        stop_early: &mut impl FnMut(&mut R) -> bool,
    ) -> Expr {
        let op = match self.random_operator(rng) {
            Some(op) if height > 0 && !stop_early(rng) => op,
            _ => return self.random_terminal(rng),
        };
        let args = (0..op.arity()).map(|_| self.random_tree(rng, height - 1, stop_early)).collect();
        Expr::apply(op, args).unwrap_or_else(|| self.random_terminal(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn presets_are_valid() {
        for name in ["default", "evomal", "full"] {
            PrimitiveSet::preset(name).unwrap().validate().unwrap();
        }
        assert!(PrimitiveSet::preset("nope").is_none());
    }

    #[test]
    fn the_default_set_can_express_ngl() {
        let ngl: Expr = "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))".parse().unwrap();
        PrimitiveSet::default().admits(&ngl).unwrap();
        let ce: Expr = "y*(logsumexp(z) - z)".parse().unwrap();
        assert_eq!(
            PrimitiveSet::default().admits(&ce),
            Err(PrimitiveSetError::OperatorNotInSet(Op::Reduce(crate::expr::Reduce::LogSumExp)))
        );
    }

    #[test]
    fn invalid_sets_are_explained() {
        let set = PrimitiveSet { variables: vec![Var::P], ..PrimitiveSet::default() };
        assert!(set.validate().unwrap_err().to_string().contains("must include the target `y`"));
        let mut set = PrimitiveSet::default();
        set.operators.push(Op::Binary(Binary::Add));
        assert_eq!(set.validate(), Err(PrimitiveSetError::Duplicate("add".into())));
        let set =
            PrimitiveSet { ephemeral: Some(Ephemeral { min: 1.0, max: 1.0, decimals: 2 }), ..PrimitiveSet::default() };
        assert!(matches!(set.validate(), Err(PrimitiveSetError::BadEphemeralRange { .. })));
        let mut set = PrimitiveSet::default();
        set.operators.clear();
        assert_eq!(set.validate(), Err(PrimitiveSetError::NoOperators));
    }

    #[test]
    fn json_uses_names_and_rejects_unknown_ones() {
        let set = PrimitiveSet::evomal();
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.contains("\"aq\"") && json.contains("\"y\""), "{json}");
        assert_eq!(serde_json::from_str::<PrimitiveSet>(&json).unwrap(), set);
        let err = serde_json::from_str::<PrimitiveSet>(r#"{"operators": ["add", "sine"], "variables": ["p", "y"]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("did you mean `sin`?"), "{err}");
        let err = serde_json::from_str::<PrimitiveSet>(r#"{"operators": ["add"], "variables": ["p", "y"], "ops": []}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `ops`"), "{err}");
    }

    #[test]
    fn random_trees_respect_the_set_and_the_height() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for set in [PrimitiveSet::default(), PrimitiveSet::evomal(), PrimitiveSet::full()] {
            for height in 0..6 {
                let grown = set.grow(&mut rng, height);
                assert!(grown.height() <= height);
                set.admits(&grown).unwrap();
                let full = set.full_tree(&mut rng, height);
                assert_eq!(full.height(), height);
                set.admits(&full).unwrap();
            }
        }
    }

    #[test]
    fn ephemeral_constants_are_rounded_and_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let e = Ephemeral { min: -3.0, max: 3.0, decimals: 4 };
        for _ in 0..1000 {
            let x = e.sample(&mut rng);
            assert!((-3.0..=3.0).contains(&x));
            assert_eq!((x * 1e4).round() / 1e4, x);
        }
    }
}

//! The named losses lossgp ships, each written in the loss language itself, so that they are
//! printed, simplified, keyed and evaluated exactly like evolved ones.
//!
//! Cross entropy and the losses built on it are written from the logits, `logsumexp(z) - z`
//! being `-log softmax(z)`: this is exact for any logits, where `-log(p)` would hit the
//! protected logarithm's floor once a probability drops below `ε`.

use super::{Loss, Reduction};

/// A built-in loss and where it comes from.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// The name to ask for it by.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// A human-readable title.
    pub title: &'static str,
    /// Where the loss and the settings used here are published.
    pub reference: &'static str,
    /// The expression, in the loss language.
    pub text: &'static str,
    /// Its reduction.
    pub reduction: Reduction,
    /// The weight decay this loss is defined with, if it is part of its definition (CE + L2 is
    /// cross entropy trained with weight decay).
    pub weight_decay: Option<f64>,
    /// Settings and caveats a user should know.
    pub notes: &'static str,
}

impl Builtin {
    /// The loss itself.
    pub fn loss(&self) -> Loss {
        // The texts are constants, and a test parses every one of them.
        let expr = self.text.parse().unwrap_or_else(|e| panic!("built-in loss `{}` does not parse: {e}", self.name));
        Loss::new(expr, self.reduction)
    }
}

/// Every built-in loss.
pub static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "ce",
        aliases: &["cross-entropy", "crossentropy"],
        title: "Cross entropy",
        reference: "the standard softmax cross entropy, -sum_c y_c log softmax(z)_c",
        text: "y*(logsumexp(z) - z)",
        reduction: Reduction::SampleMean,
        weight_decay: None,
        notes: "",
    },
    Builtin {
        name: "ngl",
        aliases: &["next-generation-loss"],
        title: "Next Generation Loss (NGL)",
        reference: "Akhmedova & Koerber, \"Next Generation Loss Function for Image Classification\", arXiv:2404.12948 (2024); the authors' PyTorch code",
        text: "exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))",
        reduction: Reduction::ElementMean,
        weight_decay: None,
        notes: "The mean runs over every batch x class element. NGL does not push predictions to one-hot (for one sample its optimum keeps p_true near 0.39 at 10 classes), so its value never approaches 0: watch accuracy, not the loss.",
    },
    Builtin {
        name: "focal",
        aliases: &["focal-loss"],
        title: "Focal loss (gamma = 2)",
        reference: "Lin et al., \"Focal Loss for Dense Object Detection\", ICCV 2017",
        text: "y*square(1 - p)*(logsumexp(z) - z)",
        reduction: Reduction::SampleMean,
        weight_decay: None,
        notes: "gamma = 2, no class-balancing alpha.",
    },
    Builtin {
        name: "ls-ce",
        aliases: &["label-smoothing", "label-smoothing-ce"],
        title: "Label-smoothed cross entropy (alpha = 0.1)",
        reference: "Szegedy et al., \"Rethinking the Inception Architecture for Computer Vision\", CVPR 2016",
        text: "(logsumexp(z) - z)*(0.9*y + 0.1*mean(y))",
        reduction: Reduction::SampleMean,
        weight_decay: None,
        notes: "The target becomes (1 - alpha)*y + alpha/C with alpha = 0.1; mean(y) is 1/C for a one-hot y.",
    },
    Builtin {
        name: "sce",
        aliases: &["symmetric-ce", "symmetric-cross-entropy"],
        title: "Symmetric cross entropy (alpha = 0.1, beta = 1)",
        reference: "Wang et al., \"Symmetric Cross Entropy for Robust Learning with Noisy Labels\", ICCV 2019; the authors' CIFAR-10 setting",
        text: "0.1*y*(logsumexp(z) - z) - p*log(max(y, 0.0001))",
        reduction: Reduction::SampleMean,
        weight_decay: None,
        notes: "alpha*CE + beta*RCE, where RCE = -sum_c p_c log(clamp(y_c, 1e-4, 1)) as in the authors' code.",
    },
    Builtin {
        name: "poly1",
        aliases: &["poly-1", "poly1-ce"],
        title: "Poly-1 loss (epsilon = 1)",
        reference: "Leng et al., \"PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions\", ICLR 2022",
        text: "y*(logsumexp(z) - z + 1 - p)",
        reduction: Reduction::SampleMean,
        weight_decay: None,
        notes: "CE + epsilon*(1 - p_true) with epsilon = 1.",
    },
    Builtin {
        name: "mse",
        aliases: &["brier"],
        title: "Mean squared error on probabilities",
        reference: "the squared error between softmax probabilities and the one-hot target",
        text: "square(p - y)",
        reduction: Reduction::ElementMean,
        weight_decay: None,
        notes: "",
    },
    Builtin {
        name: "ce-l2",
        aliases: &["ce+l2", "cross-entropy-l2"],
        title: "Cross entropy with L2 weight decay",
        reference: "the CE + L2 baseline of arXiv:2404.12948",
        text: "y*(logsumexp(z) - z)",
        reduction: Reduction::SampleMean,
        weight_decay: Some(5e-4),
        notes: "The L2 term is a training setting, not part of the expression. The paper does not give its coefficient; lossgp uses weight decay 5e-4, the usual CIFAR setting.",
    },
];

/// A built-in loss with a parameter, asked for as `NAME(VALUE)`: `ls-ce(0.3)` is label
/// smoothing at ε = 0.3. The name alone (`ls-ce`) is the [`Builtin`] with the published
/// default.
#[derive(Clone, Copy, Debug)]
pub struct Parametric {
    /// The name (a [`Builtin`]'s, whose aliases are accepted too).
    pub name: &'static str,
    /// What the parameter is.
    pub parameter: &'static str,
    /// The values it may take, `[low, high]`.
    pub range: [f64; 2],
    /// The expression at a value.
    text: fn(&str, &str) -> String,
}

impl Parametric {
    /// The loss at `value`, or why not.
    pub fn loss(&self, value: f64) -> Result<Loss, String> {
        let [low, high] = self.range;
        if !(low..=high).contains(&value) {
            return Err(format!("`{}`'s {} must lie in [{low}, {high}], not {value}", self.name, self.parameter));
        }
        let reduction = builtin(self.name).map_or(Reduction::SampleMean, |b| b.reduction);
        let text = (self.text)(&number(value), &number(1.0 - value));
        let expr = text.parse().map_err(|e| format!("`{}({value})`: {e}", self.name))?;
        Ok(Loss::new(expr, reduction))
    }
}

/// Every built-in loss with a parameter.
pub static PARAMETRIC: &[Parametric] = &[
    Parametric {
        name: "ls-ce",
        parameter: "smoothing ε",
        range: [0.0, 1.0],
        // The same text as the built-in at ε = 0.1.
        text: |eps, keep| format!("(logsumexp(z) - z)*({keep}*y + {eps}*mean(y))"),
    },
    Parametric {
        name: "poly1",
        parameter: "ε (the weight of 1 - p_true)",
        range: [-1.0, 100.0],
        text: |eps, _| format!("y*(logsumexp(z) - z + {eps}*(1 - p))"),
    },
];

/// Label-smoothed cross entropy at `epsilon` in [0, 1]: the target becomes
/// `(1 − ε) y + ε / C` (ε = 0 is cross entropy).
///
/// # Panics
/// If `epsilon` lies outside [0, 1].
pub fn label_smoothing(epsilon: f64) -> Loss {
    PARAMETRIC[0].loss(epsilon).unwrap_or_else(|e| panic!("{e}"))
}

/// A parametric built-in written `NAME(VALUE)`: none if `spec` is not of that form or names
/// no parametric loss; the error if the value is not a number in range.
pub fn parametric(spec: &str) -> Option<Result<Loss, String>> {
    let (name, rest) = spec.trim().split_once('(')?;
    let value = rest.strip_suffix(')')?.trim();
    let base = builtin(name)?;
    let entry = PARAMETRIC.iter().find(|p| p.name == base.name)?;
    Some(match value.parse::<f64>() {
        Ok(v) if v.is_finite() => entry.loss(v),
        _ => {
            Err(format!("`{}({value})`: the {} must be a number, e.g. {}(0.3)", base.name, entry.parameter, base.name))
        }
    })
}

/// A number as the loss language prints it: at most 6 decimals, no trailing zeros.
fn number(x: f64) -> String {
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.into() }
}

/// A built-in loss by name or alias, ignoring case and treating `_` as `-`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    let wanted = name.trim().to_lowercase().replace('_', "-");
    BUILTINS.iter().find(|b| b.name == wanted || b.aliases.contains(&wanted.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_prints_back_unchanged() {
        for b in BUILTINS {
            let loss = b.loss();
            assert_eq!(loss.expr.to_string(), b.text, "{}", b.name);
        }
    }

    #[test]
    fn names_and_aliases_are_unique() {
        let mut names: Vec<&str> =
            BUILTINS.iter().flat_map(|b| std::iter::once(b.name).chain(b.aliases.iter().copied())).collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
    }

    #[test]
    fn parametric_losses_take_their_value_and_refuse_others() {
        assert_eq!(parametric("ls-ce(0.1)").unwrap().unwrap(), builtin("ls-ce").unwrap().loss());
        assert_eq!(parametric("label_smoothing( 0.3 )").unwrap().unwrap(), label_smoothing(0.3));
        assert_eq!(label_smoothing(0.3).expr.to_string(), "(logsumexp(z) - z)*(0.7*y + 0.3*mean(y))");
        assert_eq!(label_smoothing(0.0).training_key(), builtin("ce").unwrap().loss().training_key());
        assert_eq!(
            parametric("poly1(1)").unwrap().unwrap().training_key(),
            builtin("poly1").unwrap().loss().training_key()
        );
        assert!(parametric("ls-ce(1.5)").unwrap().unwrap_err().contains("[0, 1]"));
        assert!(parametric("ls-ce(x)").unwrap().unwrap_err().contains("must be a number"));
        assert!(parametric("ngl(0.3)").is_none(), "NGL has no parameter");
        assert!(parametric("ls-ce").is_none());
    }

    #[test]
    fn ce_and_ce_l2_differ_only_in_weight_decay() {
        let ce = builtin("ce").unwrap();
        let l2 = builtin("CE+L2").unwrap();
        assert_eq!(ce.loss(), l2.loss());
        assert_eq!((ce.weight_decay, l2.weight_decay), (None, Some(5e-4)));
    }
}

//! Losses from text: a built-in by name (`ce`), a parametric built-in with its value
//! (`ls-ce(0.3)`), or a loss written out as `[REDUCTION:] EXPR`; and [`LossError`], why a text
//! is none of them.

use std::str::FromStr;

use super::builtin::{BUILTINS, builtin, parametric};
use super::{Loss, Reduction, UnknownReduction};
use crate::expr::ParseError;
use crate::expr::ops::{quoted_list, suggest};

/// A loss given by name or text that is neither a built-in nor a valid expression.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LossError {
    /// A bare name that is no built-in loss.
    #[error("unknown loss `{name}`; the built-in losses are {}{}", quoted_list(&BUILTINS.iter().map(|b| b.name).collect::<Vec<_>>()), did_you_mean(.suggestions))]
    UnknownName {
        /// The name as given.
        name: String,
        /// Built-in names that look similar.
        suggestions: Vec<&'static str>,
    },
    /// Text that does not parse as an expression.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A parametric built-in (`ls-ce(0.3)`) with a value it cannot take.
    #[error("{0}")]
    Parameter(String),
    /// An unknown reduction before the colon.
    #[error(transparent)]
    Reduction(#[from] UnknownReduction),
}

fn did_you_mean(suggestions: &[&str]) -> String {
    match suggestions {
        [] => String::new(),
        many => format!("; did you mean {}?", quoted_list(many)),
    }
}

impl Loss {
    /// A built-in loss by name (`ce`, `ngl`, ...), a parametric one with its value
    /// (`ls-ce(0.3)`), or a loss written as text.
    pub fn resolve(spec: &str) -> Result<Loss, LossError> {
        if let Some(b) = builtin(spec) {
            return Ok(b.loss());
        }
        if let Some(loss) = parametric(spec) {
            return loss.map_err(LossError::Parameter);
        }
        match spec.parse::<Loss>() {
            Ok(loss) => Ok(loss),
            Err(LossError::Parse(_)) if is_bare_name(spec) => {
                let names = BUILTINS.iter().flat_map(|b| std::iter::once(b.name).chain(b.aliases.iter().copied()));
                let mut suggestions: Vec<&str> = suggest(&spec.trim().to_lowercase(), names)
                    .into_iter()
                    .filter_map(|n| builtin(n).map(|b| b.name))
                    .collect();
                suggestions.dedup();
                Err(LossError::UnknownName { name: spec.trim().to_owned(), suggestions })
            }
            Err(e) => Err(e),
        }
    }
}

fn is_bare_name(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+')
}

impl FromStr for Loss {
    type Err = LossError;

    /// `[REDUCTION:] EXPR`
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some((reduction, expr)) => {
                let reduction = reduction.trim().parse()?;
                // Parse the expression in place so that error columns point into `text`.
                let padded = format!("{}{expr}", " ".repeat(text.len() - expr.len()));
                Ok(Loss::new(padded.parse().map_err(|e: ParseError| e.with_source(text))?, reduction))
            }
            None => Ok(Loss::new(text.parse()?, Reduction::ElementMean)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let loss: Loss = "sample-mean: y*(logsumexp(z) - z)".parse().unwrap();
        assert_eq!(loss.reduction, Reduction::SampleMean);
        assert_eq!(loss.to_string().parse::<Loss>().unwrap(), loss);
        let loss: Loss = "square(p - y)".parse().unwrap();
        assert_eq!(loss.reduction, Reduction::ElementMean);
        assert_eq!(loss.to_string(), "element-mean: square(p - y)");
    }

    #[test]
    fn errors_after_a_reduction_point_into_the_whole_text() {
        let err = "sample-mean: lgo(p)".parse::<Loss>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown function `lgo` at column 14\n  sample-mean: lgo(p)\n               ^^^"),
            "{err}"
        );
        let err = "mean: p".parse::<Loss>().unwrap_err().to_string();
        assert!(err.contains("unknown reduction `mean`"), "{err}");
    }

    #[test]
    fn resolve_takes_names_and_expressions() {
        assert_eq!(Loss::resolve("NGL").unwrap(), builtin("ngl").unwrap().loss());
        assert_eq!(Loss::resolve("cross_entropy").unwrap(), builtin("ce").unwrap().loss());
        assert_eq!(Loss::resolve("p*y").unwrap().expr.to_string(), "p*y");
        let err = Loss::resolve("focl").unwrap_err().to_string();
        assert!(err.starts_with("unknown loss `focl`; the built-in losses are `ce`, `ngl`"), "{err}");
        assert!(err.ends_with("did you mean `focal`?"), "{err}");
        let err = Loss::resolve("p +").unwrap_err().to_string();
        assert!(err.contains("expected an operand"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn resolving_never_panics(text in "\\PC{0,40}|(element-mean|sample-mean|mean)?:[pyz0-9()+*: -]{0,20}") {
            if let Err(e) = Loss::resolve(&text) {
                let _ = e.to_string();
            }
        }
    }
}

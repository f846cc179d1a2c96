//! How a loss's element values become one number: [`Reduction`], re-exported as
//! `loss::Reduction`. It lives beside the expression language, below the modules that print,
//! interpret and key a loss, so that they take an expression and its reduction without
//! depending on `loss`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a loss's element values become one number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reduction {
    /// The mean over all `batch × classes` elements: NGL's form, and the default for evolved
    /// losses.
    #[default]
    ElementMean,
    /// The sum over classes, then the mean over samples: cross entropy's form.
    SampleMean,
}

impl Reduction {
    /// Both reductions.
    pub const ALL: [Reduction; 2] = [Reduction::ElementMean, Reduction::SampleMean];

    /// The name used in text and configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::ElementMean => "element-mean",
            Reduction::SampleMean => "sample-mean",
        }
    }

    /// One line saying what the reduction computes.
    pub fn describe(self) -> &'static str {
        match self {
            Reduction::ElementMean => "mean over all batch x class elements",
            Reduction::SampleMean => "sum over classes, then mean over samples",
        }
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reduction name that is neither `element-mean` nor `sample-mean`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown reduction `{0}`; use `element-mean` (mean over all elements) or `sample-mean` (sum over classes, mean over samples)"
)]
pub struct UnknownReduction(String);

impl FromStr for Reduction {
    type Err = UnknownReduction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reduction::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| UnknownReduction(s.to_owned()))
    }
}

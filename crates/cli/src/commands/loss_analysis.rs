//! A loss's analysis ([`lossgp_core::loss::analysis`]) as text: one line for lists, a small
//! table for `lossgp loss analyze` and `loss show`.

use std::fmt::Write;

use lossgp_core::loss::{Analysis, analysis};

/// An analysis in one line: the optimum at each class count, the label smoothing with the same
/// optimum at 10 classes (or the middle count), the gradient at initialisation against cross
/// entropy's there, and the verdict.
pub(crate) fn analysis_line(a: &Analysis) -> String {
    let optima: Vec<String> = a
        .classes
        .iter()
        .map(|c| format!("{} at C={}", c.optimum.map_or("none".to_owned(), |q| format!("{q:.3}")), c.classes))
        .collect();
    let at = a.classes.iter().find(|c| c.classes == 10).unwrap_or(&a.classes[a.classes.len() / 2]);
    let epsilon = at.ls_epsilon.map_or(String::new(), |e| format!(" (LS ε {e:.2} at C={})", at.classes));
    let gradient = at.gradient_ratio.map_or(String::new(), |g| format!(", gradient {g:.3}x cross entropy's"));
    let kind = if a.ls_like { "; LS-like" } else { "" };
    format!("optimum {}{epsilon}{gradient}{kind}", optima.join(", "))
}

/// An analysis as a small table and a verdict line.
pub(crate) fn render_analysis(a: &Analysis) -> String {
    let number = |x: Option<f64>, digits: usize| x.map_or("-".to_owned(), |x| format!("{x:.digits$}"));
    let mut out = format!(
        "  {:>5}  {:>8}  {:>6}  {:>9}  {:>8}  {}\n",
        "C", "optimum", "LS ε", "gradient", "cos CE", "falls throughout"
    );
    for c in &a.classes {
        let _ = writeln!(
            out,
            "  {:>5}  {:>8}  {:>6}  {:>8}x  {:>8}  {}",
            c.classes,
            number(c.optimum, 4),
            number(c.ls_epsilon, 3),
            c.gradient_ratio.map_or("-".to_owned(), |g| if g > 0.0 && g < 0.01 {
                format!("{g:.1e}")
            } else {
                format!("{g:.3}")
            }),
            number(c.gradient_cosine_ce, 3),
            if c.falls_throughout { "yes" } else { "no" }
        );
    }
    let depends = if a.optimum_depends_on_classes { "depends on C" } else { "does not depend on C" };
    let verdict = match &a.nearest_label_smoothing {
        Some(n) if n.epsilon < analysis::MIN_EPSILON => {
            format!("not LS-like: its optimum is cross entropy's (gradient cosine with it {:.3})", n.gradient_cosine)
        }
        Some(n) => format!(
            "{}: nearest label smoothing ε {:.3} (optimum gap {:.3}, gradient cosine {:.3})",
            if a.ls_like { "LS-like" } else { "not LS-like" },
            n.epsilon,
            n.optimum_gap,
            n.gradient_cosine
        ),
        None => "not LS-like: no optimum that label smoothing has at every C".to_owned(),
    };
    let _ = writeln!(out, "  the optimum {depends}; {verdict}");
    out
}

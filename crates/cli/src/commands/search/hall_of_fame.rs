//! `hall_of_fame.csv`, written with the summary: the hall of fame as a table for a spreadsheet
//! or pandas, in the manner of PySR's file. One row per loss, best first:
//!
//! | column | what |
//! |---|---|
//! | `rank` | its rank in the hall of fame |
//! | `complexity` | its size in nodes |
//! | `fitness` | on the search's own seed (favoured by selection) |
//! | `confirmed_mean`, `confirmed_sd` | over the confirmation seeds (empty without them) |
//! | `delta_B`, `verdict_B` | for each baseline B: the paired mean difference over the confirmation seeds (the search seed's difference without them) and the verdict of the summary's rule |
//! | `expression` | the loss as the search found it, with its reduction |
//! | `simplified` | the same function, simplified |
//! | `pytorch` | a PyTorch expression in `p` (softmax), `y` (one-hot) and `z` (logits), where one short line of plain `torch` calls gives it; empty otherwise (the summary has every loss's whole function) |

use anyhow::Result;

/// The file's name in the run directory.
pub const FILE: &str = "hall_of_fame.csv";

/// The longest PyTorch one-liner written (longer ones are left to the summary's function).
const ONE_LINER: usize = 160;

/// One loss of the hall of fame, as the summary has it.
pub struct Row<'a> {
    pub rank: usize,
    pub complexity: usize,
    pub fitness: f64,
    pub confirmed_mean: Option<f64>,
    pub confirmed_sd: Option<f64>,
    /// Against each baseline, in the order of `baselines`: the difference and the verdict.
    pub versus: Vec<(Option<f64>, Option<&'static str>)>,
    pub expression: &'a str,
    pub simplified: &'a str,
    /// lossgp's PyTorch export of the loss.
    pub pytorch: &'a str,
}

/// The CSV text of the hall of fame, with a pair of columns per baseline.
pub fn csv(rows: &[Row], baselines: &[&str]) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> =
        ["rank", "complexity", "fitness", "confirmed_mean", "confirmed_sd"].map(str::to_owned).to_vec();
    for b in baselines {
        header.push(format!("delta_{b}"));
        header.push(format!("verdict_{b}"));
    }
    header.extend(["expression", "simplified", "pytorch"].map(str::to_owned));
    writer.write_record(&header)?;
    let number = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    for r in rows {
        let mut record = vec![
            r.rank.to_string(),
            r.complexity.to_string(),
            r.fitness.to_string(),
            number(r.confirmed_mean),
            number(r.confirmed_sd),
        ];
        for (delta, verdict) in &r.versus {
            record.push(number(*delta));
            record.push(verdict.unwrap_or_default().to_owned());
        }
        record.extend([r.expression.to_owned(), r.simplified.to_owned(), one_liner(r.pytorch)]);
        writer.write_record(&record)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// The element-wise expression of lossgp's PyTorch export (`per_... = EXPR.mean(dim=1)`), where
/// it uses plain `torch` calls only and is short.
fn one_liner(pytorch: &str) -> String {
    let Some(line) = pytorch.lines().map(str::trim).find(|l| l.starts_with("per_")) else { return String::new() };
    let expression = line.split_once(" = ").map_or("", |(_, e)| e);
    let expression = [".mean(dim=1)", ".sum(dim=1)"].iter().fold(expression, |e, s| e.strip_suffix(s).unwrap_or(e));
    if expression.contains("_lossgp_") || expression.len() > ONE_LINER {
        return String::new();
    }
    expression.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_plain_expression_is_kept_and_a_helper_is_not() {
        let ngl = lossgp_core::Loss::resolve("ngl").unwrap().to_pytorch("f");
        assert_eq!(one_liner(&ngl), "(torch.exp(2.4092 - p * (1 + y)) - torch.cos(torch.cos(torch.sin(p))))");
        let guarded = lossgp_core::Loss::resolve("log(p)").unwrap().to_pytorch("f");
        assert_eq!(one_liner(&guarded), "", "{guarded}");
    }
}

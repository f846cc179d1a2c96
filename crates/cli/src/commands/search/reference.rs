//! Losses by reference: wherever a loss is given on the command line (`train --loss`, `loss
//! show`, `loss analyze`, `transfer --losses`), `RUN#K` is the K-th best loss of the search in
//! the run directory `RUN` (its hall of fame, ranked as the summary ranks it), and `RUN` alone
//! its best, so that no one copies a long expression by hand. A loss's text never holds `#`,
//! so the two cannot be confused; a reference whose directory is missing is an error that
//! says so, not an expression that fails to parse.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lossgp_core::Loss;
use lossgp_core::loss::Reduction;
use lossgp_core::search::{RunDir, SearchConfig, State};

/// The configuration a search's run directory keeps.
pub const CONFIG: &str = "config.toml";

/// A reference to a found loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The search's run directory.
    pub dir: PathBuf,
    /// The rank in its hall of fame, from 1.
    pub rank: usize,
}

impl Reference {
    /// The reference `text` makes, if it makes one: `DIR#K`, or a directory that holds a
    /// search. Errors name what is wrong with a text that is plainly a reference.
    pub fn parse(text: &str) -> Result<Option<Reference>> {
        let text = text.trim();
        if let Some((dir, rank)) = text.rsplit_once('#') {
            let rank: usize = rank.parse().ok().filter(|k| *k >= 1).with_context(|| {
                format!("`{text}`: after `#` comes the rank of a found loss, 1 for the best (e.g. {dir}#1)")
            })?;
            let dir = PathBuf::from(dir);
            if !dir.join(CONFIG).is_file() {
                bail!(
                    "`{text}`: {} is not a search's run directory (no {CONFIG}); RUN#K names the K-th best loss of the search in RUN",
                    dir.display()
                );
            }
            return Ok(Some(Reference { dir, rank }));
        }
        let dir = Path::new(text);
        Ok((dir.is_dir() && dir.join(CONFIG).is_file()).then(|| Reference { dir: dir.to_owned(), rank: 1 }))
    }

    /// The loss, with the search's own reduction.
    pub fn loss(&self) -> Result<Loss> {
        let (reduction, state) = read_run(&self.dir)?;
        let found = state.hall_of_fame.get(self.rank - 1).with_context(|| {
            format!(
                "{} has {} loss(es) in its hall of fame: there is no #{}",
                self.dir.display(),
                state.hall_of_fame.len(),
                self.rank
            )
        })?;
        Ok(Loss::new(found.expr.clone(), reduction))
    }

    /// Its name in reports: the directory's name and the rank (`mine#2`).
    pub fn name(&self) -> String {
        let run =
            self.dir.file_name().map_or_else(|| self.dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        format!("{run}#{}", self.rank)
    }
}

/// A search's reduction and state, read with nothing but what a found loss needs (so that
/// commands that take a loss need not read the whole configuration, which a newer or older
/// lossgp may write differently): `[search] reduction` must read, and a generation must have
/// finished.
pub fn read_run(dir: &Path) -> Result<(Reduction, State)> {
    if !dir.is_dir() {
        bail!("{} does not exist (give the --out directory of a lossgp search)", dir.display());
    }
    let config = dir.join(CONFIG);
    if !config.is_file() {
        bail!("{} has no {CONFIG}: it is not a lossgp search run directory", dir.display());
    }
    #[derive(serde::Deserialize)]
    struct Search {
        #[serde(default)]
        search: SearchConfig,
    }
    let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
    let reduction = toml::from_str::<toml::Table>(&text)
        .map_err(anyhow::Error::from)
        .and_then(|mut table| {
            table.retain(|key, _| key == "search");
            Ok(toml::Value::Table(table).try_into::<Search>()?.search.reduction)
        })
        .with_context(|| format!("{} is not a search configuration this lossgp reads", config.display()))?;
    let Some(state) = RunDir::create(dir)?.load_state()? else {
        bail!("{} has no finished generation yet, so no found losses", dir.display());
    };
    Ok((reduction, state))
}

/// The loss `text` gives: a reference to a found loss (`RUN#K`, `RUN`), a built-in's name or an
/// expression.
pub fn resolve(text: &str) -> Result<Loss> {
    match Reference::parse(text)? {
        Some(reference) => reference.loss(),
        None => Ok(Loss::resolve(text)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_told_from_an_expression() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("mine");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join(CONFIG), "").unwrap();
        let at = |text: String| Reference::parse(&text).unwrap();
        assert_eq!(at(format!("{}#2", run.display())), Some(Reference { dir: run.clone(), rank: 2 }));
        assert_eq!(at(run.display().to_string()), Some(Reference { dir: run.clone(), rank: 1 }));
        assert_eq!(Reference { dir: run.clone(), rank: 2 }.name(), "mine#2");
        assert_eq!(Reference::parse("-y*log(p)").unwrap(), None);
        assert_eq!(Reference::parse("ngl").unwrap(), None);
        let zero = Reference::parse(&format!("{}#0", run.display())).unwrap_err().to_string();
        assert!(zero.contains("1 for the best"), "{zero}");
        let missing = Reference::parse("runs/nowhere#1").unwrap_err().to_string();
        assert!(missing.contains("not a search's run directory"), "{missing}");
        // A run with no generation done yet says so.
        let early = resolve(&format!("{}#1", run.display())).unwrap_err();
        assert!(format!("{early:#}").contains("no finished generation"), "{early:#}");
    }
}

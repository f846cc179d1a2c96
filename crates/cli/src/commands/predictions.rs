//! `lossgp train --predictions DIR`: the trained model's predictions on the test split, written
//! as they come during the final evaluation.
//!
//! - Segmentation: one palette PNG per image, `DIR/<id>.png` (VOC's image id, else the sample's
//!   index), at the image's own size, each pixel's value its predicted class: the format of
//!   VOC's label maps and of its evaluation server's submissions.
//! - Classification: `DIR/predictions.csv`, one row per image: `index,id,target,predicted`
//!   (class indices; `predicted` is empty where a logit was NaN) and the two class names.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lossgp_core::train::{Predicted, Prediction};
use lossgp_datasets::formats::voc::write_mask;

/// Writes predictions into a folder; the first failure is kept, and no file is written after it.
pub struct Predictions {
    dir: PathBuf,
    classes: Vec<String>,
    csv: String,
    written: usize,
    failure: Option<anyhow::Error>,
}

impl Predictions {
    /// Creates `dir` now, so that an unwritable folder fails before training.
    pub fn create(dir: &Path, classes: &[String]) -> Result<Predictions> {
        std::fs::create_dir_all(dir).with_context(|| format!("--predictions: cannot create {}", dir.display()))?;
        Ok(Predictions {
            dir: dir.to_owned(),
            classes: classes.to_vec(),
            csv: String::from("index,id,target,predicted,target_class,predicted_class\n"),
            written: 0,
            failure: None,
        })
    }

    /// Takes one prediction.
    pub fn add(&mut self, p: Prediction) {
        if self.failure.is_some() {
            return;
        }
        let name =
            p.id.as_deref().filter(|id| is_file_name(id)).map_or_else(|| format!("{:06}", p.index), str::to_owned);
        match p.output {
            Predicted::Mask(mask) => {
                let path = self.dir.join(format!("{name}.png"));
                if let Err(e) = write_mask(&path, &mask) {
                    self.failure = Some(anyhow::Error::new(e).context("--predictions"));
                    return;
                }
            }
            Predicted::Class { predicted, target } => {
                let class = |k: Option<u32>| k.and_then(|k| self.classes.get(k as usize)).map_or("", |c| c.as_str());
                let predicted_index = predicted.map(|k| k.to_string()).unwrap_or_default();
                let _ = writeln!(
                    self.csv,
                    "{},{},{target},{predicted_index},{},{}",
                    p.index,
                    csv_field(p.id.as_deref().unwrap_or("")),
                    csv_field(class(Some(target))),
                    csv_field(class(predicted))
                );
            }
        }
        self.written += 1;
    }

    /// Writes what remains (the CSV of classifications) and says how many predictions were
    /// written, or the first failure.
    pub fn finish(self) -> Result<usize> {
        if let Some(e) = self.failure {
            return Err(e);
        }
        if self.csv.lines().count() > 1 {
            let path = self.dir.join("predictions.csv");
            std::fs::write(&path, &self.csv).with_context(|| format!("--predictions: writing {}", path.display()))?;
        }
        Ok(self.written)
    }
}

/// Whether `id` can name a file in the folder as it is (no separator, not `.` or `..`).
fn is_file_name(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains(['/', '\\']) && !id.contains('\0')
}

/// A CSV field, quoted where it must be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lossgp_core::data::LabelMap;

    #[test]
    fn masks_are_pngs_named_by_id_and_classes_a_csv() {
        let dir = tempfile::tempdir().unwrap();
        let classes = vec!["cat".to_owned(), "dog, big".to_owned()];
        let mut out = Predictions::create(dir.path(), &classes).unwrap();
        let mask = LabelMap::new(3, 2, vec![0, 1, 1, 255, 0, 1]).unwrap();
        out.add(Prediction { index: 0, id: Some("2007_000032".into()), output: Predicted::Mask(mask.clone()) });
        out.add(Prediction { index: 1, id: Some("a/b.jpg".into()), output: Predicted::Mask(mask.clone()) });
        out.add(Prediction { index: 2, id: None, output: Predicted::Class { predicted: Some(1), target: 0 } });
        out.add(Prediction {
            index: 3,
            id: Some("x.jpg".into()),
            output: Predicted::Class { predicted: None, target: 1 },
        });
        assert_eq!(out.finish().unwrap(), 4);
        let read = |name: &str| lossgp_datasets::formats::decode::labels(&dir.path().join(name)).unwrap();
        assert_eq!(read("2007_000032.png"), mask);
        assert_eq!(read("000001.png"), mask);
        let csv = std::fs::read_to_string(dir.path().join("predictions.csv")).unwrap();
        assert_eq!(
            csv,
            "index,id,target,predicted,target_class,predicted_class\n2,,0,1,cat,\"dog, big\"\n3,x.jpg,1,,\"dog, big\",\n"
        );
    }
}

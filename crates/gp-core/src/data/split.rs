//! Subsets of a dataset, and the seeded validation hold-out.

use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset, Normalization, Sample, Task};

/// The samples of another dataset at the given indices, in that order.
#[derive(Clone)]
pub struct Subset {
    inner: Arc<dyn Dataset>,
    indices: Vec<usize>,
    name: String,
}

impl Subset {
    /// The samples of `inner` at `indices`; fails on an index past its end.
    pub fn new(inner: Arc<dyn Dataset>, indices: Vec<usize>, name: impl Into<String>) -> Result<Subset, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= inner.len()) {
            return Err(DataError::IndexOutOfRange { index: bad, len: inner.len() });
        }
        Ok(Subset { inner, indices, name: name.into() })
    }

    /// The indices into the underlying dataset.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
}

impl std::fmt::Debug for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subset({}, {} of {} samples)", self.name, self.indices.len(), self.inner.len())
    }
}

impl Dataset for Subset {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn task(&self) -> Task {
        self.inner.task()
    }
    fn classes(&self) -> &[String] {
        self.inner.classes()
    }
    fn sample(&self, index: usize) -> Result<Sample, DataError> {
        DataError::check_index(index, self.len())?;
        self.inner.sample(self.indices[index])
    }
    fn label(&self, index: usize) -> Result<Option<u32>, DataError> {
        DataError::check_index(index, self.len())?;
        self.inner.label(self.indices[index])
    }
    fn normalization(&self) -> Normalization {
        self.inner.normalization()
    }
    fn image_shape(&self) -> Option<(u32, u32, u8)> {
        self.inner.image_shape()
    }
    fn sample_id(&self, index: usize) -> Option<String> {
        self.inner.sample_id(*self.indices.get(index)?)
    }
    fn skipped(&self) -> &[super::Skipped] {
        self.inner.skipped()
    }
    fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }
}

/// Splits `dataset` into `(train, val)` with `fraction` of it in `val`, reproducibly for a
/// seed.
///
/// For classification the hold-out is stratified: each class gives the same fraction
/// (rounded), so a 10% hold-out of Fashion-MNIST's 60,000 training images has exactly 600 of
/// each class. Segmentation samples are drawn uniformly. Both parts keep the dataset's order.
pub fn holdout(dataset: Arc<dyn Dataset>, fraction: f64, seed: u64) -> Result<(Subset, Subset), DataError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(DataError::Invalid(format!("the validation fraction must be in [0, 1), not {fraction}")));
    }
    let mut groups: Vec<Vec<usize>> = match dataset.task() {
        Task::Classification => {
            let mut by_class = vec![Vec::new(); dataset.classes().len()];
            for i in 0..dataset.len() {
                let class = dataset.label(i)?.unwrap_or(0) as usize;
                let group = by_class.get_mut(class).ok_or_else(|| {
                    DataError::Invalid(format!(
                        "{}: sample {i} has class {class}, past its {} classes",
                        dataset.name(),
                        dataset.classes().len()
                    ))
                })?;
                group.push(i);
            }
            by_class
        }
        Task::Segmentation => vec![(0..dataset.len()).collect()],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut held = vec![false; dataset.len()];
    for group in &mut groups {
        let take = (group.len() as f64 * fraction).round() as usize;
        group.shuffle(&mut rng);
        group[..take].iter().for_each(|&i| held[i] = true);
    }
    let (val, train): (Vec<usize>, Vec<usize>) = (0..dataset.len()).partition(|&i| held[i]);
    let name = dataset.name().to_owned();
    Ok((
        Subset::new(Arc::clone(&dataset), train, format!("{name} (without {:.0}% held out)", fraction * 100.0))?,
        Subset::new(dataset, val, format!("{name} ({:.0}% held out, seed {seed})", fraction * 100.0))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testing::Synthetic;

    #[test]
    fn holdout_is_stratified_disjoint_and_reproducible() {
        let data: Arc<dyn Dataset> = Arc::new(Synthetic::classification(1000, 10, 8, 3));
        let (train, val) = holdout(Arc::clone(&data), 0.1, 7).unwrap();
        assert_eq!((train.len(), val.len()), (900, 100));
        let mut per_class = [0; 10];
        for i in 0..val.len() {
            per_class[val.label(i).unwrap().unwrap() as usize] += 1;
        }
        assert_eq!(per_class, [10; 10]);
        let mut all: Vec<usize> = train.indices().iter().chain(val.indices()).copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        let (_, again) = holdout(Arc::clone(&data), 0.1, 7).unwrap();
        assert_eq!(again.indices(), val.indices());
        let (_, other) = holdout(data, 0.1, 8).unwrap();
        assert_ne!(other.indices(), val.indices());
    }

    #[test]
    fn bad_fractions_and_indices_are_refused() {
        let data: Arc<dyn Dataset> = Arc::new(Synthetic::classification(10, 2, 4, 1));
        assert!(holdout(Arc::clone(&data), 1.0, 0).unwrap_err().to_string().contains("[0, 1)"));
        assert!(Subset::new(Arc::clone(&data), vec![3, 10], "s").is_err());
        let subset = Subset::new(data, vec![3, 4], "s").unwrap();
        assert!(matches!(subset.sample(2), Err(DataError::IndexOutOfRange { index: 2, len: 2 })));
    }
}

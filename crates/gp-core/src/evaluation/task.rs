//! Several tasks in one search. A loss found on one task is rewarded for whatever helps that
//! task; one that must hold up on several (other networks, datasets, training lengths) is more
//! likely to transfer. Every candidate is then trained on every task: each (candidate, task,
//! seed) is one [`Job`](super::Job) of its own, run by any evaluator, recorded and cached per task.
//!
//! **The rule that combines them.** A candidate's fitness is the weighted mean, over the
//! tasks, of its paired difference to cross entropy trained on the same task with the same
//! seed and budget. Cross entropy's result on a (task, seed, budget) is the same for every
//! candidate, so this ranks candidates exactly as the weighted mean of their own fitness
//! does, which is what the engine stores (so that 0 stays the worst, for a loss that diverges
//! everywhere); reports give the differences. Differences of accuracy are on one scale (points)
//! whatever the task, and a loss that fails on one task scores 0 there, which its mean pays
//! for. Weights are relative (the default is 1 each).
//!
//! Successive halving runs across tasks: a candidate is trained on every task at each rung's
//! budget, and promoted on its combined fitness.

use serde::{Deserialize, Serialize};

/// One task of a search, as the engine knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Its name in reports.
    pub name: String,
    /// Everything that changes a candidate's fitness on it ([`Fitness::task`](super::Fitness::task)): the fitness
    /// cache is kept per fingerprint.
    pub fingerprint: String,
    /// Its weight in the combined fitness (positive).
    pub weight: f64,
}

/// The tasks of a search, in order: a [`Job`](super::Job)'s [`task`](super::Job::task) indexes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSet {
    /// The tasks (at least one).
    pub tasks: Vec<TaskInfo>,
}

impl TaskSet {
    /// One task, named and identified by `fingerprint`, of weight 1: the simple case.
    pub fn single(fingerprint: &str) -> TaskSet {
        TaskSet { tasks: vec![TaskInfo { name: "task".into(), fingerprint: fingerprint.into(), weight: 1.0 }] }
    }

    /// How many tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there is none (never, for a set the search accepts).
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// What a run directory records as its task: the fingerprint itself for one task (as
    /// before multi-task searches existed), else every task's weight and fingerprint.
    pub fn fingerprint(&self) -> String {
        match self.tasks.as_slice() {
            [one] => one.fingerprint.clone(),
            many => {
                let parts: Vec<String> = many.iter().map(|t| format!("{} x {}", t.weight, t.fingerprint)).collect();
                format!("tasks: {}", parts.join(" ; "))
            }
        }
    }

    /// The combined fitness of one value per task (see the module): their weighted mean.
    pub fn combine(&self, values: &[f64]) -> f64 {
        let total: f64 = self.tasks.iter().map(|t| t.weight).sum();
        self.tasks.iter().zip(values).map(|(t, v)| t.weight * v).sum::<f64>() / total
    }

    /// Checks the weights and names; the message names what would work.
    pub fn validate(&self) -> Result<(), String> {
        if self.tasks.is_empty() {
            return Err("a search needs at least one task".into());
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if !(t.weight > 0.0 && t.weight.is_finite()) {
                return Err(format!("task `{}`: its weight must be a positive number, not {}", t.name, t.weight));
            }
            if self.tasks[..i].iter().any(|u| u.name == t.name) {
                return Err(format!("two tasks are named `{}`: give each its own `name`", t.name));
            }
        }
        Ok(())
    }
}

impl From<&str> for TaskSet {
    fn from(fingerprint: &str) -> Self {
        TaskSet::single(fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_task_keeps_its_fingerprint_and_several_are_combined_by_weight() {
        assert_eq!(TaskSet::single("fashion").fingerprint(), "fashion");
        let set = TaskSet {
            tasks: vec![
                TaskInfo { name: "a".into(), fingerprint: "A".into(), weight: 1.0 },
                TaskInfo { name: "b".into(), fingerprint: "B".into(), weight: 3.0 },
            ],
        };
        assert_eq!(set.fingerprint(), "tasks: 1 x A ; 3 x B");
        assert!((set.combine(&[0.8, 0.4]) - 0.5).abs() < 1e-12);
        let mut bad = set.clone();
        bad.tasks[1].weight = 0.0;
        assert!(bad.validate().unwrap_err().contains("positive"));
        bad.tasks[1] = TaskInfo { name: "a".into(), ..set.tasks[0].clone() };
        assert!(bad.validate().unwrap_err().contains("named `a`"));
    }
}

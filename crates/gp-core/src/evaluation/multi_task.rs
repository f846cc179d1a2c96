//! A fitness over several tasks ([`MultiTask`]), the tasks described in [`super::task`].

use std::sync::Arc;

use super::error::EvalError;
use super::fitness::Fitness;
use super::job::{Job, Scored};
use super::task::{TaskInfo, TaskSet};

/// A fitness over several tasks: a job goes to the fitness of its [`task`](Job::task).
pub struct MultiTask {
    tasks: Vec<(TaskInfo, Arc<dyn Fitness>)>,
}

impl MultiTask {
    /// The tasks, each with its name, weight and fitness (whose [`Fitness::task`] is its
    /// fingerprint).
    pub fn new(tasks: Vec<(String, f64, Arc<dyn Fitness>)>) -> Result<MultiTask, String> {
        let tasks: Vec<(TaskInfo, Arc<dyn Fitness>)> = tasks
            .into_iter()
            .map(|(name, weight, fitness)| (TaskInfo { name, fingerprint: fitness.task(), weight }, fitness))
            .collect();
        TaskSet { tasks: tasks.iter().map(|(info, _)| info.clone()).collect() }.validate()?;
        Ok(MultiTask { tasks })
    }
}

impl Fitness for MultiTask {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        let (_, fitness) = self.tasks.get(job.task).ok_or_else(|| {
            EvalError::permanent(format!(
                "job {} names task {} of a search with {} tasks",
                job.id,
                job.task,
                self.tasks.len()
            ))
        })?;
        fitness.evaluate(job)
    }

    fn task(&self) -> String {
        self.tasks().fingerprint()
    }

    fn tasks(&self) -> TaskSet {
        TaskSet { tasks: self.tasks.iter().map(|(info, _)| info.clone()).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::GradientMatch;

    #[test]
    fn a_job_goes_to_its_task() {
        let ce = Arc::new(GradientMatch::new(crate::Loss::resolve("ce").unwrap()));
        let ngl = Arc::new(GradientMatch::new(crate::Loss::resolve("ngl").unwrap()));
        let multi = MultiTask::new(vec![("ce".into(), 1.0, ce), ("ngl".into(), 1.0, ngl)]).unwrap();
        let loss = crate::Loss::resolve("ngl").unwrap();
        let job = |task| Job { id: 0, loss: loss.clone(), budget: 1.0, attempt: 1, replicate: 0, task };
        let (on_ce, on_ngl) = (multi.evaluate(&job(0)).unwrap(), multi.evaluate(&job(1)).unwrap());
        assert!(on_ngl.fitness > 0.999 && on_ce.fitness < on_ngl.fitness, "{on_ce:?} {on_ngl:?}");
        assert!(multi.evaluate(&job(2)).unwrap_err().message().contains("task 2"));
        assert_eq!(multi.tasks().len(), 2);
    }
}

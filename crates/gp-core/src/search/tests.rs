//! Whole searches on the synthetic fitness: the engine finds a known loss, a seed fixes the
//! search whatever the thread count, and a search cut off mid-generation resumes to the same end.

use std::sync::{Arc, Mutex};

use super::*;
use crate::loss::Loss;

fn config() -> SearchConfig {
    SearchConfig {
        seed: 11,
        population: 24,
        generations: 12,
        screening: Screening { rejection_steps: 60, ..Screening::default() },
        ..SearchConfig::default()
    }
}

fn search(
    config: &SearchConfig,
    threads: usize,
    dir: &std::path::Path,
    observe: &mut dyn FnMut(SearchEvent<'_>),
) -> State {
    let fitness = Arc::new(GradientMatch::new(Loss::resolve("ce").unwrap()));
    let task = fitness.task();
    let mut evaluator = LocalEvaluator::new(fitness, threads);
    let dir = RunDir::create(dir).unwrap();
    let baselines = [BaselineSpec::from(("ngl".to_owned(), Loss::resolve("ngl").unwrap()))];
    run(config, &dir, &task.as_str().into(), &mut evaluator, &baselines, RunOptions::default(), observe).unwrap()
}

/// The state without wall-clock times.
fn timeless(mut state: State) -> State {
    state.history.iter_mut().for_each(|g| g.seconds = 0.0);
    state
}

#[test]
fn the_engine_rediscovers_cross_entropy_from_its_gradients() {
    // Four islands of 30 for 20 generations found it for each of the seeds 0 to 5; a single
    // population of 60 for 25 generations, for 3 of them.
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig {
        population: 30,
        generations: 20,
        islands: Islands { count: 4, interval: 4, migrants: 2 },
        ..config()
    };
    let state = search(&config, 2, dir.path(), &mut |_| {});
    let best = &state.hall_of_fame[0];
    assert!(best.fitness > 0.999, "best {} at {}", best.expr, best.fitness);
    let history = &state.history;
    assert!(history.last().unwrap().best >= history[0].best);
    let hits: usize = history.iter().map(|g| g.cache_hits).sum();
    let screened: usize = history.iter().flat_map(|g| g.screened.values()).sum();
    assert!(hits > 0 && screened > 0, "the cache ({hits}) and the screening ({screened}) both saved work");
    assert_eq!(state.baselines[0].name, "ngl");
}

#[test]
fn a_seed_fixes_the_search_on_any_number_of_threads() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = SearchConfig { generations: 5, islands: Islands { count: 2, interval: 2, migrants: 2 }, ..config() };
    let one = timeless(search(&config, 1, a.path(), &mut |_| {}));
    let four = timeless(search(&config, 4, b.path(), &mut |_| {}));
    assert_eq!(one, four);
    let other = timeless(search(&SearchConfig { seed: 12, ..config }, 4, c.path(), &mut |_| {}));
    assert_ne!(one.hall_of_fame, other.hall_of_fame);
}

#[test]
fn a_search_cut_off_mid_generation_resumes_to_the_same_end() {
    let config =
        SearchConfig { generations: 6, fidelity: Fidelity { rungs: vec![0.5, 1.0], promote: 0.5 }, ..config() };
    let full = tempfile::tempdir().unwrap();
    // While the uninterrupted search runs, copy its directory as it stands in the middle of
    // generation 3: what a crash at that moment would leave.
    let crash = tempfile::tempdir().unwrap();
    let records_seen = Mutex::new(0usize);
    let mut generation = 0;
    let uninterrupted = search(&config, 2, full.path(), &mut |event| match event {
        SearchEvent::GenerationStarted { generation: g, .. } => generation = g,
        SearchEvent::Record(_) if generation == 3 => {
            let mut seen = records_seen.lock().unwrap();
            *seen += 1;
            if *seen == 4 {
                for file in [store::STATE, store::EVALUATIONS] {
                    std::fs::copy(full.path().join(file), crash.path().join(file)).unwrap();
                }
            }
        }
        _ => {}
    });
    assert!(*records_seen.lock().unwrap() >= 4, "generation 3 scored too few candidates to cut it");
    // The crash also tore the line being written.
    let evaluations = crash.path().join(store::EVALUATIONS);
    let mut text = std::fs::read_to_string(&evaluations).unwrap();
    text.push_str("{\"generation\":3,\"loss\":{\"expr\":\"p*");
    std::fs::write(&evaluations, text).unwrap();

    let resumed = search(&config, 3, crash.path(), &mut |_| {});
    assert_eq!(timeless(resumed), timeless(uninterrupted));
}

/// A fitness whose metrics hold NaN and infinity.
struct Odd;

impl Fitness for Odd {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        let metrics = [
            ("nan".to_owned(), f64::NAN),
            ("inf".to_owned(), f64::INFINITY),
            ("size".to_owned(), job.loss.expr.size() as f64),
        ];
        Ok(Scored { fitness: f64::NAN, metrics: metrics.into(), status: "odd".into() })
    }
    fn task(&self) -> String {
        "odd".into()
    }
}

/// An evaluator that loses every job after the first of each batch.
struct Lossy(Vec<(Job, Result<Scored, EvalError>)>);

impl Evaluator for Lossy {
    fn submit(&mut self, jobs: Vec<Job>) {
        if let Some(job) = jobs.into_iter().next() {
            let result = Odd.evaluate(&job);
            self.0.push((job, result));
        }
    }
    fn next(&mut self) -> Option<(Job, Result<Scored, EvalError>)> {
        self.0.pop()
    }
}

#[test]
fn odd_scores_are_recorded_readably_and_lost_jobs_are_an_error() {
    let config = SearchConfig { generations: 2, population: 8, ..config() };
    let dir = tempfile::tempdir().unwrap();
    let run_dir = RunDir::create(dir.path()).unwrap();
    let mut evaluator = LocalEvaluator::new(Arc::new(Odd), 2);
    let state = run(&config, &run_dir, &"odd".into(), &mut evaluator, &[], RunOptions::default(), &mut |_| {}).unwrap();
    assert!(state.islands[0].iter().all(|i| i.fitness == 0.0), "NaN fitness scores 0");
    let records = run_dir.records().unwrap();
    // Non-finite metrics are kept, and read back as they were.
    assert!(records.iter().any(|r| matches!(&r.outcome, Outcome::Evaluated { scored, .. }
        if scored.metrics["nan"].is_nan() && scored.metrics["inf"] == f64::INFINITY && scored.metrics.len() == 3)));

    let other = tempfile::tempdir().unwrap();
    let err = run(
        &config,
        &RunDir::create(other.path()).unwrap(),
        &"odd".into(),
        &mut Lossy(Vec::new()),
        &[],
        RunOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, SearchError::Evaluator(_)), "{err}");
    // A resume with other settings is refused.
    let changed = SearchConfig { population: 9, ..config };
    let err =
        run(&changed, &run_dir, &"odd".into(), &mut evaluator, &[], RunOptions::default(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("other settings"), "{err}");
}

/// Counts the evaluations it is asked for.
struct Counting(GradientMatch, std::sync::atomic::AtomicUsize);

impl Fitness for Counting {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.evaluate(job)
    }
    fn task(&self) -> String {
        self.0.task()
    }
}

#[test]
fn a_shared_cache_spares_a_second_run_every_training() {
    let config = SearchConfig { generations: 4, population: 12, ..config() };
    let root = tempfile::tempdir().unwrap();
    let options = RunOptions { cache: Some(root.path().join("cache.jsonl")), ..RunOptions::default() };
    let search = |dir: &str| {
        let fitness = Arc::new(Counting(GradientMatch::new(Loss::resolve("ce").unwrap()), 0.into()));
        let mut evaluator = LocalEvaluator::new(fitness.clone(), 2);
        let run_dir = RunDir::create(&root.path().join(dir)).unwrap();
        let state =
            run(&config, &run_dir, &fitness.tasks(), &mut evaluator, &[], options.clone(), &mut |_| {}).unwrap();
        (timeless(state), fitness.1.load(std::sync::atomic::Ordering::SeqCst))
    };
    let (first, trained) = search("first");
    let (second, retrained) = search("second");
    assert!(trained > 10, "{trained}");
    assert_eq!(retrained, 0, "everything the second run needs is in the cache");
    assert_eq!(second.hall_of_fame, first.hall_of_fame);
    assert!(
        second.history.iter().map(|g| g.cached).sum::<usize>() > first.history.iter().map(|g| g.cached).sum::<usize>()
    );
}

#[test]
fn every_generation_fills_its_population_with_new_losses() {
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig { population: 12, generations: 6, ..config() };
    let state = search(&config, 2, dir.path(), &mut |_| {});
    let elites = 1; // ceil(0.05 * 12)
    for g in &state.history {
        let slots = if g.generation == 0 { 12 } else { 12 - elites };
        assert_eq!((g.offspring, g.new), (slots, slots), "generation {}: every slot holds a new loss", g.generation);
        assert_eq!(g.distinct, 12, "generation {}: no loss twice in the population", g.generation);
        assert!(g.niches >= 1 && g.niches <= 12);
    }
    let redraws: usize = state.history.iter().map(|g| g.cache_hits + g.screened.values().sum::<usize>()).sum();
    assert!(redraws > 0, "known and screened offspring were drawn again");
    // Nothing screened out ever takes a place: no member has fitness 0 from screening.
    let records = RunDir::create(dir.path()).unwrap().records().unwrap();
    let screened: std::collections::HashSet<_> =
        records.iter().filter(|r| matches!(r.outcome, Outcome::Screened { .. })).map(|r| r.key).collect();
    assert!(state.islands.iter().flatten().all(|i| !screened.contains(&i.key)));
}

#[test]
fn the_hall_of_fame_is_confirmed_on_other_seeds_next_to_the_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig { population: 12, generations: 4, confirm_seeds: 3, ..config() };
    let fitness = Arc::new(GradientMatch::new(Loss::resolve("ce").unwrap()).with_noise(0.05));
    let mut evaluator = LocalEvaluator::new(fitness.clone(), 2);
    let run_dir = RunDir::create(dir.path()).unwrap();
    let baselines = [
        BaselineSpec::from(("ce".to_owned(), Loss::resolve("ce").unwrap())),
        BaselineSpec::from(("ngl".to_owned(), Loss::resolve("ngl").unwrap())),
        BaselineSpec::parse("ls-tuned", &[0.05, 0.7]).unwrap(),
    ];
    let state =
        run(&config, &run_dir, &fitness.tasks(), &mut evaluator, &baselines, RunOptions::default(), &mut |_| {})
            .unwrap();
    assert!(state.baselines.iter().all(|b| b.confirmed.len() == 3));
    // Tuned label smoothing: both values trained on every seed, the one nearer cross entropy's
    // gradient (the fitness here) kept, with what it was chosen on.
    let tuned = &state.baselines[2];
    let tuning = tuned.tuning.as_ref().expect("a tuned baseline records its tuning");
    assert_eq!((tuning.chosen, tuning.chosen_on.as_str(), tuning.tried.len()), (0.05, "confirmation seeds", 2));
    assert_eq!(tuned.loss, crate::loss::label_smoothing(0.05));
    assert_eq!(tuned.confirmed, tuning.tried[0].confirmed);
    assert!(tuning.tried[0].score() > tuning.tried[1].score(), "{tuning:?}");
    let best = state.baselines.iter().map(Baseline::score).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(strongest(&state.baselines).unwrap().score(), best);
    let baseline_records = run_dir.records().unwrap().into_iter().filter(|r| r.generation.is_none()).count();
    assert_eq!(baseline_records, 4 * 4, "four losses (two of them the grid's) on four seeds");
    assert_ne!(state.baselines[0].confirmed[0], state.baselines[0].fitness, "another seed, another score");
    let records = run_dir.records().unwrap();
    let hof = &state.hall_of_fame;
    assert_eq!(hof.len(), config.hall_of_fame);
    for member in hof {
        let seeds: Vec<f64> = (1..=3)
            .map(|r| {
                let record =
                    records.iter().find(|x| x.key == member.key && x.replicate == r).expect("a record per seed");
                match &record.outcome {
                    Outcome::Evaluated { scored, .. } => scored.fitness,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(member.confirmed, seeds);
    }
    assert!(hof.windows(2).all(|w| w[0].score() >= w[1].score()), "ranked by the confirmed mean");
    let confirmations: usize = state.history.iter().map(|g| g.confirmations).sum();
    let on_seeds = records.iter().filter(|r| r.replicate > 0 && r.generation.is_some()).count();
    assert_eq!(confirmations, on_seeds);
    assert!(confirmations < 3 * 12 * 4, "only losses entering the hall of fame are confirmed");
}

#[test]
fn a_search_starts_from_the_losses_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let start_from = vec!["ce".to_owned(), "element-mean: exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))".to_owned()];
    let config = SearchConfig { population: 8, generations: 1, start_from, ..config() };
    let state = search(&config, 1, dir.path(), &mut |_| {});
    let keys: Vec<_> = state.islands[0].iter().map(|i| i.key).collect();
    // Cross entropy is a sample-mean loss; the search's element-mean version trains alike.
    assert_eq!(keys[0], Loss::resolve("ce").unwrap().training_key());
    assert_eq!(keys[1], Loss::resolve("ngl").unwrap().training_key());
    assert!(state.islands[0][0].fitness > 0.999, "cross entropy matches itself");
    let bad = SearchConfig { start_from: vec!["cee".into()], ..config };
    assert!(bad.validate().unwrap_err().contains("`start_from` entry 1"));
}

/// A search over two tasks (gradients matching cross entropy's on one, NGL's on the other),
/// weighted 1 and 3.
fn two_tasks() -> Arc<MultiTask> {
    let ce = Arc::new(GradientMatch::new(Loss::resolve("ce").unwrap()).with_noise(0.02));
    let ngl = Arc::new(GradientMatch::new(Loss::resolve("ngl").unwrap()).with_noise(0.02));
    Arc::new(MultiTask::new(vec![("ce-like".into(), 1.0, ce), ("ngl-like".into(), 3.0, ngl)]).unwrap())
}

#[test]
fn a_search_over_several_tasks_trains_every_candidate_on_each_and_ranks_by_their_weighted_mean() {
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig { population: 10, generations: 3, confirm_seeds: 2, hall_of_fame: 3, ..config() };
    let fitness = two_tasks();
    let tasks = fitness.tasks();
    let mut evaluator = LocalEvaluator::new(fitness.clone(), 2);
    let run_dir = RunDir::create(dir.path()).unwrap();
    let baselines = [BaselineSpec::from(("ce".to_owned(), Loss::resolve("ce").unwrap()))];
    let state = run(&config, &run_dir, &tasks, &mut evaluator, &baselines, RunOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(state.task, tasks.fingerprint());
    assert!(state.task.starts_with("tasks: 1 x gradient-match") && state.task.contains(" ; 3 x "), "{}", state.task);
    let records = run_dir.records().unwrap();
    // Every trained (loss, rung, seed) has one record per task, each its own job.
    let mut by_part: std::collections::HashMap<_, Vec<usize>> = std::collections::HashMap::new();
    for r in &records {
        if let Outcome::Evaluated { rung, .. } = &r.outcome {
            by_part.entry((r.key, *rung, r.replicate, r.generation)).or_default().push(r.task);
        }
    }
    assert!(
        by_part.values().all(|t| {
            let mut t = t.clone();
            t.sort();
            t == [0, 1]
        }),
        "{by_part:?}"
    );
    let fitness_of = |key, rung, replicate, task| {
        records
            .iter()
            .find(|r| {
                r.key == key
                    && r.replicate == replicate
                    && r.task == task
                    && matches!(&r.outcome, Outcome::Evaluated { rung: x, .. } if *x == rung)
            })
            .map(|r| match &r.outcome {
                Outcome::Evaluated { scored, .. } => scored.fitness,
                _ => unreachable!(),
            })
            .unwrap()
    };
    let best = &state.hall_of_fame[0];
    let expected = (fitness_of(best.key, best.rung, 0, 0) + 3.0 * fitness_of(best.key, best.rung, 0, 1)) / 4.0;
    assert!((best.fitness - expected).abs() < 1e-12, "{} vs {expected}", best.fitness);
    assert_eq!(best.per_task.len(), 2);
    assert_eq!(best.per_task[1].confirmed.len(), 2);
    for r in 1..=2 {
        let combined = (best.per_task[0].confirmed[r - 1] + 3.0 * best.per_task[1].confirmed[r - 1]) / 4.0;
        assert!((best.confirmed[r - 1] - combined).abs() < 1e-12);
    }
    assert_eq!(state.baselines[0].per_task.len(), 2);
    let first = &state.history[0];
    assert_eq!(first.evaluations % 2, 0, "each rung of each candidate counts once per task");
}

#[test]
fn a_search_over_several_tasks_killed_between_two_tasks_of_a_candidate_resumes_to_the_same_end() {
    let config = SearchConfig { population: 8, generations: 3, confirm_seeds: 1, hall_of_fame: 2, ..config() };
    let fitness = two_tasks();
    let tasks = fitness.tasks();
    let (full, crash) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The crash: the run directory as it was once generation 1's first record (a candidate's
    // first task) was written.
    let mut cut_after = None;
    let mut observe = |event: SearchEvent<'_>| {
        if let SearchEvent::Record(record) = event
            && cut_after.is_none()
            && record.generation == Some(1)
            && matches!(record.outcome, Outcome::Evaluated { .. })
        {
            assert_eq!(record.task, 0, "a candidate's tasks are submitted in order");
            cut_after = Some(record.key);
            for file in [store::STATE, store::EVALUATIONS] {
                std::fs::copy(full.path().join(file), crash.path().join(file)).unwrap();
            }
        }
    };
    let mut evaluator = LocalEvaluator::new(fitness.clone(), 1);
    let full_dir = RunDir::create(full.path()).unwrap();
    let uninterrupted =
        run(&config, &full_dir, &tasks, &mut evaluator, &[], RunOptions::default(), &mut observe).unwrap();
    let cut_key = cut_after.expect("generation 1 trained a candidate");
    let crash_dir = RunDir::create(crash.path()).unwrap();
    let mut evaluator = LocalEvaluator::new(fitness, 1);
    let resumed = run(&config, &crash_dir, &tasks, &mut evaluator, &[], RunOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(timeless(resumed), timeless(uninterrupted));
    // The candidate cut between its tasks was not trained on its first task again.
    let first_task = |r: &Record| r.generation == Some(1) && r.key == cut_key && r.task == 0 && r.replicate == 0;
    assert_eq!(crash_dir.records().unwrap().iter().filter(|r| first_task(r)).count(), 1);
}

/// Fails every evaluation: permanently for losses that use `exp`, transiently for the others.
struct Failing;

impl Fitness for Failing {
    fn evaluate(&self, job: &Job) -> Result<Scored, EvalError> {
        if job.loss.expr.to_string().contains("exp") {
            Err(EvalError::permanent("result.json: `fitness` is NaN"))
        } else {
            Err(EvalError::transient("worker killed"))
        }
    }
    fn task(&self) -> String {
        "failing".into()
    }
}

#[test]
fn a_permanent_failure_is_recorded_at_once_and_a_transient_one_after_its_retries() {
    let config = SearchConfig { generations: 1, population: 12, confirm_seeds: 0, retries: 2, ..config() };
    let dir = tempfile::tempdir().unwrap();
    let run_dir = RunDir::create(dir.path()).unwrap();
    let mut evaluator = LocalEvaluator::new(Arc::new(Failing), 2);
    run(&config, &run_dir, &"failing".into(), &mut evaluator, &[], RunOptions::default(), &mut |_| {}).unwrap();
    let failed: Vec<(u32, bool, String)> = run_dir
        .records()
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.outcome {
            Outcome::Failed { attempts, permanent, error, rung } => {
                assert_eq!(rung, 0, "a failed candidate is not promoted to a longer training");
                Some((attempts, permanent, error))
            }
            _ => None,
        })
        .collect();
    assert!(config.fidelity.rungs.len() > 1, "the default fidelity has rungs to promote to");
    assert!(failed.iter().any(|f| f.1) && failed.iter().any(|f| !f.1), "both kinds occur: {failed:?}");
    for (attempts, permanent, error) in failed {
        if permanent {
            assert_eq!((attempts, error.as_str()), (1, "result.json: `fitness` is NaN"), "not retried");
        } else {
            assert_eq!((attempts, error.as_str()), (3, "worker killed"), "retried twice");
        }
    }
}

#[test]
fn every_new_candidate_knows_its_parents_and_the_operator_that_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = SearchConfig { population: 12, generations: 4, ..config() };
    let state = search(&config, 2, dir.path(), &mut |_| {});
    let births = RunDir::create(dir.path()).unwrap().births().unwrap();
    let new: usize = state.history.iter().map(|g| g.new).sum();
    assert_eq!(births.len(), new, "one birth per new candidate");
    let born: std::collections::HashMap<_, _> = births.iter().map(|b| (b.key, b.generation)).collect();
    for birth in &births {
        match &birth.origin {
            Origin::Random => assert_eq!(birth.generation, 0),
            Origin::Offspring { parents, crossover, .. } => {
                assert!(birth.generation > 0);
                assert_eq!(parents.len(), if *crossover { 2 } else { 1 }, "{:?}", birth.origin);
                // Every parent was born in an earlier generation of this run.
                for parent in parents {
                    assert!(born[parent] < birth.generation, "parent of {} born later", birth.expr);
                }
            }
            Origin::Immigrant | Origin::Start => {}
        }
    }
    let operators: std::collections::HashSet<String> = births.iter().map(|b| b.origin.operator()).collect();
    assert!(operators.contains("crossover") || operators.iter().any(|o| o.starts_with("crossover +")), "{operators:?}");
    assert!(operators.iter().any(|o| o.ends_with("mutation")), "{operators:?}");
    // The leader's family reaches back to generation 0.
    let leader = &state.hall_of_fame[0];
    let family = lineage(leader.key, &births, 100);
    assert_eq!(family[0].key, leader.key);
    assert!(family.iter().all(|b| b.generation <= leader.generation));
}

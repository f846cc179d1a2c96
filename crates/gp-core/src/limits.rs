//! Upper limits on the sizes a user can set, checked before anything is allocated for them:
//! a typo (1e9 for 100) is refused with the setting's name, the limit and the fix, never an
//! aborted allocation or a panic. Each limit is far above any real use and far below what
//! exhausts a machine.

/// Candidates held at once: `population` times `islands.count` (each is scored every
/// generation; the paper's search held 100).
pub const MAX_CANDIDATES: usize = 100_000;
/// Nodes in one loss tree (`max_size`).
pub const MAX_TREE_SIZE: usize = 10_000;
/// A loss tree's height (`max_height`, `init_height`): the parser's limit, so that every
/// tree the search makes can be read back.
pub const MAX_TREE_HEIGHT: usize = crate::expr::MAX_HEIGHT;
/// Generations of one search.
pub const MAX_GENERATIONS: usize = 1_000_000;
/// Losses in the hall of fame, candidates in a tournament, losses in a niche.
pub const MAX_KEPT: usize = MAX_CANDIDATES;
/// Seeds of a confirmation or a transfer grid: each is a training run per loss.
pub const MAX_SEEDS: usize = 1_000;
/// Attempts at one job beyond the first.
pub const MAX_RETRIES: u32 = 100;
/// Draws per slot before a generation gives up filling it.
pub const MAX_REDRAWS: usize = 100_000;
/// Training steps of the screening's learning check.
pub const MAX_SCREENING_STEPS: usize = 1_000_000;
/// Rungs of successive halving.
pub const MAX_RUNGS: usize = 64;
/// Worker threads or processes, and backend threads per worker.
pub const MAX_WORKERS: usize = 4_096;

/// `Ok` where `value` is at most `limit`; else the message naming the setting, its value,
/// the limit, what the limit protects and the fix.
pub fn at_most(setting: &str, value: usize, limit: usize, fix: &str) -> Result<(), String> {
    if value <= limit { Ok(()) } else { Err(format!("`{setting}` = {value} is beyond the limit of {limit}: {fix}")) }
}

/// Checks a run's `[run] workers` (at least 1) and `threads_per_worker` against
/// [`MAX_WORKERS`]: the settings `search` and `transfer` share.
pub fn check_workers(workers: usize, threads_per_worker: usize) -> Result<(), String> {
    if workers == 0 {
        return Err("[run] workers must be at least 1".into());
    }
    at_most("[run] workers", workers, MAX_WORKERS, "one per core or GPU is usual")?;
    at_most(
        "[run] threads_per_worker",
        threads_per_worker,
        MAX_WORKERS,
        "the cores of a machine divided by its workers",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_setting_the_value_the_limit_and_the_fix() {
        assert!(at_most("population", 100, MAX_CANDIDATES, "fix").is_ok());
        let err = at_most("population", 1_000_000_000, MAX_CANDIDATES, "set it to 100").unwrap_err();
        assert_eq!(err, "`population` = 1000000000 is beyond the limit of 100000: set it to 100");
    }
}

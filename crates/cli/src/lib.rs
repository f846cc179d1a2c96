//! `lossgp`: discover loss functions for neural networks by genetic programming, and train
//! with them.
//!
//! Every command that reports results takes `--json` and then prints one JSON document on
//! stdout; progress and logs go to stderr.
//!
//! The command line is a library too, so that a third party builds its own `lossgp` with its
//! plugin crates linked in (their backends, models and datasets register with `inventory`):
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     my_plugins::link(); // any item of the plugin crate, so that the linker keeps it
//!     lossgp_cli::run()
//! }
//! ```
//!
//! `examples/plugin-static` is such a program.

mod commands;
mod output;
mod plot;
mod plugins;
mod run_table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Discover loss functions for neural networks by genetic programming, and train with them.
#[derive(Debug, Parser)]
#[command(
    name = "lossgp",
    version,
    about = "Discover loss functions for neural networks by genetic programming, and train with them.",
    long_about = "Discover loss functions for neural networks by genetic programming, and train with them.\n\n\
                  lossgp breeds losses as expression trees over the softmax output p, the one-hot target y and \
                  the logits z, scores each by training a network with it (lossgp's own, or your training script: \
                  `[task] fitness = \"command\"`), confirms the best on other seeds next to cross entropy, label \
                  smoothing and NGL, and exports what it finds to PyTorch.\n\n\
                  First steps: `lossgp search --example` prints a documented configuration; `lossgp search \
                  --config FILE --out DIR` runs one; `lossgp report DIR` and `lossgp confirm DIR` read it; \
                  `lossgp loss export DIR --pytorch-module found_losses.py` hands its losses to PyTorch.",
    propagate_version = true
)]
struct Cli {
    /// Print results as JSON on stdout (logs and progress stay on stderr).
    #[arg(long, global = true)]
    json: bool,

    /// Where datasets live [default: $LOSSGP_DATA_DIR, else the user's cache directory].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// More log lines on stderr (-v: debug, -vv: trace); RUST_LOG, where set, decides instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Only errors in the log on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Load a backend plugin from a shared library (repeatable; LOSSGP_PLUGIN_PATH also names
    /// plugin files or folders, separated as PATH is). `lossgp list plugins` shows them.
    #[arg(long = "plugin", global = true, value_name = "LIBRARY")]
    plugins: Vec<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, print and evaluate loss functions.
    #[command(subcommand)]
    Loss(commands::loss::LossCommand),
    /// List, fetch and inspect datasets.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Train a model of the zoo with a loss on a dataset.
    Train(Box<commands::train::TrainArgs>),
    /// List what this build has: backends, models and loaded plugins.
    #[command(subcommand)]
    List(commands::list::ListCommand),
    /// Search for loss functions by genetic programming (or continue a search: --resume).
    Search(Box<commands::search::SearchArgs>),
    /// Re-train losses (built-in, written, or a search's best) next to cross entropy on other
    /// models, datasets and seeds, and compare them as the paper did (or continue: --resume).
    Transfer(Box<commands::transfer::TransferArgs>),
    /// Summarise a search's or transfer grid's run directory and redraw its plots, finished or
    /// not.
    Report {
        /// The run directory.
        dir: PathBuf,
    },
    /// Re-train a search's best losses and its baselines on seeds the search never used, and
    /// compare them pairwise (held-out confirmation, kept in DIR/heldout.jsonl).
    Confirm(commands::search::ConfirmArgs),
    /// Run the conformance suite on backends: every operation against a float64 reference,
    /// gradients against finite differences.
    Conformance(commands::conformance::ConformanceArgs),
    /// Follow search and transfer runs in a web browser as they write: progress, the hall of
    /// fame with formulas and PyTorch code, genealogy, the size-fitness front, transfer
    /// heatmaps and the evaluator's state (on 127.0.0.1; beyond it only with --token).
    Dashboard(commands::dashboard::DashboardArgs),
    /// A worker process of a search or transfer grid with `[run] evaluator = "processes"` (the
    /// coordinator starts its workers itself).
    Worker(commands::search::WorkerArgs),
}

/// Whether `args` (the program's name first) are a command line `lossgp` accepts, and clap's
/// message where not: the documentation's commands are checked with it
/// (`tests/documented_commands.rs`), without running them.
#[doc(hidden)]
pub fn check_arguments(args: &[String]) -> Result<(), String> {
    Cli::try_parse_from(args).map(|_| ()).map_err(|e| e.to_string())
}

/// Runs the command line on the program's arguments: what the `lossgp` binary's `main` does.
/// Workers and Slurm tasks run the same program again (`std::env::current_exe`), so a program
/// built with plugins gives its workers the same plugins.
pub fn run() -> ExitCode {
    // The registries fill from the crates' `inventory` entries, which must be linked in.
    lossgp_backends::link();
    lossgp_models::link();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    if let Err(err) = plugins::load_at_start(&cli.plugins) {
        eprintln!("error: {}", describe(&err));
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Loss(command) => commands::loss::run(command, cli.json),
        Command::Data(command) => commands::data::run(command, cli.data_dir.as_deref(), cli.json),
        Command::Train(args) => commands::train::run(*args, cli.data_dir.as_deref(), cli.json),
        Command::List(command) => commands::list::run(command, cli.json),
        Command::Conformance(args) => commands::conformance::run(args, cli.json),
        Command::Search(args) => commands::search::run_search(*args, cli.data_dir.as_deref(), cli.json),
        Command::Transfer(args) => commands::transfer::run_transfer(*args, cli.data_dir.as_deref(), cli.json),
        Command::Report { dir } => commands::search::report(&dir, cli.json),
        Command::Worker(args) => commands::search::run_worker(args, cli.data_dir.as_deref()),
        Command::Confirm(args) => commands::search::confirm(args, cli.data_dir.as_deref(), cli.json),
        Command::Dashboard(args) => commands::dashboard::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            ExitCode::FAILURE
        }
    }
}

/// Log lines (`tracing`) on stderr: lossgp's at info unless `-v`/`-q` say otherwise, other
/// crates' warnings; `RUST_LOG` (e.g. `lossgp_core::search=debug`) replaces that where set.
/// Workers' lines carry their span, `worker{id=...}`, and each job's name.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("warn,lossgp={level},lossgp_core={level},lossgp_cli={level}"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// An error and its causes in one line, each cause once: the library errors name their cause in
/// their own message (`cannot read F: No such file...`) and give it as their source too.
fn describe(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain().map(|c| c.to_string()) {
        if line.is_empty() {
            line = cause;
        } else if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_name_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let store = lossgp_core::backend::StoreError::Io { path: "w.safetensors".into(), source: io };
        let err = anyhow::Error::new(store).context("--pretrained");
        assert_eq!(super::describe(&err), "--pretrained: w.safetensors: No such file");
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::describe(&err), "outer: inner");
    }

    use clap::{CommandFactory, Parser};

    /// Every subcommand's options have distinct names. Clap checks this only under its debug
    /// assertions, which the dev profile turns off for dependencies: two flattened `--workers`
    /// once silently took each other's values.
    #[test]
    fn no_two_options_of_a_command_share_a_name() {
        fn check(command: &clap::Command, path: &str) {
            let mut seen = std::collections::BTreeSet::new();
            for arg in command.get_arguments() {
                let names = arg.get_long().into_iter().map(str::to_owned).chain(arg.get_short().map(|c| c.to_string()));
                for name in names.chain(std::iter::once(format!("id:{}", arg.get_id()))) {
                    assert!(seen.insert(name.clone()), "`{path}` has two options named {name}");
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&super::Cli::command(), "lossgp");
    }

    /// An option shared by several commands means the same in each: the same kind of value
    /// (its value name), and for the options users confused, the same meaning in words.
    /// `--seeds N` is a number of seeds everywhere, `--workers N` trainings at once.
    #[test]
    fn a_shared_option_means_the_same_in_every_command() {
        fn walk(command: &clap::Command, path: &str, out: &mut Vec<(String, String, String, String)>) {
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    let values: Vec<String> =
                        arg.get_value_names().unwrap_or_default().iter().map(|v| v.to_string()).collect();
                    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                    out.push((long.to_owned(), path.to_owned(), values.join(" "), help));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut options = Vec::new();
        walk(&super::Cli::command(), "lossgp", &mut options);
        let mut by_name: std::collections::BTreeMap<&str, Vec<&(String, String, String, String)>> = Default::default();
        for option in &options {
            by_name.entry(&option.0).or_default().push(option);
        }
        let mut differ = Vec::new();
        for (name, uses) in &by_name {
            let first = uses[0];
            for other in &uses[1..] {
                if first.2 != other.2 {
                    differ.push(format!(
                        "--{name} takes `{}` in `{}` but `{}` in `{}`",
                        first.2, first.1, other.2, other.1
                    ));
                }
            }
        }
        assert!(differ.is_empty(), "one option, one meaning:\n{}", differ.join("\n"));
        let meaning = |name: &str, words: &str| {
            for (_, path, _, help) in by_name.get(name).into_iter().flatten() {
                assert!(help.contains(words), "`{path} --{name}` must say it is {words}: {help}");
            }
        };
        meaning("seeds", "seeds");
        meaning("workers", "at once");
        assert!(by_name["seeds"].len() >= 2 && by_name["workers"].len() >= 3, "{:?}", by_name.keys());
    }

    /// The old spellings are refused with the new one named.
    #[test]
    fn an_option_whose_meaning_moved_is_refused_naming_the_new_one() {
        let confirm = super::Cli::try_parse_from(["lossgp", "confirm", "runs/x", "--seeds", "101,102"]).unwrap_err();
        assert!(confirm.to_string().contains("--seed-numbers 101,102"), "{confirm}");
        let big = super::Cli::try_parse_from(["lossgp", "confirm", "runs/x", "--seeds", "101"]).unwrap_err();
        assert!(big.to_string().contains("--seed-numbers 101"), "{big}");
        let five = super::Cli::try_parse_from(["lossgp", "confirm", "runs/x", "--seeds", "5"]);
        assert!(five.is_ok());
    }
}

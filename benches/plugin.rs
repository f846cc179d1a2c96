//! The cost of the plugin ABI: a training step of the small CNN on burn-flex linked into this
//! program, next to the same step on burn-flex built into `examples/plugin-backend`'s shared
//! library and called through lossgp's C ABI (`plugin-flex`), in one run, printed as a ratio.
//!
//! ```text
//! cargo bench --profile dev --bench plugin     # the profile of the tests and the main job
//! cargo bench --bench plugin                   # release
//! ```
//!
//! The library is a dev-dependency of the facade, so Cargo builds it, with the benchmark's
//! profile, into the `deps/` folder the benchmark runs from. Each contender takes the same step as the other training benchmarks (forward, cross
//! entropy, reading the loss back, backward, an Adam step), both erased (`DynBackend`), so the
//! difference is the ABI alone: a call through a function table, handles instead of `Arc`s,
//! values copied out of plugin-owned buffers. A second table isolates the cost per call: 1,000
//! calls of `affine` on a one-element tensor, where the framework's own work is smallest. Options: `--batch N` (128), `--steps N` timed
//! steps per round (10), `--rounds N` (5), `--warmup N` (3).

mod common;

use std::path::PathBuf;

use lossgp::core::backend::{Backend, open_backend};
use lossgp_plugin_abi::host;

use common::{Contender, Rounds, batch_and_rounds, race, zoo_step};

const MODEL: &str = "small-cnn";
const INPUT: [usize; 3] = [1, 28, 28];
const CLASSES: usize = 10;

/// `examples/plugin-backend`'s library, built beside this benchmark.
fn plugin_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the benchmark's path");
    let deps = exe.parent().expect("target/PROFILE/deps");
    let name = format!("{}lossgp_plugin_backend{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let candidates = [deps.join(&name), deps.parent().expect("target/PROFILE").join(&name)];
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        eprintln!("{name} is in neither of {candidates:?}: it is a dev-dependency, which cargo bench builds");
        std::process::exit(2);
    };
    path.clone()
}

fn main() {
    lossgp::backends::link();
    lossgp::models::link();
    let (batch, rounds) = batch_and_rounds("plugin", 128, Rounds { warmup: 3, rounds: 5, steps: 10 });
    let library = plugin_library();
    let plugin = host::load(&library).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "Plugin ABI overhead: {MODEL} at {}x{}x{}, batch {batch}, {CLASSES} classes, Adam, synthetic data",
        INPUT[0], INPUT[1], INPUT[2]
    );
    println!("plugin: {} (ABI {})", plugin.file.display(), plugin.abi_version);
    println!(
        "(median of {} steps each, in {} interleaved rounds after {} warm-up steps)\n",
        rounds.rounds * rounds.steps,
        rounds.rounds,
        rounds.warmup
    );
    let linked = open_backend("flex").expect("flex is linked in");
    let loaded = open_backend(&plugin.name).expect("the plugin's backend opens");
    let contenders: Vec<Contender<'_>> = vec![
        (format!("flex, linked ({})", linked.name()), zoo_step(&linked, MODEL, INPUT, batch, CLASSES).1),
        (
            format!("plugin-flex, through the ABI ({})", loaded.name()),
            zoo_step(&loaded, MODEL, INPUT, batch, CLASSES).1,
        ),
    ];
    let rows = race(contenders, rounds);
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let reference = rows[0].1;
    println!("{:<width$} {:>10} {:>10} {:>12}", "contender", "ms/step", "images/s", "/ linked");
    for (name, seconds) in &rows {
        println!(
            "{name:<width$} {:>10.2} {:>10.1} {:>11.3}x",
            seconds * 1e3,
            batch as f64 / seconds,
            seconds / reference
        );
    }

    const CALLS: usize = 1000;
    let calls = |b: &'static str, backend| -> Contender<'_> {
        let backend: &lossgp::core::backend::DynBackend = backend;
        let x = backend.tensor(&[1.0], &[1]).expect("a tensor");
        let run = move || {
            for _ in 0..CALLS {
                std::hint::black_box(backend.affine(&x, 1.0, 0.0).expect("affine"));
            }
        };
        (b.to_owned(), Box::new(run))
    };
    let rows = race(vec![calls("flex, linked", &linked), calls("plugin-flex, through the ABI", &loaded)], rounds);
    let reference = rows[0].1;
    println!("\n{:<width$} {:>10} {:>12}", format!("{CALLS} affine calls on 1 element"), "us/call", "/ linked");
    for (name, seconds) in &rows {
        println!("{name:<width$} {:>10.2} {:>11.3}x", seconds / CALLS as f64 * 1e6, seconds / reference);
    }
}

//! `lossgp-plus`: lossgp's command line with this crate's plugins linked in. Every command
//! works as in `lossgp`, and `list`, `data list`, `train`, `search` and `transfer` see the
//! `profile` backend, the `lenet5` model and the `fashion-mnist-csv` and `mnist-csv` datasets.

fn main() -> std::process::ExitCode {
    lossgp_plugin_static::link();
    lossgp_cli::run()
}

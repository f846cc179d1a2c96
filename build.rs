//! With the `tch` feature, records libtorch's directory in the run path of the facade's tests,
//! examples and benchmarks, so that they start without `LD_LIBRARY_PATH` (lossgp-backends'
//! build script reports it).

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_LOSSGP_BACKENDS_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_LOSSGP_BACKENDS_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}

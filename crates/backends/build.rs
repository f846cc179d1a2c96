//! With the `tch` feature, tells the crates that link a binary where libtorch lives (torch-sys
//! reports it as `DEP_TCH_LIBTORCH_LIB`), so that `lossgp` finds libtorch at run time without
//! `LD_LIBRARY_PATH`; this crate's own tests get the same run path.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:libtorch_lib={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}

//! With lossgp-backends' `tch` feature (a workspace build with `--features tch`), records
//! libtorch's directory in the library's run path, so that it loads without `LD_LIBRARY_PATH`.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_LOSSGP_BACKENDS_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_LOSSGP_BACKENDS_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}

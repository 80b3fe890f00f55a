//! Build script: make the `neglect` binary find libtorch at run time without any exported
//! variable, and remember the Python venv it was built against.
//!
//! - torch-sys gives binaries no rpath, so one is added pointing at the libtorch it linked.
//! - rustc links with `--as-needed`, which drops `libtorch.so` (and with it `libtorch_cuda.so`)
//!   because no symbol is referenced directly; CUDA would then never register on a GPU machine
//!   (tch-rs issue 980). Linking `-ltorch` under `--no-as-needed` keeps it.
//! - `NEGLECT_BUILD_PYTHON` records the venv's interpreter, used for the GGUF importer and the
//!   reference tests; `NEGLECT_PYTHON` at run time overrides it.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch,--as-needed");
    }
    let python = match std::env::var("VIRTUAL_ENV") {
        Ok(venv) if !venv.is_empty() => format!("{venv}/bin/python"),
        _ => "python3".to_string(),
    };
    println!("cargo:rustc-env=NEGLECT_BUILD_PYTHON={python}");
    // Re-run when HEAD moves so manifests name the commit the binary was built from.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(reference) = head.strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{}", reference.trim());
        }
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=NEGLECT_GIT_COMMIT={commit}");
}

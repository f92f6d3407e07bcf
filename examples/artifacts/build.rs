//! Builds the guest crates in [`GUESTS`] for `wasm32-wasip1` with the `guest`
//! profile, by running a nested `cargo build` into `<workspace>/target/guests`, and
//! generates a path constant for each module (`$OUT_DIR/guests.rs`).

use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest crates to build: (package, name of the generated path constant). The
/// module is `<package with - as _>.wasm`. Add a row for each new guest crate (and
/// its sources to [`WATCHED`]).
const GUESTS: &[(&str, &str)] = &[
    ("wasmtaps-example-tasks", "TASKS_WASM"),
    ("wasmtaps-example-apps", "APPS_WASM"),
];

/// Workspace paths whose changes rebuild the guests.
const WATCHED: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "guest-sdk/Cargo.toml",
    "guest-sdk/src",
    "guest-sdk/macros/Cargo.toml",
    "guest-sdk/macros/src",
    "examples/tasks/Cargo.toml",
    "examples/tasks/build.rs",
    "examples/tasks/src",
    "examples/apps/Cargo.toml",
    "examples/apps/build.rs",
    "examples/apps/src",
];

const TARGET: &str = "wasm32-wasip1";
const PROFILE: &str = "guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("examples/artifacts is two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    println!("cargo:rerun-if-changed=build.rs");
    for path in WATCHED {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }

    check_target_installed();

    let target_dir = workspace.join("target").join("guests");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    // The nested build must not inherit this build's flags, profile overrides,
    // target directory or clippy wrapper, nor the variables cargo sets for build
    // scripts; it keeps the jobserver (`CARGO_MAKEFLAGS`) and registry settings.
    for (key, _) in env::vars_os() {
        if leaks_into_nested_build(&key) {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|err| panic!("cannot run the nested cargo build: {err}"));
    assert!(
        status.success(),
        "building the guest crates for {TARGET} failed ({status}); the output above says why"
    );

    let wasm_dir = target_dir.join(TARGET).join(PROFILE);
    let mut code = String::new();
    for (package, constant) in GUESTS {
        let path = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(
            path.is_file(),
            "the build did not produce {}",
            path.display()
        );
        let path = path.to_str().expect("the workspace path is UTF-8");
        writeln!(
            code,
            "/// Absolute path of the `{package}` task module, built for `{TARGET}` with the\n\
             /// `{PROFILE}` profile by this crate's build script.\n\
             pub const {constant}: &str = {path:?};\n\
             /// The bytes of the `{package}` task module (see [`{constant}`]).\n\
             pub static {constant}_BYTES: &[u8] = include_bytes!({path:?});"
        )
        .unwrap();
    }
    std::fs::write(out_dir.join("guests.rs"), code).expect("cannot write guests.rs");
}

/// Fails the build with the command to run when the target's standard library is
/// missing, instead of a wall of "can't find crate for `std`" errors.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", Path::new(&rustc).display()));
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let target_lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
    if !output.status.success() || !target_lib.is_dir() {
        panic!(
            "the {TARGET} target is not installed (no {}): run `rustup target add {TARGET}`",
            target_lib.display()
        );
    }
}

fn leaks_into_nested_build(key: &OsStr) -> bool {
    let Some(key) = key.to_str() else {
        return false;
    };
    const KEEP: &[&str] = &["CARGO_HOME", "CARGO_MAKEFLAGS"];
    const KEEP_PREFIXES: &[&str] = &[
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    if key.starts_with("CARGO_") {
        return !KEEP.contains(&key) && !KEEP_PREFIXES.iter().any(|p| key.starts_with(p));
    }
    matches!(
        key,
        "RUSTFLAGS" | "RUSTDOCFLAGS" | "RUSTC_WORKSPACE_WRAPPER" | "__CARGO_FIX_PLZ"
    )
}

//! The example runs as its documentation says, on threads and on worker processes.

use std::process::Command;

#[test]
fn the_diamond_adds_up_on_threads_and_on_worker_processes() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmtaps-example-embed"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "on worker threads: add(add(1, 2), add(add(1, 2), 10)) = 16",
            "on worker processes: add(add(1, 2), add(add(1, 2), 10)) = 16",
        ]
    );
}

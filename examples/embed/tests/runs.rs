//! The embedding example runs its diamond on threads and on worker processes.

#[test]
fn the_example_runs_on_threads_and_on_worker_processes() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmtaps-example-embed"))
        .output()
        .expect("the example starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("threads:          36"), "{stdout}");
    assert!(stdout.contains("worker processes: 36"), "{stdout}");
}

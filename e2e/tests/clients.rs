//! The TypeScript client's suite (`clients/typescript/test/`, vitest)
//! against a running deployment (`e2e::node_suite`).

#[test]
fn the_typescript_client_suite_passes_against_the_stack() {
    e2e::node_suite::run("clients/typescript", "vitest", &["run"]);
}

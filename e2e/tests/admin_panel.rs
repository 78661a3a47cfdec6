//! The admin panel in Debian's chromium (`admin-web/tests/`, Playwright)
//! against a running deployment whose gateway serves it at `/admin/`
//! (`e2e::node_suite`); screenshots in `admin-web/screenshots/`.

#[test]
fn the_admin_panel_suite_passes_in_a_real_browser() {
    // The panel under test is the source as it is now.
    let status = std::process::Command::new("npm")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../admin-web"))
        .args(["run", "--silent", "build"])
        .status()
        .expect("npm runs");
    assert!(
        status.success(),
        "building the admin panel failed ({status})"
    );
    e2e::node_suite::run("admin-web", "playwright", &["test"]);
}

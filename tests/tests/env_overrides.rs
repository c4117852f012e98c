//! Environment overrides, in a test binary of their own: setting process variables must not race
//! with other tests that load settings.

use std::path::PathBuf;

use jiaoying::Settings;

#[test]
fn environment_variables_override_the_file() {
    // The only test in this binary: nothing else reads these variables meanwhile.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_var("JIAOYING_DATABASE__URL", "postgres://override@127.0.0.1/x");
    std::env::set_var("JIAOYING_POLICY__RED__ANSWER_WITHIN", "20s");
    std::env::set_var("JIAOYING_SECURITY__SECRET", "from-the-environment-123");
    let s = Settings::load(Some(&root.join("config/jiaoying.toml"))).unwrap();
    std::env::remove_var("JIAOYING_DATABASE__URL");
    std::env::remove_var("JIAOYING_POLICY__RED__ANSWER_WITHIN");
    std::env::remove_var("JIAOYING_SECURITY__SECRET");
    assert_eq!(s.database.url, "postgres://override@127.0.0.1/x");
    assert_eq!(s.policies().for_tier(jiaoying_core::Tier::Red).answer_within, jiaoying_core::Span::from_secs(20));
    assert!(s.warnings().iter().all(|w| !w.contains("placeholder")));
    assert!(!format!("{s:?}").contains("from-the-environment-123"), "secrets are redacted in Debug");
}

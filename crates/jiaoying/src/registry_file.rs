//! Reading a registry file. TOML for now; CSV and XLSX arrive with the registry issue.

use std::path::Path;

use anyhow::{bail, Context};
use jiaoying_core::Registry;

/// Reads and checks a registry file. Every problem is reported, naming its entry; a registry
/// with any problem is refused whole.
pub fn read_registry(path: &Path) -> anyhow::Result<Registry> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext != "toml" {
        bail!("{}: only TOML registries can be imported so far (CSV and XLSX are planned)", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let registry: Registry =
        toml::from_str(&text).with_context(|| format!("{}: not a valid registry", path.display()))?;
    let problems = registry.problems();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {}: {p}", path.display())).collect();
        bail!("{} problem(s) in the registry, nothing was changed:\n{}", problems.len(), list.join("\n"));
    }
    Ok(registry)
}

//! The README's table of Discord commands says what the command table declares: every command
//! with every option (optional ones in brackets) and who may use it, and no row names a command
//! socbot does not have.

use socbot::service::commands::{DEFAULT_OVERRIDE_HOURS, runnable, usage, who};

/// `(command with its options, who)` for each code span starting with `/` in the first column
/// of the table under `## In Discord`.
fn readme_rows() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let section = readme
        .split("\n## In Discord\n")
        .nth(1)
        .expect("README has a `## In Discord` section");
    let mut rows = Vec::new();
    let table = section.lines().skip_while(|l| !l.starts_with('|'));
    for line in table.take_while(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert!(cells.len() >= 2, "a row without a who column: {line}");
        let spans = cells[0].split('`').skip(1).step_by(2);
        for span in spans.filter(|s| s.starts_with('/')) {
            rows.push((span.to_owned(), cells[1].to_owned()));
        }
    }
    rows
}

#[test]
fn the_readme_command_table_matches_the_declarations() {
    let readme = readme_rows();
    assert!(!readme.is_empty(), "no commands found in the README table");
    let declared: Vec<(String, String)> = runnable()
        .into_iter()
        .map(|(path, decl)| (usage(&path, decl), who(decl)))
        .collect();
    let missing: Vec<_> = declared.iter().filter(|d| !readme.contains(d)).collect();
    let unknown: Vec<_> = readme.iter().filter(|r| !declared.contains(r)).collect();
    assert!(
        missing.is_empty(),
        "declared but not in README.md's `In Discord` table as `(command, who)`: {missing:#?}"
    );
    assert!(
        unknown.is_empty(),
        "in README.md's `In Discord` table but not declared (or with other options or roles): \
         {unknown:#?}"
    );
}

/// The row of the README's table whose first column holds `command`.
fn readme_row(command: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let section = readme
        .split("\n## In Discord\n")
        .nth(1)
        .expect("the section");
    section
        .lines()
        .find(|l| l.starts_with(&format!("| `{command}")))
        .unwrap_or_else(|| panic!("no row for {command}"))
        .to_owned()
}

#[test]
fn the_readme_states_the_declared_override_limits() {
    let row = readme_row("/oncall");
    let said = format!(
        "default {DEFAULT_OVERRIDE_HOURS}, at most {}",
        socbot::oncall::Override::MAX_HOURS
    );
    assert!(
        row.contains(&said),
        "the /oncall row should say `{said}`: {row}"
    );
}

//! `socbot check` against the catalog: warnings for a playbook whose technique ATT&CK revoked,
//! deprecated or does not know, and for a Name or tactic that differs from ATT&CK's.

use super::{Catalog, Status, tactic_key};
use crate::playbook::{Diagnostic, Playbook};

/// The warnings for one playbook (none when it agrees with ATT&CK).
pub fn playbook(catalog: &Catalog, p: &Playbook) -> Vec<Diagnostic> {
    let warn = |m: String| Diagnostic::warning(&p.source, p.id_line, m);
    let v = &catalog.version;
    let Some(t) = catalog.get(p.id) else {
        return vec![warn(format!(
            "ATT&CK Enterprise v{v} has no technique {}: check the id",
            p.id
        ))];
    };
    let mut out = Vec::new();
    match t.status {
        Status::Live => {}
        Status::Deprecated => out.push(warn(format!(
            "ATT&CK v{v} has deprecated {} ({}): it has no replacement; consider retiring this playbook",
            p.id,
            catalog.full_name(t)
        ))),
        Status::Revoked(by) => {
            let instead = match by.and_then(|b| catalog.get(b)) {
                Some(r) => format!("replaced by {} ({})", r.id, catalog.full_name(r)),
                None => "with no replacement named".into(),
            };
            out.push(warn(format!(
                "ATT&CK v{v} has revoked {} ({}), {instead}: move this playbook to the new id",
                p.id,
                catalog.full_name(t)
            )));
        }
    }
    let full = catalog.full_name(t);
    let name = name_key(&p.name);
    if !p.name.trim().is_empty() && name != name_key(&full) && name != name_key(&t.name) {
        out.push(warn(format!(
            "Name `{}` differs from ATT&CK's `{full}` for {}",
            p.name.trim(),
            p.id
        )));
    }
    // A revoked technique usually has no tactics left in ATT&CK: nothing to compare then.
    if !t.tactics.is_empty() {
        let theirs: Vec<&str> = catalog.tactic_names(t).collect();
        for mine in &p.tactics {
            if !theirs.iter().any(|x| tactic_key(x) == tactic_key(mine)) {
                out.push(warn(format!(
                    "tactic `{mine}` is not one of ATT&CK's for {}: {}",
                    p.id,
                    theirs.join(", ")
                )));
            }
        }
    }
    out
}

/// Every catalog warning for a set of playbooks, in the order given.
pub fn playbooks<'a>(
    catalog: &Catalog,
    playbooks: impl IntoIterator<Item = &'a Playbook>,
) -> Vec<Diagnostic> {
    playbooks
        .into_iter()
        .flat_map(|p| playbook(catalog, p))
        .collect()
}

/// Names compared without case, punctuation or spacing (`Web Service: One-Way` = `web service one way`).
fn name_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

//! Reads a STIX 2.1 bundle of ATT&CK Enterprise (MITRE's `enterprise-attack.json`) into a
//! [`Catalog`]: the `x-mitre-matrix` gives the tactics in ATT&CK's order (`tactic_refs`), each
//! `attack-pattern` with a `mitre-attack` external id is a technique (its tactics from its
//! `kill_chain_phases`), and `revoked-by` relationships say what replaced a revoked one.
//! Descriptions and every other field are skipped unread.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Catalog, Status, Tactic, Technique};
use crate::playbook::TechniqueId;

/// Why a bundle could not be read as an ATT&CK catalog.
#[derive(Debug, thiserror::Error)]
pub enum StixError {
    #[error("not a STIX 2.1 bundle (a JSON object with an `objects` list): {0}")]
    Json(#[from] serde_json::Error),
    #[error("the bundle has no x-mitre-matrix object: is it MITRE ATT&CK data?")]
    NoMatrix,
    #[error(
        "the matrix `{matrix}` names no x-mitre-tactic that the bundle holds (tactic_refs: {refs})"
    )]
    NoTactics { matrix: String, refs: usize },
    #[error("the bundle has no attack-pattern with a mitre-attack technique id (T1234)")]
    NoTechniques,
}

#[derive(Deserialize)]
struct Bundle {
    objects: Vec<Object>,
}

#[derive(Deserialize)]
struct Object {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    external_references: Vec<ExternalRef>,
    #[serde(default)]
    kill_chain_phases: Vec<Phase>,
    #[serde(default)]
    x_mitre_platforms: Vec<String>,
    #[serde(default)]
    x_mitre_deprecated: bool,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    x_mitre_shortname: Option<String>,
    #[serde(default)]
    tactic_refs: Vec<String>,
    #[serde(default)]
    relationship_type: Option<String>,
    #[serde(default)]
    source_ref: Option<String>,
    #[serde(default)]
    target_ref: Option<String>,
    /// On the x-mitre-collection: the ATT&CK release (`18.1`).
    #[serde(default)]
    x_mitre_version: Option<String>,
}

#[derive(Deserialize)]
struct ExternalRef {
    #[serde(default)]
    source_name: String,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct Phase {
    #[serde(default)]
    kill_chain_name: String,
    #[serde(default)]
    phase_name: String,
}

impl Object {
    /// The `mitre-attack` external id: `T1583.006`, `TA0042`, `enterprise-attack`.
    fn attack_id(&self) -> Option<&str> {
        self.external_references
            .iter()
            .find(|r| r.source_name == "mitre-attack")
            .and_then(|r| r.external_id.as_deref())
    }
}

/// Parses a bundle's JSON text.
pub fn parse(json: &str) -> Result<Catalog, StixError> {
    let bundle: Bundle = serde_json::from_str(json)?;
    from_objects(bundle.objects)
}

/// The matrix's tactics, in its order.
fn tactics(objects: &[Object], matrix: &Object) -> Result<Vec<Tactic>, StixError> {
    let tactic_objects: HashMap<&str, &Object> = objects
        .iter()
        .filter(|o| o.kind == "x-mitre-tactic")
        .map(|o| (o.id.as_str(), o))
        .collect();
    let tactics: Vec<Tactic> = matrix
        .tactic_refs
        .iter()
        .filter_map(|r| tactic_objects.get(r.as_str()))
        .filter_map(|o| {
            Some(Tactic {
                id: o.attack_id()?.to_owned(),
                shortname: o.x_mitre_shortname.clone()?,
                name: o.name.clone()?,
            })
        })
        .collect();
    if tactics.is_empty() {
        return Err(StixError::NoTactics {
            matrix: matrix.name.clone().unwrap_or_default(),
            refs: matrix.tactic_refs.len(),
        });
    }
    Ok(tactics)
}

/// Every technique with an ATT&CK id, and the STIX id each came from.
fn techniques<'a>(
    objects: &'a [Object],
    tactic_index: &HashMap<&str, usize>,
) -> (Vec<Technique>, HashMap<&'a str, TechniqueId>) {
    let mut stix_to_id: HashMap<&str, TechniqueId> = HashMap::new();
    let mut techniques = Vec::new();
    for o in objects.iter().filter(|o| o.kind == "attack-pattern") {
        let Some(id) = o.attack_id().and_then(|i| TechniqueId::parse(i).ok()) else {
            continue;
        };
        stix_to_id.insert(&o.id, id);
        let tactics = o
            .kill_chain_phases
            .iter()
            .filter(|p| p.kill_chain_name == "mitre-attack")
            .filter_map(|p| tactic_index.get(p.phase_name.as_str()).copied())
            .collect();
        let status = if o.revoked {
            Status::Revoked(None)
        } else if o.x_mitre_deprecated {
            Status::Deprecated
        } else {
            Status::Live
        };
        techniques.push(Technique {
            id,
            name: o.name.clone().unwrap_or_default(),
            tactics,
            platforms: o.x_mitre_platforms.clone(),
            status,
        });
    }
    (techniques, stix_to_id)
}

fn from_objects(objects: Vec<Object>) -> Result<Catalog, StixError> {
    let version = objects
        .iter()
        .find(|o| o.kind == "x-mitre-collection")
        .and_then(|o| o.x_mitre_version.clone())
        .unwrap_or_else(|| "unknown".into());
    let matrices: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind == "x-mitre-matrix" && !o.revoked && !o.x_mitre_deprecated)
        .collect();
    let matrix = matrices
        .iter()
        .find(|m| m.attack_id() == Some("enterprise-attack"))
        .or(matrices.first())
        .ok_or(StixError::NoMatrix)?;
    let tactics = tactics(&objects, matrix)?;
    let tactic_index: HashMap<&str, usize> = tactics
        .iter()
        .enumerate()
        .map(|(i, t)| (t.shortname.as_str(), i))
        .collect();
    let (mut techniques, stix_to_id) = techniques(&objects, &tactic_index);
    if techniques.is_empty() {
        return Err(StixError::NoTechniques);
    }
    let replaced: HashMap<TechniqueId, TechniqueId> = objects
        .iter()
        .filter(|o| {
            o.kind == "relationship" && o.relationship_type.as_deref() == Some("revoked-by")
        })
        .filter_map(|o| {
            let from = stix_to_id.get(o.source_ref.as_deref()?)?;
            let to = stix_to_id.get(o.target_ref.as_deref()?)?;
            Some((*from, *to))
        })
        .collect();
    for t in &mut techniques {
        if t.status == Status::Revoked(None) {
            t.status = Status::Revoked(replaced.get(&t.id).copied());
        }
    }
    Ok(Catalog::new(version, tactics, techniques))
}

//! `socbot coverage [--days N] [--json | --navigator FILE | --png FILE] [--playbooks]`: how much
//! of ATT&CK the playbooks cover, the gaps incidents hit, playbooks never used and how each
//! playbook's incidents went. And `socbot attack import FILE`: a STIX bundle to the compact
//! catalog socbot ships.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::attack::{Catalog, coverage, heatmap, stix};
use crate::config::Config;
use crate::incident::Incident;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Count incidents of the last N days as "seen".
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with_all = ["navigator", "png"])]
    pub json: bool,
    /// Write an ATT&CK Navigator layer (format 4.5) to FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "png")]
    pub navigator: Option<PathBuf>,
    /// Write the heatmap picture (PNG) to FILE.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Only playbook quality: per playbook, incidents, share escalated and false positive, and
    /// the question most often answered Unknown.
    #[arg(long)]
    pub playbooks: bool,
}

#[derive(Debug, clap::Args)]
pub struct AttackArgs {
    #[command(subcommand)]
    pub action: AttackAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum AttackAction {
    /// Read a STIX 2.1 bundle (MITRE's enterprise-attack.json) and write the compact catalog
    /// socbot ships (src/attack/enterprise-attack.tsv) to stdout or --output.
    Import {
        /// The bundle.
        file: PathBuf,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// The catalog `attack.stix` names (the shipped one when empty).
pub(crate) fn catalog(config: &Config) -> anyhow::Result<std::sync::Arc<Catalog>> {
    Ok(config.attack.catalog()?)
}

/// The incidents opened since `since` (beside a running bot, from its consistent copy); none
/// when there is no store yet.
fn incidents(
    config: &Config,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<Incident>> {
    if !config.store.path.exists() {
        eprintln!(
            "socbot: no store at {} yet (store.path): no incidents counted",
            config.store.path.display()
        );
        return Ok(Vec::new());
    }
    let view = crate::backup::ReadView::open(&config.store.path)?;
    Ok(crate::service::incident::incidents_since(
        view.store()?,
        since,
    )?)
}

pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let catalog = catalog(config)?;
    let library = super::load_library(config)?;
    let now = chrono::Utc::now();
    let incidents = incidents(config, now - chrono::Duration::days(i64::from(args.days)))?;
    let report = coverage::compute(&catalog, &library, &incidents, args.days, now);
    if let Some(file) = &args.navigator {
        let layer = serde_json::to_string_pretty(&report.navigator_layer(&catalog))?;
        std::fs::write(file, layer)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        eprintln!(
            "socbot: wrote the ATT&CK Navigator layer to {} (open it at https://mitre-attack.github.io/attack-navigator/ → Open Existing Layer → Upload from local)",
            file.display()
        );
    }
    if let Some(file) = &args.png {
        let png = heatmap::png(&report);
        std::fs::write(file, &png)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        let (w, h) = heatmap::size(&report);
        eprintln!(
            "socbot: wrote the heatmap ({w}×{h}, {} KiB) to {}",
            png.len().div_ceil(1024),
            file.display()
        );
    }
    if args.json {
        let value = if args.playbooks {
            serde_json::to_value(&report.quality)?
        } else {
            serde_json::to_value(&report)?
        };
        super::emit(serde_json::to_string_pretty(&value)? + "\n")?;
    } else if args.playbooks {
        super::emit(report.quality_text().trim_start())?;
    } else if args.navigator.is_none() && args.png.is_none() {
        super::emit(report.text(None))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn attack(args: AttackArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        AttackAction::Import { file, output } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let catalog = match stix::parse(&text) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("socbot: {}: {e}", file.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let compact = catalog.to_compact();
            match output {
                Some(out) => std::fs::write(&out, compact)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?,
                None => super::emit(compact)?,
            }
            eprintln!(
                "socbot: ATT&CK v{}: {} tactics, {} techniques ({} live)",
                catalog.version,
                catalog.tactics.len(),
                catalog.techniques().len(),
                catalog.live().count()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

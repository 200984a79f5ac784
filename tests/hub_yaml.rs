//! Every parser, scenario and postoverflow file of the shared CrowdSec hub corpus reads with Correlator's strict
//! YAML models (unknown keys are errors, as in CrowdSec).

mod common;

use correlator::hub::{ItemKind, discover};

#[test]
fn every_hub_item_file_reads() {
    let hub = common::shared_dir().join("hubtests/hub");
    let mut problems = Vec::new();
    let mut docs = 0;
    for kind in [ItemKind::Parser, ItemKind::Scenario, ItemKind::PostOverflow] {
        for item in discover(&hub, kind).unwrap() {
            let r = match kind {
                ItemKind::Scenario => correlator::scenario::spec::read_scenario_file(&item.path).map(|v| v.len()),
                _ => correlator::parser::spec::read_node_file(&item.path).map(|v| v.len()),
            };
            match r {
                Ok(n) => docs += n,
                Err(e) => problems.push(e.to_string()),
            }
        }
    }
    assert!(problems.is_empty(), "{} files failed:\n{}", problems.len(), problems.join("\n"));
    assert!(docs > 250, "only {docs} documents read");
}

//! `ferroflux get replicas`: the Raft cluster as each replica sees it: role,
//! ring epoch, and the objects it runs.

use std::time::Duration;

use anyhow::{bail, Context as _};
use k8s_openapi::api::coordination::v1::Lease;

use crate::raft::{ReplicaStatus, STATUS_PATH};

/// The name of the Lease the cluster's leader keeps pointing at itself.
pub const LEASE_NAME: &str = "ferroflux-raft";

/// Finds a replica from `server` or from the bootstrap Lease in the namespace.
async fn entry_point(
    global: &super::flux::GlobalArgs,
    server: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(server) = server {
        return Ok(server.to_owned());
    }
    let client = super::flux::client(global).await?;
    let leases: kube::Api<Lease> = kube::Api::namespaced(client, &global.namespace);
    let lease = leases
        .get_opt(LEASE_NAME)
        .await
        .context("reading the cluster's Lease")?;
    let Some(holder) = lease.and_then(|l| l.spec).and_then(|s| s.holder_identity) else {
        bail!(
            "no Lease {LEASE_NAME} in namespace {}: are the replicas running with --raft-listen? (or pass --server HOST:PORT)",
            global.namespace
        );
    };
    holder
        .split_once(' ')
        .map(|(_, addr)| addr.to_owned())
        .with_context(|| format!("the Lease holder {holder:?} names no address"))
}

async fn fetch(http: &reqwest::Client, addr: &str) -> anyhow::Result<ReplicaStatus> {
    let response = http
        .get(format!("http://{addr}{STATUS_PATH}"))
        .send()
        .await
        .with_context(|| format!("asking {addr}"))?;
    let bytes = response.error_for_status()?.bytes().await?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Prints one row per member.
pub async fn get(global: &super::flux::GlobalArgs, server: Option<&str>) -> anyhow::Result<()> {
    let addr = entry_point(global, server).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let first = fetch(&http, &addr).await?;
    let mut rows = vec![vec![
        "NAME".to_owned(),
        "ADDRESS".into(),
        "ROLE".into(),
        "EPOCH".into(),
        "GITREPOSITORIES".into(),
        "KUSTOMIZATIONS".into(),
        "SLOTS".into(),
        "FENCED".into(),
    ]];
    for (id, member_addr) in &first.members {
        let row = match fetch(&http, member_addr).await {
            Ok(s) => vec![
                id.clone(),
                member_addr.clone(),
                s.role.to_lowercase(),
                s.epoch.to_string(),
                s.owned
                    .get("GitRepository")
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                s.owned
                    .get("Kustomization")
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                s.owned_slots.to_string(),
                s.fenced.to_string(),
            ],
            Err(e) => vec![
                id.clone(),
                member_addr.clone(),
                format!("unreachable: {e:#}"),
            ],
        };
        rows.push(row);
    }
    print!("{}", super::flux::render_table(&rows));
    println!(
        "epoch {}, {} members, leader {}",
        first.epoch,
        first.members.len(),
        first.leader.as_deref().unwrap_or("unknown")
    );
    Ok(())
}

//! Benchmark of the embedded API server: server-side applies per second, watch fan-out
//! to 1,000 watchers, and memory with 50,000 objects. Run with
//! `cargo bench --bench apiserver` (sizes can be scaled down with FERROFLUX_BENCH_SCALE,
//! e.g. 0.1, for a quick look).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferroflux_apiserver::{ApiServer, Config};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

fn scaled(n: usize) -> usize {
    let scale: f64 = std::env::var("FERROFLUX_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * scale).max(1.0) as usize
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn configmap(name: &str, i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "bench", "shard": (i % 10).to_string()}},
        "data": {"index": i.to_string(), "payload": "x".repeat(200)},
    })
}

async fn server_side_applies(client: kube::Client) {
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let total = scaled(5_000);
    let concurrency = 16;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let cms = cms.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let params = PatchParams::apply("bench").force();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let name = format!("ssa-{}", i % 1_000);
                    cms.patch(&name, &params, &Patch::Apply(configmap(&name, i)))
                        .await
                        .expect("apply");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    println!("ssa_applies: {total} in {secs:.2}s = {:.0} applies/s ({concurrency} concurrent clients, TLS, HTTP/2)", total as f64 / secs);
}

async fn watch_fan_out(client: kube::Client) {
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let watchers = scaled(1_000);
    let writes = 100;
    let rv = cms
        .list(&ListParams::default().limit(1))
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let received = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let mut stream = cms
            .watch(&WatchParams::default().labels("fanout=yes"), &rv)
            .await
            .expect("watch")
            .boxed();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while n < writes {
                match stream.try_next().await {
                    Ok(Some(WatchEvent::Added(_) | WatchEvent::Modified(_))) => {
                        n += 1;
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }));
    }
    let start = Instant::now();
    for i in 0..writes {
        let mut cm = configmap(&format!("fanout-{i}"), i);
        cm["metadata"]["labels"]["fanout"] = json!("yes");
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(cm).expect("cm"),
        )
        .await
        .expect("create");
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(120), t).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let delivered = received.load(Ordering::Relaxed);
    println!(
        "watch_fan_out: {writes} writes to {watchers} watchers: {delivered}/{} events delivered in {secs:.2}s = {:.0} events/s",
        writes * watchers,
        delivered as f64 / secs
    );
}

async fn memory_with_objects(client: kube::Client, server: &ApiServer) {
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let total = scaled(50_000);
    let before_objects = server.object_count();
    let before = rss_kib();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let cms = cms.clone();
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let cm: ConfigMap =
                        serde_json::from_value(configmap(&format!("mem-{i}"), i)).expect("cm");
                    cms.create(&PostParams::default(), &cm)
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    let after = rss_kib();
    let added = server.object_count() - before_objects;
    println!(
        "memory: {added} ConfigMaps (~450 B of data each) created in {secs:.1}s ({:.0}/s); RSS {} MiB -> {} MiB, {:.1} KiB per object (server and client in one process)",
        added as f64 / secs,
        before / 1024,
        after / 1024,
        (after.saturating_sub(before)) as f64 / added.max(1) as f64
    );
    let start = Instant::now();
    let list = cms
        .list(&ListParams::default().labels("shard=3"))
        .await
        .expect("list");
    println!(
        "list_with_selector: {} of {added} objects in {:.0} ms",
        list.items.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; keep that fast.
    if !std::env::args().any(|a| a == "--bench") {
        println!("apiserver benchmark: run with `cargo bench --bench apiserver`");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = ApiServer::start(Config::default()).await.expect("server");
        let client = server.client().await.expect("client");
        server_side_applies(client.clone()).await;
        watch_fan_out(client.clone()).await;
        memory_with_objects(client, &server).await;
        server.stop().await;
    });
}

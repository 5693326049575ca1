//! Render time of real charts, ours in process against the Helm SDK's in process, in
//! the same run: `cargo bench -p ferroflux-helm --bench render`. The SDK is timed inside
//! its own Python process (start-up excluded), so the ratio compares the engines.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferroflux_gotemplate::Value;
use ferroflux_helm::render::{render, RenderOptions};

const RUNS: u32 = 20;

fn helm_seconds_per_render(chart: &Path) -> f64 {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let script = format!(
        r#"
import time, helm_python
chart = helm_python.Chart.load({chart:?})
chart.render({{}}, name="demo", namespace="apps")
start = time.perf_counter()
for _ in range({RUNS}):
    chart.render({{}}, name="demo", namespace="apps")
print((time.perf_counter() - start) / {RUNS})
"#,
        chart = chart.display().to_string()
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .expect("the Helm SDK in .venv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds")
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("helm render benchmark: run with `cargo bench -p ferroflux-helm --bench render`");
        return;
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/charts");
    println!("render time per chart, mean of {RUNS} renders in process (chart already loaded):");
    for name in [
        "podinfo",
        "prometheus",
        "grafana",
        "ingress-nginx",
        "cert-manager",
    ] {
        let dir = corpus.join(name);
        if !dir.is_dir() {
            println!("  {name}: not in the corpus");
            continue;
        }
        let chart = ferroflux_helm::chart::load_dir(&dir).expect("chart");
        let options = RenderOptions {
            name: "demo".to_owned(),
            namespace: "apps".to_owned(),
            ..RenderOptions::default()
        };
        let values = Value::map(Default::default());
        let templates = render(&chart, &values, &options).expect("renders").len();
        let start = Instant::now();
        for _ in 0..RUNS {
            render(&chart, &values, &options).expect("renders");
        }
        let ours: Duration = start.elapsed() / RUNS;
        // What a controller does: parse the chart once, render it for each reconcile.
        let prepared = ferroflux_helm::render::prepare(&chart).expect("parses");
        let start = Instant::now();
        for _ in 0..RUNS {
            ferroflux_helm::render::render_prepared(&chart, &prepared, &values, &options)
                .expect("renders");
        }
        let prepared_time: Duration = start.elapsed() / RUNS;
        let theirs = helm_seconds_per_render(&dir);
        println!(
            "  {name:<14} {templates:>3} templates  Helm SDK {:>6.2} ms  ferroflux {:>6.2} ms ({:>4.1}x), parsed once {:>6.2} ms ({:>4.1}x)",
            theirs * 1000.0,
            ours.as_secs_f64() * 1000.0,
            theirs / ours.as_secs_f64(),
            prepared_time.as_secs_f64() * 1000.0,
            theirs / prepared_time.as_secs_f64()
        );
    }
}

//! Renders a chart many times, for profiling: `cargo run --release -p ferroflux-helm
//! --example profile_render -- CHART_DIR [TIMES]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("a chart directory");
    let times: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(100);
    let chart = ferroflux_helm::chart::load_dir(std::path::Path::new(&dir)).expect("chart");
    let values = ferroflux_gotemplate::Value::map(Default::default());
    let options = ferroflux_helm::render::RenderOptions::default();
    let start = std::time::Instant::now();
    for _ in 0..times {
        ferroflux_helm::render::render(&chart, &values, &options).expect("renders");
    }
    println!("{:?} per render", start.elapsed() / times as u32);
}

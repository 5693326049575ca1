//! `ferroflux apiserver`: the embedded API server as a process, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ferroflux_apiserver::{ApiServer, Config, KubeletConfig};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where to write the kubeconfig for the admin user (written before serving).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Append an audit event (audit.k8s.io/v1, JSON lines) per request to this file.
    #[arg(long)]
    audit_log_path: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    insecure_http: bool,
    /// Seconds after a workload changes until the simulated kubelet reports it ready.
    #[arg(long, default_value_t = 2.0)]
    ready_after_seconds: f64,
    /// Seconds until a workload that can never become ready (an image tagged `fail`)
    /// reports ProgressDeadlineExceeded.
    #[arg(long, default_value_t = 10.0)]
    progress_deadline_seconds: f64,
    /// Added latency per request, in milliseconds (fault injection).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests answered with 500 InternalError (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered with 429 TooManyRequests and Retry-After (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Close every watch this many seconds after it starts (fault injection).
    #[arg(long)]
    drop_watches_after_seconds: Option<f64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config {
        listen: args.listen,
        kubeconfig: Some(args.kubeconfig.clone()),
        audit_log: args.audit_log_path.clone(),
        tls: !args.insecure_http,
        kubelet: KubeletConfig {
            ready_after: Duration::from_secs_f64(args.ready_after_seconds.max(0.0)),
            progress_deadline: Duration::from_secs_f64(args.progress_deadline_seconds.max(0.0)),
        },
        ..Config::default()
    };
    let server = ApiServer::start(config)
        .await
        .context("starting the API server")?;
    server
        .faults()
        .set_latency(Duration::from_millis(args.latency_ms));
    server.faults().set_error_rate(args.error_rate);
    server.faults().set_throttle_rate(args.throttle_rate);
    server
        .faults()
        .set_watch_drop_after(args.drop_watches_after_seconds.map(Duration::from_secs_f64));
    println!("► serving the Kubernetes API at {}", server.url());
    println!(
        "► kubeconfig written to {}",
        server.kubeconfig_path().display()
    );
    println!("  export KUBECONFIG={}", server.kubeconfig_path().display());
    crate::cli::wait_for_signal().await?;
    println!("► stopping");
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}

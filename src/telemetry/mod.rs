//! Telemetry of a replica: the Prometheus recorder for Flux's `gotk_*` metrics and the
//! `/metrics`, `/livez`, `/readyz` endpoints.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("installing the metrics recorder: {0}")]
    Recorder(String),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Installs the process-wide Prometheus recorder; metrics recorded through the
/// `metrics` facade appear on `/metrics` from then on.
pub fn install_recorder() -> Result<PrometheusHandle, TelemetryError> {
    builder()?
        .install_recorder()
        .map_err(|e| TelemetryError::Recorder(e.to_string()))
}

/// Flux exports reconcile durations as a histogram with exponential buckets from 10ms;
/// dashboards query its `_bucket` series, so ours must be a histogram too.
fn builder() -> Result<PrometheusBuilder, TelemetryError> {
    let buckets: Vec<f64> = (0..10).map(|i| 0.01 * f64::from(1u32 << i)).collect();
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("gotk_reconcile_duration_seconds".into()),
            &buckets,
        )
        .map_err(|e| TelemetryError::Recorder(e.to_string()))
}

/// Whether the replica is ready to serve (it has synced its caches and joined).
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct Endpoints {
    metrics: PrometheusHandle,
    readiness: Readiness,
}

/// The router of the telemetry endpoints.
pub fn router(metrics: PrometheusHandle, readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(e): State<Endpoints>| async move { e.metrics.render() }),
        )
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(e): State<Endpoints>| async move {
                if e.readiness.get() {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }),
        )
        .with_state(Endpoints { metrics, readiness })
}

/// Serves the telemetry endpoints on `addr` until the task is dropped; returns the
/// bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    readiness: Readiness,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), TelemetryError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| TelemetryError::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| TelemetryError::Listen { addr, source })?;
    let app = router(metrics, readiness);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "telemetry server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_text(app: Router, path: &str) -> (StatusCode, String) {
        let response = app
            .oneshot(
                axum::http::Request::get(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_follows_readiness_and_metrics_render() {
        let recorder = builder().expect("buckets").build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("gotk_reconcile_total", "kind" => "GitRepository").increment(2);
            metrics::histogram!("gotk_reconcile_duration_seconds", "kind" => "GitRepository")
                .record(0.015);
        });
        let readiness = Readiness::default();
        let app = router(handle, readiness.clone());
        assert_eq!(get_text(app.clone(), "/livez").await.0, StatusCode::OK);
        assert_eq!(
            get_text(app.clone(), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        readiness.set(true);
        assert_eq!(get_text(app.clone(), "/readyz").await.0, StatusCode::OK);
        let (status, text) = get_text(app, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            text.contains("gotk_reconcile_total{kind=\"GitRepository\"} 2"),
            "{text}"
        );
    }
}

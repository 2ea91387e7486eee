//! `serve [--listen ADDR]`: the store's `public/` over HTTP for client machines.
//!
//! Read-only and lock-free: each request resolves `public/<mirror>` (through the `live`
//! generation link) afresh, so a publish switches what clients see between two requests,
//! never within one file. Paths with a component starting with `.` (hidden files, temp
//! links) are refused.

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use mirror_core::store::Store;
use tower_http::services::ServeDir;

use super::{Context, Output};

pub async fn run(ctx: &Context, listen: &str) -> anyhow::Result<Output> {
    let config = ctx.config()?;
    let store = Store::open(config.store_dir())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port when they pass :0.
    eprintln!("serving {} on http://{addr}/", store.public_dir().display());
    tracing::info!(%addr, "serving");
    axum::serve(listener, router(&store))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("HTTP server failed")?;
    Ok(Output::new(serde_json::json!({"stopped": true}), ""))
}

/// The HTTP app: static files from `public/`, hidden paths refused, requests logged.
pub fn router(store: &Store) -> Router {
    Router::new()
        .fallback_service(ServeDir::new(store.public_dir()).append_index_html_on_directories(false))
        .layer(middleware::from_fn(guard_and_log))
}

async fn guard_and_log(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.split('/').any(|part| part.starts_with('.')) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let method = request.method().clone();
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), "request");
    response
}

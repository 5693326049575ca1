//! Serving OpenAPI documents. Until the documents exist, kubectl is told there are
//! none, the answer a server without OpenAPI gives.

use http::Response;

use crate::http::{not_found_response, Body, Shared};

pub fn serve(_shared: &Shared, _path: &str) -> Response<Body> {
    not_found_response()
}

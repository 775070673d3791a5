//! `/openapi.json`: TODO generate from the route table.
use axum::Json;
pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::json!({"openapi": "3.1.0"}))
}

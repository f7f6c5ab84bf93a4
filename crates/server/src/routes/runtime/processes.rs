//! placeholder
use utoipa_axum::router::OpenApiRouter;

use crate::app::SharedState;

pub(super) fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
}

//! What the server renders from its catalog once per catalog version: the
//! `/v1/catalog` and `/openapi.json` answers and the pages' catalog page,
//! permission matrix and product name. Rebuilt on the first request after
//! a reload.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use super::openapi;
use super::pages::catalog::render as render_catalog_page;
use super::pages::matrix::Matrix;
use crate::catalog::CatalogVersion;
use crate::config::ServerConfig;

pub struct Published {
    pub version: Arc<CatalogVersion>,
    /// `GET /v1/catalog`'s answer.
    pub catalog_json: Bytes,
    /// `GET /openapi.json`'s answer.
    pub openapi_json: Bytes,
    /// The catalog page's content.
    pub catalog_html: String,
    pub matrix: Matrix,
    /// The pages' product name: the configured one, else the API's.
    pub product: String,
}

impl Published {
    fn of(version: Arc<CatalogVersion>, config: &ServerConfig) -> Published {
        Published {
            catalog_json: Bytes::from(keyward_scopes::export::to_json(&version)),
            openapi_json: Bytes::from(openapi::document(&version, config)),
            catalog_html: render_catalog_page(&version),
            matrix: Matrix::of(&version),
            product: config
                .pages
                .product_name
                .clone()
                .unwrap_or_else(|| version.api().name.clone()),
            version,
        }
    }
}

/// The renderings of the latest version asked for.
pub struct Renderings(Mutex<Arc<Published>>);

impl Renderings {
    pub fn new(version: Arc<CatalogVersion>, config: &ServerConfig) -> Renderings {
        Renderings(Mutex::new(Arc::new(Published::of(version, config))))
    }

    /// The renderings of `version` (the one served now).
    pub fn of(&self, version: Arc<CatalogVersion>, config: &ServerConfig) -> Arc<Published> {
        let mut current = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !Arc::ptr_eq(&current.version, &version) {
            *current = Arc::new(Published::of(version, config));
        }
        current.clone()
    }
}

//! The catalog file as TOML gives it, with source spans kept for error
//! messages. Nothing here is validated beyond its TOML shape: see
//! [`crate::catalog`] for the rules.

use indexmap::IndexMap;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

pub type Names = Spanned<Vec<Spanned<String>>>;
pub type ImpliesTable = Spanned<IndexMap<Spanned<String>, Names>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    pub api: Spanned<RawApi>,
    pub implies: Option<ImpliesTable>,
    #[serde(default)]
    pub resources: IndexMap<Spanned<String>, Spanned<RawResource>>,
    #[serde(default)]
    pub bundles: IndexMap<Spanned<String>, Spanned<RawBundle>>,
    #[serde(default)]
    pub routes: Vec<Spanned<RawRoute>>,
    /// `[grants."*"]`, `[grants.admin]`: what the docs say of a global
    /// wildcard or superscope.
    #[serde(default)]
    pub grants: IndexMap<Spanned<String>, RawGrantNote>,
    /// `[[recipes]]`: the minimum grants for a use case.
    #[serde(default)]
    pub recipes: Vec<Spanned<RawRecipe>>,
    /// `[[examples]]`: requests whose answers the docs show, as keyward
    /// decides them.
    #[serde(default)]
    pub examples: Vec<Spanned<RawExample>>,
    /// Read by the server (`[server]` settings), ignored by the engine.
    #[serde(default, rename = "server")]
    pub _server: Option<toml::Value>,
    /// Read by the server (`[portal]`: the customer pages' look and
    /// embedding), ignored by the engine.
    #[serde(default, rename = "portal")]
    pub _portal: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub key_prefix: Spanned<String>,
    pub environments: Option<Names>,
    pub resource_wildcards: Option<Names>,
    pub global_wildcards: Option<Names>,
    pub superscopes: Option<Names>,
    pub unknown_routes: Option<Spanned<String>>,
    pub path_case: Option<Spanned<String>>,
    pub trailing_slash: Option<Spanned<String>>,
    /// How this API's clients send keys: `X-API-Key` or `Authorization`
    /// (Bearer). Documentation: keyward accepts both either way.
    pub key_header: Option<Spanned<String>>,
    /// Best practices the docs list (one sentence each).
    #[serde(default)]
    pub advice: Vec<String>,
    /// Whether `X-HTTP-Method-Override` and friends are honoured on
    /// forward-auth requests (refused with 403 by default).
    #[serde(default)]
    pub method_override: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResource {
    /// The heading in the docs (default: the description, else the name).
    pub title: Option<String>,
    pub description: Option<String>,
    /// The docs' text for this resource's wildcard rows.
    pub wildcard_description: Option<String>,
    /// The actions' descriptions are keyward's example, not the product's.
    #[serde(default)]
    pub illustrative: bool,
    #[serde(default)]
    pub actions: IndexMap<Spanned<String>, Spanned<RawAction>>,
    pub implies: Option<ImpliesTable>,
}

/// `read = "text"` or `write = { description = "text", grantable = false,
/// advice = "text" }`.
pub struct RawAction {
    pub description: String,
    pub grantable: bool,
    pub advice: Option<String>,
}

impl<'de> Deserialize<'de> for RawAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ActionVisitor;
        impl<'de> Visitor<'de> for ActionVisitor {
            type Value = RawAction;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a description string or { description = \"...\", grantable = false }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAction, E> {
                Ok(RawAction {
                    description: v.to_owned(),
                    grantable: true,
                    advice: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAction, A::Error> {
                let mut description = None;
                let mut grantable = true;
                let mut advice = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "description" => description = Some(map.next_value::<String>()?),
                        "grantable" => grantable = map.next_value::<bool>()?,
                        "advice" => advice = Some(map.next_value::<String>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["description", "grantable", "advice"]));
                        }
                    }
                }
                let description = description.ok_or_else(|| de::Error::missing_field("description"))?;
                Ok(RawAction {
                    description,
                    grantable,
                    advice,
                })
            }
        }
        deserializer.deserialize_any(ActionVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBundle {
    pub description: Option<String>,
    pub scopes: Names,
    /// The members are keyward's example, not the product's.
    #[serde(default)]
    pub illustrative: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub methods: Names,
    pub path: Spanned<String>,
    pub scopes: Names,
    pub description: Option<String>,
    /// The route is keyward's example of the API's shape, not the
    /// product's documentation.
    #[serde(default)]
    pub illustrative: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrantNote {
    pub description: Option<String>,
    pub advice: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipe {
    /// The use case.
    pub name: String,
    pub grants: Names,
    pub note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExample {
    pub description: Option<String>,
    pub grants: Names,
    pub method: Spanned<String>,
    pub path: Spanned<String>,
}

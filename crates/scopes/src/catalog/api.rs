//! The `[api]` table: name, key prefix, environments, wildcards,
//! superscopes and the settings of unknown routes and path matching.

use toml::Spanned;

use crate::name::{is_key_part, is_name, is_wildcard};
use crate::raw::RawApi;

use super::builder::Builder;
use super::{Api, KeyHeader, PathCase, PathMatching, TrailingSlash, UnknownRoutes};

impl Builder<'_, '_> {
    pub(super) fn api(&mut self, raw: &RawApi) -> Api {
        let name = raw.name.get_ref().trim().to_owned();
        if name.is_empty() {
            self.error(raw.name.span(), "`api.name` cannot be empty");
        }
        let prefix = raw.key_prefix.get_ref();
        if !is_key_part(prefix) {
            self.error(
                raw.key_prefix.span(),
                format!("key_prefix `{prefix}` must be 1-16 lower-case letters and digits, starting with a letter (no `_`: it separates the parts of a key)"),
            );
        } else if prefix == "kwm" {
            self.error(
                raw.key_prefix.span(),
                "key_prefix `kwm` is reserved for keyward's management keys",
            );
        }
        let environments = self.name_list(
            raw.environments.as_ref(),
            "environments",
            &["live", "test"],
            is_key_part,
            "1-16 lower-case letters and digits, starting with a letter",
        );
        if environments.is_empty() {
            if let Some(list) = &raw.environments {
                self.error(
                    list.span(),
                    "`environments` needs at least one environment; the first is the default",
                );
            }
        }
        let resource_wildcards = self.name_list(
            raw.resource_wildcards.as_ref(),
            "resource_wildcards",
            &["*"],
            is_wildcard,
            "`*` or a lower-case name",
        );
        let global_wildcards = self.name_list(
            raw.global_wildcards.as_ref(),
            "global_wildcards",
            &["*"],
            is_wildcard,
            "`*` or a lower-case name",
        );
        let superscopes = self.name_list(
            raw.superscopes.as_ref(),
            "superscopes",
            &[],
            is_name,
            "a lower-case name",
        );
        use PathCase::{Insensitive, Sensitive};
        use TrailingSlash::{Ignore, Strict};
        let unknown_routes = self.choice(
            raw.unknown_routes.as_ref(),
            "unknown_routes",
            [("deny", UnknownRoutes::Deny), ("allow", UnknownRoutes::Allow)],
        );
        let case = self.choice(
            raw.path_case.as_ref(),
            "path_case",
            [("sensitive", Sensitive), ("insensitive", Insensitive)],
        );
        let trailing_slash = self.choice(
            raw.trailing_slash.as_ref(),
            "trailing_slash",
            [("strict", Strict), ("ignore", Ignore)],
        );
        let path_matching = PathMatching { case, trailing_slash };
        let key_header = raw.key_header.as_ref().map(|value| {
            self.choice(
                Some(value),
                "key_header",
                [("X-API-Key", KeyHeader::ApiKey), ("Authorization", KeyHeader::Bearer)],
            )
        });
        let mut strict = Vec::new();
        if case == PathCase::Sensitive {
            strict.push("`path_case = \"sensitive\"`");
        }
        if trailing_slash == TrailingSlash::Strict {
            strict.push("`trailing_slash = \"strict\"`");
        }
        if unknown_routes == UnknownRoutes::Allow && !strict.is_empty() {
            let span = raw.unknown_routes.as_ref().map_or(0..0, Spanned::span);
            self.diag.warning(
                span,
                format!(
                    "`unknown_routes = \"allow\"` with {}: a path your API matches loosely (other letter case, a trailing slash) but no route here matches reaches your API unchecked; set `path_case`/`trailing_slash` as your API's router matches",
                    strict.join(" and ")
                ),
            );
        }
        Api {
            name,
            description: raw.description.clone(),
            key_prefix: prefix.clone(),
            environments,
            resource_wildcards,
            global_wildcards,
            superscopes,
            unknown_routes,
            path_matching,
            method_override: raw.method_override,
            key_header,
            advice: raw.advice.clone(),
        }
    }

    /// One of two spellings of a setting; the first when absent (or wrong,
    /// which is an error naming both).
    pub(super) fn choice<T: Copy>(
        &mut self,
        value: Option<&Spanned<String>>,
        field: &str,
        options: [(&str, T); 2],
    ) -> T {
        let [(first, default), (second, _)] = options;
        let Some(value) = value else { return default };
        match options.iter().find(|(name, _)| *name == value.get_ref().as_str()) {
            Some((_, chosen)) => *chosen,
            None => {
                self.error(
                    value.span(),
                    format!("{field} `{}` must be \"{first}\" or \"{second}\"", value.get_ref()),
                );
                default
            }
        }
    }
}

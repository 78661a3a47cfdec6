//! `?page=1&per_page=20` as API.md defines it: `per_page` clamped to 100,
//! anything below 1 or not a number is `422`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::{FieldError, Problem};

pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;

/// Raw query parameters, kept as text so that a bad number is a clear 422.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Page number, from 1.
    pub page: Option<String>,
    /// Items per page, 1 to 100 (larger values are clamped).
    pub per_page: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

impl PageQuery {
    pub fn validate(&self) -> Result<Page, Problem> {
        let mut errors = Vec::new();
        let page = parse_positive("page", self.page.as_deref(), 1, &mut errors);
        let per_page = parse_positive(
            "per_page",
            self.per_page.as_deref(),
            DEFAULT_PER_PAGE,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(Page {
                page,
                per_page: per_page.min(MAX_PER_PAGE),
            })
        } else {
            Err(Problem::validation(errors))
        }
    }
}

fn parse_positive(
    field: &str,
    raw: Option<&str>,
    default: i64,
    errors: &mut Vec<FieldError>,
) -> i64 {
    match raw {
        None => default,
        Some(text) => match text.trim().parse::<i64>() {
            // Pages beyond a million are nobody's use case and would only overflow offsets.
            Ok(value) if (1..=1_000_000).contains(&value) => value,
            _ => {
                errors.push(FieldError::new(field, "must be a positive integer"));
                default
            }
        },
    }
}

/// `{"items": [...], "page": 1, "per_page": 20, "total": 57}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    /// How many items the list holds; where the list counts only up to a
    /// limit (the storefront's products), at most that limit.
    pub total: i64,
    /// Only on lists that count up to a limit: `false` when more items
    /// match than `total` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub total_exact: Option<bool>,
}

impl<T> Paginated<T> {
    pub fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
            total_exact: None,
        }
    }

    /// A page of a list counted up to `limit` items: `counted` past it
    /// means there are more than `limit`.
    pub fn counted_up_to(items: Vec<T>, page: Page, counted: i64, limit: i64) -> Self {
        Self {
            total: counted.min(limit),
            total_exact: Some(counted <= limit),
            ..Self::new(items, page, counted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(page: Option<&str>, per_page: Option<&str>) -> PageQuery {
        PageQuery {
            page: page.map(str::to_owned),
            per_page: per_page.map(str::to_owned),
        }
    }

    #[test]
    fn defaults_clamping_and_rejections() {
        assert_eq!(
            query(None, None).validate().unwrap(),
            Page {
                page: 1,
                per_page: 20
            }
        );
        assert_eq!(
            query(Some("3"), Some("500")).validate().unwrap().per_page,
            100
        );
        assert_eq!(
            query(Some("3"), Some("10")).validate().unwrap().offset(),
            20
        );
        for bad in ["0", "-1", "x", "1.5", ""] {
            assert_eq!(
                query(Some(bad), None).validate().unwrap_err().code,
                "validation_failed"
            );
            assert_eq!(
                query(None, Some(bad)).validate().unwrap_err().code,
                "validation_failed"
            );
        }
    }
}

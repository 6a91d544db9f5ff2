//! Handlebars rendering of recipe strings, strict: a template that names a variable the context does
//! not have is an error, never an empty string.
//!
//! Templates keep the byte span of their TOML string so that a fault can be reported at the
//! variable's own `file:line:column`.

use std::ops::Range;

use handlebars::{Handlebars, RenderErrorReason};
use serde::Serialize;
use serde_json::Value;

/// A template string from a recipe, with where it stands in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub text: String,
    #[serde(skip)]
    pub span: Range<usize>,
}

impl Template {
    pub fn new(text: impl Into<String>, span: Range<usize>) -> Self {
        Self {
            text: text.into(),
            span,
        }
    }

    pub fn from_spanned(s: &toml::Spanned<String>) -> Self {
        Self::new(s.get_ref().clone(), s.span())
    }
}

/// Why a template could not be rendered, with the text to point at when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFault {
    pub message: String,
    /// The offending text (a variable path or a fragment) to find inside the template's span.
    pub needle: Option<String>,
}

pub struct Renderer {
    registry: Handlebars<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        Self { registry }
    }
}

impl Renderer {
    /// Renders `template` against `context`; `variables` lists the names that exist, for the message.
    pub fn render(&self, template: &Template, context: &Value) -> Result<String, TemplateFault> {
        self.registry
            .render_template(&template.text, context)
            .map_err(|err| match err.reason() {
                RenderErrorReason::MissingVariable(Some(path)) => TemplateFault {
                    message: format!(
                        "unknown template variable `{path}`; available here: {}",
                        describe_variables(context)
                    ),
                    needle: Some(path.clone()),
                },
                RenderErrorReason::TemplateError(t) => TemplateFault {
                    message: format!("template syntax error: {}", t.reason()),
                    needle: Some("{{".to_owned()),
                },
                other => TemplateFault {
                    message: format!("template error: {other}"),
                    needle: None,
                },
            })
    }
}

/// The dotted names a context offers, e.g. `version, jobs, self.ip, master.ip, slaves`.
pub fn describe_variables(context: &Value) -> String {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if v.is_object() {
                        walk(&name, v, out);
                    } else {
                        out.push(name);
                    }
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    walk("", context, &mut out);
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_known_variables_without_html_escaping() {
        let t = Template::new("make -j {{jobs}} CFLAGS='<x>' {{self.ip}}", 0..0);
        let out = Renderer::default()
            .render(&t, &json!({"jobs": "4", "self": {"ip": "10.0.0.2"}}))
            .unwrap();
        assert_eq!(out, "make -j 4 CFLAGS='<x>' 10.0.0.2");
    }

    #[test]
    fn an_unknown_variable_is_an_error_naming_it_and_the_valid_ones() {
        let t = Template::new("make -j {{jobz}}", 0..0);
        let fault = Renderer::default()
            .render(&t, &json!({"jobs": "4", "version": "1"}))
            .unwrap_err();
        assert_eq!(fault.needle.as_deref(), Some("jobz"));
        assert!(fault.message.contains("`jobz`"), "{}", fault.message);
        assert!(fault.message.contains("jobs, version"), "{}", fault.message);
    }

    #[test]
    fn a_syntax_error_is_reported() {
        let t = Template::new("make {{#if}}", 0..0);
        assert!(Renderer::default().render(&t, &json!({})).is_err());
    }
}

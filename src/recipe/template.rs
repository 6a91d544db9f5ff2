//! Handlebars rendering of recipe strings, strict: a template that names a variable the context does
//! not have is an error, never an empty string.
//!
//! One helper is added to handlebars' own: `{{add A B}}`, integer addition, as strict as the
//! variables (exactly two integer arguments, no overflow), so that a role can offset a port by its
//! node's slot (`{{add 5051 self.slot}}`).
//!
//! Templates keep the byte span of their TOML string so that a fault can be reported at the
//! variable's own `file:line:column`.

use std::ops::Range;

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
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
        registry.register_helper("add", Box::new(add));
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

/// `{{add A B}}`: the sum of two integers; anything else (a missing or extra argument, a string,
/// an overflow) is an error, never an empty string.
fn add(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let fail = |why: String| RenderErrorReason::Other(format!("`add`: {why}"));
    if h.params().len() != 2 {
        return Err(fail(format!(
            "takes two integers, got {} argument(s)",
            h.params().len()
        ))
        .into());
    }
    let int = |i: usize| {
        let param = h.param(i).expect("counted above");
        if param.is_value_missing() {
            let path = param.relative_path().cloned();
            return Err(RenderErrorReason::MissingVariable(path));
        }
        let value = param.value();
        value
            .as_i64()
            .ok_or_else(|| fail(format!("argument {} is `{value}`, not an integer", i + 1)))
    };
    let sum = int(0)?
        .checked_add(int(1)?)
        .ok_or_else(|| fail("the sum overflows".to_owned()))?;
    out.write(&sum.to_string())?;
    Ok(())
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
    fn add_sums_integers_and_slot_zero_keeps_the_plain_text() {
        let ctx = json!({"self": {"slot": 0}, "other": {"slot": 2}});
        let render = |text: &str| Renderer::default().render(&Template::new(text, 0..0), &ctx);
        assert_eq!(render("{{add 5051 self.slot}}").unwrap(), "5051");
        assert_eq!(render("{{add 5051 other.slot}}").unwrap(), "5053");
        assert_eq!(render("{{add -1 other.slot}}").unwrap(), "1");
        let dir = "/var/lib/mesos{{#if self.slot}}-{{self.slot}}{{/if}}";
        assert_eq!(render(dir).unwrap(), "/var/lib/mesos");
        assert_eq!(
            render(&dir.replace("self", "other")).unwrap(),
            "/var/lib/mesos-2"
        );
    }

    #[test]
    fn add_is_strict_about_its_arguments() {
        let ctx = json!({"self": {"slot": 1, "name": "n"}, "big": i64::MAX});
        let render = |text: &str| Renderer::default().render(&Template::new(text, 0..0), &ctx);
        for bad in [
            "{{add 5051}}",
            "{{add 1 2 3}}",
            "{{add 5051 self.name}}",
            "{{add \"1\" 2}}",
            "{{add 1.5 2}}",
            "{{add big 1}}",
        ] {
            let fault = render(bad).unwrap_err();
            assert!(fault.message.contains("`add`"), "{bad}: {}", fault.message);
        }
        let fault = render("{{add 5051 self.slott}}").unwrap_err();
        assert_eq!(
            fault.needle.as_deref(),
            Some("self.slott"),
            "{}",
            fault.message
        );
    }

    #[test]
    fn a_syntax_error_is_reported() {
        let t = Template::new("make {{#if}}", 0..0);
        assert!(Renderer::default().render(&t, &json!({})).is_err());
    }
}

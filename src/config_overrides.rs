//! What changes a pipeline file between environments before it is typed
//! (README "Pipelines"): `--set KEY=VALUE` on the command line for any
//! key, and `${VAR}` / `${VAR:-default}` in the path keys (`[input] path`,
//! `[surveys] path`, `[output] dir`), so one file serves dev and prod.
//! Both work on the parsed TOML table; `config` types the result.

use std::str::FromStr;

/// The keys whose values expand `${VAR}`.
const PATH_KEYS: [[&str; 2]; 3] = [["input", "path"], ["surveys", "path"], ["output", "dir"]];

/// One `--set KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The dotted key, split (`clv.model` → `["clv", "model"]`).
    key: Vec<String>,
    value: toml::Value,
    /// As given, for the run key and messages.
    text: String,
}

impl FromStr for Override {
    type Err = String;

    /// `KEY=VALUE`: KEY a dotted pipeline key (`clv.model`,
    /// `business.as_of`), VALUE a TOML value (`6`, `0.8`, `true`,
    /// `"text"`, `2024-05-31`, `["a", "b"]`) or, when it is not one, text.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: expected KEY=VALUE, e.g. clv.model=auto"))?;
        let key: Vec<String> = key
            .trim()
            .split('.')
            .map(|k| k.trim().to_string())
            .collect();
        let bare = |k: &String| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !key.iter().all(bare) {
            return Err(format!(
                "`{text}`: the key must be dotted names, e.g. clv.model or business.as_of"
            ));
        }
        Ok(Override {
            key,
            value: toml_value(value.trim()),
            text: text.to_string(),
        })
    }
}

impl Override {
    /// As given on the command line.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// `value` read as a TOML value, else as text.
fn toml_value(value: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
}

/// Sets each override's key in `table`, creating the tables on its way.
/// An error when a key runs through a value that is not a table.
pub fn apply(table: &mut toml::Table, overrides: &[Override]) -> Result<(), String> {
    for o in overrides {
        let (last, path) = o.key.split_last().expect("a key has a name");
        let mut at = &mut *table;
        for (depth, name) in path.iter().enumerate() {
            let entry = at
                .entry(name.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            at = entry.as_table_mut().ok_or_else(|| {
                format!(
                    "--set {}: `{}` is not a section",
                    o.text,
                    o.key[..=depth].join(".")
                )
            })?;
        }
        at.insert(last.clone(), o.value.clone());
    }
    Ok(())
}

/// Expands `${VAR}` and `${VAR:-default}` in the path keys with `env`.
/// Returns each expanded key with its new value; every problem (an unset
/// variable without a default, a malformed reference) at once.
pub fn expand_paths(
    table: &mut toml::Table,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut expanded = Vec::new();
    let mut problems = Vec::new();
    for [section, key] in PATH_KEYS {
        let Some(value) = table
            .get_mut(section)
            .and_then(|s| s.as_table_mut())
            .and_then(|s| s.get_mut(key))
        else {
            continue;
        };
        let Some(text) = value.as_str().filter(|t| t.contains("${")) else {
            continue;
        };
        match expand(text, &env) {
            Ok(new) => {
                expanded.push((format!("{section}.{key}"), new.clone()));
                *value = toml::Value::String(new);
            }
            Err(problem) => problems.push(format!("[{section}] {key} = {text:?}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(expanded)
    } else {
        Err(problems)
    }
}

/// `text` with every `${NAME}` replaced by the variable and every
/// `${NAME:-default}` by the variable or, when it is unset or empty, the
/// default. A `$` not followed by `{` stays as it is.
fn expand(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "a `${` without its closing `}`".to_string())?;
        let (name, default) = match after[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&after[..end], None),
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("`${{{}}}` is not a variable name", &after[..end]));
        }
        let value = env(name).filter(|v| !(v.is_empty() && default.is_some()));
        match (value, default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "the environment variable {name} is not set (write ${{{name}:-default}} for a default)"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "DATA" => Some("/data/shop".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variables_and_defaults_expand() {
        assert_eq!(
            expand("${DATA}/orders.csv", &env).unwrap(),
            "/data/shop/orders.csv"
        );
        assert_eq!(expand("${NOPE:-dev}/x", &env).unwrap(), "dev/x");
        assert_eq!(expand("${EMPTY:-dev}", &env).unwrap(), "dev");
        assert_eq!(expand("${EMPTY}", &env).unwrap(), "");
        assert_eq!(expand("a$b${DATA}$", &env).unwrap(), "a$b/data/shop$");
        let unset = expand("${NOPE}/x", &env).unwrap_err();
        assert!(unset.contains("NOPE is not set"), "{unset}");
        assert!(expand("${DATA", &env).unwrap_err().contains("closing"));
        assert!(expand("${1X}", &env)
            .unwrap_err()
            .contains("not a variable name"));
    }

    #[test]
    fn only_path_keys_expand_and_problems_name_the_key() {
        let mut table: toml::Table = toml::from_str(
            "name = \"${DATA}\"\n[input]\npath = \"${DATA}/o.csv\"\n[output]\ndir = \"${OUT}\"\n",
        )
        .unwrap();
        let problems = expand_paths(&mut table.clone(), env).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("[output] dir"), "{problems:?}");
        table["output"]["dir"] = toml::Value::String("${OUT:-out}".into());
        let expanded = expand_paths(&mut table, env).unwrap();
        assert_eq!(
            expanded,
            [
                ("input.path".to_string(), "/data/shop/o.csv".to_string()),
                ("output.dir".to_string(), "out".to_string())
            ]
        );
        assert_eq!(table["name"].as_str(), Some("${DATA}"));
    }

    #[test]
    fn overrides_set_typed_values_and_create_sections() {
        let mut table: toml::Table = toml::from_str("[clv]\nmodel = \"bg_nbd\"\n").unwrap();
        let overrides: Vec<Override> = [
            "clv.model=auto",
            "clv.horizon_months=6",
            "business.as_of=2024-05-31",
            "input.path=data/x y.csv",
            "columns.dimensions=[\"channel\"]",
        ]
        .iter()
        .map(|o| o.parse().unwrap())
        .collect();
        apply(&mut table, &overrides).unwrap();
        assert_eq!(table["clv"]["model"].as_str(), Some("auto"));
        assert_eq!(table["clv"]["horizon_months"].as_integer(), Some(6));
        assert!(table["business"]["as_of"].is_datetime());
        assert_eq!(table["input"]["path"].as_str(), Some("data/x y.csv"));
        assert!(table["columns"]["dimensions"].is_array());
        let through_a_value: Override = "clv.model.x=1".parse().unwrap();
        let problem = apply(&mut table, &[through_a_value]).unwrap_err();
        assert!(
            problem.contains("`clv.model` is not a section"),
            "{problem}"
        );
        assert!("clv.model".parse::<Override>().is_err());
        assert!("clv..model=1".parse::<Override>().is_err());
    }
}

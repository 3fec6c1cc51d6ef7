//! Where configuration values come from: the environment first, then `lipa.toml` (or the file named by
//! `LIPA_CONFIG`); and how durations are written. Used by `config` and by `security`'s settings.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where values come from: the environment first, then the file.
pub struct Source {
    env: HashMap<String, String>,
    file: HashMap<String, String>,
}

impl Source {
    /// The process environment and `lipa.toml` (or the file named by `LIPA_CONFIG`) when present.
    pub fn load() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = env.get("LIPA_CONFIG").cloned();
        let file = match &path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| ConfigError(format!("cannot read {p}: {e}")))?),
            None => std::fs::read_to_string("lipa.toml").ok(),
        };
        let file = match file {
            Some(text) => parse_toml(&text)?,
            None => HashMap::new(),
        };
        Ok(Self { env, file })
    }

    pub fn from_maps(env: HashMap<String, String>, file: HashMap<String, String>) -> Self {
        Self { env, file }
    }

    /// These variables as the environment, and no file (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::from_maps(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), HashMap::new())
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.env.get(name).or_else(|| self.file.get(name)).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// The value of `name` read by `parse`, or `default` when unset. A value `parse` refuses is an error
    /// that names the variable and the value and then says `expected` (`must be …`, `is not …`).
    pub fn parsed<T>(
        &self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse(&v).ok_or_else(|| ConfigError(format!("{name}={v:?} {expected}"))),
        }
    }

    /// A per-period limit: a whole number, with `0` or `off` meaning no limit (returned as 0).
    pub fn limit(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        self.parsed(
            name,
            default,
            |v| if v.eq_ignore_ascii_case("off") { Some(0) } else { v.parse().ok() },
            "must be a whole number (0 or off: no limit)",
        )
    }

    /// An on/off setting: `1`, `true`, `on`, `yes` or `0`, `false`, `off`, `no`, in any case.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "on", "yes"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "off", "no"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError(format!("{name}={v:?} must be on or off"))),
        }
    }
}

fn parse_toml(text: &str) -> Result<HashMap<String, String>, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e| ConfigError(format!("lipa.toml: {e}")))?;
    let mut out = HashMap::new();
    for (k, v) in table {
        let v = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError(format!(
                    "lipa.toml: {k} must be a string or a number, not {}",
                    other.type_str()
                )))
            }
        };
        out.insert(k.to_ascii_uppercase(), v);
    }
    Ok(out)
}

/// `45s`, `15m`, `500ms`, `2h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    // `try_`: a figure too large for a Duration (1e20 s) is not a duration, not a panic.
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

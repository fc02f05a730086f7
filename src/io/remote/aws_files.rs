//! The shared AWS files (`~/.aws/credentials`, `~/.aws/config`), which the
//! AWS CLI and SDKs read and `object_store` does not: the selected
//! profile's keys, region and endpoint, for settings the environment does
//! not give. Only what an S3 client needs is taken.

use std::path::PathBuf;

use ini::Ini;
use object_store::aws::AmazonS3ConfigKey;

/// Credentials-file keys (a profile section named `NAME`), and the
/// environment variable that overrides each.
const CREDENTIAL_KEYS: &[(&str, &str)] = &[
    ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
    ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ("aws_session_token", "AWS_SESSION_TOKEN"),
];

/// Config-file keys (section `profile NAME`, or `default`).
const CONFIG_KEYS: &[(&str, &str)] = &[
    ("region", "AWS_REGION"),
    ("region", "AWS_DEFAULT_REGION"),
    ("endpoint_url", "AWS_ENDPOINT_URL"),
    ("endpoint_url", "AWS_ENDPOINT"),
];

/// The profile's settings that the environment does not set, for the
/// S3 client builder. Unreadable or absent files give nothing.
pub fn settings_not_in_env() -> Vec<(AmazonS3ConfigKey, String)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let home = env("HOME").map(PathBuf::from);
    let file = |variable: &str, default: &str| {
        env(variable)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
            .and_then(|path| Ini::load_from_file(path).ok())
    };
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config = file("AWS_CONFIG_FILE", "config");
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    profile_settings(credentials.as_ref(), config.as_ref(), &profile, env)
        .into_iter()
        .filter_map(|(key, value)| Some((key.parse().ok()?, value)))
        .collect()
}

/// The settings of `profile` in the two files (credentials first), each
/// only when `env` has no value for its variable. A profile's key is taken
/// from the credentials only if both key parts are there, so a half-set
/// environment is never mixed with a file's other half.
fn profile_settings(
    credentials: Option<&Ini>,
    config: Option<&Ini>,
    profile: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    let config_section = if profile == "default" {
        profile.to_string()
    } else {
        format!("profile {profile}")
    };
    let key_in_env = env("AWS_ACCESS_KEY_ID").is_some() || env("AWS_SECRET_ACCESS_KEY").is_some();
    let sources = [
        (
            credentials,
            profile.to_string(),
            CREDENTIAL_KEYS,
            key_in_env,
        ),
        (config, config_section, CONFIG_KEYS, false),
    ];
    for (file, section, keys, skip) in sources {
        let Some(properties) = file.and_then(|f| f.section(Some(section.as_str()))) else {
            continue;
        };
        for (key, _) in keys {
            // A key is skipped when any of its variables is set.
            let in_env = keys
                .iter()
                .any(|(k, variable)| k == key && env(variable).is_some());
            let taken = settings.iter().any(|(k, _)| k == builder_key(key));
            if skip || in_env || taken {
                continue;
            }
            if let Some(value) = properties.get(*key) {
                settings.push((builder_key(key).to_string(), value.trim().to_string()));
            }
        }
    }
    // The AWS CLI takes a plain-HTTP endpoint as given; the client must be
    // told it may.
    let http = settings
        .iter()
        .any(|(k, v)| k == "aws_endpoint" && v.starts_with("http://"));
    if http && env("AWS_ALLOW_HTTP").is_none() {
        settings.push(("aws_allow_http".to_string(), "true".to_string()));
    }
    settings
}

/// The builder's name of a file key.
fn builder_key(file_key: &str) -> &str {
    match file_key {
        "region" => "aws_region",
        "endpoint_url" => "aws_endpoint",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = secret-default\n\n[nightly]\naws_access_key_id=AKNIGHTLY\naws_secret_access_key=secret-nightly\naws_session_token=token\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile nightly]\nregion = us-east-2\nendpoint_url = http://127.0.0.1:9000\n";

    fn settings(profile: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
        let credentials = Ini::load_from_str(CREDENTIALS).unwrap();
        let config = Ini::load_from_str(CONFIG).unwrap();
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        profile_settings(Some(&credentials), Some(&config), profile, lookup)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_profile_gives_its_keys_region_and_endpoint_under_the_builders_names() {
        assert_eq!(
            settings("nightly", &[]),
            pairs(&[
                ("aws_access_key_id", "AKNIGHTLY"),
                ("aws_secret_access_key", "secret-nightly"),
                ("aws_session_token", "token"),
                ("aws_region", "us-east-2"),
                ("aws_endpoint", "http://127.0.0.1:9000"),
                ("aws_allow_http", "true"),
            ])
        );
        assert_eq!(
            settings("default", &[]),
            pairs(&[
                ("aws_access_key_id", "AKDEFAULT"),
                ("aws_secret_access_key", "secret-default"),
                ("aws_region", "eu-west-1"),
            ])
        );
        assert!(settings("absent", &[]).is_empty());
    }

    #[test]
    fn the_environment_wins_and_a_key_is_never_half_from_a_file() {
        let got = settings(
            "nightly",
            &[
                ("AWS_ACCESS_KEY_ID", "AKENV"),
                ("AWS_DEFAULT_REGION", "ap-south-1"),
            ],
        );
        assert_eq!(
            got,
            pairs(&[
                ("aws_endpoint", "http://127.0.0.1:9000"),
                ("aws_allow_http", "true"),
            ])
        );
        let got = settings("nightly", &[("AWS_ENDPOINT", "https://s3.example")]);
        assert!(got
            .iter()
            .all(|(k, _)| k != "aws_endpoint" && k != "aws_allow_http"));
    }
}

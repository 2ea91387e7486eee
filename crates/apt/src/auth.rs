//! apt's `auth.conf` format (`man apt_auth.conf`): `machine`, `login` and `password`
//! tokens, whitespace or newline separated, `#` comments; one entry per `machine`.
//!
//! ```text
//! machine esm.ubuntu.com/apps/ubuntu/ login bearer password qwerty
//! machine private.example.org:8080
//!   login me
//!   password s3cret
//! ```

use mirror_core::fetch::{Credential, Secret};

/// An `auth.conf` that cannot be used; the message never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct AuthConfError {
    /// The file.
    pub file: String,
    /// What is wrong (never the secret).
    pub reason: String,
}

/// Parse `text` (from `file`, for errors) into credentials.
pub fn parse_auth_conf(text: &str, file: &str) -> Result<Vec<Credential>, AuthConfError> {
    let error = |reason: String| AuthConfError {
        file: file.to_owned(),
        reason,
    };
    let mut tokens = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(str::split_ascii_whitespace);
    let mut entries = Vec::new();
    let mut current: Option<(String, Option<String>, Option<String>)> = None;
    let mut finish = |entry: Option<(String, Option<String>, Option<String>)>| {
        let Some((machine, login, password)) = entry else {
            return Ok(());
        };
        let (Some(login), Some(password)) = (login, password) else {
            return Err(error(format!(
                "machine {machine}: needs both login and password"
            )));
        };
        let credential = Credential::for_machine(&machine, Secret::Basic { login, password })
            .ok_or_else(|| error(format!("machine {machine}: not a host[:port][/path]")))?;
        entries.push(credential);
        Ok(())
    };
    while let Some(token) = tokens.next() {
        let mut value = |what: &str| {
            tokens
                .next()
                .map(str::to_owned)
                .ok_or_else(|| error(format!("`{what}` without a value")))
        };
        match token {
            "machine" => {
                let machine = value("machine")?;
                finish(current.take())?;
                current = Some((machine, None, None));
            }
            "login" | "password" => {
                let v = value(token)?;
                let Some(entry) = current.as_mut() else {
                    return Err(error(format!("`{token}` before any `machine`")));
                };
                if token == "login" {
                    entry.1 = Some(v);
                } else {
                    entry.2 = Some(v);
                }
            }
            // apt ignores unknown tokens too; say which, but not what follows it.
            other => return Err(error(format!("unknown token {other:?}"))),
        }
    }
    finish(current.take())?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_on_one_line_or_several_with_comments() {
        let text = "# Ubuntu Pro\nmachine esm.example.org/apps/ubuntu/ login bearer password qwerty\n\
                    machine private.example.org:8080\n  login me # who\n  password s3cret\n";
        let entries = parse_auth_conf(text, "auth.conf").expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].host, "esm.example.org");
        assert_eq!(entries[0].path, "/apps/ubuntu");
        assert_eq!(entries[1].port, Some(8080));
        assert_eq!(
            entries[1].secret,
            Secret::Basic {
                login: "me".into(),
                password: "s3cret".into()
            }
        );
    }

    #[test]
    fn errors_name_the_file_and_never_the_password() {
        for text in [
            "machine h login me",
            "login me password s3cret",
            "machine h login me password s3cret port 1",
            "machine",
        ] {
            let error = parse_auth_conf(text, "/etc/apt/auth.conf").expect_err(text);
            let message = error.to_string();
            assert!(message.starts_with("/etc/apt/auth.conf: "), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }
}

//! Passwords from the configuration file, a file of their own or an
//! environment variable (`password`, `password_file`, `password_env`),
//! kept out of logs, recordings, `Debug` output and error messages.
//!
//! A [`Secret`] read from a file is read again whenever it is used
//! ([`Secret::reveal`], at every new connection): replacing the file's
//! content rotates the password without a restart. A file that group or
//! others may read is refused, naming the file and its mode. A file that
//! cannot be read again (removed, its mode widened) keeps the last good
//! value and is warned about once.
//!
//! `Debug` shows where a secret comes from, never its value:
//! `Secret(file /etc/arbiter/redis.pw)`, `Secret(env ARBITER_REDIS_PW)`,
//! `Secret(inline)`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    /// `password = "..."` in the configuration file.
    Inline(String),
    /// `password_file = "/path"`.
    File(PathBuf),
    /// `password_env = "NAME"`.
    Env(String),
}

#[derive(Default)]
struct State {
    /// The value last read.
    value: String,
    /// Bumped whenever the value read changes (a rotation).
    generation: u64,
    /// The last error reading the file again, warned about once.
    reread_error: Option<String>,
}

/// A password: read once when the configuration loads (an unreadable or
/// too widely readable file, an unset variable, an empty value are
/// configuration errors), and again at every use when it comes from a file.
#[derive(Clone)]
pub struct Secret {
    source: Source,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.describe())
    }
}

/// Secrets compare by source (the same file, the same variable, the same
/// inline value), which is what a changed configuration needs a restart for.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Secret {}

/// What [`Secret::redact`] puts in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// Reads a password file: refused when group or others may read it, or
/// when it is empty; one trailing line end is dropped.
pub fn read_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("`{}`: cannot read: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("`{}`: cannot read: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o044 != 0 {
            return Err(format!(
                "`{}` has mode {mode:04o}: group or others may read it; a password file must be readable by its \
                 owner only (chmod 600)",
                path.display()
            ));
        }
    }
    if !meta.is_file() {
        return Err(format!("`{}` is not a regular file", path.display()));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::BufReader::new(file), &mut text)
        .map_err(|e| format!("`{}`: cannot read: {e}", path.display()))?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err(format!("`{}` is empty", path.display()));
    }
    Ok(value.to_string())
}

impl Secret {
    /// A secret given in the configuration file itself.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        Self::with(Source::Inline(value.clone()), value)
    }

    fn with(source: Source, value: String) -> Self {
        Self {
            source,
            state: Arc::new(Mutex::new(State {
                value,
                ..State::default()
            })),
        }
    }

    /// A secret read from `path` (see [`read_file`]; the error names the
    /// file, never its content).
    pub fn from_file(path: &Path) -> Result<Self, String> {
        read_file(path).map(|value| Self::with(Source::File(path.to_path_buf()), value))
    }

    /// A secret from the environment variable `name`.
    pub fn from_env(name: &str) -> Result<Self, String> {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Self::with(Source::Env(name.to_string()), value)),
            Ok(_) => Err(format!("environment variable `{name}` is empty")),
            Err(std::env::VarError::NotPresent) => Err(format!("environment variable `{name}` is not set")),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("environment variable `{name}` is not UTF-8")),
        }
    }

    /// Where it comes from, for messages: `file PATH`, `env NAME` or
    /// `inline`.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Inline(_) => "inline".into(),
            Source::File(path) => format!("file {}", path.display()),
            Source::Env(name) => format!("env {name}"),
        }
    }

    /// The environment variable it comes from, if it does.
    pub fn env_name(&self) -> Option<&str> {
        match &self.source {
            Source::Env(name) => Some(name),
            _ => None,
        }
    }

    /// The value, read again from its file when it comes from one (a file
    /// that cannot be read keeps the last value, warned about once).
    pub fn reveal(&self) -> String {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Source::File(path) = &self.source {
            match read_file(path) {
                Ok(value) => {
                    if value != state.value {
                        state.value = value;
                        state.generation += 1;
                        tracing::info!(target: "arbiter", file = %path.display(), "password file changed: the new password is used from now on");
                    }
                    state.reread_error = None;
                }
                Err(e) => {
                    if state.reread_error.as_deref() != Some(e.as_str()) {
                        tracing::warn!(target: "arbiter", error = %e, "cannot read the password file again: the last password read is used");
                        state.reread_error = Some(e);
                    }
                }
            }
        }
        state.value.clone()
    }

    /// How many times the value changed since it was first read (a file
    /// rewritten): settings derived from it are applied again when it moves.
    pub fn generation(&self) -> u64 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).generation
    }

    /// `text` with the current value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let value = self.state.lock().unwrap_or_else(PoisonError::into_inner).value.clone();
        if value.is_empty() {
            text.to_string()
        } else {
            text.replace(&value, REDACTED)
        }
    }
}

/// The one secret of `section` from its three possible fields
/// (`password`, `password_file`, `password_env`): at most one may be set.
/// Errors name the field (`redis.password_file: ...`), never the value.
pub fn from_fields(
    section: &str,
    inline: Option<&str>,
    file: Option<&Path>,
    env: Option<&str>,
) -> Result<Option<Secret>, String> {
    from_named_fields(section, "password", inline, file, env)
}

/// [`from_fields`] for fields named after `name` (`name`, `name_file`,
/// `name_env`): `redis.replication_password` and its file and variable.
pub fn from_named_fields(
    section: &str,
    name: &str,
    inline: Option<&str>,
    file: Option<&Path>,
    env: Option<&str>,
) -> Result<Option<Secret>, String> {
    let fields = [name.to_string(), format!("{name}_file"), format!("{name}_env")];
    let set: Vec<&str> = [inline.is_some(), file.is_some(), env.is_some()]
        .into_iter()
        .zip(&fields)
        .filter_map(|(set, field)| set.then_some(field.as_str()))
        .collect();
    if set.len() > 1 {
        return Err(format!(
            "{section}.{}: set only one of {section}.{name}, {section}.{name}_file and {section}.{name}_env \
             (found {})",
            set[1],
            set.join(", ")
        ));
    }
    if let Some(value) = inline {
        if value.is_empty() {
            return Err(format!(
                "{section}.{name}: must not be empty (leave it out to need none)"
            ));
        }
        return Ok(Some(Secret::new(value)));
    }
    if let Some(path) = file {
        if !path.is_absolute() {
            return Err(format!(
                "{section}.{name}_file: `{}` must be an absolute path",
                path.display()
            ));
        }
        return Secret::from_file(path)
            .map(Some)
            .map_err(|e| format!("{section}.{name}_file: {e}"));
    }
    if let Some(var) = env {
        return Secret::from_env(var)
            .map(Some)
            .map_err(|e| format!("{section}.{name}_env: {e}"));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(mode: u32, text: &str) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn a_file_readable_by_group_or_others_is_refused_naming_it_and_its_mode() {
        for mode in [0o644, 0o640, 0o604] {
            let (_dir, path) = file_with(mode, "hunter2-file\n");
            let e = from_fields("redis", None, Some(&path), None).unwrap_err();
            assert!(e.starts_with("redis.password_file: `"), "{e}");
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert!(e.contains(&format!("mode {mode:04o}")), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let (_dir, path) = file_with(0o600, "hunter2-file\n");
        let s = from_fields("redis", None, Some(&path), None).unwrap().unwrap();
        assert_eq!(s.reveal(), "hunter2-file", "one line end dropped");
        assert_eq!(format!("{s:?}"), format!("Secret(file {})", path.display()));
    }

    #[test]
    fn a_rewritten_file_is_read_again_and_a_widened_one_keeps_the_last_value() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_dir, path) = file_with(0o600, "one");
        let s = Secret::from_file(&path).unwrap();
        assert_eq!((s.reveal(), s.generation()), ("one".to_string(), 0));
        std::fs::write(&path, "two\n").unwrap();
        assert_eq!((s.reveal(), s.generation()), ("two".to_string(), 1));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&path, "three").unwrap();
        assert_eq!((s.reveal(), s.generation()), ("two".to_string(), 1));
        assert_eq!(s.redact("AUTH two"), "AUTH <redacted>");
    }

    #[test]
    fn exactly_one_source_and_no_empty_value() {
        let (_dir, path) = file_with(0o600, "x");
        let e = from_fields("etcd", Some("a"), Some(&path), None).unwrap_err();
        assert!(
            e.starts_with("etcd.password_file: set only one of etcd.password, etcd.password_file"),
            "{e}"
        );
        let e = from_fields("sentinel", Some("a"), None, Some("HOME")).unwrap_err();
        assert!(e.contains("found password, password_env"), "{e}");
        assert!(
            from_fields("redis", Some(""), None, None)
                .unwrap_err()
                .contains("must not be empty")
        );
        let e = from_fields("redis", None, Some(Path::new("pw.txt")), None).unwrap_err();
        assert_eq!(e, "redis.password_file: `pw.txt` must be an absolute path");
        let e = from_fields("redis", None, None, Some("ARBITER_TEST_SURELY_UNSET_VARIABLE")).unwrap_err();
        assert_eq!(
            e,
            "redis.password_env: environment variable `ARBITER_TEST_SURELY_UNSET_VARIABLE` is not set"
        );
        let e = from_fields("redis", None, Some(Path::new("/nonexistent/pw")), None).unwrap_err();
        assert!(
            e.starts_with("redis.password_file: `/nonexistent/pw`: cannot read"),
            "{e}"
        );
        assert_eq!(from_fields("redis", None, None, None).unwrap(), None);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2-inline");
        assert_eq!(format!("{s:?}"), "Secret(inline)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(inline))");
        let path = std::env::var("PATH").unwrap();
        let s = Secret::from_env("PATH").unwrap();
        assert_eq!(s.reveal(), path);
        assert_eq!(format!("{s:?}"), "Secret(env PATH)");
    }
}

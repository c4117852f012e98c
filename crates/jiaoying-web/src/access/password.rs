//! Password hashing for board users: argon2id with the crate's defaults (OWASP's m=19 MiB, t=2,
//! p=1), stored in PHC form so the parameters travel with each hash and can be raised later
//! without breaking old ones.
//!
//! Hashing is deliberately slow and memory-hungry, so it never runs on the async runtime: the
//! async functions here move it to `spawn_blocking`, behind a semaphore so that a flood of sign-in
//! attempts cannot start hundreds of 19 MiB hashes at once.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// Shortest password `jiaoying user add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted anywhere (argon2 accepts far more; a cap keeps requests cheap).
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Hashes `password` with argon2id and a fresh random salt; blocking (call from a CLI or
/// `spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    hash_unchecked(password)
}

fn hash_unchecked(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// A hash of a random password with the same parameters as real ones: an unknown user name is
/// checked against it, so it costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hash_unchecked(&hex::encode(bytes)).unwrap_or_default()
});

/// Whether `password` matches the PHC string `phc`; blocking. A malformed stored hash never
/// matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// At most this many hashes run at once; more wait their turn.
static HASHING: Semaphore = Semaphore::const_new(2);

/// [`verify_password`] off the runtime. With `phc = None` (no such user) the password is checked
/// against the dummy hash and the answer is always false, in the same time.
pub async fn verify_off_runtime(password: String, phc: Option<String>) -> bool {
    let Ok(_permit) = HASHING.acquire().await else { return false };
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_password(&password, &phc),
        None => {
            let _ = verify_password(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash ahead of the first sign-in, so the first unknown name is not slower
/// than the rest.
pub fn warm_up() {
    tokio::task::spawn_blocking(|| LazyLock::force(&DUMMY_HASH));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "each hash has its own salt");
    }

    #[test]
    fn short_and_huge_passwords_are_refused_and_bad_hashes_never_match() {
        assert!(matches!(hash_password("short"), Err(PasswordError::TooShort)));
        assert!(matches!(hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)), Err(PasswordError::TooLong)));
        assert!(!verify_password("anything at all", "not a phc string"));
        assert!(!verify_password("anything at all", ""));
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify_off_runtime("whatever password".into(), None).await);
    }
}

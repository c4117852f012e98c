//! Answer-link tokens: bound to one call, expiring, signed with HMAC-SHA256 so they cannot be
//! forged or moved to another call.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::clock::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// 96 bits of MAC: enough against forgery by guessing, short enough for an SMS link.
const MAC_BYTES: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerToken {
    pub call_id: i64,
    /// Unix seconds after which the link no longer answers.
    pub expires_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the answer link is malformed")]
    Malformed,
    #[error("the answer link's signature does not match")]
    BadSignature,
    #[error("the answer link has expired")]
    Expired,
}

/// Signs and checks tokens with a key derived from the service secret, so the same secret used
/// for other purposes never yields a valid answer token.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner([redacted])")
    }
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"jiaoying answer-link v1");
        TokenSigner { key: mac.finalize().into_bytes().to_vec() }
    }

    fn mac(&self, payload: &str) -> [u8; MAC_BYTES] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// `<call id>.<expiry in base36>.<mac>`: readable parts keep links short.
    pub fn sign(&self, token: AnswerToken) -> String {
        let payload = format!("{}.{}", token.call_id, base36(token.expires_secs.max(0) as u64));
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&payload));
        format!("{payload}.{mac}")
    }

    pub fn verify(&self, raw: &str, now: Timestamp) -> Result<AnswerToken, TokenError> {
        if raw.len() > 80 {
            return Err(TokenError::Malformed);
        }
        let mut parts = raw.splitn(3, '.');
        let (Some(id), Some(exp), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let call_id: i64 = id.parse().map_err(|_| TokenError::Malformed)?;
        let expires_secs = i64::from_str_radix(exp, 36).map_err(|_| TokenError::Malformed)?;
        let given = URL_SAFE_NO_PAD.decode(mac).map_err(|_| TokenError::Malformed)?;
        let want = self.mac(&format!("{id}.{exp}"));
        if given.len() != MAC_BYTES || !bool::from(given.ct_eq(&want)) {
            return Err(TokenError::BadSignature);
        }
        if now.millis() / 1000 >= expires_secs {
            return Err(TokenError::Expired);
        }
        Ok(AnswerToken { call_id, expires_secs })
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp(1_780_000_000_000);

    fn token(call_id: i64) -> AnswerToken {
        AnswerToken { call_id, expires_secs: NOW.millis() / 1000 + 3600 }
    }

    #[test]
    fn a_signed_token_verifies_and_is_short() {
        let s = TokenSigner::new(b"secret");
        let raw = s.sign(token(42));
        assert!(raw.len() < 32, "{raw}");
        assert_eq!(s.verify(&raw, NOW), Ok(token(42)));
    }

    #[test]
    fn tampering_moving_or_another_secret_is_refused() {
        let s = TokenSigner::new(b"secret");
        let raw = s.sign(token(42));
        let moved = raw.replacen("42.", "43.", 1);
        assert_eq!(s.verify(&moved, NOW), Err(TokenError::BadSignature));
        assert_eq!(TokenSigner::new(b"other").verify(&raw, NOW), Err(TokenError::BadSignature));
        let mut flipped = raw.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        assert!(s.verify(&flipped, NOW).is_err());
        assert_eq!(s.verify("nonsense", NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let s = TokenSigner::new(b"secret");
        let raw = s.sign(token(42));
        assert_eq!(s.verify(&raw, Timestamp(NOW.millis() + 3_600_000)), Err(TokenError::Expired));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", TokenSigner::new(b"secret")), "TokenSigner([redacted])");
    }

    proptest! {
        #[test]
        fn verify_never_panics(s in ".{0,100}") {
            let _ = TokenSigner::new(b"k").verify(&s, NOW);
        }
    }
}

//! Credentials of the local API: bouncer API keys, machine passwords and machine tokens.
//!
//! * **API keys** (`X-Api-Key`, bouncers) are random (32 bytes, hex); the store keeps their SHA-256. A presented
//!   key is hashed and compared with every bouncer's hash in constant time, without stopping at the first match,
//!   so the time taken says nothing about which bytes matched.
//! * **Machine passwords** are hashed with Argon2id (they may be chosen by people, so a slow hash).
//! * **Machine tokens** (`POST /v1/watchers/login` → `Authorization: Bearer`) are JWTs signed with HMAC-SHA256
//!   (`{"id": machine, "exp": …, "orig_iat": …}`, the claims CrowdSec's agents expect), keyed by a secret kept in
//!   the store, so tokens survive a restart and every process using the same database agrees.
//!
//! What this module is not: HTTP handling (the extractors in `routes` call these functions).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Bouncer, random_bytes};

/// A new random API key (64 hex characters).
pub fn new_api_key() -> String {
    let mut b = [0u8; 32];
    random_bytes(&mut b);
    hex(&b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex SHA-256 of an API key, as stored.
pub fn hash_api_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Equality that takes the same time whatever the contents (only the lengths leak, and hashes have one length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The bouncer whose key this is. Every stored hash is compared, in constant time.
pub fn find_bouncer<'a>(bouncers: &'a [Bouncer], presented_key: &str) -> Option<&'a Bouncer> {
    let h = hash_api_key(presented_key);
    let mut found = None;
    for b in bouncers {
        if constant_time_eq(h.as_bytes(), b.key_hash.as_bytes()) {
            found = Some(b);
        }
    }
    found
}

/// The local metrics key: a random secret kept in the store (created on first use), accepted on `/metrics` beside
/// the bouncer keys. `correlator metrics` reads it from the store, so scraping locally needs no key to be made;
/// anyone who can read the store could already do more than read the metrics.
pub fn metrics_key(store: &dyn crate::store::Store) -> Result<String, crate::store::StoreError> {
    Ok(hex(&store.secret("metrics")?))
}

/// Argon2id PHC string of a machine password.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks a password against a stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(phc) else { return false };
    argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

type HmacSha256 = Hmac<Sha256>;

fn sign(secret: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC key"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A signed token for `machine_id`, valid until `exp` (Unix seconds).
pub fn issue_token(secret: &[u8], machine_id: &str, iat: i64, exp: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"exp": exp, "id": machine_id, "orig_iat": iat});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(sign(secret, signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::BadSignature => "invalid token signature",
            TokenError::Expired => "token is expired",
        })
    }
}

/// The machine id of a valid, unexpired token (`now` in Unix seconds).
pub fn verify_token(secret: &[u8], token: &str, now: i64) -> Result<String, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header: serde_json::Value =
        URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Malformed)?;
    // Only the algorithm we issue: a token claiming "none" or another algorithm is refused before anything else.
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenError::Malformed);
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)?;
    let expected = sign(secret, format!("{h}.{p}").as_bytes());
    if !constant_time_eq(&sig, &expected) {
        return Err(TokenError::BadSignature);
    }
    let claims: serde_json::Value =
        URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Malformed)?;
    let exp = claims.get("exp").and_then(|e| e.as_i64()).ok_or(TokenError::Malformed)?;
    if exp <= now {
        return Err(TokenError::Expired);
    }
    claims.get("id").and_then(|i| i.as_str()).map(str::to_string).ok_or(TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bouncer(id: i64, key: &str) -> Bouncer {
        Bouncer { id, name: format!("b{id}"), key_hash: hash_api_key(key), created_at: 0, last_pull: None }
    }

    #[test]
    fn api_keys_are_found_by_hash_only() {
        let k1 = new_api_key();
        let k2 = new_api_key();
        assert_eq!(k1.len(), 64);
        assert_ne!(k1, k2);
        let all = [bouncer(1, &k1), bouncer(2, &k2)];
        assert_eq!(find_bouncer(&all, &k2).map(|b| b.id), Some(2));
        assert_eq!(find_bouncer(&all, &k1).map(|b| b.id), Some(1));
        assert!(find_bouncer(&all, "").is_none());
        assert!(find_bouncer(&all, &k1[..63]).is_none());
        assert!(find_bouncer(&all, &all[0].key_hash).is_none(), "the stored hash is not a key");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abcdef", b"xbcdef"));
        assert!(!constant_time_eq(b"abc", b"abcdef"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn passwords_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cret!", &h));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn tokens_are_signed_and_expire() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let t = issue_token(secret, "agent-1", 100, 200);
        assert_eq!(verify_token(secret, &t, 150), Ok("agent-1".to_string()));
        assert_eq!(verify_token(secret, &t, 200), Err(TokenError::Expired));
        assert_eq!(verify_token(b"another secret", &t, 150), Err(TokenError::BadSignature));
        // A forged payload keeps the old signature.
        let parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"exp":999,"id":"admin","orig_iat":1}"#);
        let t2 = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(verify_token(secret, &t2, 150), Err(TokenError::BadSignature));
        // alg=none is refused.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(verify_token(secret, &format!("{none}.{}.", parts[1]), 150), Err(TokenError::Malformed));
        assert_eq!(verify_token(secret, "garbage", 150), Err(TokenError::Malformed));
    }
}

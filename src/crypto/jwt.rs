//! Access and refresh tokens: JWTs signed with Ed25519 (`EdDSA`) over `ring` (already in the
//! build for TLS), so that no second crypto library is compiled; signed here over a key pair
//! parsed once, verified by `jsonwebtoken`. Verification pins the algorithm and picks the key by
//! the header's `kid`; there is no `none`.

use std::sync::Once;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    Algorithm, DecodingKey, Header, Validation,
    crypto::{CryptoProvider, JwtVerifier, KeyUtils},
    errors::ErrorKind,
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
        OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
    },
    signature,
};
use ring::{
    hkdf, hmac,
    rand::SystemRandom,
    signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey},
};
use serde::{Serialize, de::DeserializeOwned};
use zeroize::Zeroizing;

struct Ed25519Verifier(Vec<u8>);

impl signature::Verifier<Vec<u8>> for Ed25519Verifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Ed25519Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

/// Ed25519 only: any other algorithm is refused when verifying.
static ED25519_ONLY: CryptoProvider = CryptoProvider {
    // Keyport signs with [`SigningKey::sign`], never through `jsonwebtoken`.
    signer_factory: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
    verifier_factory: |algorithm, key| match algorithm {
        Algorithm::EdDSA => Ok(Box::new(Ed25519Verifier(key.try_get_as_bytes()?.to_vec()))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    },
    key_utils: KeyUtils::new_unimplemented(),
};

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider was installed first, which Keyport never does.
        let _ = ED25519_ONLY.install_default();
    });
}

/// A key that signs access tokens, its key pair parsed once: signing composes the compact
/// form (`header.claims.signature`, RFC 7515) itself, since `jsonwebtoken::encode` would parse
/// the PKCS#8 again for every token. Verification is `jsonwebtoken`'s.
pub struct SigningKey {
    pub kid: String,
    /// PKCS#8 of the Ed25519 key pair: the secret, sealed at rest.
    pkcs8: Zeroizing<Vec<u8>>,
    pair: Ed25519KeyPair,
    /// The header every token of this key carries, encoded.
    header: String,
    /// The key that authenticates refresh tokens, derived from this one (HKDF-SHA256): it lives
    /// and retires with it, and costs a hash where a signature costs a scalar multiplication.
    refresh: hmac::Key,
    /// The public key, base64url, as the JWKS publishes it.
    pub public_key: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .expect("the system's random source works");
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let kid = super::random_token()[..16].to_string();
        SigningKey::from_pkcs8(kid, pkcs8).expect("a generated key parses")
    }

    pub fn from_pkcs8(kid: String, pkcs8: Zeroizing<Vec<u8>>) -> Option<SigningKey> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).ok()?;
        let public_key = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).ok()?);
        let refresh: hmac::Key = hkdf::Salt::new(hkdf::HKDF_SHA256, REFRESH_SALT)
            .extract(&pkcs8)
            .expand(&[b"hmac-sha256"], hmac::HMAC_SHA256)
            .ok()?
            .into();
        Some(SigningKey {
            kid,
            pkcs8,
            pair,
            header,
            refresh,
            public_key,
        })
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// `claims` signed, with this key's `kid` in the header.
    pub fn sign(&self, claims: &impl Serialize) -> String {
        let claims = serde_json::to_vec(claims).expect("claims serialize");
        let message = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(claims));
        let signature = URL_SAFE_NO_PAD.encode(self.pair.sign(message.as_bytes()));
        format!("{message}.{signature}")
    }

    /// A refresh token holding `claims`: `kpr1.KID.CLAIMS.TAG`, the claims JSON in base64url and
    /// authenticated by HMAC-SHA256 under the key derived from this one. Only Keyport reads
    /// refresh tokens, so they need no signature others can check.
    pub fn seal_refresh(&self, claims: &impl Serialize) -> String {
        let claims = serde_json::to_vec(claims).expect("claims serialize");
        let message = format!(
            "{REFRESH_PREFIX}.{}.{}",
            self.kid,
            URL_SAFE_NO_PAD.encode(claims)
        );
        let tag = URL_SAFE_NO_PAD.encode(hmac::sign(&self.refresh, message.as_bytes()));
        format!("{message}.{tag}")
    }

    /// The claims of a refresh token this key sealed, if its tag is right; nothing else is
    /// checked here (the caller checks expiry and what the claims say).
    pub fn open_refresh<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        let (message, tag) = token.rsplit_once('.')?;
        if refresh_kid(token)? != self.kid {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.refresh, message.as_bytes(), &tag).ok()?;
        let claims = message.rsplit_once('.')?.1;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

/// What refresh tokens start with, and the salt their keys are derived with.
const REFRESH_PREFIX: &str = "kpr1";
const REFRESH_SALT: &[u8] = b"keyport refresh tokens v1";

/// The kid a refresh token names, if it is shaped as one.
pub fn refresh_kid(token: &str) -> Option<&str> {
    let mut parts = token.split('.');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(REFRESH_PREFIX), Some(kid), Some(_), Some(_), None) => Some(kid),
        _ => None,
    }
}

/// The `kid` a token says it was signed with, if it is a JWT at all.
pub fn kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// How far ahead of this clock a token's `iat` may be: the clocks of the processes that sign and
/// verify may differ a little.
const CLOCK_SKEW: u64 = 60;

/// The claims of `token` if `public_key` (base64url) signed it with EdDSA, it has not expired
/// (no leeway) and was not issued in the future; `None` for anything else.
pub fn verify<T: DeserializeOwned>(
    token: &str,
    public_key: &str,
    issuer: &str,
    max_lifetime: u64,
) -> Option<T> {
    install();
    let key = DecodingKey::from_ed_components(public_key).ok()?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
    validation.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .ok()?
        .claims;
    // jsonwebtoken does not look at `iat`: a token issued later than now was not issued here.
    let issued = claims.get("iat")?.as_u64()?;
    if issued > jsonwebtoken::get_current_timestamp() + CLOCK_SKEW {
        return None;
    }
    // No token lives longer than the issuer makes them, whatever `exp` it carries.
    let expires = claims.get("exp")?.as_u64()?;
    if expires.saturating_sub(issued) > max_lifetime {
        return None;
    }
    serde_json::from_value(claims).ok()
}

/// The JWK of a public signing key, for `/identity/keys`.
pub fn jwk(kid: &str, public_key: &str) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(kid.to_string()),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: public_key.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn a_sealed_refresh_token_opens_with_its_key_only_and_unchanged() {
        let key = SigningKey::generate();
        let token = key.seal_refresh(&claims(60));
        assert_eq!(refresh_kid(&token), Some(key.kid.as_str()));
        assert_eq!(key.open_refresh::<Claims>(&token), Some(claims(60)));

        let other = SigningKey::generate();
        let forged = other.seal_refresh(&claims(60));
        assert_eq!(key.open_refresh::<Claims>(&forged), None, "another key's");
        let renamed = forged.replacen(&other.kid, &key.kid, 1);
        assert_eq!(
            key.open_refresh::<Claims>(&renamed),
            None,
            "another key's, renamed"
        );

        let parts: Vec<&str> = token.split('.').collect();
        let changed = URL_SAFE_NO_PAD.encode(br#"{"sub":"user:2","iss":"x","iat":1,"exp":9}"#);
        let tampered = format!("{}.{}.{changed}.{}", parts[0], parts[1], parts[3]);
        assert_eq!(
            key.open_refresh::<Claims>(&tampered),
            None,
            "claims changed"
        );
        let cut = format!("{}.{}.{}.", parts[0], parts[1], parts[2]);
        assert_eq!(key.open_refresh::<Claims>(&cut), None, "no tag");
        assert_eq!(
            refresh_kid(&key.sign(&claims(60))),
            None,
            "an access token is not one"
        );
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        iss: String,
        iat: u64,
        exp: u64,
    }

    const ISSUER: &str = "https://keyport.example";

    fn claims(exp_from_now: i64) -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            sub: "user:1".into(),
            iss: ISSUER.into(),
            iat: now,
            exp: (now as i64 + exp_from_now) as u64,
        }
    }

    #[test]
    fn a_signed_token_verifies_with_its_key_only() {
        let key = SigningKey::generate();
        let token = key.sign(&claims(60));
        assert_eq!(kid(&token).as_deref(), Some(key.kid.as_str()));
        assert_eq!(
            verify::<Claims>(&token, &key.public_key, ISSUER, 3600),
            Some(claims(60))
        );
        let other = SigningKey::generate();
        assert_eq!(
            verify::<Claims>(&token, &other.public_key, ISSUER, 3600),
            None
        );
    }

    #[test]
    fn tampered_expired_and_unsigned_tokens_are_refused() {
        let key = SigningKey::generate();
        let token = key.sign(&claims(60));
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged =
            URL_SAFE_NO_PAD.encode(br#"{"sub":"user:2","iss":"x","iat":1,"exp":9999999999}"#);
        assert_eq!(
            verify::<Claims>(
                &format!("{head}.{forged}.{signature}"),
                &key.public_key,
                ISSUER,
                3600
            ),
            None
        );
        assert_eq!(
            verify::<Claims>(&key.sign(&claims(-5)), &key.public_key, ISSUER, 3600),
            None,
            "expired"
        );
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = rest.split_once('.').unwrap().0;
        assert_eq!(
            verify::<Claims>(&format!("{none}.{body}."), &key.public_key, ISSUER, 3600),
            None,
            "alg none"
        );
        let hs = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(
            verify::<Claims>(
                &format!("{hs}.{body}.{signature}"),
                &key.public_key,
                ISSUER,
                3600
            ),
            None,
            "HS256"
        );
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let key = SigningKey::generate();
        let mut ahead = claims(7200);
        ahead.iat += 3600;
        assert_eq!(
            verify::<Claims>(&key.sign(&ahead), &key.public_key, ISSUER, 3600),
            None
        );
        let mut skewed = claims(3600);
        skewed.iat += 5;
        assert!(
            verify::<Claims>(&key.sign(&skewed), &key.public_key, ISSUER, 3600).is_some(),
            "a few seconds of clock skew"
        );
    }

    #[test]
    fn a_token_of_another_issuer_or_living_too_long_is_refused() {
        let key = SigningKey::generate();
        let elsewhere = Claims {
            iss: "https://other.example".into(),
            ..claims(60)
        };
        assert_eq!(
            verify::<Claims>(&key.sign(&elsewhere), &key.public_key, ISSUER, 3600),
            None
        );
        let long = claims(3601);
        assert_eq!(
            verify::<Claims>(&key.sign(&long), &key.public_key, ISSUER, 3600),
            None,
            "exp - iat past the lifetime"
        );
        assert!(
            verify::<Claims>(&key.sign(&claims(3600)), &key.public_key, ISSUER, 3600).is_some()
        );
    }

    #[test]
    fn a_key_survives_its_pkcs8() {
        let key = SigningKey::generate();
        let again =
            SigningKey::from_pkcs8(key.kid.clone(), Zeroizing::new(key.pkcs8().to_vec())).unwrap();
        assert_eq!(again.public_key, key.public_key);
        let token = again.sign(&claims(60));
        assert!(verify::<Claims>(&token, &key.public_key, ISSUER, 3600).is_some());
    }
}

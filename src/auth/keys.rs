//! Trusted public keys (PEM files or a JWKS file) and the local development key pair.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// RFC 8410 PKCS#8 (v1) prefix of an Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
/// RFC 8410 SubjectPublicKeyInfo prefix of an Ed25519 public key; the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// A key that may verify tokens.
#[derive(Clone)]
struct TrustedKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The keys the service trusts to sign tokens.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// Reads PEM public keys (Ed25519, RSA or EC P-256 `PUBLIC KEY` blocks).
    ///
    /// # Errors
    /// A file that cannot be read or holds no usable key.
    pub fn from_pem_files(paths: &[PathBuf]) -> anyhow::Result<TrustedKeys> {
        let mut keys = Vec::with_capacity(paths.len());
        for path in paths {
            let pem = std::fs::read(path)
                .map_err(|error| anyhow::anyhow!("reading public key {}: {error}", path.display()))?;
            keys.push(pem_key(&pem).map_err(|error| anyhow::anyhow!("public key {}: {error}", path.display()))?);
        }
        Ok(TrustedKeys { keys })
    }

    /// Adds the keys of a JWKS file (`{"keys": [...]}`); keys are matched by `kid`.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, or a key of an unsupported type.
    pub fn add_jwks_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("reading JWKS {}: {error}", path.display()))?;
        let set: JwkSet =
            serde_json::from_str(&text).map_err(|error| anyhow::anyhow!("JWKS {}: {error}", path.display()))?;
        for jwk in &set.keys {
            let key =
                DecodingKey::from_jwk(jwk).map_err(|error| anyhow::anyhow!("JWKS {}: {error}", path.display()))?;
            let algorithm = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => anyhow::bail!("JWKS {}: only OKP (Ed25519), RSA and EC keys are accepted", path.display()),
            };
            self.keys.push(TrustedKey { kid: jwk.common.key_id.clone(), algorithm, key });
        }
        Ok(())
    }

    /// How many keys are trusted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys that may have signed a token with this algorithm and key id.
    pub(super) fn candidates<'a>(
        &'a self,
        algorithm: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a DecodingKey> {
        self.keys
            .iter()
            .filter(move |key| {
                key.algorithm == algorithm && (kid.is_none() || key.kid.is_none() || key.kid.as_deref() == kid)
            })
            .map(|key| &key.key)
    }
}

/// Reads one kind of PEM public key.
type PemParser = fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>;

fn pem_key(pem: &[u8]) -> Result<TrustedKey, String> {
    let attempts: [(Algorithm, PemParser); 3] = [
        (Algorithm::EdDSA, DecodingKey::from_ed_pem),
        (Algorithm::RS256, DecodingKey::from_rsa_pem),
        (Algorithm::ES256, DecodingKey::from_ec_pem),
    ];
    attempts
        .iter()
        .find_map(|(algorithm, parse)| parse(pem).ok().map(|key| TrustedKey { kid: None, algorithm: *algorithm, key }))
        .ok_or_else(|| "not an Ed25519, RSA or EC public key in PEM".to_owned())
}

/// The local development key pair, kept in the data directory: created on first start, never
/// overwritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevKeyPair {
    /// The private key file (PKCS#8 PEM).
    pub private_key: PathBuf,
    /// The public key file (SPKI PEM).
    pub public_key: PathBuf,
}

impl DevKeyPair {
    /// The key pair's files in `data_dir`.
    #[must_use]
    pub fn in_dir(data_dir: &Path) -> DevKeyPair {
        DevKeyPair {
            private_key: data_dir.join("dev-token-key.pem"),
            public_key: data_dir.join("dev-token-key.pub.pem"),
        }
    }

    /// Creates the key pair unless its private key exists already; returns whether it created it.
    ///
    /// # Errors
    /// When the files cannot be written or randomness is unavailable.
    pub fn ensure(&self) -> anyhow::Result<bool> {
        // Replicas started together on one empty folder race here: the private key is put in
        // place atomically (one of them wins), and the public key is always derived from the
        // private key that won, so every process ends up with the same pair.
        let mut created = false;
        if !self.private_key.exists() {
            let mut seed = [0_u8; 32];
            SystemRandom::new().fill(&mut seed).map_err(|_| anyhow::anyhow!("no system randomness"))?;
            let private_der = [ED25519_PKCS8_PREFIX.as_slice(), &seed].concat();
            if let Some(parent) = self.private_key.parent() {
                std::fs::create_dir_all(parent)?;
            }
            created = write_new(&self.private_key, &pem::encode(&pem::Pem::new("PRIVATE KEY", private_der)), 0o600)?;
        }
        if !self.public_key.exists() {
            let seed = LogSigningKey { path: self.private_key.clone() }.seed()?;
            let pair =
                Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|error| anyhow::anyhow!("Ed25519 key: {error}"))?;
            let public_der = [ED25519_SPKI_PREFIX.as_slice(), pair.public_key().as_ref()].concat();
            write_new(&self.public_key, &pem::encode(&pem::Pem::new("PUBLIC KEY", public_der)), 0o644)?;
        }
        Ok(created)
    }
}

/// Puts a file in place whole and only if it does not exist yet: written and synced under a
/// name of its own first, then linked to `path` (which fails if `path` exists), so no reader
/// ever sees half a key and no writer overwrites another's. Gives whether this call created it.
fn write_new(path: &Path, contents: &str, mode: u32) -> anyhow::Result<bool> {
    use std::io::Write;
    let draft = path.with_extension(format!("{}.draft", uuid::Uuid::now_v7().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&draft).map_err(|error| anyhow::anyhow!("creating {}: {error}", draft.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    drop(file);
    let linked = std::fs::hard_link(&draft, path);
    let _ = std::fs::remove_file(&draft);
    match linked {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(anyhow::anyhow!("creating {}: {error}", path.display())),
    }
}

/// The Ed25519 key that signs the audit log's checkpoints, kept as a PKCS#8 PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSigningKey {
    /// The private key file.
    pub path: PathBuf,
}

impl LogSigningKey {
    /// The development default: `audit-log-key.pem` in `data_dir`.
    #[must_use]
    pub fn in_dir(data_dir: &Path) -> LogSigningKey {
        LogSigningKey { path: data_dir.join("audit-log-key.pem") }
    }

    /// Creates the key unless its file exists; returns whether it created it. Never overwrites:
    /// a log's key must outlive every checkpoint it signed.
    ///
    /// # Errors
    /// When the file cannot be written or randomness is unavailable.
    pub fn ensure(&self) -> anyhow::Result<bool> {
        if self.path.exists() {
            return Ok(false);
        }
        let mut seed = [0_u8; 32];
        SystemRandom::new().fill(&mut seed).map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let private_der = [ED25519_PKCS8_PREFIX.as_slice(), &seed].concat();
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_new(&self.path, &pem::encode(&pem::Pem::new("PRIVATE KEY", private_der)), 0o600)
    }

    /// Reads the key's 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// A file that cannot be read or is not a PKCS#8 Ed25519 private key in PEM.
    pub fn seed(&self) -> anyhow::Result<[u8; 32]> {
        let text = std::fs::read(&self.path)
            .map_err(|error| anyhow::anyhow!("reading the audit log's signing key {}: {error}", self.path.display()))?;
        let block = pem::parse(&text)
            .map_err(|error| anyhow::anyhow!("the audit log's signing key {}: {error}", self.path.display()))?;
        let der = block.contents();
        match der.strip_prefix(ED25519_PKCS8_PREFIX.as_slice()) {
            Some(seed) if block.tag() == "PRIVATE KEY" => seed.try_into().map_err(|_| {
                anyhow::anyhow!("the audit log's signing key {} is not a 32-byte Ed25519 key", self.path.display())
            }),
            _ => anyhow::bail!(
                "the audit log's signing key {} is not an Ed25519 private key (PKCS#8 PEM)",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_racing_on_an_empty_folder_end_up_with_one_key_pair() {
        let folder = tempfile::tempdir().unwrap();
        let pair = DevKeyPair::in_dir(folder.path());
        let created: Vec<bool> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8).map(|_| scope.spawn(|| pair.ensure().unwrap())).collect();
            racers.into_iter().map(|racer| racer.join().unwrap()).collect()
        });
        assert_eq!(created.iter().filter(|created| **created).count(), 1, "one of them made the key");
        let public = std::fs::read(&pair.public_key).unwrap();
        let seed = LogSigningKey { path: pair.private_key.clone() }.seed().unwrap();
        let derived = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        assert!(
            pem::parse(&public).unwrap().contents().ends_with(derived.public_key().as_ref()),
            "the public key is the private key's"
        );
        assert!(!pair.ensure().unwrap(), "never made again");
    }
}

//! Transparency-log primitives: the RFC 9162 Merkle tree over a store of complete-subtree
//! hashes (tree heads, inclusion and consistency proofs, and their verifiers), and C2SP
//! checkpoints carried in Ed25519 signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note).
//!
//! Pure: no I/O, no clock, no randomness. Storage is the caller's: every function that needs
//! stored hashes takes a `read` closure, and the reads it makes are O(log n) point reads of
//! complete subtrees, so a server can answer any proof from a table keyed by (level, index).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// RFC 9162 §2.1.1 domain separation: a leaf can never be mistaken for an interior node.
const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The signed-note signature type byte for Ed25519 (c2sp.org/signed-note).
const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// The separator before each signature line of a signed note: EM DASH (U+2014) and a space.
const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// The signed-note spec asks verifiers to bound the number of signatures (at least 16 must be
/// accepted); 100 is the bound of Go's golang.org/x/mod/sumdb/note.
const MAX_SIGNATURE_COUNT: usize = 100;

/// An Ed25519 signature is 64 bytes; a note signature prefixes it with the 4-byte key id.
const KEY_ID_LEN: usize = 4;

/// Why a tree operation, a proof check, a checkpoint or a note was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlogError {
    /// The store has no hash for a complete subtree the operation needs.
    MissingNode(NodeId),
    /// A leaf index is not below the tree size.
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The size of the tree.
        size: u64,
    },
    /// The older tree is larger than the newer one.
    SizesOutOfOrder {
        /// The size of the older tree.
        old_size: u64,
        /// The size of the newer tree.
        new_size: u64,
    },
    /// The tree would hold more than `u64::MAX` leaves.
    TreeTooLarge,
    /// A leaf range that no RFC 9162 proof hashes as one subtree; never returned for valid
    /// sizes and indices, it guards the proof construction itself.
    UnalignedRange {
        /// The first leaf of the range.
        start: u64,
        /// One past the last leaf of the range.
        end: u64,
    },
    /// A proof has too few or too many hashes for its sizes.
    WrongProofLength,
    /// A proof does not lead to the expected root (or old root).
    RootMismatch,
    /// A checkpoint body is not exactly `origin\nsize\nbase64 root\n`.
    MalformedCheckpoint(&'static str),
    /// A signed note is not well formed.
    MalformedNote(&'static str),
    /// A key name is empty or contains whitespace, a control character or '+'.
    InvalidKeyName,
    /// A verifier key string is not `name+hex8 key id+base64(0x01 ‖ Ed25519 public key)`.
    MalformedVerifierKey(&'static str),
    /// A signature line by this key (same name and key id) does not verify.
    InvalidSignature,
    /// The note carries no signature line by this key.
    NoSignatureByKey,
}

impl fmt::Display for TlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingNode(id) => write!(f, "the tree store has no hash for {id}"),
            Self::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is not in a tree of {size} leaves")
            }
            Self::SizesOutOfOrder { old_size, new_size } => {
                write!(f, "the old tree size {old_size} is larger than the new tree size {new_size}")
            }
            Self::TreeTooLarge => write!(f, "the tree would hold more than 2^64 - 1 leaves"),
            Self::UnalignedRange { start, end } => {
                write!(f, "leaves {start}..{end} are not a subtree that a proof hashes as a unit")
            }
            Self::WrongProofLength => write!(f, "the proof has the wrong number of hashes for its tree sizes"),
            Self::RootMismatch => write!(f, "the proof does not lead to the expected root hash"),
            Self::MalformedCheckpoint(why) => write!(f, "malformed checkpoint: {why}"),
            Self::MalformedNote(why) => write!(f, "malformed signed note: {why}"),
            Self::InvalidKeyName => {
                write!(f, "a key name must be non-empty, without whitespace, control characters or '+'")
            }
            Self::MalformedVerifierKey(why) => write!(f, "malformed verifier key: {why}"),
            Self::InvalidSignature => write!(f, "the note's signature by this key does not verify"),
            Self::NoSignatureByKey => write!(f, "the note has no signature by this key"),
        }
    }
}

impl std::error::Error for TlogError {}

// ---------------------------------------------------------------------------------------------
// RFC 9162 §2.1 hashing
// ---------------------------------------------------------------------------------------------

/// The hash of a leaf: SHA-256(0x00 ‖ leaf bytes) (RFC 9162 §2.1.1).
#[must_use]
pub fn leaf_hash(leaf_bytes: &[u8]) -> Hash {
    Sha256::new().chain_update([LEAF_PREFIX]).chain_update(leaf_bytes).finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1).
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([NODE_PREFIX]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The Merkle tree hash (MTH, RFC 9162 §2.1.1) of a list of leaf hashes, by the definition:
/// split at the largest power of two smaller than the count, hash both halves, join. The
/// reference the stored-node functions are checked against; O(n), for tests and small lists.
#[must_use]
pub fn root_from_leaf_hashes(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(),
        [only] => *only,
        _ => {
            // Two or more leaves: the split point is at least 1 and below the length, so
            // `split_at` cannot panic.
            let count = leaf_hashes.len();
            let split = 1_usize << (count - 1).ilog2();
            let (left, right) = leaf_hashes.split_at(split);
            node_hash(&root_from_leaf_hashes(left), &root_from_leaf_hashes(right))
        }
    }
}

/// The largest power of two strictly below `width`, for `width` ≥ 2: where RFC 9162 splits a tree.
fn split_width(width: u64) -> u64 {
    1_u64 << (width.saturating_sub(1).max(1)).ilog2()
}

// ---------------------------------------------------------------------------------------------
// The tree as stored: hashes of complete subtrees
// ---------------------------------------------------------------------------------------------

/// A complete subtree: the node at `level` L and `index` i covers leaves [i·2^L, (i+1)·2^L).
/// Level 0 holds the leaf hashes. Such a node never changes once the tree has reached
/// (i+1)·2^L leaves, so an append-only table of them answers every later proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves: the node covers 2^level leaves.
    pub level: u8,
    /// Position among the nodes of its level, from 0 on the left.
    pub index: u64,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node (level {}, index {})", self.level, self.index)
    }
}

/// The complete subtrees that make up the leaves [start, end), left to right; `None` when the
/// range is not one the tree hashes as a unit. Every range an RFC 9162 tree or proof needs
/// starts at a multiple of the largest power of two not above its width, and then its
/// standalone Merkle tree is made of exactly these stored nodes.
fn complete_subtrees(start: u64, end: u64) -> Option<Vec<NodeId>> {
    let width = end.checked_sub(start)?;
    if width == 0 {
        return Some(Vec::new());
    }
    let top_level = width.ilog2();
    if start.trailing_zeros() < top_level {
        return None;
    }
    let mut ids = Vec::new();
    let mut position = start;
    for level in (0..=top_level).rev() {
        let span = 1_u64 << level;
        if width & span != 0 {
            ids.push(NodeId { level: u8::try_from(level).ok()?, index: position >> level });
            position = position.checked_add(span)?;
        }
    }
    Some(ids)
}

fn read_node(read: &impl Fn(NodeId) -> Option<Hash>, id: NodeId) -> Result<Hash, TlogError> {
    read(id).ok_or(TlogError::MissingNode(id))
}

/// The Merkle tree hash of the leaves [start, end), composed from at most 64 stored complete
/// subtrees: the right-to-left fold of its decomposition (the empty range hashes as the empty
/// tree).
fn subtree_hash(start: u64, end: u64, read: &impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, TlogError> {
    let ids = complete_subtrees(start, end).ok_or(TlogError::UnalignedRange { start, end })?;
    let mut hashes = ids.into_iter().rev().map(|id| read_node(read, id));
    let Some(rightmost) = hashes.next() else {
        return Ok(empty_root());
    };
    hashes.try_fold(rightmost?, |right, left| Ok(node_hash(&left?, &right)))
}

/// Every complete subtree that appending `leaf_hashes_appended` to a tree of `old_size` leaves
/// creates, the new leaves (level 0) included, in creation order, for the caller to store.
///
/// Reads only the complete subtrees of the old tree's right edge (one per set bit of
/// `old_size`), and computes each new node once.
///
/// # Errors
/// [`TlogError::MissingNode`] when `read` lacks one of the old tree's right-edge nodes, and
/// [`TlogError::TreeTooLarge`] when the tree would exceed `u64::MAX` leaves.
pub fn new_nodes(
    old_size: u64,
    leaf_hashes_appended: &[Hash],
    read: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<(NodeId, Hash)>, TlogError> {
    let appended = u64::try_from(leaf_hashes_appended.len()).map_err(|_| TlogError::TreeTooLarge)?;
    let new_size = old_size.checked_add(appended).ok_or(TlogError::TreeTooLarge)?;
    // The old tree's right edge, left to right: the only nodes a new leaf can merge with.
    let mut edge = complete_subtrees(0, old_size)
        .ok_or(TlogError::TreeTooLarge)?
        .into_iter()
        .map(|id| Ok((id, read_node(&read, id)?)))
        .collect::<Result<Vec<_>, TlogError>>()?;
    let mut created = Vec::with_capacity(leaf_hashes_appended.len().saturating_mul(2));
    for (position, leaf) in (old_size..new_size).zip(leaf_hashes_appended) {
        let mut node = (NodeId { level: 0, index: position }, *leaf);
        created.push(node);
        // Edge levels strictly decrease left to right, so a new node can only pair with the
        // last one, and each pairing completes the parent.
        while let Some(&(left_id, left_hash)) = edge.last()
            && left_id.level == node.0.level
        {
            edge.pop();
            let parent = NodeId { level: left_id.level.saturating_add(1), index: left_id.index / 2 };
            node = (parent, node_hash(&left_hash, &node.1));
            created.push(node);
        }
        edge.push(node);
    }
    Ok(created)
}

/// The root of the tree of the first `size` leaves, from at most 64 stored complete subtrees.
///
/// # Errors
/// [`TlogError::MissingNode`] when `read` lacks a node of that tree.
pub fn tree_root(size: u64, read: impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, TlogError> {
    subtree_hash(0, size, &read)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves: RFC 9162 §2.1.3.1
/// `PATH(index, D[size])`, the sibling subtree hashes from the leaf up to the root.
///
/// # Errors
/// [`TlogError::IndexOutOfRange`] when `index` ≥ `size`, and [`TlogError::MissingNode`] when
/// `read` lacks a node of that tree.
pub fn inclusion_proof(index: u64, size: u64, read: impl Fn(NodeId) -> Option<Hash>) -> Result<Vec<Hash>, TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    // Walk down from the root; the recursion appends each level's sibling after the deeper
    // path, so the siblings are collected top-down and reversed.
    let (mut start, mut end) = (0, size);
    let mut path = Vec::new();
    while end - start > 1 {
        let middle = start + split_width(end - start);
        if index < middle {
            path.push(subtree_hash(middle, end, &read)?);
            end = middle;
        } else {
            path.push(subtree_hash(start, middle, &read)?);
            start = middle;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof from the tree of `old_size` leaves to the tree of `new_size` leaves:
/// RFC 9162 §2.1.4.1 `PROOF(old_size, D[new_size])`. Empty when `old_size` is 0 or equals
/// `new_size`: every tree extends the empty tree, and a tree is consistent with itself.
///
/// # Errors
/// [`TlogError::SizesOutOfOrder`] when `old_size` > `new_size`, and [`TlogError::MissingNode`]
/// when `read` lacks a node of the new tree.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    read: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, TlogError> {
    if old_size > new_size {
        return Err(TlogError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start..end], old_root_known): `old_size` stays the absolute end of the old
    // tree, so m = old_size - start. As in `inclusion_proof`, collect top-down and reverse.
    let (mut start, mut end) = (0, new_size);
    let mut old_root_known = true;
    let mut proof = Vec::new();
    while old_size != end {
        let middle = start + split_width(end - start);
        if old_size <= middle {
            proof.push(subtree_hash(middle, end, &read)?);
            end = middle;
        } else {
            proof.push(subtree_hash(start, middle, &read)?);
            start = middle;
            old_root_known = false;
        }
    }
    if !old_root_known {
        proof.push(subtree_hash(start, end, &read)?);
    }
    proof.reverse();
    Ok(proof)
}

// ---------------------------------------------------------------------------------------------
// RFC 9162 §2.1.3.2 and §2.1.4.2 verifiers
// ---------------------------------------------------------------------------------------------

/// Right-shifts both node positions until `first` is odd or zero: the levels where the proof's
/// next hash joins higher up because the tree's right edge skips them.
fn shift_while_even(first: &mut u64, second: &mut u64) {
    while *first & 1 == 0 && *first != 0 {
        *first >>= 1;
        *second >>= 1;
    }
}

/// Checks that `proof` shows the leaf with hash `leaf_hash` at `index` in the tree of `size`
/// leaves whose root is `root`, exactly per RFC 9162 §2.1.3.2.
///
/// # Errors
/// [`TlogError::IndexOutOfRange`] when `index` ≥ `size`, [`TlogError::WrongProofLength`] when
/// the proof has too few or too many hashes, and [`TlogError::RootMismatch`] when it leads to
/// another root.
pub fn verify_inclusion(index: u64, size: u64, leaf_hash: &Hash, proof: &[Hash], root: &Hash) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let (mut first, mut second) = (index, size - 1);
    let mut computed = *leaf_hash;
    for sibling in proof {
        if second == 0 {
            return Err(TlogError::WrongProofLength);
        }
        if first & 1 == 1 || first == second {
            computed = node_hash(sibling, &computed);
            shift_while_even(&mut first, &mut second);
        } else {
            computed = node_hash(&computed, sibling);
        }
        first >>= 1;
        second >>= 1;
    }
    if second != 0 {
        return Err(TlogError::WrongProofLength);
    }
    if computed != *root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the tree of `new_size` leaves with root `new_root` extends the tree
/// of `old_size` leaves with root `old_root`, exactly per RFC 9162 §2.1.4.2; plus the two cases
/// the RFC leaves out: equal sizes need an empty proof and equal roots, and an old size of 0
/// needs an empty proof and the empty tree's root as `old_root`.
///
/// # Errors
/// [`TlogError::SizesOutOfOrder`] when `old_size` > `new_size`, [`TlogError::WrongProofLength`]
/// when the proof has too few or too many hashes, and [`TlogError::RootMismatch`] when it does
/// not lead to both roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    if old_size > new_size {
        return Err(TlogError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        let expected_old_root = if old_size == 0 { empty_root() } else { *new_root };
        if !proof.is_empty() {
            return Err(TlogError::WrongProofLength);
        }
        if *old_root != expected_old_root {
            return Err(TlogError::RootMismatch);
        }
        return Ok(());
    }
    // When the old tree is a complete subtree of the new one its root is the proof's implicit
    // first hash (the RFC's "prepend first_hash").
    let (seed, rest) = if old_size.is_power_of_two() {
        if proof.is_empty() {
            return Err(TlogError::WrongProofLength);
        }
        (old_root, proof)
    } else {
        proof.split_first().ok_or(TlogError::WrongProofLength)?
    };
    let (mut first, mut second) = (old_size - 1, new_size - 1);
    while first & 1 == 1 {
        first >>= 1;
        second >>= 1;
    }
    let (mut old_computed, mut new_computed) = (*seed, *seed);
    for hash in rest {
        if second == 0 {
            return Err(TlogError::WrongProofLength);
        }
        if first & 1 == 1 || first == second {
            old_computed = node_hash(hash, &old_computed);
            new_computed = node_hash(hash, &new_computed);
            shift_while_even(&mut first, &mut second);
        } else {
            new_computed = node_hash(&new_computed, hash);
        }
        first >>= 1;
        second >>= 1;
    }
    if second != 0 {
        return Err(TlogError::WrongProofLength);
    }
    if old_computed != *old_root || new_computed != *new_root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// c2sp.org/tlog-checkpoint
// ---------------------------------------------------------------------------------------------

/// A tree head as a C2SP checkpoint: which log, how many leaves, and the root of that tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; by convention also its signing key's name, so it follows the key
    /// name rules (non-empty, no whitespace, control characters or '+').
    pub origin: String,
    /// The number of leaves in the tree.
    pub size: u64,
    /// The RFC 9162 root of the tree of `size` leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `origin`, decimal size and standard base64 root, each on its own line
    /// ending in a newline, with no extension lines.
    #[must_use]
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root))
    }

    /// Parses exactly what [`Checkpoint::body`] writes, and nothing looser.
    ///
    /// # Errors
    /// [`TlogError::MalformedCheckpoint`] when the body is not exactly three newline-terminated
    /// lines (extension lines are refused too), the origin breaks the key name rules, the size
    /// is not canonical decimal (digits only, no leading zero except "0", at most `u64::MAX`),
    /// or the root is not canonical padded standard base64 of 32 bytes.
    pub fn parse_body(body: &str) -> Result<Checkpoint, TlogError> {
        let lines = body.strip_suffix('\n').ok_or(TlogError::MalformedCheckpoint("must end in a newline"))?;
        let mut lines = lines.split('\n');
        let (Some(origin), Some(size), Some(root), None) = (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(TlogError::MalformedCheckpoint("must be exactly three lines: origin, size, root hash"));
        };
        if !is_valid_key_name(origin) {
            return Err(TlogError::MalformedCheckpoint(
                "the origin must be non-empty, without whitespace, control characters or '+'",
            ));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size: parse_canonical_decimal(size)?, root: parse_root(root)? })
    }
}

fn parse_canonical_decimal(text: &str) -> Result<u64, TlogError> {
    // `u64::from_str` alone would also take "+5" and "007".
    let digits_only = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    if !digits_only || (text.len() > 1 && text.starts_with('0')) {
        return Err(TlogError::MalformedCheckpoint("the size must be decimal digits without a leading zero"));
    }
    text.parse().map_err(|_| TlogError::MalformedCheckpoint("the size exceeds 2^64 - 1"))
}

fn parse_root(text: &str) -> Result<Hash, TlogError> {
    // The engine requires canonical padding and zero trailing bits, so each hash has exactly one
    // accepted spelling.
    let bytes = BASE64.decode(text).map_err(|_| TlogError::MalformedCheckpoint("the root hash is not base64"))?;
    Hash::try_from(bytes).map_err(|_| TlogError::MalformedCheckpoint("the root hash is not 32 bytes"))
}

// ---------------------------------------------------------------------------------------------
// c2sp.org/signed-note with Ed25519
// ---------------------------------------------------------------------------------------------

/// Key names (c2sp.org/signed-note): non-empty, no Unicode whitespace, no '+' (the verifier key
/// separator); control characters are refused too, as a note may not contain them.
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// The Ed25519 key id: the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key).
fn key_id(name: &str, key: &VerifyingKey) -> [u8; KEY_ID_LEN] {
    let digest: Hash = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519_SIGNATURE_TYPE])
        .chain_update(key.as_bytes())
        .finalize()
        .into();
    let [a, b, c, d, ..] = digest;
    [a, b, c, d]
}

/// Note text rules shared by signing and verifying: non-empty, ends in a newline, and no control
/// characters below U+0020 other than the newline (c2sp.org/signed-note).
fn check_note_text(text: &str) -> Result<(), TlogError> {
    if !text.ends_with('\n') {
        return Err(TlogError::MalformedNote("the text must be non-empty and end in a newline"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(TlogError::MalformedNote("the note contains a control character"));
    }
    Ok(())
}

/// Signs note texts (such as [`Checkpoint::body`]) with an Ed25519 key under a key name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: [u8; KEY_ID_LEN],
}

impl fmt::Debug for NoteSigner {
    // The private key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &key_id_hex(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer for the key `name` (by convention the log's origin) from a 32-byte Ed25519
    /// private key seed (RFC 8032).
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`] when the name is empty or contains whitespace, a control
    /// character or '+'.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, TlogError> {
        if !is_valid_key_name(name) {
            return Err(TlogError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, &key.verifying_key());
        Ok(Self { name: name.to_owned(), key, key_id })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier for this signer's signatures, to publish as [`NoteVerifier::vkey`].
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    /// The whole signed note: `text`, a blank line, and one signature line
    /// `— {name} {base64(key id ‖ Ed25519 signature over text)}`.
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`] when `text` is empty, does not end in a newline, or holds
    /// a control character other than the newline.
    pub fn sign(&self, text: &str) -> Result<String, TlogError> {
        check_note_text(text)?;
        let signature = self.key.sign(text.as_bytes()).to_bytes();
        let mut signed = Vec::with_capacity(KEY_ID_LEN + signature.len());
        signed.extend_from_slice(&self.key_id);
        signed.extend_from_slice(&signature);
        Ok(format!("{text}\n{SIGNATURE_LINE_PREFIX}{} {}\n", self.name, BASE64.encode(signed)))
    }
}

/// Checks signed notes against one Ed25519 key, known by its verifier key string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; KEY_ID_LEN],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key in the format of Go's golang.org/x/mod/sumdb/note:
    /// `{name}+{8 lowercase hex digits of the key id}+{base64(0x01 ‖ 32-byte public key)}`.
    ///
    /// # Errors
    /// [`TlogError::MalformedVerifierKey`] when a part is missing or malformed, the key type is
    /// not Ed25519, the public key is not a valid (non-weak) Ed25519 point, or the key id does
    /// not match the name and key.
    pub fn parse(vkey: &str) -> Result<Self, TlogError> {
        // The base64 key may itself contain '+', so only the first two separate parts.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_base64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TlogError::MalformedVerifierKey("expected name+keyid+key"));
        };
        if !is_valid_key_name(name) {
            return Err(TlogError::MalformedVerifierKey("invalid key name"));
        }
        let key_id_given = parse_key_id(id_hex)?;
        let key_bytes =
            BASE64.decode(key_base64).map_err(|_| TlogError::MalformedVerifierKey("the key is not base64"))?;
        let Some((&ED25519_SIGNATURE_TYPE, public_key)) = key_bytes.split_first() else {
            return Err(TlogError::MalformedVerifierKey("the key is not an Ed25519 key (type 0x01)"));
        };
        let public_key = <[u8; 32]>::try_from(public_key)
            .map_err(|_| TlogError::MalformedVerifierKey("the Ed25519 public key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public_key)
            .ok()
            .filter(|key| !key.is_weak())
            .ok_or(TlogError::MalformedVerifierKey("the Ed25519 public key is not a valid point"))?;
        if key_id(name, &key) != key_id_given {
            return Err(TlogError::MalformedVerifierKey("the key id does not match the name and key"));
        }
        Ok(Self { name: name.to_owned(), key_id: key_id_given, key })
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw 32-byte Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The verifier key string that [`NoteVerifier::parse`] reads back.
    #[must_use]
    pub fn vkey(&self) -> String {
        let mut key_bytes = Vec::with_capacity(33);
        key_bytes.push(ED25519_SIGNATURE_TYPE);
        key_bytes.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, key_id_hex(&self.key_id), BASE64.encode(key_bytes))
    }

    /// Checks a signed note and returns its text (ending in a newline, without the blank line).
    ///
    /// Signature lines by other keys (another name or key id) are ignored, as the spec
    /// requires, but must still be well formed.
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`] when the note breaks the format (control characters, no
    /// blank line before the signatures, a line without the "— " prefix, a bad name or base64,
    /// more than 100 signatures), [`TlogError::InvalidSignature`] when a line by this key does
    /// not verify, and [`TlogError::NoSignatureByKey`] when no line is by this key.
    pub fn verify(&self, note: &str) -> Result<String, TlogError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(TlogError::MalformedNote("the note contains a control character"));
        }
        // The text may hold blank lines itself: the last blank line starts the signatures.
        let blank = note.rfind("\n\n").ok_or(TlogError::MalformedNote("no blank line before the signatures"))?;
        let text = note.get(..=blank).ok_or(TlogError::MalformedNote("no text"))?;
        let signatures = note
            .get(blank + 2..)
            .and_then(|rest| rest.strip_suffix('\n'))
            .ok_or(TlogError::MalformedNote("the signatures must be lines ending in a newline"))?;
        check_note_text(text)?;
        let mut verified = false;
        for (count, line) in signatures.split('\n').enumerate() {
            if count >= MAX_SIGNATURE_COUNT {
                return Err(TlogError::MalformedNote("more than 100 signatures"));
            }
            let (name, id, signature) = parse_signature_line(line)?;
            if name == self.name && id == self.key_id {
                let signature = <[u8; 64]>::try_from(signature).map_err(|_| TlogError::InvalidSignature)?;
                // Strict verification: no malleable signatures and no small-order points.
                self.key
                    .verify_strict(text.as_bytes(), &Signature::from_bytes(&signature))
                    .map_err(|_| TlogError::InvalidSignature)?;
                verified = true;
            }
        }
        if verified { Ok(text.to_owned()) } else { Err(TlogError::NoSignatureByKey) }
    }
}

/// One signature line without its newline: `— {name} {base64(key id ‖ signature)}`.
fn parse_signature_line(line: &str) -> Result<(&str, [u8; KEY_ID_LEN], Vec<u8>), TlogError> {
    let rest = line
        .strip_prefix(SIGNATURE_LINE_PREFIX)
        .ok_or(TlogError::MalformedNote("a signature line must start with an em dash and a space"))?;
    let (name, signature_base64) =
        rest.split_once(' ').ok_or(TlogError::MalformedNote("a signature line must be a name and a signature"))?;
    if !is_valid_key_name(name) {
        return Err(TlogError::MalformedNote("invalid key name in a signature line"));
    }
    let bytes = BASE64.decode(signature_base64).map_err(|_| TlogError::MalformedNote("a signature is not base64"))?;
    let (id, signature) = bytes
        .split_first_chunk::<KEY_ID_LEN>()
        .filter(|(_, signature)| !signature.is_empty())
        .ok_or(TlogError::MalformedNote("a signature must be a key id and at least one byte"))?;
    Ok((name, *id, signature.to_vec()))
}

fn parse_key_id(text: &str) -> Result<[u8; KEY_ID_LEN], TlogError> {
    // Lowercase only, as written by `vkey`: one spelling per key.
    let lowercase_hex = text.len() == 2 * KEY_ID_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let value = u32::from_str_radix(text, 16)
        .ok()
        .filter(|_| lowercase_hex)
        .ok_or(TlogError::MalformedVerifierKey("the key id must be 8 lowercase hex digits"))?;
    Ok(value.to_be_bytes())
}

fn key_id_hex(key_id: &[u8; KEY_ID_LEN]) -> String {
    format!("{:08x}", u32::from_be_bytes(*key_id))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn from_hex(text: &str) -> Hash {
        assert_eq!(text.len(), 64, "{text}");
        let mut hash = [0; 32];
        for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
        }
        hash
    }

    fn from_base64(text: &str) -> Hash {
        Hash::try_from(BASE64.decode(text).unwrap()).unwrap()
    }

    fn flipped(hash: &Hash, bit: usize) -> Hash {
        let mut copy = *hash;
        copy[bit / 8] ^= 1 << (bit % 8);
        copy
    }

    /// A store of complete subtrees built by `new_nodes`, as a server would keep it.
    #[derive(Default)]
    struct Store {
        nodes: HashMap<NodeId, Hash>,
        size: u64,
    }

    impl Store {
        fn append(&mut self, leaf_hashes: &[Hash]) {
            let created = new_nodes(self.size, leaf_hashes, |id| self.nodes.get(&id).copied()).unwrap();
            let old_size = self.size;
            self.size += leaf_hashes.len() as u64;
            // Exactly the complete subtrees that did not exist before: floor(n / 2^L) per level.
            let expected: u64 = (0..64).map(|level| (self.size >> level) - (old_size >> level)).sum();
            assert_eq!(created.len() as u64, expected);
            for (id, hash) in created {
                assert!(self.nodes.insert(id, hash).is_none(), "{id} created twice");
            }
        }

        fn read(&self) -> impl Fn(NodeId) -> Option<Hash> + '_ {
            |id| self.nodes.get(&id).copied()
        }
    }

    // ---- RFC 6962 / Certificate Transparency reference vectors ------------------------------

    // The eight leaves of the CT reference tree, and the hashes below, are copied from
    // github.com/transparency-dev/merkle, testonly/constants.go (LeafInputs, NodeHashes,
    // RootHashes) and proof/verify_test.go (inclusionProofs, consistencyProofs).
    const CT_LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];

    /// Roots of the trees of 0 to 8 CT leaves.
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// Every complete subtree of the 8-leaf CT tree, by level then index.
    const CT_NODES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    /// (leaf index, tree size, audit path). verify_test.go numbers leaves from 1; these are
    /// its vectors with the index made 0-based.
    const CT_INCLUSION_PROOFS: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, consistency proof).
    const CT_CONSISTENCY_PROOFS: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn hashes(hex_list: &[&str]) -> Vec<Hash> {
        hex_list.iter().map(|text| from_hex(text)).collect()
    }

    fn ct_leaf_hashes() -> Vec<Hash> {
        CT_LEAVES.iter().map(|leaf| leaf_hash(leaf)).collect()
    }

    fn ct_store() -> Store {
        let mut store = Store::default();
        store.append(&ct_leaf_hashes());
        store
    }

    #[test]
    fn hashes_match_rfc6962_vectors() {
        // github.com/transparency-dev/merkle, rfc6962/rfc6962_test.go.
        assert_eq!(root_from_leaf_hashes(&[]), from_hex(CT_ROOTS[0]));
        assert_eq!(leaf_hash(b""), from_hex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
        assert_eq!(leaf_hash(b"L123456"), from_hex("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"));
        // Swapping children changes the hash, and a node is not the leaf of its children.
        let (left, right) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
        assert_ne!(node_hash(&left, &right), node_hash(&right, &left));
        assert_ne!(node_hash(&left, &right), leaf_hash(&[left, right].concat()));
    }

    #[test]
    fn roots_of_the_ct_reference_tree_match_for_every_size() {
        let leaves = ct_leaf_hashes();
        let store = ct_store();
        for (size, expected) in CT_ROOTS.iter().enumerate() {
            assert_eq!(root_from_leaf_hashes(&leaves[..size]), from_hex(expected), "size {size}");
            assert_eq!(tree_root(size as u64, store.read()).unwrap(), from_hex(expected), "size {size}");
        }
    }

    #[test]
    fn new_nodes_builds_exactly_the_ct_reference_nodes_whatever_the_batches() {
        let leaves = ct_leaf_hashes();
        let expected: HashMap<NodeId, Hash> = CT_NODES
            .iter()
            .enumerate()
            .flat_map(|(level, row)| {
                row.iter()
                    .enumerate()
                    .map(move |(index, hex)| (NodeId { level: level as u8, index: index as u64 }, from_hex(hex)))
            })
            .collect();
        for batches in [vec![8], vec![1; 8], vec![3, 0, 4, 1], vec![5, 3], vec![1, 6, 1]] {
            let mut store = Store::default();
            let mut offset = 0;
            for batch in batches {
                store.append(&leaves[offset..offset + batch]);
                offset += batch;
            }
            assert_eq!(store.nodes, expected);
        }
    }

    #[test]
    fn proofs_from_the_stored_ct_nodes_equal_the_published_proofs_and_verify() {
        let store = ct_store();
        let leaves = ct_leaf_hashes();
        for (index, size, expected) in CT_INCLUSION_PROOFS {
            let proof = inclusion_proof(index, size, store.read()).unwrap();
            assert_eq!(proof, hashes(expected), "inclusion {index} in {size}");
            let root = from_hex(CT_ROOTS[size as usize]);
            verify_inclusion(index, size, &leaves[index as usize], &proof, &root).unwrap();
        }
        for (old_size, new_size, expected) in CT_CONSISTENCY_PROOFS {
            let proof = consistency_proof(old_size, new_size, store.read()).unwrap();
            assert_eq!(proof, hashes(expected), "consistency {old_size} to {new_size}");
            let (old_root, new_root) = (from_hex(CT_ROOTS[old_size as usize]), from_hex(CT_ROOTS[new_size as usize]));
            verify_consistency(old_size, new_size, &old_root, &new_root, &proof).unwrap();
        }
    }

    /// Records which nodes a proof reads.
    fn nodes_read(proof: impl FnOnce(&dyn Fn(NodeId) -> Option<Hash>)) -> Vec<NodeId> {
        let read = RefCell::new(Vec::new());
        proof(&|id| {
            read.borrow_mut().push(id);
            Some([0; 32])
        });
        let mut read = read.into_inner();
        read.sort();
        read
    }

    /// (level, index) pairs.
    type NodeList = &'static [(u8, u64)];

    fn ids(list: &[(u8, u64)]) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = list.iter().map(|&(level, index)| NodeId { level, index }).collect();
        ids.sort();
        ids
    }

    #[test]
    fn proofs_read_only_the_complete_subtrees_of_the_reference_node_lists() {
        // Node lists from github.com/transparency-dev/merkle, proof/proof_test.go (TestInclusion,
        // TestConsistency): the O(log n) complete subtrees each proof is made of.
        let inclusion_cases: [(u64, u64, NodeList); 5] = [
            (2, 7, &[(0, 3), (1, 0), (0, 6), (1, 2)]),
            (6, 7, &[(1, 2), (2, 0)]),
            (10, 15, &[(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)]),
            (24, 31, &[(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)]),
            (81, 95, &[(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
        ];
        for (index, size, expected) in inclusion_cases {
            let read = nodes_read(|read| {
                inclusion_proof(index, size, read).unwrap();
            });
            assert_eq!(read, ids(expected), "inclusion {index} in {size}");
        }
        let consistency_cases: [(u64, u64, NodeList); 6] = [
            (1, 6, &[(0, 1), (1, 1), (1, 2)]),
            (3, 7, &[(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)]),
            (7, 8, &[(0, 6), (0, 7), (1, 2), (2, 0)]),
            (10, 15, &[(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)]),
            (24, 31, &[(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)]),
            (81, 95, &[(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
        ];
        for (old_size, new_size, expected) in consistency_cases {
            let read = nodes_read(|read| {
                consistency_proof(old_size, new_size, read).unwrap();
            });
            assert_eq!(read, ids(expected), "consistency {old_size} to {new_size}");
        }
        // A tree head and an append read one node per set bit of the size.
        assert_eq!(
            nodes_read(|read| {
                tree_root(7, read).unwrap();
            }),
            ids(&[(2, 0), (1, 2), (0, 6)])
        );
        assert_eq!(
            nodes_read(|read| {
                new_nodes(6, &[[1; 32]], read).unwrap();
            }),
            ids(&[(2, 0), (1, 2)])
        );
    }

    // The Google Argon 2020 CT log: a leaf, its audit path and a consistency proof in a tree of
    // 961,984,013 entries, from github.com/golang/mod, sumdb/tlog/testdata/argon2020/*.json
    // (used there by sumdb/tlog/ct_test.go).
    const ARGON_SIZE: u64 = 961_984_013;
    const ARGON_ROOT: &str = "dwlueapdd7LaOEnX2W2Wp9v2XE+KzejHRQGHwEx0oaM=";
    const ARGON_OLD_SIZE: u64 = 3_654_490;
    const ARGON_OLD_ROOT: &str = "AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=";
    const ARGON_LEAF_INDEX: u64 = 10_000;
    const ARGON_LEAF: &str = "AAAAAAFelPhqUwAAAAViMIIFXjCCBEagAwIBAgIRAOodHzZdqWIFzYyl/SovhCMwDQYJKoZIhvcNAQELBQAwgZAxCzAJBgNVBAYTAkdCMRswGQYDVQQIExJHcmVhdGVyIE1hbmNoZXN0ZXIxEDAOBgNVBAcTB1NhbGZvcmQxGjAYBgNVBAoTEUNPTU9ETyBDQSBMaW1pdGVkMTYwNAYDVQQDEy1DT01PRE8gUlNBIERvbWFpbiBWYWxpZGF0aW9uIFNlY3VyZSBTZXJ2ZXIgQ0EwHhcNMTcwMjE1MDAwMDAwWhcNMjAwNDE2MjM1OTU5WjBfMSEwHwYDVQQLExhEb21haW4gQ29udHJvbCBWYWxpZGF0ZWQxHTAbBgNVBAsTFFBvc2l0aXZlU1NMIFdpbGRjYXJkMRswGQYDVQQDDBIqLmxhbmRsb3Jkcy5jb20uYXUwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQCtPBKKHj4zdrGlCjgTHzb5gx9JCs97DwvBz60f14gDufF2haWbOxyJ0a3opAMsZnOr8HkARVCwxdqG/PTfACcb0QM7FOlzvxGqxataTYiChwvkkif8F9GlJw69HuHgzhusPf1Ytfk3ps1PRC14MkyrS4kwPrk/Le4XdkqRpRw62wG4V6IkbzsNMEOl1H8EgUbfyapdOcVxHjIzvBVy56fBRKG05Fr5wNq3Acak5kYZdNsLhhmlrqAfAjiombW3hb3V5blJdRC0BDdYHv2+zKey6LqJ1FDoXo6IzbzPpC+aifZy47YX+/N1U64Qn5xlDg7mOP8JXfkNJHbU1TJZHif5AgMBAAGjggHhMIIB3TAfBgNVHSMEGDAWgBSQr2o6lFoL2JDqElZz30O0Oija5zAdBgNVHQ4EFgQUNQSLjkoz01I+iuuoC5lgEp0anhcwDgYDVR0PAQH/BAQDAgWgMAwGA1UdEwEB/wQCMAAwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCME8GA1UdIARIMEYwOgYLKwYBBAGyMQECAgcwKzApBggrBgEFBQcCARYdaHR0cHM6Ly9zZWN1cmUuY29tb2RvLmNvbS9DUFMwCAYGZ4EMAQIBMFQGA1UdHwRNMEswSaBHoEWGQ2h0dHA6Ly9jcmwuY29tb2RvY2EuY29tL0NPTU9ET1JTQURvbWFpblZhbGlkYXRpb25TZWN1cmVTZXJ2ZXJDQS5jcmwwgYUGCCsGAQUFBwEBBHkwdzBPBggrBgEFBQcwAoZDaHR0cDovL2NydC5jb21vZG9jYS5jb20vQ09NT0RPUlNBRG9tYWluVmFsaWRhdGlvblNlY3VyZVNlcnZlckNBLmNydDAkBggrBgEFBQcwAYYYaHR0cDovL29jc3AuY29tb2RvY2EuY29tMC8GA1UdEQQoMCaCEioubGFuZGxvcmRzLmNvbS5hdYIQbGFuZGxvcmRzLmNvbS5hdTANBgkqhkiG9w0BAQsFAAOCAQEACyHqxUzrexToY7tOv4+kyGPP2D27P1tQpyzeAl1bPObiMhNK2b9vvBLDWAaqm8c0YL1h+DBdLoWzf3xFsIkTCVCjWJTNSNlcYtgRk6or1s7jWsfXzWqsnPjPPmTIOCw7EfH7Yme3oxPs3UUsmShAgPwNohAtL9GqlqMiKM6v1WU3NHt01jEoNP23LRa6KeNK6AH6WHJykzL223IlhgXjHTeuQj6lR+TNrQXJuhwTXYe+20rrpPQxc1Pn7AqnvfWgmicRQ7gdIcr4V6+ecTvLfNOaJ0ZYe5G5giuAAdTm7F57pk04f4gyZNYKrj88mvbkoriN8b6jcWExtrYO6bm2TwAA";
    const ARGON_AUDIT_PATH: [&str; 30] = [
        "T46AmJsuOM/gFiGlUp+IJJebp+1Z5qratFNW7U0JyOQ=",
        "9Jj1Feodn42uRYEfffkV4HF/EIPFQ5Zo9IwkxbQ2uhk=",
        "D53/1oCNebF4J59HHgioovKZxrmrKcVuCVhy3Izg8Ck=",
        "wSFDgGSrsXRPA+1c8WHoAFCsWeUv8NDyP/Q/SgsyVyY=",
        "516/RcwsgdwdzHn18v1dJHqBkgFUbNhmCIWOGjsMJaE=",
        "naTFY2ajLFgrgs5XUl+zJYZnnlJksLGsA1VYwpLfqbY=",
        "mKBRJo6qao+0Kdh/rhGkZUbHUAxMhrtrclrTpIbNjIg=",
        "Co4ueOFE7lpifLio94irxxsv1wFMMaK3tPu2ZQkHlro=",
        "yRgy800K6JMYCC05sWfqF2kvCg2riT/pVM+nEa6V5+0=",
        "n2O38XJZC8/Wpbwi9HhgVizlUyeUHVZvYyQB1607MRc=",
        "go3tAjuNfNSCj87y2Rg1xOroDknGN1eaf3cgvzObf7Q=",
        "8D0Mj3/J7ySSnFb0afIHYXv6rlOhECnsebY6XKi1IR8=",
        "6rcez46ZU8M5vPiWVMAUfJfAOV0pPP/mch/lYzZhj/M=",
        "2rtIeXrPvSdUyHc5maIgSAVB2BzaKaupWxSAiVayDE4=",
        "nniW/IMFQPN5xw8UsHFn7CRStYbm1gLu7NNa6kkRqJQ=",
        "mRPPi7sQS22MduIEyvcNzCNFqIt6kLwYPkNKrVtIcu8=",
        "JvTivzESNS9wHI8aph5a7uieVmtS/p9PciMZ5D6GyOo=",
        "UTyQd+Ym0wY4zG+qK806bBORwi1CSVvFQ/KknnqoZj8=",
        "hXODrqN+ff+U6zPqRQ+ZQKs6im1fPcxIerDSfNwflhE=",
        "II6GE+WY/DrpZzfHztLwkR46o37zVkNLCyPYlf68zA0=",
        "d609kWWcNBllbA8Jb/ad4XAVVGnScLRmtP8FYyr+Dck=",
        "rikBsP0G0gioXRpBFED2CzQdSLrGPvRd0bEcbEZw1rI=",
        "GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0=",
        "pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=",
        "f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA=",
        "WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=",
        "f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ=",
        "NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=",
        "C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI=",
        "nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=",
    ];
    const ARGON_CONSISTENCY: [&str; 30] = [
        "80Sfbj6UQEdVSZCSIgh9NMPj3vCBzcc1A48B2crJSWg=",
        "FZcrgAHUk6nNPviJZq8kEK6jCG1d18pJOFE45ZDc1TQ=",
        "Q67reWXmPBo1UfmwBap4Xi9PMPfFdUSSw3WGlRZdG7k=",
        "eJ7CyhR4PxzBxDIsWgrVYW1eFUb9ndgf46tFmiqVrxA=",
        "QrDwp062Grm5WY8KdrhFsBuuNjGzRox2Jb8PmVL5OYw=",
        "XM4YMjMEdLH/XJam/ZWyaP14k3cmsOtnPsOWQ54lW1s=",
        "SGiBh+jOTGccXU48ZzgQ88lRcBmtB4wz4oSDndv2QTg=",
        "WAS6txqNLYKGL1GdBdpqmV42TTfn6cJsuDsqLXuTCNI=",
        "QFmRS0rirUA7ZN3lxFjDncV+E1OCrn3NUB4RCp+5fzc=",
        "Hdbp7It2XBNZmNDBpCN/KPd7vfVqxgzwOosqVIaEA9E=",
        "mxvHL0ZiblBdD7j7pIa1jlfB0gSqfJ6oX0UGo7L0VsU=",
        "q5hjyvoW6TL/PThgcitpDcSTrnKX2p1+aqscqH2euRA=",
        "jTOWDqt3IHj2NVFeezyBz2ofpru+ztEywqKUAfFclKI=",
        "GIRn0w3HqJdvU9j1WVD//eR6lk2AaTVjyzjsJNP8U88=",
        "x52GJvxG81fnQBrgOTbll1A5tz95/LXK0Ag1NhB0r1I=",
        "6/0OqrcTgc3o5dD5PymmoC96lB9yLPFuTHVvLy8fSGk=",
        "Gf+iKLfcXO5l4JEFmsZvSdG5q1uEeWPfYLrds6pmjz0=",
        "DGuaco+McyM3AfRSF6qX7RwSetwe2ieYJmxw5e9rVx0=",
        "2tQJ9V32hnYp+fdpP6TcjmgJmLeNVOMKM0Ml1kk4cNU=",
        "3PapK+IkyJr8I9yAErAmzuZezzLMzsg+PfeRCgNW8NQ=",
        "s6xiYeejb+wtqHA+URJZ2I/SCPyIW8coP6aB00FJbMY=",
        "z9lSpmdTcr5M5ZzKlc4EPh3SrSypKFdk6JUF/UccaZU=",
        "GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0=",
        "pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=",
        "f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA=",
        "WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=",
        "f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ=",
        "NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=",
        "C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI=",
        "nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=",
    ];

    #[test]
    fn a_real_certificate_transparency_log_proves_inclusion_and_consistency() {
        let leaf = leaf_hash(&BASE64.decode(ARGON_LEAF).unwrap());
        let path: Vec<Hash> = ARGON_AUDIT_PATH.iter().map(|text| from_base64(text)).collect();
        let root = from_base64(ARGON_ROOT);
        verify_inclusion(ARGON_LEAF_INDEX, ARGON_SIZE, &leaf, &path, &root).unwrap();
        assert!(verify_inclusion(ARGON_LEAF_INDEX + 1, ARGON_SIZE, &leaf, &path, &root).is_err());
        let proof: Vec<Hash> = ARGON_CONSISTENCY.iter().map(|text| from_base64(text)).collect();
        let old_root = from_base64(ARGON_OLD_ROOT);
        verify_consistency(ARGON_OLD_SIZE, ARGON_SIZE, &old_root, &root, &proof).unwrap();
        assert!(verify_consistency(ARGON_OLD_SIZE + 1, ARGON_SIZE, &old_root, &root, &proof).is_err());
    }

    // ---- edge cases of proofs and verifiers -------------------------------------------------

    #[test]
    fn proof_construction_refuses_bad_sizes_and_missing_nodes() {
        let store = ct_store();
        assert_eq!(inclusion_proof(0, 0, store.read()), Err(TlogError::IndexOutOfRange { index: 0, size: 0 }));
        assert_eq!(inclusion_proof(8, 8, store.read()), Err(TlogError::IndexOutOfRange { index: 8, size: 8 }));
        assert_eq!(inclusion_proof(0, 1, store.read()), Ok(Vec::new()));
        assert_eq!(consistency_proof(5, 4, store.read()), Err(TlogError::SizesOutOfOrder { old_size: 5, new_size: 4 }));
        assert_eq!(consistency_proof(0, 8, store.read()), Ok(Vec::new()));
        assert_eq!(consistency_proof(8, 8, store.read()), Ok(Vec::new()));
        assert_eq!(tree_root(0, store.read()), Ok(from_hex(CT_ROOTS[0])));
        // Beyond what is stored: the first node asked for that is not there.
        let beyond = NodeId { level: 0, index: 8 };
        assert_eq!(tree_root(9, store.read()), Err(TlogError::MissingNode(beyond)));
        assert_eq!(inclusion_proof(0, 9, store.read()), Err(TlogError::MissingNode(beyond)));
        assert_eq!(new_nodes(9, &[[0; 32]], store.read()), Err(TlogError::MissingNode(beyond)));
        assert_eq!(new_nodes(u64::MAX, &[[0; 32]], |_| Some([0; 32])), Err(TlogError::TreeTooLarge));
        assert_eq!(new_nodes(3, &[], store.read()), Ok(Vec::new()));
    }

    #[test]
    fn verifiers_handle_the_degenerate_sizes() {
        let empty = from_hex(CT_ROOTS[0]);
        let one = from_hex(CT_ROOTS[1]);
        let (a, b) = ([1; 32], [2; 32]);
        // Inclusion: a one-leaf tree's root is its leaf; nothing is in the empty tree.
        assert_eq!(verify_inclusion(0, 1, &one, &[], &one), Ok(()));
        assert_eq!(verify_inclusion(0, 1, &one, &[a], &one), Err(TlogError::WrongProofLength));
        assert_eq!(verify_inclusion(0, 1, &a, &[], &one), Err(TlogError::RootMismatch));
        assert_eq!(verify_inclusion(0, 0, &one, &[], &empty), Err(TlogError::IndexOutOfRange { index: 0, size: 0 }));
        assert_eq!(verify_inclusion(2, 1, &one, &[], &one), Err(TlogError::IndexOutOfRange { index: 2, size: 1 }));
        // Consistency: equal sizes need equal roots and no proof; the empty tree precedes all.
        assert_eq!(verify_consistency(0, 0, &empty, &empty, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 5, &empty, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 5, &a, &b, &[]), Err(TlogError::RootMismatch));
        assert_eq!(verify_consistency(0, 5, &empty, &a, &[empty]), Err(TlogError::WrongProofLength));
        assert_eq!(verify_consistency(3, 3, &a, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(3, 3, &a, &b, &[]), Err(TlogError::RootMismatch));
        assert_eq!(verify_consistency(3, 3, &a, &a, &[a]), Err(TlogError::WrongProofLength));
        assert_eq!(verify_consistency(2, 1, &a, &b, &[]), Err(TlogError::SizesOutOfOrder { old_size: 2, new_size: 1 }));
        assert_eq!(verify_consistency(1, 2, &a, &b, &[]), Err(TlogError::WrongProofLength));
        assert_eq!(verify_consistency(3, 8, &a, &b, &[]), Err(TlogError::WrongProofLength));
    }

    #[test]
    fn proofs_with_a_hash_added_removed_or_sizes_changed_are_refused() {
        let mut store = Store::default();
        let leaves: Vec<Hash> = (0_u32..37).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        store.append(&leaves);
        let root = tree_root(37, store.read()).unwrap();
        let proof = inclusion_proof(13, 37, store.read()).unwrap();
        let leaf = leaves[13];
        let longer = [proof.clone(), vec![root]].concat();
        assert_eq!(verify_inclusion(13, 37, &leaf, &longer, &root), Err(TlogError::WrongProofLength));
        assert_eq!(verify_inclusion(13, 37, &leaf, &proof[1..], &root), Err(TlogError::WrongProofLength));
        // The sizes only shape the path, so only sizes that change its shape can be caught (the
        // probes of github.com/transparency-dev/merkle, proof/verify_test.go: ±1, ^2, ·2, /2).
        for (index, size) in [(12, 37), (14, 37), (15, 37), (13, 74), (13, 18)] {
            assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_err(), "{index} in {size}");
        }
        let old_root = tree_root(13, store.read()).unwrap();
        let proof = consistency_proof(13, 37, store.read()).unwrap();
        let longer = [proof.clone(), vec![root]].concat();
        assert_eq!(verify_consistency(13, 37, &old_root, &root, &longer), Err(TlogError::WrongProofLength));
        assert_eq!(verify_consistency(13, 37, &old_root, &root, &proof[1..]), Err(TlogError::WrongProofLength));
        assert!(verify_consistency(13, 37, &root, &old_root, &proof).is_err());
        for (old_size, new_size) in [(12, 37), (14, 37), (15, 37), (13, 74), (13, 18)] {
            assert!(verify_consistency(old_size, new_size, &old_root, &root, &proof).is_err(), "{old_size}");
        }
    }

    #[test]
    fn every_single_bit_flip_in_proofs_leaves_and_roots_is_refused() {
        let mut store = Store::default();
        let leaves: Vec<Hash> = (0_u32..100).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        store.append(&leaves);
        // A power-of-two old size takes the RFC's other branch (the old root seeds the proof).
        for (index, old_size, new_size) in [(41, 57, 100), (3, 64, 100), (99, 99, 100)] {
            let root = tree_root(new_size, store.read()).unwrap();
            let old_root = tree_root(old_size, store.read()).unwrap();
            let leaf = leaves[index as usize];
            let inclusion = inclusion_proof(index, new_size, store.read()).unwrap();
            let consistency = consistency_proof(old_size, new_size, store.read()).unwrap();
            verify_inclusion(index, new_size, &leaf, &inclusion, &root).unwrap();
            verify_consistency(old_size, new_size, &old_root, &root, &consistency).unwrap();
            for bit in 0..256 {
                assert!(verify_inclusion(index, new_size, &flipped(&leaf, bit), &inclusion, &root).is_err());
                assert!(verify_inclusion(index, new_size, &leaf, &inclusion, &flipped(&root, bit)).is_err());
                let (old, new) = (flipped(&old_root, bit), flipped(&root, bit));
                assert!(verify_consistency(old_size, new_size, &old, &root, &consistency).is_err());
                assert!(verify_consistency(old_size, new_size, &old_root, &new, &consistency).is_err());
                for element in 0..inclusion.len() {
                    let mut tampered = inclusion.clone();
                    tampered[element] = flipped(&tampered[element], bit);
                    assert!(verify_inclusion(index, new_size, &leaf, &tampered, &root).is_err());
                }
                for element in 0..consistency.len() {
                    let mut tampered = consistency.clone();
                    tampered[element] = flipped(&tampered[element], bit);
                    assert!(verify_consistency(old_size, new_size, &old_root, &root, &tampered).is_err());
                }
            }
        }
    }

    // ---- checkpoints ------------------------------------------------------------------------

    #[test]
    fn checkpoint_bodies_match_the_published_examples() {
        // The example of c2sp.org/tlog-checkpoint (github.com/C2SP/C2SP, tlog-checkpoint.md).
        let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse_body(body).unwrap();
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20_852_163);
        assert_eq!(checkpoint.body(), body);
        // github.com/golang/mod, sumdb/tlog/note_test.go (TestFormatTree): the root is the leaf
        // hash of "hello world". (Its origin has spaces, which this log's key names refuse.)
        let go_sum = Checkpoint {
            origin: "go.sum database tree".into(),
            size: 123_456_789_012,
            root: leaf_hash(b"hello world"),
        };
        assert_eq!(go_sum.body(), "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n");
        let empty = Checkpoint { origin: "log.example/a".into(), size: 0, root: empty_root() };
        assert_eq!(Checkpoint::parse_body(&empty.body()), Ok(empty));
    }

    #[test]
    fn checkpoint_parsing_is_strict() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let bad = [
            String::new(),
            "\n".to_owned(),
            format!("log\n5\n{root}"),
            format!("log\n5\n{root}\n\n"),
            format!("log\n5\n{root}\nextension\n"),
            "log\n5\n".to_owned(),
            format!("\n5\n{root}\n"),
            format!(" log\n5\n{root}\n"),
            format!("log \n5\n{root}\n"),
            format!("a log\n5\n{root}\n"),
            format!("a+log\n5\n{root}\n"),
            format!("log\r\n5\n{root}\n"),
            format!("log\n05\n{root}\n"),
            format!("log\n00\n{root}\n"),
            format!("log\n+5\n{root}\n"),
            format!("log\n-5\n{root}\n"),
            format!("log\n 5\n{root}\n"),
            format!("log\n5 \n{root}\n"),
            format!("log\n\n{root}\n"),
            format!("log\n0x5\n{root}\n"),
            format!("log\n18446744073709551616\n{root}\n"),
            format!("log\n5\n {root}\n"),
            format!("log\n5\n{root} \n"),
            "log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
            "log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_owned(),
            "log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=AAAA\n".to_owned(),
            "log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n".to_owned(),
            "log\n5\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n".to_owned(),
        ];
        for body in bad {
            assert!(
                matches!(Checkpoint::parse_body(&body), Err(TlogError::MalformedCheckpoint(_))),
                "accepted {body:?}"
            );
        }
        let max = format!("log\n18446744073709551615\n{root}\n");
        assert_eq!(Checkpoint::parse_body(&max).unwrap().size, u64::MAX);
    }

    // ---- signed notes -----------------------------------------------------------------------

    // The Ed25519 key, note and signatures of github.com/golang/mod, sumdb/note/note_test.go
    // (TestNewVerifier, TestSign, TestOpen). The seed is the private key string
    // "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz" without
    // its 0x01 type byte.
    const PETER_SEED: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str =
        "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str =
        "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter_signer() -> NoteSigner {
        let key = BASE64.decode(PETER_SEED).unwrap();
        assert_eq!(key[0], ED25519_SIGNATURE_TYPE);
        NoteSigner::new("PeterNeumann", &key[1..].try_into().unwrap()).unwrap()
    }

    #[test]
    fn signing_reproduces_the_go_sumdb_note_vector_byte_for_byte() {
        let signer = peter_signer();
        assert_eq!(signer.verifier().vkey(), PETER_VKEY);
        assert_eq!(signer.sign(TEXT).unwrap(), format!("{TEXT}\n{PETER_SIG}"));
        assert_eq!(signer.name(), "PeterNeumann");
        let debug = format!("{signer:?}");
        assert!(debug.contains("c74f20a3") && !debug.contains("PRIVATE"), "{debug}");
    }

    #[test]
    fn verification_follows_the_go_sumdb_note_vectors() {
        let peter = NoteVerifier::parse(PETER_VKEY).unwrap();
        let enoch = NoteVerifier::parse(ENOCH_VKEY).unwrap();
        assert_eq!(peter.vkey(), PETER_VKEY);
        assert_eq!(enoch.name(), "EnochRoot");
        // Each key finds its own signature and ignores the other's.
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        assert_eq!(peter.verify(&both).unwrap(), TEXT);
        assert_eq!(enoch.verify(&both).unwrap(), TEXT);
        assert_eq!(enoch.verify(&format!("{TEXT}\n{PETER_SIG}")), Err(TlogError::NoSignatureByKey));
        // Repeated and unknown broken signatures are fine; a broken one by this key is not.
        let enoch_broken = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
        let repeated = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_broken}");
        assert_eq!(peter.verify(&repeated).unwrap(), TEXT);
        assert_eq!(enoch.verify(&repeated), Err(TlogError::InvalidSignature));
        let peter_broken = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert_eq!(peter.verify(&peter_broken), Err(TlogError::InvalidSignature));
        // At most 100 signatures.
        assert!(peter.verify(&format!("{TEXT}\n{}", PETER_SIG.repeat(100))).is_ok());
        let too_many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert!(matches!(peter.verify(&too_many), Err(TlogError::MalformedNote(_))));
        // A signature under another name, or with another key id, is not this key's.
        let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
        assert_eq!(peter.verify(&format!("{TEXT}\n{misnamed}")), Err(TlogError::NoSignatureByKey));
        let wrong_id = PETER_SIG.replace("x08g", "xxxx");
        assert_eq!(peter.verify(&format!("{TEXT}\n{wrong_id}")), Err(TlogError::NoSignatureByKey));
    }

    #[test]
    fn malformed_notes_are_refused() {
        let peter = NoteVerifier::parse(PETER_VKEY).unwrap();
        let bad = [
            TEXT.to_owned(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", PETER_SIG.trim_end_matches('\n')),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!("{}\r\n\n{PETER_SIG}", TEXT.trim_end_matches('\n')),
            format!(
                "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{TEXT}\n{}", PETER_SIG.replacen("— ", "-- ", 1)),
            format!("{TEXT}\n{}", PETER_SIG.replacen("— ", "—", 1)),
            format!("{TEXT}\n— PeterNeumann\n"),
            format!("{TEXT}\n— PeterNeumann \n"),
            format!("{TEXT}\n— PeterNeumann x08g\n"),
            format!("{TEXT}\n— PeterNeumann x08go/ZJkuBS9UG!\n"),
            format!("{TEXT}\n{PETER_SIG}\n"),
            format!("\n{PETER_SIG}"),
            format!("{}\n{PETER_SIG}", TEXT.trim_end_matches('\n')),
        ];
        for note in bad {
            assert!(matches!(peter.verify(&note), Err(TlogError::MalformedNote(_))), "accepted {note:?}");
        }
        // Well formed, by this key id, but too short to be an Ed25519 signature.
        for short in ["x08go/ZJ", "x08go/Y="] {
            let note = format!("{TEXT}\n— PeterNeumann {short}\n");
            assert_eq!(peter.verify(&note), Err(TlogError::InvalidSignature), "{short}");
        }
        let signer = peter_signer();
        for text in ["", "no newline", "tab\tinside\n", "\n"] {
            let signed = signer.sign(text);
            if text == "\n" {
                // One empty line is a text the spec allows, and it round-trips.
                assert_eq!(peter.verify(&signed.unwrap()).unwrap(), "\n");
            } else {
                assert!(matches!(signed, Err(TlogError::MalformedNote(_))), "signed {text:?}");
            }
        }
        // Blank lines inside the text are allowed: the last blank line starts the signatures.
        let text = "first\n\nsecond\n\n";
        assert_eq!(peter.verify(&signer.sign(text).unwrap()).unwrap(), text);
    }

    #[test]
    fn key_names_and_verifier_keys_are_strict() {
        let seed = [7; 32];
        for name in ["", "a+b", "a b", "tab\there", "line\nbreak", "nbsp\u{a0}x", "ctl\u{7f}"] {
            assert_eq!(NoteSigner::new(name, &seed).err(), Some(TlogError::InvalidKeyName), "{name:?}");
        }
        let signer = NoteSigner::new("log.example/audit", &seed).unwrap();
        let verifier = NoteVerifier::parse(&signer.verifier().vkey()).unwrap();
        assert_eq!(verifier, signer.verifier());
        // Every proper substring and every one-byte change of a valid key is refused, as in
        // TestNewVerifier of github.com/golang/mod, sumdb/note/note_test.go.
        let bytes = PETER_VKEY.as_bytes();
        for start in 0..=bytes.len() {
            for end in start + 1..=bytes.len() {
                if (start, end) != (0, bytes.len()) {
                    assert!(NoteVerifier::parse(&PETER_VKEY[start..end]).is_err(), "{}", &PETER_VKEY[start..end]);
                }
            }
        }
        for position in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[position] += 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(NoteVerifier::parse(&changed).is_err(), "{changed}");
        }
        // Wrong key length and unknown key type, each with its key id adjusted (same source).
        assert!(
            NoteVerifier::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==").is_err()
        );
        assert!(NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
        // Uppercase key ids are not this format's spelling.
        assert!(NoteVerifier::parse("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    }

    #[test]
    fn every_single_bit_flip_in_a_signed_checkpoint_is_refused() {
        let signer = NoteSigner::new("flexsettle.example/audit", &[42; 32]).unwrap();
        let verifier = signer.verifier();
        let checkpoint = Checkpoint { origin: signer.name().to_owned(), size: 1234, root: leaf_hash(b"root") };
        let note = signer.sign(&checkpoint.body()).unwrap();
        assert_eq!(Checkpoint::parse_body(&verifier.verify(&note).unwrap()), Ok(checkpoint.clone()));
        let (text, signature_line) = note.split_once("\n\n").unwrap();
        let (prefix, signature_base64) = signature_line.trim_end().rsplit_once(' ').unwrap();
        let signature = BASE64.decode(signature_base64).unwrap();
        assert_eq!(signature.len(), KEY_ID_LEN + 64);
        for bit in 0..signature.len() * 8 {
            let mut tampered = signature.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let tampered_note = format!("{text}\n\n{prefix} {}\n", BASE64.encode(&tampered));
            let expected = if bit < KEY_ID_LEN * 8 { TlogError::NoSignatureByKey } else { TlogError::InvalidSignature };
            assert_eq!(verifier.verify(&tampered_note), Err(expected), "bit {bit}");
        }
        // Every flip of the signed text that is still UTF-8 is refused too.
        for bit in 0..text.len() * 8 {
            let mut tampered = note.clone().into_bytes();
            tampered[bit / 8] ^= 1 << (bit % 8);
            if let Ok(tampered) = String::from_utf8(tampered) {
                assert!(verifier.verify(&tampered).is_err(), "text bit {bit}");
            }
        }
        // Another key with the same name is not this log's key.
        let impostor = NoteSigner::new("flexsettle.example/audit", &[43; 32]).unwrap();
        let forged = impostor.sign(&checkpoint.body()).unwrap();
        assert_eq!(verifier.verify(&forged), Err(TlogError::NoSignatureByKey));
    }

    #[test]
    fn errors_read_as_sentences() {
        let node = TlogError::MissingNode(NodeId { level: 2, index: 5 });
        assert_eq!(node.to_string(), "the tree store has no hash for node (level 2, index 5)");
        let error: Box<dyn std::error::Error> = Box::new(TlogError::RootMismatch);
        assert_eq!(error.to_string(), "the proof does not lead to the expected root hash");
    }

    // ---- the stored tree against the definition, at random sizes ---------------------------

    proptest! {
        // Each case builds a tree of up to 2,000 leaves in random batches and checks the proof of
        // every leaf of its final size, and consistency between its sizes: 32 cases take about
        // 1.5 s in a debug build (SHA-256 costs some 3 µs there).
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn stored_trees_answer_every_proof_like_the_definition(
            batches in prop::collection::vec(0_usize..=250, 1..=8),
            seed in any::<u64>(),
            samples in prop::collection::vec((any::<u64>(), any::<u64>()), 8),
        ) {
            let total: usize = batches.iter().sum();
            let leaves: Vec<Hash> =
                (0..total as u64).map(|i| leaf_hash(&[seed.to_be_bytes(), i.to_be_bytes()].concat())).collect();
            // The definition's root of each tree size, computed once per size.
            let mut roots = HashMap::new();
            let mut root_of = |size: u64| *roots.entry(size).or_insert_with(|| root_from_leaf_hashes(&leaves[..size as usize]));
            let mut store = Store::default();
            let mut boundaries = vec![0_u64];
            for batch in &batches {
                let start = store.size as usize;
                store.append(&leaves[start..start + batch]);
                boundaries.push(store.size);
                prop_assert_eq!(tree_root(store.size, store.read()).unwrap(), root_of(store.size));
            }
            let size = store.size;
            let root = root_of(size);
            // Every leaf of the final tree.
            for index in 0..size {
                let proof = inclusion_proof(index, size, store.read()).unwrap();
                prop_assert_eq!(verify_inclusion(index, size, &leaves[index as usize], &proof, &root), Ok(()));
            }
            // Every pair of sizes the batches passed through, and random pairs of earlier trees.
            let mut pairs: Vec<(u64, u64)> = boundaries
                .iter()
                .enumerate()
                .flat_map(|(position, &old_size)| boundaries[position..].iter().map(move |&new_size| (old_size, new_size)))
                .collect();
            pairs.extend(samples.iter().map(|&(a, b)| {
                let (first, second) = (a % (size + 1), b % (size + 1));
                (first.min(second), first.max(second))
            }));
            for (old_size, new_size) in pairs {
                let (old_root, new_root) = (root_of(old_size), root_of(new_size));
                prop_assert_eq!(tree_root(new_size, store.read()).unwrap(), new_root);
                let proof = consistency_proof(old_size, new_size, store.read()).unwrap();
                prop_assert_eq!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof), Ok(()));
                // And a leaf of the newer tree, chosen from the older size.
                if new_size > 0 {
                    let index = (old_size * 7919) % new_size;
                    let proof = inclusion_proof(index, new_size, store.read()).unwrap();
                    let leaf = &leaves[index as usize];
                    prop_assert_eq!(verify_inclusion(index, new_size, leaf, &proof, &new_root), Ok(()));
                }
            }
        }
    }
}

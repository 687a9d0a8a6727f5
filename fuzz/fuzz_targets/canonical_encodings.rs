//! The canonical encodings auditors verify: audit leaves, checkpoint bodies, signed notes and
//! verifier keys, canonical JSON, and the RFC 9162 tree and its proofs. Whatever parses is in
//! canonical form (re-encoding gives the input back); a tree built from fuzzed leaves agrees
//! with the definition, and its proofs verify and break on any flipped byte. Nothing panics.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use flexsettle::domain::audit::{AuditEntry, LeafView, canonical_json};
use flexsettle::domain::tlog::{
    self, Checkpoint, Hash, NodeId, NoteSigner, NoteVerifier, consistency_proof, inclusion_proof, leaf_hash, new_nodes,
    root_from_leaf_hashes, tree_root, verify_consistency, verify_inclusion,
};
use libfuzzer_sys::fuzz_target;

static SIGNER: LazyLock<NoteSigner> =
    LazyLock::new(|| NoteSigner::new("flexsettle.fuzz/log", &[7; 32]).expect("a note signer"));

fn leaves(data: &[u8]) -> Vec<Hash> {
    data.chunks(3).map(leaf_hash).collect()
}

fn tree(leaf_hashes: &[Hash]) -> HashMap<NodeId, Hash> {
    let nodes = new_nodes(0, leaf_hashes, |_| None).expect("nodes of a new tree");
    nodes.into_iter().collect()
}

fn flipped(proof: &[Hash], at: usize) -> Vec<Hash> {
    let mut proof = proof.to_vec();
    if let Some(hash) = proof.get_mut(at / 32) {
        hash[at % 32] ^= 1;
    }
    proof
}

fn has_float(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(number) => number.is_f64(),
        serde_json::Value::Array(items) => items.iter().any(has_float),
        serde_json::Value::Object(fields) => fields.values().any(has_float),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match mode % 6 {
        0 => {
            if let Ok(entry) = AuditEntry::from_leaf(rest) {
                assert_eq!(entry.leaf(), rest, "a leaf that parses is canonical");
                let view = LeafView::parse(rest).expect("a leaf that parses reads in place");
                assert_eq!(view.seq, entry.seq);
                assert_eq!(view.payload, entry.payload);
            }
        }
        1 => {
            if let Ok(checkpoint) = Checkpoint::parse_body(&text) {
                assert_eq!(checkpoint.body(), text, "a checkpoint body that parses is canonical");
            }
        }
        2 => {
            if let Ok(verifier) = NoteVerifier::parse(&text) {
                let again = NoteVerifier::parse(&verifier.vkey()).expect("a written verifier key parses");
                assert_eq!((again.name(), again.public_key()), (verifier.name(), verifier.public_key()));
            }
            let ours = SIGNER.verifier();
            if let Ok(body) = ours.verify(&text) {
                // Only a note the signer signed verifies (the seed corpus holds some): what it
                // vouches for is the note's own text, up to the blank line.
                assert!(text.starts_with(&body) && text[body.len()..].starts_with('\n'));
            }
            if let Ok(signed) = SIGNER.sign(&text) {
                assert_eq!(ours.verify(&signed).expect("our own note verifies"), text);
            }
        }
        3 => {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) {
                // Refused only for a number that is not an integer (no canonical spelling).
                let Ok(canonical) = canonical_json(&value) else {
                    assert!(has_float(&value), "refused without a float: {value}");
                    return;
                };
                let reread: serde_json::Value = serde_json::from_str(&canonical).expect("canonical JSON reads");
                assert_eq!(reread, value);
                assert_eq!(canonical_json(&reread).expect("encodes again"), canonical, "one encoding per value");
            }
        }
        4 => {
            // A tree of the fuzzed leaves, its root by the definition, proofs both ways.
            let Some((&cut, rest)) = rest.split_first() else { return };
            let leaf_hashes = leaves(rest);
            let size = leaf_hashes.len() as u64;
            let nodes = tree(&leaf_hashes);
            let read = |id: NodeId| nodes.get(&id).copied();
            let root = tree_root(size, read).expect("the root of a stored tree");
            assert_eq!(root, root_from_leaf_hashes(&leaf_hashes));
            if size == 0 {
                return;
            }
            let index = u64::from(cut) % size;
            let proof = inclusion_proof(index, size, read).expect("an inclusion proof");
            let leaf = leaf_hashes[index as usize];
            assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
            for at in 0..proof.len() * 32 {
                assert!(verify_inclusion(index, size, &leaf, &flipped(&proof, at), &root).is_err());
            }
            let old_size = index + 1;
            let old_root = root_from_leaf_hashes(&leaf_hashes[..old_size as usize]);
            let consistency = consistency_proof(old_size, size, read).expect("a consistency proof");
            assert!(verify_consistency(old_size, size, &old_root, &root, &consistency).is_ok());
            for at in 0..consistency.len() * 32 {
                assert!(verify_consistency(old_size, size, &old_root, &root, &flipped(&consistency, at)).is_err());
            }
        }
        _ => {
            // Proofs of any shape against any tree: refused or verified, never a panic.
            let words: Vec<u64> = rest.chunks(8).map(|c| c.iter().fold(0_u64, |a, b| a << 8 | u64::from(*b))).collect();
            let hashes: Vec<Hash> = rest.chunks(32).map(|c| tlog::leaf_hash(c)).collect();
            let (a, b) = (words.first().copied().unwrap_or(0), words.get(1).copied().unwrap_or(0));
            let some = hashes.first().copied().unwrap_or([0; 32]);
            let _ = verify_inclusion(a, b, &some, &hashes, &some);
            let _ = verify_consistency(a, b, &some, &some, &hashes);
        }
    }
});

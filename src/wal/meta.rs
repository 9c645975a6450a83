//! The metadata blob (vote, last purged log id — opaque bytes to the WAL), saved atomically.
//!
//! Owns the `meta` file. Invariant: the file under the name `meta` is always a complete,
//! checksummed blob: a new one is written to `meta.tmp`, synced, renamed over, and the
//! directory synced, so a crash leaves either the old or the new blob.

use std::path::Path;

use super::error::WalError;
use super::vfs::{Caching, OpenMode, Vfs};

pub const META_FILE_NAME: &str = "meta";
pub const META_TEMP_FILE_NAME: &str = "meta.tmp";
const META_MAGIC: [u8; 8] = *b"TNDMMETA";
const META_FORMAT_VERSION: u32 = 1;
const META_HEADER_BYTES: usize = 24;

// Meta file layout (little-endian):
//
//   offset  size  field
//   0       8     magic        "TNDMMETA"
//   8       4     version      u32 = 1
//   12      4     payload_len  u32
//   16      4     crc          u32, CRC32C of bytes 0..16, then the payload
//   20      4     reserved     zero
//   24      n     payload      opaque to the WAL

fn encode_meta(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(META_HEADER_BYTES + payload.len());
    out.extend_from_slice(&META_MAGIC);
    out.extend_from_slice(&META_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[0..16]), payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
    out
}

/// Decodes a meta file image (layout above); never panics.
pub fn decode_meta(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let header = bytes
        .get(..META_HEADER_BYTES)
        .ok_or_else(|| format!("file is only {} bytes long", bytes.len()))?;
    if header[0..8] != META_MAGIC {
        return Err("bad magic".into());
    }
    let le32 = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or_default());
    if le32(8) != META_FORMAT_VERSION {
        return Err(format!(
            "meta format version {} is not the version this build reads ({META_FORMAT_VERSION}); run the Tandem release that wrote it",
            le32(8)
        ));
    }
    let payload = bytes
        .get(META_HEADER_BYTES..META_HEADER_BYTES + le32(12) as usize)
        .ok_or("payload length out of bounds")?;
    let actual = crc32c::crc32c_append(crc32c::crc32c(&header[0..16]), payload);
    if actual != le32(16) {
        return Err(format!(
            "checksum mismatch (stored {:#010x}, computed {actual:#010x})",
            le32(16)
        ));
    }
    Ok(payload.to_vec())
}

/// Reads the saved blob, if one was ever saved.
pub fn load_meta(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Vec<u8>>, WalError> {
    let path = dir.join(META_FILE_NAME);
    if !vfs
        .exists(&path)
        .map_err(|e| WalError::io("stat", &path, e))?
    {
        return Ok(None);
    }
    let bytes = vfs
        .read_whole(&path)
        .map_err(|e| WalError::io("read", &path, e))?;
    decode_meta(&bytes)
        .map(Some)
        .map_err(|reason| WalError::MetaCorrupt { path, reason })
}

/// Replaces the blob durably: temp file, fsync, rename, fsync directory.
pub fn save_meta(vfs: &dyn Vfs, dir: &Path, payload: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(META_TEMP_FILE_NAME);
    let file = vfs.open(&temp, OpenMode::CreateTruncate, Caching::Buffered)?;
    file.write_at(&encode_meta(payload), 0)?;
    file.sync()?;
    drop(file);
    vfs.rename(&temp, &dir.join(META_FILE_NAME))?;
    vfs.sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_decoding_catches_damage() {
        let image = encode_meta(b"vote=3");
        assert_eq!(decode_meta(&image).as_deref(), Ok(&b"vote=3"[..]));
        for at in 0..image.len() {
            let mut bad = image.clone();
            bad[at] ^= 4;
            if (20..24).contains(&at) {
                continue; // reserved bytes are not covered
            }
            assert!(decode_meta(&bad).is_err(), "flip at {at} undetected");
        }
        assert!(decode_meta(&image[..10]).is_err());
    }
}

//! The verity superblock: veritysetup's on-disk format, restricted to what NPKs use.

use super::{Error, SUPERBLOCK_SIZE};

const SIGNATURE: [u8; 8] = *b"verity\0\0";
const VERSION: u32 = 1;
const HASH_TYPE: u32 = 1;
const ALGORITHM: &[u8] = b"sha256";
const BLOCK_SIZE: u32 = 4096;
/// The salt size every NPK uses.
const SALT_SIZE: u16 = 32;
/// The room the superblock has for a salt.
const MAX_SALT_SIZE: u16 = 256;

// Field offsets (all integers little-endian). Everything from `PADDING` on that is not
// the salt is zero in what veritysetup writes, and `parse` insists on it.
const SIGNATURE_AT: usize = 0;
const VERSION_AT: usize = 8;
const HASH_TYPE_AT: usize = 12;
const UUID_AT: usize = 16;
const ALGORITHM_AT: usize = 32;
const ALGORITHM_LEN: usize = 32;
const ALGORITHM_END: usize = ALGORITHM_AT + ALGORITHM.len();
const DATA_BLOCK_SIZE_AT: usize = 64;
const HASH_BLOCK_SIZE_AT: usize = 68;
const DATA_BLOCKS_AT: usize = 72;
const SALT_SIZE_AT: usize = 80;
const PADDING_AT: usize = 82;
const SALT_AT: usize = 88;
const SALT_END: usize = SALT_AT + SALT_SIZE as usize;

/// A dm-verity salt. NPKs always use 32 random bytes, fresh for every package.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Salt(pub [u8; 32]);

impl Salt {
    /// A salt from the operating system's random number generator.
    pub fn random() -> Result<Salt, Error> {
        let mut salt = [0; 32];
        getrandom::getrandom(&mut salt).map_err(Error::Random)?;
        Ok(Salt(salt))
    }

    /// Parses exactly 64 hex digits (veritysetup's `--salt` notation).
    pub fn from_hex(s: &str) -> Result<Salt, Error> {
        let mut salt = [0; 32];
        hex::decode_to_slice(s, &mut salt).map_err(|_| Error::SaltHex(s.to_owned()))?;
        Ok(Salt(salt))
    }

    /// 64 lower-case hex digits, as in the device-mapper table.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// The fields of a verity superblock that vary between NPKs; all others are fixed
/// (version 1, hash type 1, sha256, 4096-byte blocks, 32-byte salt).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Superblock {
    /// Identifies the image; nothing checks it (the kernel never reads the superblock).
    pub uuid: [u8; 16],
    /// Number of 4096-byte data blocks the tree covers.
    pub data_blocks: u64,
    /// The salt every hash of the tree starts with.
    pub salt: Salt,
}

impl Superblock {
    /// The 4096 bytes veritysetup writes for these fields.
    pub fn to_bytes(&self) -> [u8; SUPERBLOCK_SIZE as usize] {
        let mut b = [0; SUPERBLOCK_SIZE as usize];
        b[SIGNATURE_AT..VERSION_AT].copy_from_slice(&SIGNATURE);
        b[VERSION_AT..HASH_TYPE_AT].copy_from_slice(&VERSION.to_le_bytes());
        b[HASH_TYPE_AT..UUID_AT].copy_from_slice(&HASH_TYPE.to_le_bytes());
        b[UUID_AT..ALGORITHM_AT].copy_from_slice(&self.uuid);
        b[ALGORITHM_AT..ALGORITHM_END].copy_from_slice(ALGORITHM);
        b[DATA_BLOCK_SIZE_AT..HASH_BLOCK_SIZE_AT].copy_from_slice(&BLOCK_SIZE.to_le_bytes());
        b[HASH_BLOCK_SIZE_AT..DATA_BLOCKS_AT].copy_from_slice(&BLOCK_SIZE.to_le_bytes());
        b[DATA_BLOCKS_AT..SALT_SIZE_AT].copy_from_slice(&self.data_blocks.to_le_bytes());
        b[SALT_SIZE_AT..PADDING_AT].copy_from_slice(&SALT_SIZE.to_le_bytes());
        b[SALT_AT..SALT_END].copy_from_slice(&self.salt.0);
        b
    }

    /// Parses a superblock strictly: every fixed field must have the one value NPKs use,
    /// and every reserved byte must be zero, so `parse(b)` succeeds only for the bytes
    /// `to_bytes` produces. Each departure has its own error.
    pub fn parse(bytes: &[u8]) -> Result<Superblock, Error> {
        let b: &[u8; SUPERBLOCK_SIZE as usize] = bytes
            .try_into()
            .map_err(|_| Error::SuperblockLength(bytes.len()))?;

        let signature = array::<8>(b, SIGNATURE_AT);
        if signature != SIGNATURE {
            return Err(Error::Signature(signature));
        }
        let version = u32::from_le_bytes(array(b, VERSION_AT));
        if version != VERSION {
            return Err(Error::Version(version));
        }
        let hash_type = u32::from_le_bytes(array(b, HASH_TYPE_AT));
        if hash_type != HASH_TYPE {
            return Err(Error::HashType(hash_type));
        }
        let algorithm = &b[ALGORITHM_AT..DATA_BLOCK_SIZE_AT];
        let (name, padding) = algorithm.split_at(ALGORITHM.len());
        if name != ALGORITHM || padding.iter().any(|&c| c != 0) {
            let end = algorithm
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(ALGORITHM_LEN);
            let shown = if padding.iter().any(|&c| c != 0) {
                ALGORITHM_LEN
            } else {
                end
            };
            return Err(Error::Algorithm(
                String::from_utf8_lossy(algorithm.get(..shown).unwrap_or(algorithm)).into_owned(),
            ));
        }
        let data_block_size = u32::from_le_bytes(array(b, DATA_BLOCK_SIZE_AT));
        if data_block_size != BLOCK_SIZE {
            return Err(Error::DataBlockSize(data_block_size));
        }
        let hash_block_size = u32::from_le_bytes(array(b, HASH_BLOCK_SIZE_AT));
        if hash_block_size != BLOCK_SIZE {
            return Err(Error::HashBlockSize(hash_block_size));
        }
        let salt_size = u16::from_le_bytes(array(b, SALT_SIZE_AT));
        if salt_size > MAX_SALT_SIZE {
            return Err(Error::SaltSizeTooLarge(salt_size));
        }
        if salt_size != SALT_SIZE {
            return Err(Error::SaltSize(salt_size));
        }
        let data_blocks = u64::from_le_bytes(array(b, DATA_BLOCKS_AT));
        if data_blocks == 0 {
            return Err(Error::NoDataBlocks);
        }
        let reserved = (PADDING_AT..SALT_AT).chain(SALT_END..b.len());
        if let Some(at) = reserved.into_iter().find(|&at| b.get(at) != Some(&0)) {
            return Err(Error::Reserved(at));
        }
        Ok(Superblock {
            uuid: array(b, UUID_AT),
            data_blocks,
            salt: Salt(array(b, SALT_AT)),
        })
    }
}

/// `N` bytes of the superblock from `at`; callers pass constant in-bounds offsets.
fn array<const N: usize>(b: &[u8; SUPERBLOCK_SIZE as usize], at: usize) -> [u8; N] {
    let mut out = [0; N];
    for (out, byte) in out.iter_mut().zip(b.iter().skip(at)) {
        *out = *byte;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock {
            uuid: *b"0123456789abcdef",
            data_blocks: 81,
            salt: Salt([0xab; 32]),
        }
    }

    /// Bytes veritysetup 2.6.1 wrote for `format --data-blocks=1 --salt=ab..ab
    /// --uuid=12345678-1234-4234-8234-123456789abc` (the first 128; the rest is zero).
    #[test]
    fn matches_veritysetup_bytes() {
        let mut expected = [0u8; 4096];
        let head = hex::decode(concat!(
            "7665726974790000010000000100000012345678123442348234123456789abc",
            "7368613235360000000000000000000000000000000000000000000000000000",
            "001000000010000001000000000000002000000000000000",
            "abababababababababababababababababababababababababababababababab"
        ))
        .unwrap();
        expected[..head.len()].copy_from_slice(&head);
        let sb = Superblock {
            uuid: hex::decode("12345678123442348234123456789abc")
                .unwrap()
                .try_into()
                .unwrap(),
            data_blocks: 1,
            salt: Salt([0xab; 32]),
        };
        assert_eq!(sb.to_bytes(), expected);
        assert_eq!(Superblock::parse(&expected).unwrap(), sb);
    }

    #[test]
    fn round_trip() {
        let sb = sample();
        assert_eq!(Superblock::parse(&sb.to_bytes()).unwrap(), sb);
    }

    fn patched(at: usize, bytes: &[u8]) -> Result<Superblock, Error> {
        let mut b = sample().to_bytes();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        Superblock::parse(&b)
    }

    #[test]
    fn rejects_each_field() {
        assert!(matches!(patched(0, b"verify"), Err(Error::Signature(_))));
        assert!(matches!(patched(8, &[2]), Err(Error::Version(2))));
        assert!(matches!(patched(12, &[0]), Err(Error::HashType(0))));
        assert!(matches!(patched(32, b"sha1\0\0"), Err(Error::Algorithm(a)) if a == "sha1"));
        assert!(matches!(patched(32, b"SHA256"), Err(Error::Algorithm(_))));
        assert!(matches!(patched(38, b"x"), Err(Error::Algorithm(_))));
        assert!(matches!(patched(63, b"x"), Err(Error::Algorithm(_))));
        assert!(matches!(
            patched(64, &512u32.to_le_bytes()),
            Err(Error::DataBlockSize(512))
        ));
        assert!(matches!(
            patched(68, &512u32.to_le_bytes()),
            Err(Error::HashBlockSize(512))
        ));
        assert!(matches!(patched(72, &[0; 8]), Err(Error::NoDataBlocks)));
        assert!(matches!(
            patched(80, &257u16.to_le_bytes()),
            Err(Error::SaltSizeTooLarge(257))
        ));
        assert!(matches!(
            patched(80, &u16::MAX.to_le_bytes()),
            Err(Error::SaltSizeTooLarge(_))
        ));
        assert!(matches!(
            patched(80, &256u16.to_le_bytes()),
            Err(Error::SaltSize(256))
        ));
        assert!(matches!(
            patched(80, &0u16.to_le_bytes()),
            Err(Error::SaltSize(0))
        ));
        assert!(matches!(patched(82, &[1]), Err(Error::Reserved(82))));
        assert!(matches!(patched(120, &[1]), Err(Error::Reserved(120))));
        assert!(matches!(patched(4095, &[1]), Err(Error::Reserved(4095))));
        assert!(matches!(
            Superblock::parse(&[0; 4095]),
            Err(Error::SuperblockLength(4095))
        ));
        assert!(matches!(
            Superblock::parse(&[0; 4097]),
            Err(Error::SuperblockLength(4097))
        ));
    }

    #[test]
    fn salt_hex() {
        let salt = Salt::from_hex(&"0f".repeat(32)).unwrap();
        assert_eq!(salt, Salt([0x0f; 32]));
        assert_eq!(salt.to_hex(), "0f".repeat(32));
        for bad in ["", "0f", &"0f".repeat(33), &"zz".repeat(32)] {
            assert!(
                matches!(Salt::from_hex(bad), Err(Error::SaltHex(_))),
                "{bad}"
            );
        }
        assert_ne!(Salt::random().unwrap(), Salt::random().unwrap());
    }
}

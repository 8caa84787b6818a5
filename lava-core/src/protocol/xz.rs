//! xz for END descriptions: Python's `lzma.compress` defaults, and a bounded decompressor.
//!
//! The slave sends `description.yaml` as an `.xz` stream (CRC64 check, preset 6). The master
//! decompresses what any peer sends it, so decompression is bounded twice: by the size of
//! the output (an xz bomb of a few kB can expand to gigabytes) and by liblzma's memory limit
//! (a header can ask for a dictionary of 1.5 GiB before a single byte is produced).

use liblzma::stream::{Action, Check, Status, Stream};

/// Python's `lzma.PRESET_DEFAULT`.
pub const PRESET: u32 = 6;

/// Bounds on decompressing an untrusted description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XzLimits {
    /// Most bytes the decompressed text may have.
    pub max_output: usize,
    /// Most memory liblzma may use to decode (the dictionary dominates).
    pub memlimit: u64,
}

impl Default for XzLimits {
    /// 32 MiB of text (real descriptions are tens of kB) and 80 MiB of decoder memory, enough
    /// for the largest standard preset (`-9`, 64 MiB dictionary).
    fn default() -> Self {
        XzLimits {
            max_output: 32 << 20,
            memlimit: 80 << 20,
        }
    }
}

/// Why an xz stream could not be produced or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XzError {
    /// The input is empty: LAVA's slave sends an empty description when lava-run crashed.
    #[error("empty xz stream (lava-run crashed or never ran)")]
    Empty,
    /// The input is not an xz stream.
    #[error("not an xz stream")]
    Format,
    /// The stream is damaged or its check does not match.
    #[error("corrupt xz data at input byte {at}")]
    Corrupt {
        /// How much input had been consumed.
        at: u64,
    },
    /// The stream ends before it is complete.
    #[error("truncated xz stream ({len} bytes)")]
    Truncated {
        /// The input length.
        len: usize,
    },
    /// Bytes follow the last complete stream and are not another stream.
    #[error("trailing garbage after the xz stream at byte {at}")]
    TrailingData {
        /// Where the garbage starts.
        at: u64,
    },
    /// The decompressed data would exceed [`XzLimits::max_output`].
    #[error("decompressed description exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Decoding the stream needs more memory than [`XzLimits::memlimit`].
    #[error("xz stream needs more than {limit} bytes of decoder memory")]
    MemLimit {
        /// The limit.
        limit: u64,
    },
    /// The decompressed description is not UTF-8 text.
    #[error("decompressed description is not UTF-8 (bad byte at offset {valid_up_to})")]
    NotUtf8 {
        /// Offset of the first byte that is not valid UTF-8.
        valid_up_to: usize,
    },
    /// liblzma failed for another reason (options, allocation).
    #[error("liblzma error: {0}")]
    Lzma(String),
}

/// Compresses like Python's `lzma.compress(data)`: `.xz` container, CRC64, preset 6.
pub fn compress(data: &[u8]) -> Result<Vec<u8>, XzError> {
    let mut stream = Stream::new_easy_encoder(PRESET, Check::Crc64)
        .map_err(|e| XzError::Lzma(format!("{e:?}")))?;
    // An incompressible input grows by a few bytes per 64 kB block plus the headers.
    let mut out = Vec::with_capacity(data.len() / 3 + 128);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = usize::try_from(stream.total_in()).unwrap_or(data.len());
        let rest = data.get(consumed..).unwrap_or_default();
        let room = out.len() < out.capacity();
        match stream.process_vec(rest, &mut out, Action::Finish) {
            Ok(Status::StreamEnd) => return Ok(out),
            // liblzma's "no progress possible" with room to write would loop forever.
            Ok(Status::MemNeeded) if room => {
                return Err(XzError::Lzma("encoder made no progress".to_owned()))
            }
            Ok(_) => {}
            Err(e) => return Err(XzError::Lzma(format!("{e:?}"))),
        }
    }
}

/// Decompresses an untrusted `.xz` description (one or more concatenated streams, as
/// Python's `lzma.decompress` accepts), within `limits`.
pub fn decompress(data: &[u8], limits: XzLimits) -> Result<Vec<u8>, XzError> {
    if data.is_empty() {
        return Err(XzError::Empty);
    }
    // Start small: the output size is unknown and the input may be hostile.
    let first_guess = data
        .len()
        .saturating_mul(4)
        .clamp(4096, limits.max_output.max(1));
    let mut out = Vec::with_capacity(first_guess);
    let mut offset = 0;
    loop {
        offset += decompress_stream(&data[offset..], offset, limits, &mut out)?;
        // Stream padding (NUL bytes) may follow a stream, as in the xz file format.
        let rest = &data[offset..];
        if rest.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        if !rest.starts_with(XZ_MAGIC) {
            return Err(XzError::TrailingData { at: offset as u64 });
        }
    }
}

/// The text of an END description: `None` for the empty frame that means "lava-run
/// crashed or never ran", else the decompressed `description.yaml`.
pub fn description_text(description: &[u8], limits: XzLimits) -> Result<Option<String>, XzError> {
    if description.is_empty() {
        return Ok(None);
    }
    let bytes = decompress(description, limits)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| XzError::NotUtf8 {
            valid_up_to: e.utf8_error().valid_up_to(),
        })
}

/// The magic bytes of an xz stream header.
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// Decodes the one stream at the start of `data` into `out`; returns the bytes it used.
fn decompress_stream(
    data: &[u8],
    offset: usize,
    limits: XzLimits,
    out: &mut Vec<u8>,
) -> Result<usize, XzError> {
    let mut stream = Stream::new_stream_decoder(limits.memlimit, 0)
        .map_err(|e| XzError::Lzma(format!("{e:?}")))?;
    let at = |stream: &Stream| offset as u64 + stream.total_in();
    loop {
        if out.len() == out.capacity() {
            // One byte past the limit is enough to know the limit is exceeded.
            let room = limits
                .max_output
                .saturating_add(1)
                .saturating_sub(out.len());
            if room == 0 {
                return Err(XzError::TooLarge {
                    limit: limits.max_output,
                });
            }
            out.reserve_exact(out.capacity().max(4096).min(room));
        }
        let consumed = usize::try_from(stream.total_in()).unwrap_or(data.len());
        let rest = data.get(consumed..).unwrap_or_default();
        let before = (stream.total_in(), stream.total_out());
        let status = stream.process_vec(rest, out, Action::Run);
        if out.len() > limits.max_output {
            return Err(XzError::TooLarge {
                limit: limits.max_output,
            });
        }
        let progressed = (stream.total_in(), stream.total_out()) != before;
        match status {
            Ok(Status::StreamEnd) => {
                return Ok(usize::try_from(stream.total_in()).unwrap_or(data.len()))
            }
            Ok(_) if progressed || out.len() == out.capacity() => {}
            // No progress with output room left: the input ran out mid-stream.
            Ok(_) => {
                return Err(XzError::Truncated {
                    len: offset + data.len(),
                })
            }
            Err(liblzma::stream::Error::MemLimit) => {
                return Err(XzError::MemLimit {
                    limit: limits.memlimit,
                })
            }
            Err(liblzma::stream::Error::Format) => {
                return Err(XzError::Format);
            }
            Err(liblzma::stream::Error::Data) => return Err(XzError::Corrupt { at: at(&stream) }),
            Err(liblzma::stream::Error::Mem) => {
                return Err(XzError::Lzma("out of memory".to_owned()))
            }
            Err(e) => return Err(XzError::Lzma(format!("{e:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = b"compatibility: 6\njob:\n  actions: []\n".repeat(100);
        let packed = compress(&text).unwrap();
        assert!(packed.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]));
        assert_eq!(decompress(&packed, XzLimits::default()).unwrap(), text);
    }

    #[test]
    fn description_text_tells_crashes_apart() {
        assert_eq!(description_text(b"", XzLimits::default()), Ok(None));
        let packed = compress("device: {}\n".as_bytes()).unwrap();
        assert_eq!(
            description_text(&packed, XzLimits::default()),
            Ok(Some("device: {}\n".to_owned()))
        );
        let packed = compress(b"bad \xff").unwrap();
        assert_eq!(
            description_text(&packed, XzLimits::default()),
            Err(XzError::NotUtf8 { valid_up_to: 4 })
        );
    }

    #[test]
    fn empty_input_is_the_crash_marker() {
        assert_eq!(decompress(b"", XzLimits::default()), Err(XzError::Empty));
        // An empty *text* still makes a valid stream.
        let packed = compress(b"").unwrap();
        assert_eq!(decompress(&packed, XzLimits::default()).unwrap(), b"");
    }

    #[test]
    fn output_limit_stops_a_bomb() {
        let bomb = compress(&vec![0u8; 1 << 20]).unwrap();
        assert!(bomb.len() < 4096);
        let limits = XzLimits {
            max_output: 256 << 10,
            ..XzLimits::default()
        };
        assert_eq!(
            decompress(&bomb, limits),
            Err(XzError::TooLarge { limit: 256 << 10 })
        );
        // Exactly at the limit is fine.
        let exact = XzLimits {
            max_output: 1 << 20,
            ..XzLimits::default()
        };
        assert_eq!(decompress(&bomb, exact).map(|v| v.len()), Ok(1 << 20));
    }

    #[test]
    fn memory_limit_is_enforced() {
        let packed = compress(b"hello").unwrap();
        let limits = XzLimits {
            memlimit: 1 << 20,
            ..XzLimits::default()
        };
        assert_eq!(
            decompress(&packed, limits),
            Err(XzError::MemLimit { limit: 1 << 20 })
        );
    }

    #[test]
    fn damaged_streams_are_errors() {
        let packed = compress(b"some description text").unwrap();
        assert_eq!(
            decompress(b"not xz at all", XzLimits::default()),
            Err(XzError::Format)
        );
        let cut = &packed[..packed.len() - 5];
        assert_eq!(
            decompress(cut, XzLimits::default()),
            Err(XzError::Truncated { len: cut.len() })
        );
        let mut flipped = packed.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x55;
        assert!(matches!(
            decompress(&flipped, XzLimits::default()),
            Err(XzError::Corrupt { .. } | XzError::Format)
        ));
        let mut trailing = packed.clone();
        trailing.extend_from_slice(b"junk");
        assert!(matches!(
            decompress(&trailing, XzLimits::default()),
            Err(XzError::TrailingData { .. })
        ));
        let mut twice = packed.clone();
        twice.extend_from_slice(&packed);
        assert_eq!(
            decompress(&twice, XzLimits::default()).unwrap(),
            b"some description textsome description text"
        );
    }
}

use core::fmt;

/// The kinds of decoding failure, as `protocol/testdata/invalid/expect.json` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The stream ended inside a frame (its header or payload). A CBOR item that ends
    /// before its frame does is `Malformed`: the frame was whole, the next one can be read.
    Truncated,
    /// The frame header announces more than the receiver's limit.
    FrameTooLarge,
    /// The frame version (or the reserved flags) is not one we speak.
    UnsupportedVersion,
    /// The message type number is not assigned.
    UnknownType,
    /// Not CBOR, or not the shape of the message.
    Malformed,
    /// Well-formed, but a field value is outside what the protocol allows.
    Invalid,
}

impl ErrorKind {
    /// The name `expect.json` uses.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Truncated => "truncated",
            ErrorKind::FrameTooLarge => "frame_too_large",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::UnknownType => "unknown_type",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Invalid => "invalid",
        }
    }

    /// The error code a receiver answers this failure with.
    pub const fn code(self) -> ErrorCode {
        match self {
            ErrorKind::UnknownType | ErrorKind::UnsupportedVersion => ErrorCode::Unsupported,
            ErrorKind::Invalid => ErrorCode::Invalid,
            ErrorKind::Truncated | ErrorKind::FrameTooLarge | ErrorKind::Malformed => ErrorCode::Malformed,
        }
    }

    /// Whether the stream can go on after this failure. After `truncated`,
    /// `frame_too_large` and `unsupported_version` the receiver must close the session.
    pub const fn recoverable(self) -> bool {
        !matches!(self, ErrorKind::Truncated | ErrorKind::FrameTooLarge | ErrorKind::UnsupportedVersion)
    }
}

/// Input that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message type, when it was read before the failure (0 otherwise).
    pub msg_type: u8,
    /// What was wrong, for humans.
    pub detail: &'static str,
}

impl DecodeError {
    pub(crate) const fn new(kind: ErrorKind, detail: &'static str) -> Self {
        DecodeError { kind, msg_type: 0, detail }
    }
    pub(crate) const fn malformed(detail: &'static str) -> Self {
        Self::new(ErrorKind::Malformed, detail)
    }
    pub(crate) const fn invalid(detail: &'static str) -> Self {
        Self::new(ErrorKind::Invalid, detail)
    }
    pub(crate) const fn truncated(detail: &'static str) -> Self {
        Self::new(ErrorKind::Truncated, detail)
    }
    pub(crate) const fn with_type(mut self, t: u8) -> Self {
        if self.msg_type == 0 {
            self.msg_type = t;
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol: {}", self.kind.name())?;
        if self.msg_type != 0 {
            write!(f, " (type {})", self.msg_type)?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl core::error::Error for DecodeError {}

/// A message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The message does not validate: the peer would refuse it.
    Invalid(DecodeError),
    /// The output buffer is too small.
    BufferFull,
    /// The encoded payload exceeds the frame limit.
    TooLarge,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Invalid(e) => write!(f, "encode: {e}"),
            EncodeError::BufferFull => f.write_str("encode: buffer full"),
            EncodeError::TooLarge => f.write_str("encode: payload exceeds the frame limit"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Error codes carried by the `error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    Malformed = 1,
    Unsupported = 2,
    Unauthorized = 3,
    Forbidden = 4,
    Invalid = 5,
    StaleGeneration = 6,
    NoRoom = 7,
    Checksum = 8,
    NotFound = 9,
    Revoked = 10,
    Busy = 11,
    Internal = 12,
    /// This gateway does not serve the device (it is assigned to another, or to none
    /// yet): try the next gateway of the bundle at once.
    WrongGateway = 13,
}

impl ErrorCode {
    /// The code for a wire number (unassigned numbers are kept by `Error::code` as raw u16).
    pub const fn from_u16(n: u16) -> Option<Self> {
        Some(match n {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::Unsupported,
            3 => ErrorCode::Unauthorized,
            4 => ErrorCode::Forbidden,
            5 => ErrorCode::Invalid,
            6 => ErrorCode::StaleGeneration,
            7 => ErrorCode::NoRoom,
            8 => ErrorCode::Checksum,
            9 => ErrorCode::NotFound,
            10 => ErrorCode::Revoked,
            11 => ErrorCode::Busy,
            12 => ErrorCode::Internal,
            13 => ErrorCode::WrongGateway,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Invalid => "invalid",
            ErrorCode::StaleGeneration => "stale_generation",
            ErrorCode::NoRoom => "no_room",
            ErrorCode::Checksum => "checksum",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Revoked => "revoked",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
            ErrorCode::WrongGateway => "wrong_gateway",
        }
    }
}

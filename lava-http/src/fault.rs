//! XML-RPC faults with the codes LAVA uses.

use thiserror::Error;

/// An XML-RPC fault: what a method call answers instead of a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("fault {code}: {message}")]
pub struct Fault {
    /// `faultCode`.
    pub code: i32,
    /// `faultString`.
    pub message: String,
}

/// Fault codes: LAVA's HTTP-like codes and the XML-RPC specification's server errors
/// (as `linaro_django_xmlrpc` defines them).
pub mod codes {
    /// Invalid input (LAVA).
    pub const BAD_REQUEST: i32 = 400;
    /// Authentication with user and token required (LAVA).
    pub const AUTH_REQUIRED: i32 = 401;
    /// Authenticated, but not allowed (LAVA).
    pub const FORBIDDEN: i32 = 403;
    /// Unknown object (LAVA).
    pub const NOT_FOUND: i32 = 404;
    /// The body is not well-formed XML.
    pub const NOT_WELL_FORMED: i32 = -32700;
    /// Well-formed XML that is not an XML-RPC method call.
    pub const INVALID_XML_RPC: i32 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Wrong number or types of arguments.
    pub const INVALID_PARAMS: i32 = -32602;
    /// The server failed (storage error and the like).
    pub const INTERNAL_ERROR: i32 = -32603;
}

impl Fault {
    /// A fault with any code.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Fault {
            code,
            message: message.into(),
        }
    }

    /// 400: invalid input.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(codes::BAD_REQUEST, message)
    }

    /// 404: unknown object.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(codes::NOT_FOUND, message)
    }

    /// 403: not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(codes::FORBIDDEN, message)
    }

    /// 401: the method needs an authenticated user (LAVA's wording).
    pub fn auth_required() -> Self {
        Self::new(
            codes::AUTH_REQUIRED,
            "Authentication with user and token required for this API.",
        )
    }

    /// -32602: wrong arguments.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMS, message)
    }

    /// -32603: the server failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            codes::INTERNAL_ERROR,
            format!(
                "Internal Server Error (contact server administrator for details): {}",
                message.into()
            ),
        )
    }
}

//! Text forms of a sealed block: the QR link `https://<host>/l#<base64url>` and the bare
//! base64url payload.
//!
//! The payload sits in the URL fragment, which browsers never send to the server: it stays
//! out of access logs and `Referer` headers, and the page at `/l` posts it to the ingest API.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::LinkError;

/// Path (and fragment marker) appended to the base URL.
pub const LINK_PATH: &str = "/l#";

/// `base_url` + `/l#` + the unpadded base64url payload. A trailing `/` on `base_url` is
/// dropped.
pub fn to_link(base_url: &str, sealed: &[u8]) -> String {
    let base = base_url.trim_end_matches('/');
    let mut link = String::with_capacity(base.len() + LINK_PATH.len() + sealed.len().div_ceil(3) * 4);
    link.push_str(base);
    link.push_str(LINK_PATH);
    URL_SAFE_NO_PAD.encode_string(sealed, &mut link);
    link
}

/// The unpadded base64url form of a sealed block, for gateways that post raw payloads.
pub fn to_payload_text(sealed: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sealed)
}

/// The sealed bytes of a link, or of a bare payload (everything after the last `#` if there
/// is one; surrounding whitespace ignored). Only canonical unpadded base64url is accepted.
pub fn from_link(text: &str) -> Result<Vec<u8>, LinkError> {
    let text = text.trim();
    let payload = match text.rsplit_once('#') {
        Some((_, fragment)) => fragment,
        None => text,
    };
    if payload.is_empty() {
        return Err(LinkError);
    }
    URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError)
}

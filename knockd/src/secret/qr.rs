//! The knock URI as a QR code in the terminal, for a phone's camera: UTF-8
//! half blocks (two modules per character, so the code stays square), with
//! the four-module quiet zone readers need.

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

/// The code of `text`, one line per two module rows. Light modules are
/// drawn (as terminals show text light on dark): the usual way round on a
/// dark terminal, and what `knockd/tests/secret.rs` decodes.
pub fn render(text: &str) -> Result<String, String> {
    // Level M: a URI of a 32-byte key fits a version-8 code or so, and
    // survives a smudge on the screen.
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| format!("the URI does not fit a QR code: {e}"))?;
    let mut image = code
        .render::<Dense1x2>()
        .quiet_zone(true)
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build();
    image.push('\n');
    Ok(image)
}

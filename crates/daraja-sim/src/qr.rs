//! Dynamic QR (`POST /mpesa/qrcode/v1/generate`): Daraja's answer with a real, scannable PNG whose QR
//! code holds a link to the virtual handset, which opens the SIM menu's payment with everything filled in.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use crate::api::{check_bearer, digits, fault_latency, finish, method_not_allowed, parse_json_body, text, DarajaError};
use crate::sim::Simulator;

/// The TrxCodes Daraja knows: buy goods, withdraw at agent, pay bill, send money, send to business.
const TRX_CODES: &[&str] = &["BG", "WA", "PB", "SM", "SB"];
/// Quiet zone around the code, in modules (the QR standard asks for 4).
const QUIET: usize = 4;

pub(crate) fn routes() -> Router<Simulator> {
    Router::new().route("/mpesa/qrcode/v1/generate", post(generate).fallback(method_not_allowed))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QrAnswer {
    response_code: &'static str,
    #[serde(rename = "RequestID")]
    request_id: String,
    response_description: &'static str,
    #[serde(rename = "QRCode")]
    qr_code: String,
}

async fn generate(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    fault_latency(&sim).await;
    let result = generate_inner(&sim, &headers, &body);
    finish(&sim, "POST /mpesa/qrcode/v1/generate", result, None)
}

fn generate_inner(sim: &Simulator, headers: &HeaderMap, body: &[u8]) -> Result<(Response, String), DarajaError> {
    check_bearer(sim, headers)?;
    let obj = parse_json_body(headers, body, "BusinessShortCode")?;
    let merchant = text(&obj, "MerchantName")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.chars().count() <= 100)
        .ok_or_else(|| DarajaError::bad_request("MerchantName"))?;
    let ref_no = text(&obj, "RefNo").map(|s| s.trim().to_owned()).ok_or_else(|| DarajaError::bad_request("RefNo"))?;
    let amount = digits(&obj, "Amount")
        .and_then(|a| a.parse::<u64>().ok())
        .filter(|a| (1..=250_000).contains(a))
        .ok_or_else(|| DarajaError::bad_request("Amount"))?;
    let trx_code = match obj.get("TrxCode") {
        Some(Value::String(t)) if TRX_CODES.contains(&t.as_str()) => t.clone(),
        _ => return Err(DarajaError::bad_request("TrxCode")),
    };
    let cpi = digits(&obj, "CPI").filter(|c| c.len() <= 12).ok_or_else(|| DarajaError::bad_request("CPI"))?;
    let size = match obj.get("Size") {
        None | Some(Value::Null) => 300,
        Some(_) => digits(&obj, "Size")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|s| (100..=1000).contains(s))
            .ok_or_else(|| DarajaError::bad_request("Size"))?,
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let link = reqwest::Url::parse_with_params(
        &format!("http://{host}/sim/handset"),
        &[
            ("pay", trx_code.as_str()),
            ("to", cpi.as_str()),
            ("account", ref_no.as_str()),
            ("amount", &amount.to_string()),
            ("merchant", merchant.as_str()),
        ],
    )
    .map_err(|_| DarajaError::bad_request("MerchantName"))?
    .to_string();
    let code = qrcode::QrCode::new(link.as_bytes()).map_err(|_| DarajaError::bad_request("RefNo"))?;
    let png = qr_png(&code, size);
    let answer = QrAnswer {
        response_code: "00",
        request_id: sim.request_id(),
        response_description: "QR Code Successfully Generated.",
        qr_code: BASE64.encode(png),
    };
    let mut resp = Json(answer).into_response();
    if let Ok(v) = HeaderValue::from_str(&link) {
        resp.headers_mut().insert("x-sim-qr-link", v);
    }
    Ok((resp, format!("200 QR {trx_code} {cpi} KES {amount} -> {link}")))
}

/// The QR code as a `size`×`size` black-on-white PNG (1-bit grey), quiet zone included.
pub(crate) fn qr_png(code: &qrcode::QrCode, size: usize) -> Vec<u8> {
    let n = code.width();
    let colors = code.to_colors();
    let total = n + 2 * QUIET;
    let dark = |px: usize, py: usize| {
        let (mx, my) = (px * total / size, py * total / size);
        if mx < QUIET || my < QUIET || mx >= QUIET + n || my >= QUIET + n {
            return false;
        }
        colors[(my - QUIET) * n + (mx - QUIET)] == qrcode::Color::Dark
    };
    let row_bytes = size.div_ceil(8);
    let mut raw = Vec::with_capacity(size * (row_bytes + 1));
    for y in 0..size {
        raw.push(0); // filter: none
        let mut row = vec![0xffu8; row_bytes]; // 1 = white
        for x in (0..size).filter(|&x| dark(x, y)) {
            row[x / 8] &= !(0x80 >> (x % 8));
        }
        raw.extend_from_slice(&row);
    }
    png(size as u32, size as u32, &raw)
}

/// A PNG of 1-bit greyscale rows (each already prefixed with its filter byte), stored uncompressed
/// in zlib's "stored" blocks: every decoder reads it, and a QR code stays small at 1 bit per pixel.
fn png(width: u32, height: u32, rows: &[u8]) -> Vec<u8> {
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // bit depth 1, greyscale, deflate, filter 0, no interlace
    let mut zlib = vec![0x78, 0x01];
    let mut chunks = rows.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        zlib.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = block.len() as u16;
        zlib.push(u8::from(last));
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(rows).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &zlib[..]), (b"IEND", &[][..])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Reads back what [`png`] writes (tests only): the pixel rows, dark = `true`.
#[cfg(test)]
pub(crate) fn read_png(bytes: &[u8]) -> Vec<Vec<bool>> {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (mut pos, mut width, mut idat) = (8, 0usize, Vec::new());
    while pos < bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        let crc = u32::from_be_bytes(bytes[pos + 8 + len..pos + 12 + len].try_into().unwrap());
        assert_eq!(crc, crc32(&bytes[pos + 4..pos + 8 + len]), "chunk CRC");
        if kind == b"IHDR" {
            width = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        } else if kind == b"IDAT" {
            idat.extend_from_slice(data);
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    let mut p = 2;
    loop {
        let last = idat[p] & 1 == 1;
        let len = u16::from_le_bytes([idat[p + 1], idat[p + 2]]) as usize;
        raw.extend_from_slice(&idat[p + 5..p + 5 + len]);
        p += 5 + len;
        if last {
            break;
        }
    }
    assert_eq!(u32::from_be_bytes(idat[p..p + 4].try_into().unwrap()), adler32(&raw), "adler32");
    let row_bytes = width.div_ceil(8);
    raw.chunks(row_bytes + 1).map(|r| (0..width).map(|x| r[1 + x / 8] & (0x80 >> (x % 8)) == 0).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn png_pixels_are_the_qr_modules() {
        let code = qrcode::QrCode::new(b"http://127.0.0.1:8090/sim/handset?pay=PB&to=174379").unwrap();
        let size = 300;
        let pixels = read_png(&qr_png(&code, size));
        assert_eq!(pixels.len(), size);
        let n = code.width();
        let total = n + 2 * QUIET;
        // The centre pixel of every module has the module's colour; the quiet zone is white.
        for my in 0..total {
            for mx in 0..total {
                let (px, py) = ((2 * mx + 1) * size / (2 * total), (2 * my + 1) * size / (2 * total));
                let want = (QUIET..QUIET + n).contains(&mx)
                    && (QUIET..QUIET + n).contains(&my)
                    && code[(mx - QUIET, my - QUIET)] == qrcode::Color::Dark;
                assert_eq!(pixels[py][px], want, "module ({mx},{my})");
            }
        }
    }
}

//! The CMS SignedData parser and the signature check on arbitrary bytes never panic.
//! The keyring (one P-256 CA) and the time are fixed, so a run is reproducible.
#![no_main]
use std::{sync::OnceLock, time::Duration};

use libfuzzer_sys::fuzz_target;
use northstar_bundle::{cms, Keyring, UnixTime};

/// A self-signed P-256 CA (CN=fuzz-ca), valid for 100 years.
const CA: &str = "\
-----BEGIN CERTIFICATE-----
MIIBezCCASGgAwIBAgIUMbOp23p3lvH/Jnz+4+h5JAP+W4QwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHZnV6ei1jYTAgFw0yNjEyMDgwMDAwNDNaGA8yMTI2MTExNDAw
MDA0M1owEjEQMA4GA1UEAwwHZnV6ei1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABEbwSKvt6ezmH+BQo16GSwl+WRkKtcrF3nRznwqOEAwrXKYFAJuMZ16rmA+j
DmnHVOeU4WC9NK07NeHFAEPupeKjUzBRMB0GA1UdDgQWBBTkRqeYCAJf2b2YLvn1
uwTRTP8lpzAfBgNVHSMEGDAWgBTkRqeYCAJf2b2YLvn1uwTRTP8lpzAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFCNzs4r5vkDxf10wyalsUTiUKP3
7uxEYyiYw62F+9ZEAiEA/iOTblWXra9JpeIooZaFT2KYCi0q13HSvT9svEUlrHY=
-----END CERTIFICATE-----
";

fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| Keyring::from_pem(CA.as_bytes()).expect("the fuzz CA is a keyring"))
}

fuzz_target!(|data: &[u8]| {
    // 2027-01-01T00:00:00Z.
    let time = UnixTime::since_unix_epoch(Duration::from_secs(1_798_761_600));
    let _ = cms::SignedData::parse(data);
    let _ = cms::verify(data, keyring(), time);
});

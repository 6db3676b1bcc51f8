//! The typed scan report of real scans: the attachment walk's objects keep ids that hits can be
//! tied to, and the report reads back as written.

use std::path::Path;

use mailmoat_core::Location;
use mailmoat_mime::Envelope;
use mailmoat_pipeline::{Config, ScanReport, Scanner, SCAN_REPORT_VERSION};

/// A crafted attachment case's message, without its test directives.
fn case(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../analyzers/cases")
        .join(format!("{name}.case"));
    let raw = std::fs::read(path).unwrap();
    let start = raw.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    raw[start..].to_vec()
}

fn scan(name: &str) -> ScanReport {
    let scanner = Scanner::new(&Config::defaults()).unwrap();
    scanner
        .scan(case(name), Envelope::default())
        .scan_report(name)
}

#[test]
fn the_walks_objects_have_ids_in_walk_order_and_hits_find_them() {
    let report = scan("zip_invoice_pdf_exe_injector");
    assert_eq!(report.version, SCAN_REPORT_VERSION);
    let paths: Vec<(u32, String, &str)> = report
        .objects
        .iter()
        .map(|o| (o.id, o.location.to_string(), o.kind.as_str()))
        .collect();
    assert_eq!(paths[0].0, 0);
    assert_eq!(paths[0].1, "attachment invoice.zip");
    let exe = report
        .objects
        .iter()
        .find(|o| o.location.to_string() == "attachment invoice.zip > invoice.pdf.exe")
        .unwrap_or_else(|| panic!("the member is an object: {paths:?}"));
    assert_eq!(exe.kind, "a Windows program (PE)");
    assert_eq!(exe.sha256.len(), 64);
    let hit = &report.symbols["PE_INJECTION_IMPORTS"].hits[0];
    assert_eq!(report.object_at(&hit.location), Some(exe));
    assert_eq!(report.object(exe.id), Some(exe));
    // The same message gives the same ids.
    let again = scan("zip_invoice_pdf_exe_injector");
    assert_eq!(again.objects, report.objects);
}

#[test]
fn a_macros_source_is_an_object_of_its_own() {
    let report = scan("zip_docm_module_path");
    let module = Location::new("attachment invoice.zip")
        .child("invoice.docm")
        .child("Module1");
    let object = report
        .object_at(&module)
        .unwrap_or_else(|| panic!("{:?}", report.objects));
    assert_eq!(object.kind, "VBA macro source");
    let autorun = &report.symbols["VBA_AUTORUN"].hits[0];
    assert_eq!(report.object_at(&autorun.location), Some(object));
}

#[test]
fn a_scan_report_reads_back_as_written() {
    let report = scan("zip_invoice_pdf_exe_injector");
    let text = serde_json::to_string(&report).unwrap();
    let again: ScanReport = serde_json::from_str(&text).unwrap();
    assert_eq!(again, report);
}

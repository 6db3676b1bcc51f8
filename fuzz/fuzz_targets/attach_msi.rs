#![no_main]
//! Fuzz target: the attachment analyser on one attachment of this type.
mailmoat_fuzz::attachment_target!("setup.msi", "application/x-msi");

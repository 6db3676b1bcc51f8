#![no_main]
//! Fuzz target: the attachment analyser on one attachment of this type.
mailmoat_fuzz::attachment_target!("help.chm", "application/vnd.ms-htmlhelp");

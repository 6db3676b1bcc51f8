//! Programs read statically with goblin: for Windows PE, what the imports say it can do
//! (inject into other processes, download, persist, log keys), signs of packing, the
//! Authenticode signature's integrity, .NET, overlay data and side-loading names; for ELF and
//! Mach-O the basics that tell an administrator what it is.

use goblin::pe::PE;
use mailmoat_core::Location;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::filetype::Kind;
use crate::walk::Walk;

/// Shannon entropy in bits per byte (8.0 = indistinguishable from random: packed or encrypted).
pub fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Memory made in another process, written, and run: process injection (and hollowing).
/// All three are needed: installers and debuggers write into child processes (InstallShield
/// imports WriteProcessMemory and SetThreadContext) but do not allocate code there.
const INJECT_WRITE: &[&str] = &[
    "WriteProcessMemory",
    "NtWriteVirtualMemory",
    "ZwWriteVirtualMemory",
    "NtMapViewOfSection",
    "ZwMapViewOfSection",
];
const INJECT_RUN: &[&str] = &[
    "CreateRemoteThread",
    "CreateRemoteThreadEx",
    "NtCreateThreadEx",
    "RtlCreateUserThread",
    "QueueUserAPC",
    "NtQueueApcThread",
    "SetThreadContext",
    "NtSetContextThread",
];
const INJECT_ALLOCATE: &[&str] = &[
    "VirtualAllocEx",
    "VirtualAlloc2",
    "NtAllocateVirtualMemory",
    "ZwAllocateVirtualMemory",
    "NtUnmapViewOfSection",
    "ZwUnmapViewOfSection",
    "NtMapViewOfSection",
    "ZwMapViewOfSection",
];
const DOWNLOAD_DIRECT: &[&str] = &[
    "URLDownloadToFileA",
    "URLDownloadToFileW",
    "URLDownloadToCacheFileA",
    "URLDownloadToCacheFileW",
];
const NETWORK_READ: &[&str] = &[
    "InternetOpenUrlA",
    "InternetOpenUrlW",
    "InternetReadFile",
    "HttpSendRequestA",
    "HttpSendRequestW",
    "WinHttpReadData",
];
const EXECUTE: &[&str] = &[
    "WinExec",
    "ShellExecuteA",
    "ShellExecuteW",
    "ShellExecuteExA",
    "ShellExecuteExW",
    "CreateProcessA",
    "CreateProcessW",
];
const PACKER_SECTIONS: &[&str] = &[
    "UPX0", "UPX1", "UPX2", ".aspack", ".adata", ".petite", ".MPRESS1", ".MPRESS2", ".nsp0",
    ".nsp1", ".vmp0", ".vmp1", ".themida", ".enigma1", "pebundle", ".packed", ".mackt", "FSG!",
];
/// DLLs that programs load from their own folder before the system's, the usual targets of
/// side-loading (KnownDLLs such as kernel32 are never loaded from the program's folder).
const SIDELOAD_NAMES: &[&str] = &[
    "version.dll",
    "dbghelp.dll",
    "dbgcore.dll",
    "msimg32.dll",
    "winhttp.dll",
    "wtsapi32.dll",
    "dwrite.dll",
    "uxtheme.dll",
    "dwmapi.dll",
    "cryptbase.dll",
    "cryptsp.dll",
    "profapi.dll",
    "userenv.dll",
    "winmm.dll",
    "iphlpapi.dll",
    "netapi32.dll",
    "secur32.dll",
    "sspicli.dll",
    "mpsvc.dll",
    "mpclient.dll",
    "wlbsctrl.dll",
    "dxgi.dll",
    "d3d11.dll",
    "libcurl.dll",
    "mscorsvc.dll",
    "dbgeng.dll",
    "propsys.dll",
    "edputil.dll",
    "wininet.dll",
];

/// goblin's errors can carry whole section tables: the first line, shortened.
fn short_error(e: &goblin::error::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() > 120 {
        format!("{}…", first.chars().take(120).collect::<String>())
    } else {
        first.to_string()
    }
}

fn contains_text(data: &[u8], needle: &str) -> bool {
    let ascii = needle.as_bytes();
    let wide: Vec<u8> = needle.bytes().flat_map(|b| [b, 0]).collect();
    memchr::memmem::find(data, ascii).is_some() || memchr::memmem::find(data, &wide).is_some()
}

impl Walk<'_> {
    pub(crate) fn pe(&mut self, location: &Location, name: &str, data: &[u8]) {
        use goblin::pe::options::{ParseMode, ParseOptions};
        let strict = ParseOptions::default().with_parse_resources(false);
        let mut malformed = None;
        let pe = match PE::parse_with_opts(data, &strict) {
            Ok(pe) => pe,
            Err(e) => {
                // What can still be read is still analysed.
                // Windows' loader is more lenient than a strict parse (an ordinal import goblin
                // cannot name, say): what a permissive parse reads is only a packing sign.
                match PE::parse_with_opts(data, &strict.with_parse_mode(ParseMode::Permissive)) {
                    Ok(pe) => {
                        malformed = Some(short_error(&e));
                        pe
                    }
                    Err(_) => {
                        self.add(
                            "PE_MALFORMED",
                            format!("{name}: a PE whose structure does not parse ({}); Windows may still run it", short_error(&e)),
                            location,
                        );
                        return;
                    }
                }
            }
        };
        let imports: Vec<&str> = pe.imports.iter().map(|i| i.name.as_ref()).collect();
        let has = |list: &[&'static str]| -> Vec<&'static str> {
            list.iter()
                .copied()
                .filter(|f| imports.iter().any(|i| i == f))
                .collect()
        };
        let kind = if pe.is_lib { "DLL" } else { "program" };

        let (allocate, write, run) = (has(INJECT_ALLOCATE), has(INJECT_WRITE), has(INJECT_RUN));
        if !allocate.is_empty() && !write.is_empty() && !run.is_empty() {
            let mut all: Vec<&str> = allocate.iter().chain(&write).chain(&run).copied().collect();
            all.dedup();
            self.add(
                "PE_INJECTION_IMPORTS",
                format!(
                    "{name} imports what process injection needs: {}",
                    all.join(", ")
                ),
                location,
            );
        }
        let (direct, net, exec) = (has(DOWNLOAD_DIRECT), has(NETWORK_READ), has(EXECUTE));
        if !direct.is_empty() || (!net.is_empty() && !exec.is_empty()) {
            let all: Vec<&str> = direct.iter().chain(&net).chain(&exec).copied().collect();
            self.add(
                "PE_DOWNLOADER_IMPORTS",
                format!(
                    "{name} imports what downloading and running a file needs: {}",
                    all.join(", ")
                ),
                location,
            );
        }
        let mut persistence = Vec::new();
        if contains_text(data, "CurrentVersion\\Run")
            && !has(&["RegSetValueExA", "RegSetValueExW"]).is_empty()
        {
            persistence.push("writes a Run key (RegSetValueEx and CurrentVersion\\Run)");
        }
        if !has(&["CreateServiceA", "CreateServiceW"]).is_empty() {
            persistence.push("installs a service (CreateService)");
        }
        if contains_text(data, "schtasks /create") || contains_text(data, "schtasks.exe /create") {
            persistence.push("creates a scheduled task (schtasks /create)");
        }
        if !persistence.is_empty() {
            self.add(
                "PE_PERSISTENCE",
                format!("{name} {}", persistence.join("; ")),
                location,
            );
        }
        let hooks = has(&["SetWindowsHookExA", "SetWindowsHookExW"]);
        let keys = has(&["GetAsyncKeyState", "GetKeyboardState"]);
        if !hooks.is_empty() && !keys.is_empty() {
            self.add(
                "PE_KEYLOGGER_IMPORTS",
                format!(
                    "{name} imports keyboard hooks and key-state reads: {}, {}",
                    hooks.join(", "),
                    keys.join(", ")
                ),
                location,
            );
        }

        // Packing: known packer section names, packed code, or almost no imports.
        let mut packed = Vec::new();
        for section in &pe.sections {
            let section_name = section.name().unwrap_or("").trim_end_matches('\0');
            if PACKER_SECTIONS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(section_name))
            {
                packed.push(format!("packer section {section_name}"));
            }
            let start = section.pointer_to_raw_data as usize;
            let end = start
                .saturating_add(section.size_of_raw_data as usize)
                .min(data.len());
            let raw = data.get(start..end).unwrap_or_default();
            let executable = section.characteristics & 0x2000_0000 != 0;
            if executable && raw.len() >= 4096 {
                let h = entropy(raw);
                if h > 7.2 {
                    packed.push(format!(
                        "code section {section_name} at entropy {h:.2} bits/byte"
                    ));
                }
            }
        }
        let dotnet = pe
            .header
            .optional_header
            .as_ref()
            .and_then(|h| h.data_directories.get_clr_runtime_header().copied())
            .is_some_and(|d| d.virtual_address != 0);
        if !pe.is_lib
            && !dotnet
            && imports.len() <= 6
            && imports.iter().any(|i| i.starts_with("LoadLibrary"))
            && imports.contains(&"GetProcAddress")
        {
            packed.push(format!(
                "only {} imports, resolving the rest at run time (LoadLibrary + GetProcAddress)",
                imports.len()
            ));
        }
        // Packers break structures on purpose: with packing signs, a structure only a
        // permissive parse reads is one more of them.
        if let (Some(why), false) = (&malformed, packed.is_empty()) {
            packed.push(format!("a structure that does not parse ({why})"));
        }
        if !packed.is_empty() {
            self.add(
                "PE_PACKED",
                format!("{name}: {}", packed.join("; ")),
                location,
            );
        }
        if dotnet {
            self.add(
                "PE_DOTNET",
                format!("{name} is a .NET {kind} (its code is CIL, not native)"),
                location,
            );
        }

        // Authenticode: present, and does the file still hash to what was signed?
        let signature = pe.certificates.first();
        match signature {
            None => self.add(
                "PE_UNSIGNED",
                format!("{name} carries no Authenticode signature"),
                location,
            ),
            Some(cert) => {
                let mut sha256 = Sha256::new();
                let mut sha1 = Sha1::new();
                for range in pe.authenticode_ranges() {
                    sha256.update(range);
                    sha1.update(range);
                }
                let digests = [sha256.finalize().to_vec(), sha1.finalize().to_vec()];
                // The signed digest sits in the SpcIndirectDataContent as an OCTET STRING.
                let matches = digests.iter().any(|d| {
                    let mut needle = vec![0x04, d.len() as u8];
                    needle.extend_from_slice(d);
                    memchr::memmem::find(cert.certificate, &needle).is_some()
                });
                if !matches {
                    self.add(
                        "PE_SIGNATURE_INVALID",
                        format!("{name}: its Authenticode signature does not match its content (changed after signing, or a signature copied from another file)"),
                        location,
                    );
                }
            }
        }

        // Overlay: bytes after the last section that are not the signature.
        let sections_end = pe
            .sections
            .iter()
            .map(|s| s.pointer_to_raw_data as usize + s.size_of_raw_data as usize)
            .max()
            .unwrap_or(0);
        let cert_start = pe
            .header
            .optional_header
            .as_ref()
            .and_then(|h| h.data_directories.get_certificate_table().copied())
            .filter(|d| d.virtual_address != 0)
            .map(|d| d.virtual_address as usize)
            .unwrap_or(data.len());
        let overlay_end = cert_start.max(sections_end).min(data.len());
        if sections_end > 0 && overlay_end > sections_end + 1024 {
            let overlay = &data[sections_end..overlay_end];
            let inner = crate::filetype::kind("", overlay);
            let what = match inner {
                Kind::Other => format!(
                    "entropy {:.2} bits/byte",
                    entropy(&overlay[..overlay.len().min(1 << 20)])
                ),
                k => format!("holding {}", k.describe()),
            };
            self.add(
                "PE_OVERLAY",
                format!(
                    "{name} carries {} bytes after its last section ({what})",
                    overlay.len()
                ),
                location,
            );
        }

        let lower = name.to_ascii_lowercase();
        if pe.is_lib && SIDELOAD_NAMES.contains(&lower.as_str()) {
            self.sideload_dlls
                .push((location.clone(), name.to_string()));
        }
    }

    /// ELF and Mach-O: what it is, for the report; the walk has already said it is a program.
    pub(crate) fn native(&mut self, kind: Kind, location: &Location, name: &str, data: &[u8]) {
        let details = match kind {
            Kind::Elf => match goblin::elf::Elf::parse(data) {
                Ok(elf) => format!(
                    "{name}: ELF {} {} for machine {}, {}{}",
                    if elf.is_64 { "64-bit" } else { "32-bit" },
                    match elf.header.e_type {
                        goblin::elf::header::ET_EXEC => "executable",
                        goblin::elf::header::ET_DYN if elf.interpreter.is_some() =>
                            "executable (PIE)",
                        goblin::elf::header::ET_DYN => "shared library",
                        goblin::elf::header::ET_REL => "object file",
                        _ => "file",
                    },
                    goblin::elf::header::machine_to_str(elf.header.e_machine),
                    if elf.interpreter.is_none() && elf.libraries.is_empty() {
                        "statically linked".to_string()
                    } else {
                        format!("linked to {}", elf.libraries.join(", "))
                    },
                    if elf.syms.is_empty() {
                        ", stripped"
                    } else {
                        ""
                    }
                ),
                Err(e) => format!("{name}: an ELF that does not parse ({e})"),
            },
            _ => match goblin::mach::Mach::parse(data) {
                Ok(goblin::mach::Mach::Binary(m)) => format!(
                    "{name}: Mach-O {} for CPU type {:#x}, {} libraries",
                    match m.header.filetype {
                        goblin::mach::header::MH_EXECUTE => "executable",
                        goblin::mach::header::MH_DYLIB => "dynamic library",
                        goblin::mach::header::MH_BUNDLE => "bundle",
                        _ => "file",
                    },
                    m.header.cputype,
                    m.libs.len()
                ),
                Ok(goblin::mach::Mach::Fat(f)) => {
                    format!("{name}: universal Mach-O for {} architectures", f.narches)
                }
                Err(e) => format!("{name}: a Mach-O that does not parse ({e})"),
            },
        };
        self.add("EXECUTABLE_UNIX", details, location);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_bounds() {
        assert_eq!(entropy(&[0u8; 100]), 0.0);
        let all: Vec<u8> = (0..=255u8).collect();
        assert!((entropy(&all) - 8.0).abs() < 1e-9);
    }
}

//! Records the commit the build was made from (`PVG_COMMIT`), so that every figure the page,
//! the exports and the CLI produce can be traced to its code. A `PVG_COMMIT` set in the
//! environment wins (builds from a source archive); outside a git checkout it is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=PVG_COMMIT");
    let commit = std::env::var("PVG_COMMIT").ok().filter(|c| !c.is_empty()).unwrap_or_else(|| {
        // Re-run when HEAD moves (a commit, a checkout) or the sources change (dirty or not).
        if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
            for path in ["HEAD", "index", "packed-refs"] {
                println!("cargo:rerun-if-changed={dir}/{path}");
            }
            if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
                println!("cargo:rerun-if-changed={dir}/{head}");
            }
        }
        for path in ["src", "www", "Cargo.toml"] {
            println!("cargo:rerun-if-changed={path}");
        }
        git(&["describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"])
            .unwrap_or_else(|| "unknown".into())
    });
    println!("cargo:rustc-env=PVG_COMMIT={commit}");
}

//! Picks the board's memory map and, for the self-test and the benchmarks, compiles the
//! example apps (and the benchmark's kernel).
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    // The firmware's boards: a memory map each in boards/ (generated from
    // board/boards.toml), a feature each in Cargo.toml.
    let mut all: Vec<String> = fs::read_dir(dir.join("boards"))
        .expect("boards/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    all.sort();
    let boards: Vec<&String> =
        all.iter().filter(|b| env::var_os(format!("CARGO_FEATURE_{}", b.to_uppercase().replace('-', "_"))).is_some()).collect();
    if boards.len() != 1 {
        panic!("select exactly one board feature of {all:?} (got {boards:?})");
    }
    let board = boards[0].as_str();
    fs::copy(dir.join("boards").join(board).join("memory.x"), out.join("memory.x")).unwrap();
    fs::copy(dir.join("wasmbed-sections.x"), out.join("wasmbed-sections.x")).unwrap();
    // cortex-m-rt's `device` feature includes a device.x: the vectors are all
    // DefaultHandler (src/vectors.rs), which needs no names.
    // (riscv-rt does not read one.)
    fs::write(out.join("device.x"), "/* interrupt vectors: src/vectors.rs */\n").unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=boards");
    println!("cargo:rerun-if-changed=boards/{board}/memory.x");
    println!("cargo:rerun-if-changed=wasmbed-sections.x");

    // The self-test apps: examples/apps/*.wat, compiled to .wasm in OUT_DIR.
    let apps = dir.join("../../examples/apps");
    let mut list = String::new();
    let bench = env::var_os("CARGO_FEATURE_BENCH").is_some();
    if env::var_os("CARGO_FEATURE_SELFTEST").is_some() || bench {
        let mut names: Vec<String> = fs::read_dir(&apps)
            .expect("examples/apps")
            .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".wat").map(str::to_owned))
            .collect();
        names.sort();
        for name in names {
            let wat = apps.join(format!("{name}.wat"));
            let wasm = out.join(format!("{name}.wasm"));
            wat2wasm(&wat, &wasm);
            list += &format!("(\"{name}\", include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}.wasm\"))),\n");
        }
        println!("cargo:rerun-if-changed={}", apps.display());
    }
    fs::write(out.join("selftest_apps.rs"), format!("&[\n{list}]")).unwrap();
    if bench {
        wat2wasm(&dir.join("bench/kernel.wat"), &out.join("bench_kernel.wasm"));
    }
    println!("cargo:rustc-env=WASMBED_BOARD={board}");
}

fn wat2wasm(wat: &std::path::Path, wasm: &std::path::Path) {
    let st = Command::new(env::var("WAT2WASM").unwrap_or_else(|_| "wat2wasm".into()))
        .arg(wat)
        .arg("-o")
        .arg(wasm)
        .status()
        .expect("wat2wasm (apt-get install wabt)");
    assert!(st.success(), "wat2wasm {}", wat.display());
    println!("cargo:rerun-if-changed={}", wat.display());
}

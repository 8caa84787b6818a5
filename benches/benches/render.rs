//! Device dictionary rendering: a set of dictionaries rendered cold (a fresh renderer that
//! loads and compiles every template) and warm (a long-lived renderer, as in the master).
//!
//! The set is one dictionary per device-type template of LAVA's Debian package when
//! `LAVA_DEVICE_TYPES` names its device-types dir (scripts/templates-conformance.sh
//! unpacks it under ~/.cache/lava-rs/templates, which is used when present), else lava-rs'
//! own test dictionaries. `scripts/templates-conformance.sh --bench` times Python Jinja2 on
//! the same set for the comparison.

use std::fs;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lava_core::templates::{JobContext, Renderer};
use lava_lab::SearchPath;

struct Set {
    dirs: Vec<PathBuf>,
    dictionaries: Vec<String>,
    _scratch: Option<tempfile::TempDir>,
}

fn lava_device_types() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LAVA_DEVICE_TYPES") {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")?;
    let cached = Path::new(&home)
        .join(".cache/lava-rs/templates/lava-server/usr/share/lava-server/device-types");
    cached.is_dir().then_some(cached)
}

fn the_set() -> Set {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lava-core/tests/data/templates");
    if let Some(types) = lava_device_types() {
        let scratch = tempfile::tempdir().expect("a scratch dir for generated dictionaries");
        let mut dictionaries = Vec::new();
        let mut templates: Vec<_> = fs::read_dir(&types)
            .expect("LAVA_DEVICE_TYPES is readable")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".jinja2"))
            .collect();
        templates.sort();
        for template in templates {
            let name = format!("bench--{template}");
            let source = format!("{{% extends '{template}' %}}\n");
            fs::write(scratch.path().join(&name), source).expect("scratch dir is writable");
            dictionaries.push(name);
        }
        Set {
            dirs: vec![scratch.path().to_path_buf(), types],
            dictionaries,
            _scratch: Some(scratch),
        }
    } else {
        Set {
            dirs: vec![data.join("devices"), data.join("device-types")],
            dictionaries: vec![
                "lavars-board-01.jinja2".into(),
                "lavars-board-02.jinja2".into(),
                "lavars-macros-01.jinja2".into(),
            ],
            _scratch: None,
        }
    }
}

fn render_all(renderer: &Renderer, set: &Set, context: &JobContext) -> usize {
    set.dictionaries
        .iter()
        .map(|name| renderer.render(name, context).map_or(0, |yaml| yaml.len()))
        .sum()
}

fn bench_render(c: &mut Criterion) {
    let set = the_set();
    let context = JobContext::empty();
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(set.dictionaries.len() as u64));
    group.sample_size(20);
    group.bench_function("cold", |b| {
        b.iter(|| {
            let renderer = Renderer::new(SearchPath::new(set.dirs.clone()));
            render_all(&renderer, &set, &context)
        })
    });
    let warm = Renderer::new(SearchPath::new(set.dirs.clone()));
    render_all(&warm, &set, &context);
    group.bench_function("warm", |b| b.iter(|| render_all(&warm, &set, &context)));
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);

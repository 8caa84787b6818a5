//! Arbitrary bytes as a device dictionary: rendering must return text or an error, never
//! panic, and stay within its fuel and output bounds (a dictionary must not hang or flood
//! the master).
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run render -- -max_total_time=60`

#![no_main]

use std::sync::OnceLock;

use lava_core::templates::{JobContext, Limits, Preloaded, Renderer};
use libfuzzer_sys::fuzz_target;

const MAX_OUTPUT: usize = 256 * 1024;

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| {
        // Parents a fuzzed dictionary can extend or include, in LAVA's shape.
        let loader = Preloaded::new()
            .with(
                "base.jinja2",
                "{% set base_args = base_args | default('') %}\n\
                 {% block constants %}constants: {}\n{% endblock %}\n\
                 {% block body %}{% endblock %}\n",
            )
            .with(
                "board.jinja2",
                "{% extends 'base.jinja2' %}\n{% block body %}\n\
                 console: {{ console_device | default('ttyS0') }}\n\
                 {% for c in commands | default([]) %}- {{ c | shlex_quote }}\n{% endfor %}\n\
                 {% endblock %}\n",
            );
        Renderer::with_limits(
            loader,
            Limits {
                fuel: 200_000,
                max_output: MAX_OUTPUT,
            },
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    match renderer().render_source("fuzz.jinja2", &source, &JobContext::empty()) {
        Ok(yaml) => {
            assert!(yaml.len() <= MAX_OUTPUT, "output bound exceeded");
            // The rendered text goes on to the YAML check, which must not panic either.
            let _ = lava_core::templates::check_mapping("fuzz.jinja2", &yaml);
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
        }
    }
});

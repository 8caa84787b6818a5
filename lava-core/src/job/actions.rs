//! Each action's own schema, as `lava_common.schemas.{boot,deploy,test}.*` and `command`
//! write them: the dispatcher-side checks of [`super::warnings`]. An action is dispatched
//! by its kind and `method` (boot), `to` (deploy) or kind of test, as LAVA's `validate`
//! does; a name with no schema is "unknown action type".

use super::schema::{
    all, any, bool_, dict, excl, int, keyed, map, object, one_of, opt, req, seq, str_, Extra,
    Invalid, KeySchema, Mark, Step, S,
};
use super::warnings::timeout;
use super::yaml::Node;
use std::collections::HashMap;
use std::sync::LazyLock;

type Entries = Vec<(Mark, KeySchema, S)>;

fn msg_method(name: &'static str, msg: &'static str) -> (Mark, KeySchema, S) {
    req("method", S::Msg(Box::new(S::Lit(name)), msg))
}

/// `^[-_a-zA-Z0-9.]+$`.
fn test_name(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn name() -> S {
    S::Match(test_name, "^[-_a-zA-Z0-9.]+$", None)
}

fn strs() -> S {
    seq(vec![str_()])
}

fn non_empty_str() -> S {
    all(vec![str_(), S::Length(Some(1), None)])
}

/// `action()`.
fn action() -> Entries {
    vec![
        opt(
            "namespace",
            all(vec![str_(), S::NotIn(&["common"], "'common' is reserved")]),
        ),
        opt("connection-namespace", str_()),
        opt("protocols", object()),
        opt("role", strs()),
        opt("timeout", timeout()),
        opt("repeat", S::Range(Some(1), None)),
        opt("failure_retry", S::Range(Some(1), None)),
    ]
}

fn with(mut base: Entries, more: Entries) -> Entries {
    base.extend(more);
    base
}

// ---------------------------------------------------------------- boot

fn auto_login() -> S {
    any(vec![
        map(vec![
            req("login_prompt", non_empty_str()),
            req("username", str_()),
            opt("login_commands", seq(vec![non_empty_str()])),
        ]),
        map(vec![
            req("login_prompt", non_empty_str()),
            req("username", str_()),
            req("password_prompt", str_()),
            req("password", str_()),
            opt("login_commands", strs()),
        ]),
    ])
}

fn transfer_overlay() -> S {
    map(vec![
        req("download_command", str_()),
        req("unpack_command", str_()),
    ])
}

fn prompts() -> S {
    any(vec![non_empty_str(), seq(vec![non_empty_str()])])
}

fn str_or_strs() -> S {
    any(vec![str_(), strs()])
}

fn boot_base() -> Entries {
    with(
        action(),
        vec![
            opt(
                "parameters",
                map(vec![
                    opt("kernel-start-message", str_()),
                    opt("shutdown-message", str_()),
                ]),
            ),
            opt("soft_reboot", str_or_strs()),
        ],
    )
}

fn boot(method: &'static str, msg: &'static str, more: Entries) -> S {
    let mut entries = boot_base();
    entries.push(msg_method(method, msg));
    entries.extend(more);
    map(entries)
}

fn grub_base() -> Entries {
    vec![
        req("commands", str_or_strs()),
        opt("auto_login", auto_login()),
        opt("boot_finished", str_or_strs()),
        opt("expect_shell", bool_()),
        opt("prompts", prompts()),
        opt("use_bootscript", bool_()),
        opt("transfer_overlay", transfer_overlay()),
    ]
}

fn boots() -> Vec<(&'static str, S)> {
    let login = || opt("auto_login", auto_login());
    let prompts_ = || opt("prompts", prompts());
    let overlay = || opt("transfer_overlay", transfer_overlay());
    let bootscript = || opt("use_bootscript", bool_());
    vec![
        (
            "barebox",
            boot(
                "barebox",
                "'method' should be 'barebox'",
                vec![
                    req("commands", str_or_strs()),
                    prompts_(),
                    login(),
                    overlay(),
                ],
            ),
        ),
        (
            "bootloader",
            boot(
                "bootloader",
                "'method' should be 'bootloader'",
                vec![
                    req("bootloader", str_()),
                    req("commands", strs()),
                    bootscript(),
                    prompts_(),
                ],
            ),
        ),
        (
            "cmsis_dap",
            boot("cmsis-dap", "'method' should be 'cmsis-dap'", vec![]),
        ),
        (
            "depthcharge",
            boot(
                "depthcharge",
                "'method' should be 'depthcharge'",
                vec![req("commands", str_or_strs()), bootscript(), overlay()],
            ),
        ),
        ("dfu", boot("dfu", "'method' should be 'dfu'", vec![])),
        (
            "docker",
            boot(
                "docker",
                "'method' should be 'docker'",
                vec![req("command", str_()), prompts_()],
            ),
        ),
        (
            "fastboot",
            boot(
                "fastboot",
                "'method' should be 'fastboot'",
                vec![
                    opt("commands", strs()),
                    bootscript(),
                    prompts_(),
                    login(),
                    overlay(),
                    opt("docker", map(vec![req("image", str_())])),
                ],
            ),
        ),
        (
            "fvp",
            boot(
                "fvp",
                "'method' should be 'fvp'",
                vec![
                    req("console_string", str_()),
                    req("image", str_()),
                    opt("license_variable", str_()),
                    opt("version_string", str_()),
                    req("arguments", strs()),
                    req("prompts", prompts()),
                    req(
                        "docker",
                        map(vec![req("name", str_()), opt("local", bool_())]),
                    ),
                ],
            ),
        ),
        (
            "gdb",
            boot(
                "gdb",
                "'method' should be 'gdb'",
                vec![req("commands", str_()), opt("container", str_())],
            ),
        ),
        (
            "grub",
            boot("grub", "'method' should be 'grub'", grub_base()),
        ),
        (
            "grub_efi",
            boot("grub-efi", "'method' should be 'grub-efi'", grub_base()),
        ),
        (
            "ipxe",
            boot(
                "ipxe",
                "'method' should be 'ipxe'",
                vec![
                    req("commands", str_or_strs()),
                    prompts_(),
                    overlay(),
                    login(),
                    bootscript(),
                ],
            ),
        ),
        ("jlink", boot("jlink", "'method' should be 'jlink'", vec![])),
        (
            "kexec",
            boot(
                "kexec",
                "'method' should be 'kexec'",
                vec![
                    req("boot_message", str_()),
                    prompts_(),
                    login(),
                    opt("command", str_()),
                    opt("kernel", str_()),
                    opt("dtb", str_()),
                    opt("initrd", str_()),
                    opt("options", strs()),
                    opt("kernel-config", str_()),
                    overlay(),
                ],
            ),
        ),
        (
            "lxc",
            boot(
                "lxc",
                "'method' should be 'lxc'",
                vec![req("prompts", prompts())],
            ),
        ),
        (
            "minimal",
            boot(
                "minimal",
                "'method' should be 'minimal'",
                vec![prompts_(), login(), opt("reset", bool_()), overlay()],
            ),
        ),
        (
            "monitor",
            boot("monitor", "'method' should be 'monitor'", vec![]),
        ),
        (
            "musca",
            boot("musca", "'method' should be 'musca'", vec![prompts_()]),
        ),
        (
            "new_connection",
            boot(
                "new_connection",
                "'method' should be 'new_connection'",
                vec![req("connection", str_()), prompts_(), login(), overlay()],
            ),
        ),
        (
            "openocd",
            boot("openocd", "'method' should be 'openocd'", vec![]),
        ),
        ("pyocd", boot("pyocd", "'method' should be 'pyocd'", vec![])),
        (
            "qemu",
            boot(
                "qemu",
                "'method' should be 'qemu'",
                vec![
                    opt("connection", S::Lit("serial")),
                    opt("media", S::Lit("tmpfs")),
                    prompts_(),
                    overlay(),
                    login(),
                    opt(
                        "docker",
                        map(vec![req("image", str_()), opt("binary", str_())]),
                    ),
                ],
            ),
        ),
        (
            "qemu_iso",
            boot(
                "qemu-iso",
                "'method' should be 'qemu-iso'",
                vec![req("media", S::Lit("img")), prompts_(), login()],
            ),
        ),
        (
            "qemu_nfs",
            boot(
                "qemu-nfs",
                "'method' should be 'qemu-nfs'",
                vec![
                    opt("connection", S::Lit("serial")),
                    prompts_(),
                    overlay(),
                    login(),
                ],
            ),
        ),
        (
            "recovery",
            boot(
                "recovery",
                "'method' should be 'recovery'",
                vec![req("commands", one_of(&["recovery", "exit"]))],
            ),
        ),
        (
            "schroot",
            boot(
                "schroot",
                "'method' should be 'schroot'",
                vec![
                    prompts_(),
                    req("connection", S::Lit("ssh")),
                    req("schroot", str_()),
                ],
            ),
        ),
        ("ssh", {
            let mut entries = boot_base();
            entries.push(msg_method("ssh", "'method' should be 'ssh'"));
            entries.push(prompts_());
            entries.push(req("connection", S::Lit("ssh")));
            // `ret.update({"parameters": ...})` replaces the value, keeps the Optional key.
            entries.push(opt(
                "parameters",
                map(vec![opt("hostID", str_()), opt("host_key", str_())]),
            ));
            map(entries)
        }),
        (
            "u_boot",
            boot(
                "u-boot",
                "'method' should be 'u-boot'",
                vec![
                    req("commands", str_or_strs()),
                    prompts_(),
                    login(),
                    bootscript(),
                    overlay(),
                ],
            ),
        ),
        (
            "uefi",
            boot(
                "uefi",
                "'method' should be 'uefi'",
                vec![
                    req("commands", str_or_strs()),
                    opt("shell_menu", str_()),
                    prompts_(),
                    login(),
                ],
            ),
        ),
        (
            "uefi_menu",
            boot(
                "uefi-menu",
                "'method' should be 'uefi-menu'",
                vec![
                    opt("commands", str_()),
                    opt("line_separator", str_()),
                    prompts_(),
                    login(),
                ],
            ),
        ),
        (
            "uuu",
            boot(
                "uuu",
                "'method' should be 'uuu'",
                vec![req(
                    "commands",
                    any(vec![str_(), seq(vec![map(vec![keyed(str_(), str_())])])]),
                )],
            ),
        ),
    ]
}

// ---------------------------------------------------------------- deploy

fn base_url() -> Entries {
    vec![
        req("url", str_()),
        opt(
            "compression",
            any(vec![
                S::Lit("bz2"),
                S::Lit("gz"),
                S::Lit("xz"),
                S::Lit("zip"),
                S::Lit("zstd"),
                S::LitNone,
            ]),
        ),
        opt("archive", S::Lit("tar")),
        opt("md5sum", str_()),
        opt("sha256sum", str_()),
        opt("sha512sum", str_()),
    ]
}

/// `deploy.url(extra)`.
fn url_with(extra: fn() -> Entries) -> S {
    let mut overlay = base_url();
    overlay.push(req("format", one_of(&["tar"])));
    overlay.push(req("path", str_()));
    any(vec![
        map(with(base_url(), extra())),
        map(with(
            with(base_url(), extra()),
            vec![
                req("format", one_of(&["cpio.newc", "ext4"])),
                opt("partition", int()),
                req(
                    "overlays",
                    map(vec![opt("lava", bool_()), keyed(str_(), map(overlay))]),
                ),
            ],
        )),
    ])
}

fn url() -> S {
    url_with(Vec::new)
}

fn deploy_base() -> Entries {
    with(
        action(),
        vec![opt("os", str_()), opt("authorize", S::Lit("ssh"))],
    )
}

fn deploy(to: &'static str, more: Entries) -> S {
    let mut entries = deploy_base();
    entries.push(req("to", S::Lit(to)));
    entries.extend(more);
    map(entries)
}

fn images(extra: fn() -> Entries) -> S {
    map(vec![(
        Mark::Required(Some("'images' is empty")),
        KeySchema::Validator(str_()),
        url_with(extra),
    )])
}

/// `^[a-z0-9]+[a-z0-9._/-]*[a-z0-9]+(:[a-zA-Z0-9_]+[a-zA-Z0-9._-]*)?$`.
fn docker_image(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let (name, tag) = match s.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (s, None),
    };
    let lower_digit = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let name_ok = name.len() >= 2
        && name.bytes().next().is_some_and(lower_digit)
        && name.bytes().last().is_some_and(lower_digit)
        && name
            .bytes()
            .all(|b| lower_digit(b) || matches!(b, b'.' | b'_' | b'/' | b'-'));
    let tag_ok = tag.is_none_or(|t| {
        t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    name_ok && tag_ok
}

/// `re.match("test_binary(_\w+)?$")`.
fn test_binary(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    match s.strip_prefix("test_binary") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('_')
            .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_alphanumeric() || c == '_')),
        None => false,
    }
}

/// `re.match(r"deps-.+")`: a prefix match.
fn deps_key(s: &str) -> bool {
    s.strip_prefix("deps-")
        .is_some_and(|rest| rest.chars().next().is_some_and(|c| c != '\n'))
}

fn deploys() -> Vec<(&'static str, S)> {
    let tool = || {
        map(vec![
            req("tool", str_()),
            req("options", str_()),
            req("prompt", str_()),
        ])
    };
    let usb = || {
        let mut entries = deploy_base();
        entries.extend(vec![
            req("to", one_of(&["sata", "sd", "usb"])),
            excl(
                "images",
                "image",
                map(vec![
                    req("image", url()),
                    (Mark::Optional, KeySchema::Validator(str_()), url()),
                ]),
            ),
            excl("image", "image", url()),
            req("device", str_()),
            opt("download", tool()),
            opt("writer", tool()),
            opt("uniquify", bool_()),
        ]);
        map(entries)
    };
    let image_name = || S::Match(docker_image, "", Some("Invalid docker image name"));
    vec![
        (
            "docker",
            deploy(
                "docker",
                vec![
                    req(
                        "image",
                        any(vec![
                            image_name(),
                            map(vec![
                                req("name", image_name()),
                                super::schema::bare("local", bool_()),
                            ]),
                        ]),
                    ),
                    opt("repeat", S::Range(Some(1), None)),
                ],
            ),
        ),
        (
            "download",
            deploy("download", vec![req("images", images(Vec::new))]),
        ),
        (
            "downloads",
            deploy(
                "downloads",
                vec![
                    req("images", images(Vec::new)),
                    opt(
                        "postprocess",
                        map(vec![req(
                            "docker",
                            map(vec![req("image", str_()), req("steps", strs())]),
                        )]),
                    ),
                ],
            ),
        ),
        (
            "fastboot",
            deploy(
                "fastboot",
                vec![
                    req(
                        "images",
                        images(|| {
                            vec![
                                opt("apply-overlay", bool_()),
                                opt("sparse", bool_()),
                                opt(
                                    "reboot",
                                    one_of(&[
                                        "hard-reset",
                                        "fastboot-reboot",
                                        "fastboot-reboot-bootloader",
                                        "fastboot-reboot-fastboot",
                                    ]),
                                ),
                            ]
                        }),
                    ),
                    opt("docker", map(vec![req("image", str_())])),
                    opt("connection", S::Lit("lxc")),
                ],
            ),
        ),
        (
            "flasher",
            deploy(
                "flasher",
                vec![req("images", map(vec![keyed(str_(), url())]))],
            ),
        ),
        (
            "fvp",
            deploy(
                "fvp",
                vec![
                    opt(
                        "ramdisk",
                        map(vec![
                            opt("install_overlay", bool_()),
                            opt("compression", str_()),
                            opt("header", S::Lit("u-boot")),
                        ]),
                    ),
                    req("images", images(Vec::new)),
                ],
            ),
        ),
        (
            "iso_installer",
            deploy(
                "iso-installer",
                vec![
                    req(
                        "images",
                        map(vec![
                            req("iso", url_with(|| vec![opt("image_arg", str_())])),
                            req("preseed", url()),
                        ]),
                    ),
                    req(
                        "iso",
                        map(vec![
                            req("installation_size", str_()),
                            opt("kernel", str_()),
                            opt("initrd", str_()),
                        ]),
                    ),
                ],
            ),
        ),
        ("lxc", deploy("lxc", vec![opt("packages", strs())])),
        (
            "mps",
            deploy(
                "mps",
                vec![req(
                    "images",
                    all(vec![
                        map(vec![
                            opt("recovery_image", url()),
                            (
                                Mark::Optional,
                                KeySchema::Validator(S::Match(
                                    test_binary,
                                    "test_binary(_\\w+)?$",
                                    None,
                                )),
                                url_with(|| vec![opt("rename", str_())]),
                            ),
                        ]),
                        S::Length(Some(1), None),
                    ]),
                )],
            ),
        ),
        (
            "musca",
            deploy(
                "musca",
                vec![req(
                    "images",
                    map(vec![(
                        Mark::Required(Some("'images' has no 'test_binary' entry")),
                        KeySchema::Lit("test_binary"),
                        url(),
                    )]),
                )],
            ),
        ),
        (
            "nbd",
            deploy(
                "nbd",
                vec![
                    (
                        Mark::Required(Some("needs a kernel to deploy")),
                        KeySchema::Lit("kernel"),
                        url_with(|| vec![opt("type", one_of(&["image", "uimage", "zimage"]))]),
                    ),
                    req("nbdroot", url()),
                    req("initrd", url()),
                    opt("dtb", url()),
                ],
            ),
        ),
        (
            "nfs",
            any(vec![
                map(with(
                    vec![
                        req("to", S::Lit("nfs")),
                        opt("nfsrootfs", url()),
                        opt("modules", url()),
                    ],
                    deploy_base(),
                )),
                map(with(
                    vec![
                        req("to", S::Lit("nfs")),
                        req("images", images(|| vec![opt("image_arg", str_())])),
                    ],
                    deploy_base(),
                )),
            ]),
        ),
        ("overlay", deploy("overlay", vec![])),
        (
            "recovery",
            deploy("recovery", vec![req("images", images(Vec::new))]),
        ),
        ("sata", usb()),
        (
            "ssh",
            deploy(
                "ssh",
                vec![
                    opt("firmware", url()),
                    opt("kernel", url()),
                    opt("rootfs", url()),
                    opt("modules", url()),
                ],
            ),
        ),
        (
            "tftp",
            deploy(
                "tftp",
                vec![
                    (
                        Mark::Required(Some("needs a kernel to deploy")),
                        KeySchema::Lit("kernel"),
                        url_with(|| vec![opt("type", one_of(&["image", "uimage", "zimage"]))]),
                    ),
                    opt("dtb", url()),
                    opt("modules", url()),
                    opt("preseed", url()),
                    opt(
                        "ramdisk",
                        url_with(|| {
                            vec![
                                opt("install_modules", bool_()),
                                opt("install_overlay", bool_()),
                                opt("header", S::Lit("u-boot")),
                            ]
                        }),
                    ),
                    excl(
                        "nfsrootfs",
                        "nfs",
                        url_with(|| {
                            vec![
                                opt("install_modules", bool_()),
                                opt("install_overlay", bool_()),
                                opt("prefix", str_()),
                            ]
                        }),
                    ),
                    excl(
                        "persistent_nfs",
                        "nfs",
                        map(vec![
                            req("address", str_()),
                            opt("install_overlay", bool_()),
                        ]),
                    ),
                ],
            ),
        ),
        (
            "tmpfs",
            deploy(
                "tmpfs",
                vec![
                    req(
                        "images",
                        images(|| vec![opt("format", S::Lit("qcow2")), opt("image_arg", str_())]),
                    ),
                    opt("type", S::Lit("monitor")),
                    opt("uefi", url()),
                ],
            ),
        ),
        (
            "u_boot_ums",
            deploy(
                "u-boot-ums",
                vec![req(
                    "image",
                    url_with(|| vec![opt("root_partition", S::Range(Some(0), None))]),
                )],
            ),
        ),
        ("usb", usb()),
        (
            "uuu",
            deploy(
                "uuu",
                vec![req(
                    "images",
                    all(vec![
                        map(vec![
                            req("boot", url()),
                            super::schema::keyed(
                                any(vec![str_()]),
                                url_with(|| {
                                    vec![
                                        opt("apply-overlay", bool_()),
                                        opt("root_partition", S::Range(Some(0), None)),
                                    ]
                                }),
                            ),
                        ]),
                        S::Length(Some(1), None),
                    ]),
                )],
            ),
        ),
        ("vemsd", deploy("vemsd", vec![req("recovery_image", url())])),
    ]
}

// ---------------------------------------------------------------- test and command

fn fixupdict() -> S {
    map(vec![keyed(
        str_(),
        one_of(&["pass", "fail", "skip", "unknown"]),
    )])
}

fn definition() -> Entries {
    let common = || {
        vec![
            req("path", str_()),
            req("name", name()),
            opt(
                "skip_install",
                seq(vec![one_of(&[
                    "keys",
                    "sources",
                    "deps",
                    "steps",
                    "git-repos",
                    "all",
                ])]),
            ),
            opt("lava-signal", one_of(&["kmsg", "stdout"])),
        ]
    };
    let git = with(
        vec![
            req("repository", str_()),
            req("from", S::Lit("git")),
            opt("branch", str_()),
            opt("history", bool_()),
            opt("revision", str_()),
            opt("parameters", dict()),
            opt("params", dict()),
        ],
        common(),
    );
    let inline = with(
        vec![
            req(
                "repository",
                map(vec![
                    req(
                        "metadata",
                        map(vec![
                            req("format", S::Lit("Lava-Test Test Definition 1.0")),
                            req("name", str_()),
                            opt("description", str_()),
                            opt("environment", strs()),
                            opt("devices", strs()),
                            opt("maintainer", strs()),
                            opt("scope", strs()),
                            opt("os", strs()),
                        ]),
                    ),
                    opt(
                        "install",
                        map(vec![
                            opt("deps", strs()),
                            (
                                Mark::Optional,
                                KeySchema::Validator(S::Match(deps_key, "deps-.+", None)),
                                strs(),
                            ),
                            opt("git-repos", strs()),
                            opt("keys", strs()),
                            opt("steps", strs()),
                            opt("sources", strs()),
                        ]),
                    ),
                    opt("parse", map(vec![opt("fixupdict", fixupdict())])),
                    opt("run", map(vec![req("steps", strs())])),
                ]),
            ),
            req("from", S::Lit("inline")),
        ],
        common(),
    );
    with(
        action(),
        vec![req(
            "definitions",
            seq(vec![any(vec![map(git), map(inline)])]),
        )],
    )
}

fn tests() -> Vec<(&'static str, S)> {
    let interactive = with(
        action(),
        vec![req(
            "interactive",
            seq(vec![map(vec![
                req("name", name()),
                req("prompts", seq(vec![non_empty_str()])),
                opt("echo", S::Lit("discard")),
                req(
                    "script",
                    seq(vec![map(vec![
                        opt("command", any(vec![str_(), S::LitNone])),
                        opt("delay", int()),
                        opt("lava-send", str_()),
                        opt("lava-sync", str_()),
                        opt("lava-wait", str_()),
                        opt("lava-wait-all", str_()),
                        opt("name", name()),
                        opt("wait_for_prompt", bool_()),
                        opt(
                            "successes",
                            seq(vec![map(vec![req("message", non_empty_str())])]),
                        ),
                        opt(
                            "failures",
                            seq(vec![map(vec![
                                req("message", non_empty_str()),
                                opt(
                                    "exception",
                                    one_of(&["InfrastructureError", "JobError", "TestError"]),
                                ),
                                opt("error", non_empty_str()),
                            ])]),
                        ),
                    ])]),
                ),
            ])]),
        )],
    );
    let monitor = with(
        action(),
        vec![req(
            "monitors",
            seq(vec![map(vec![
                req("name", name()),
                req("start", str_()),
                req("end", str_()),
                req("pattern", str_()),
                opt("fixupdict", fixupdict()),
            ])]),
        )],
    );
    vec![
        ("definition", map(definition())),
        (
            "docker",
            map(with(
                definition(),
                vec![req(
                    "docker",
                    map(vec![
                        req("image", str_()),
                        opt("wait", map(vec![opt("device", bool_())])),
                    ]),
                )],
            )),
        ),
        ("interactive", map(interactive)),
        ("monitor", map(monitor)),
    ]
}

static SCHEMAS: LazyLock<HashMap<String, S>> = LazyLock::new(|| {
    let mut all = HashMap::new();
    for (name, s) in boots() {
        all.insert(format!("boot.{name}"), s);
    }
    for (name, s) in deploys() {
        all.insert(format!("deploy.{name}"), s);
    }
    for (name, s) in tests() {
        all.insert(format!("test.{name}"), s);
    }
    all.insert(
        "command".into(),
        map(with(action(), vec![req("name", str_())])),
    );
    all
});

/// LAVA's `validate_action`: action `index` of kind `kind` (`boot`, `deploy`...) with
/// this body, against its own schema.
pub(crate) fn check(index: usize, kind: &str, body: &Node, extra: Extra) -> Result<(), Invalid> {
    let text = |key| body.get(key).and_then(Node::as_str).unwrap_or_default();
    let class = match kind {
        "boot" => Some(format!("boot.{}", text("method"))),
        "command" => Some("command".into()),
        "deploy" => Some(format!("deploy.{}", text("to"))),
        "test" if body.get("definitions").is_some() => Some(if body.get("docker").is_some() {
            "test.docker".into()
        } else {
            "test.definition".into()
        }),
        "test" if body.get("interactive").is_some() => Some("test.interactive".into()),
        "test" if body.get("monitors").is_some() => Some("test.monitor".into()),
        _ => None,
    };
    let Some(class) = class else {
        return Err(Invalid {
            msg: "invalid action".into(),
            path: vec![Step::name(&format!("actions[{index}]")), Step::name(kind)],
            error_type: None,
            line: body.line,
        });
    };
    let class = if class.contains('-') {
        class.replace('-', "_")
    } else {
        class
    };
    // The path of an error, written only when there is one.
    let parts = || class.split('.').map(Step::name);
    let Some(schema) = SCHEMAS.get(&class) else {
        let mut path = vec![Step::name("actions")];
        path.extend(parts());
        return Err(Invalid {
            msg: "unknown action type".into(),
            path,
            error_type: None,
            line: body.line,
        });
    };
    super::schema::validate(schema, extra, body).map_err(|errors| {
        let mut e = errors
            .into_iter()
            .next()
            .unwrap_or_else(|| Invalid::new("invalid", body.line));
        let mut path = vec![Step::name(&format!("actions[{index}]"))];
        path.extend(parts());
        path.append(&mut e.path);
        e.path = path;
        e
    })
}

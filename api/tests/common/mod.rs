//! Strategies for every message type of the protocol, shared by the tests.
#![allow(dead_code)]

use northstar_api::*;
use proptest::{collection::vec, option, prelude::*, sample::select};
use std::collections::BTreeMap;

/// The example manifests of the package format's tests.
pub fn manifests() -> Vec<Manifest> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../npk/tests/data/northstar-0.9/manifests"
    );
    ["hello.yaml", "message.yaml", "full.yaml"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
            Manifest::from_yaml_str(&text).unwrap()
        })
        .collect()
}

/// Any text: control characters, newlines, quotes, non-ASCII.
pub fn text() -> impl Strategy<Value = String> {
    "(?s).{0,40}"
}

pub fn container() -> impl Strategy<Value = ContainerId> {
    (
        "[A-Za-z0-9][A-Za-z0-9._-]{0,20}",
        0..1000u64,
        0..1000u64,
        0..1000u64,
    )
        .prop_map(|(name, a, b, c)| format!("{name}:{a}.{b}.{c}").parse().unwrap())
}

pub fn repository() -> impl Strategy<Value = RepositoryName> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|n| RepositoryName::new(&n).unwrap())
}

pub fn request_id() -> impl Strategy<Value = RequestId> {
    any::<u64>().prop_map(RequestId)
}

pub fn args() -> impl Strategy<Value = Args> {
    vec("[^\u{0}]{0,20}", 0..8).prop_map(|a| Args::new(a).unwrap())
}

pub fn env() -> impl Strategy<Value = Env> {
    proptest::collection::btree_map("[A-Z][A-Z0-9_]{0,12}", "[^\u{0}]{0,20}", 0..8).prop_map(
        |mut map: BTreeMap<String, String>| {
            map.retain(|k, _| !k.starts_with("NORTHSTAR_"));
            Env::new(map).unwrap()
        },
    )
}

pub fn timeout() -> impl Strategy<Value = Option<StopTimeout>> {
    option::of((0..=StopTimeout::MAX_MS).prop_map(|ms| StopTimeout::from_millis(ms).unwrap()))
}

pub fn exit_status() -> impl Strategy<Value = ExitStatus> {
    prop_oneof![
        any::<i32>().prop_map(|code| ExitStatus::Exit { code }),
        any::<i32>().prop_map(|signal| ExitStatus::Signal { signal }),
    ]
}

/// Grants for every target, and some limited to a repository or a container.
pub fn permissions() -> impl Strategy<Value = Permissions> {
    let limited = vec(
        (select(Permission::ALL.to_vec()), repository(), container()),
        0..4,
    );
    (
        proptest::sample::subsequence(Permission::ALL.to_vec(), 0..=Permission::ALL.len()),
        limited,
    )
        .prop_map(|(all, limited)| {
            let mut set: Permissions = all.into_iter().collect();
            for (permission, repository, container) in limited {
                let target = match permission.targets() {
                    Some(Targets::Repositories) => repository.as_str().to_string(),
                    Some(Targets::Containers) => container.name.to_string(),
                    None => continue,
                };
                set.insert_for(permission, &target).unwrap();
            }
            set
        })
}

pub fn update_options() -> impl Strategy<Value = UpdateOptions> {
    (
        option::of(select(vec![Health::Ready, Health::Running, Health::Exited])),
        option::of(any::<u64>()),
        option::of(any::<u64>()),
        option::of(any::<bool>()),
        any::<bool>(),
    )
        .prop_map(
            |(health, window_ms, deadline_ms, snapshot, downgrade)| UpdateOptions {
                health,
                window_ms,
                deadline_ms,
                snapshot,
                downgrade,
            },
        )
}

/// 1 to 4 packages of at most `max_package` bytes together.
pub fn packages(max_package: u64) -> impl Strategy<Value = Packages> {
    vec(
        (0..=max_package / 4, option::of(any::<[u8; 32]>())).prop_map(|(size, sha256)| Package {
            size,
            sha256: sha256.map(Sha256),
        }),
        1..=4,
    )
    .prop_map(|p| Packages::new(p).unwrap())
}

pub fn container_name() -> impl Strategy<Value = ContainerName> {
    container().prop_map(|c| c.name)
}

pub fn version() -> impl Strategy<Value = ProtocolVersion> {
    (any::<u16>(), any::<u16>()).prop_map(|(a, b)| ProtocolVersion::new(a, b))
}

/// Installs announce at most `max_package` bytes.
pub fn request(max_package: u64) -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::List {}),
        container().prop_map(|container| Request::Inspect { container }),
        (container(), option::of(args()), option::of(env())).prop_map(|(container, args, env)| {
            Request::Start {
                container,
                args,
                env,
            }
        }),
        (container(), 1..=Signal::MAX).prop_map(|(container, s)| Request::Kill {
            container,
            signal: Signal::new(s).unwrap(),
        }),
        (container(), timeout()).prop_map(|(container, timeout_ms)| Request::Stop {
            container,
            timeout_ms
        }),
        (container(), timeout()).prop_map(|(container, timeout_ms)| Request::Restart {
            container,
            timeout_ms
        }),
        (repository(), 0..=max_package, option::of(any::<[u8; 32]>())).prop_map(
            |(repository, size, sha256)| Request::Install {
                repository,
                size,
                sha256: sha256.map(Sha256),
            }
        ),
        (container(), any::<bool>())
            .prop_map(|(container, wipe)| Request::Uninstall { container, wipe }),
        container().prop_map(|container| Request::Mount { container }),
        container().prop_map(|container| Request::Umount { container }),
        Just(Request::Repositories {}),
        (container(), option::of(any::<u32>()), any::<bool>()).prop_map(
            |(container, tail, follow)| Request::Logs {
                container,
                tail,
                follow
            }
        ),
        Just(Request::BootReport {}),
        Just(Request::Shutdown {}),
        Just(Request::Reboot {}),
        Just(Request::Subscribe {}),
        (repository(), packages(max_package), update_options()).prop_map(
            |(repository, packages, options)| Request::Update {
                repository,
                packages,
                options
            }
        ),
        (container_name(), option::of(repository()), update_options()).prop_map(
            |(name, repository, options)| Request::Rollback {
                name,
                repository,
                options
            }
        ),
        (container_name(), option::of(repository()))
            .prop_map(|(name, repository)| Request::Enable { name, repository }),
        (container_name(), option::of(repository()))
            .prop_map(|(name, repository)| Request::Disable { name, repository }),
        option::of(container()).prop_map(|container| Request::Verify { container }),
        Just(Request::SystemStatus {}),
        (slot_mark(), slot_target()).prop_map(|(mark, slot)| Request::SystemMark { mark, slot }),
        (0..=max_package, option::of(any::<[u8; 32]>())).prop_map(|(size, sha256)| {
            Request::SystemInstall {
                size,
                sha256: sha256.map(Sha256),
            }
        }),
    ]
}

pub fn slot_mark() -> impl Strategy<Value = SlotMark> {
    select(vec![SlotMark::Good, SlotMark::Bad, SlotMark::Active])
}

pub fn slot_target() -> impl Strategy<Value = SlotTarget> {
    prop_oneof![
        Just(SlotTarget::Booted),
        Just(SlotTarget::Other),
        "[A-Za-z0-9_]{1,16}".prop_map(|name| name.parse::<SlotTarget>().unwrap()),
    ]
}

pub fn system_status() -> impl Strategy<Value = SystemStatus> {
    let state = select(vec![SlotState::Good, SlotState::Bad, SlotState::Unknown]);
    let slot = (
        "[A-Za-z0-9_]{1,16}",
        text(),
        option::of(text()),
        any::<bool>(),
        any::<bool>(),
        state,
        option::of(any::<u32>()),
    )
        .prop_map(
            |(name, root, boot, booted, primary, state, attempts_left)| SlotStatus {
                name,
                root,
                boot,
                booted,
                primary,
                state,
                attempts_left,
            },
        );
    (
        select(vec!["uboot", "grub", "none"]),
        option::of("[A-Za-z0-9_]{1,16}"),
        vec(slot, 0..3),
    )
        .prop_map(|(bootloader, booted, slots)| SystemStatus {
            bootloader: bootloader.to_string(),
            booted,
            slots,
        })
}

pub fn client_message(max_package: u64) -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (version(), "[^\\p{Cc}]{1,30}").prop_map(|(version, client)| ClientMessage::Hello(Hello {
            version,
            client: ClientName::new(&client).unwrap(),
        })),
        (request_id(), request(max_package))
            .prop_map(|(id, request)| ClientMessage::Request { id, request }),
    ]
}

fn container_state() -> impl Strategy<Value = ContainerState> {
    select(vec![
        ContainerState::Stopped,
        ContainerState::Starting,
        ContainerState::Running,
        ContainerState::Stopping,
        ContainerState::Restarting,
    ])
}

pub fn container_info() -> impl Strategy<Value = ContainerInfo> {
    (
        container(),
        repository(),
        any::<bool>(),
        container_state(),
        option::of(any::<i32>()),
        option::of(any::<u64>()),
        any::<bool>(),
        option::of(exit_status()),
        any::<u32>(),
        (any::<bool>(), option::of(text()), any::<bool>()),
    )
        .prop_map(
            |(
                container,
                repository,
                resource,
                state,
                pid,
                uptime_ms,
                mounted,
                last_exit,
                restarts,
                (ready, status, active),
            )| {
                ContainerInfo {
                    container,
                    repository,
                    resource,
                    state,
                    pid,
                    uptime_ms,
                    mounted,
                    last_exit,
                    restarts,
                    ready,
                    status,
                    active,
                }
            },
        )
}

fn cgroup_stats() -> impl Strategy<Value = CgroupStats> {
    let memory = (
        any::<u64>(),
        option::of(any::<u64>()),
        option::of(any::<u64>()),
        proptest::array::uniform3(option::of(any::<u64>())),
        any::<[u64; 2]>(),
    )
        .prop_map(|(current, peak, limit, v2, e)| MemoryStats {
            current,
            peak,
            limit,
            events: MemoryEvents {
                low: v2[0],
                high: v2[1],
                max: v2[2],
                oom: e[0],
                oom_kill: e[1],
            },
        });
    let cpu = (
        any::<[u64; 3]>(),
        option::of(any::<u64>()),
        option::of(any::<u64>()),
    )
        .prop_map(|(t, nr_throttled, throttled_usec)| CpuStats {
            usage_usec: t[0],
            user_usec: t[1],
            system_usec: t[2],
            nr_throttled,
            throttled_usec,
        });
    let pids = (any::<u64>(), option::of(any::<u64>()))
        .prop_map(|(current, limit)| PidsStats { current, limit });
    (option::of(memory), option::of(cpu), option::of(pids))
        .prop_map(|(memory, cpu, pids)| CgroupStats { memory, cpu, pids })
}

fn process() -> impl Strategy<Value = ProcessInfo> {
    (any::<i32>(), any::<u64>(), vec(text(), 0..4), any::<bool>()).prop_map(
        |(pid, uptime_ms, args, overridden)| ProcessInfo {
            pid,
            uptime_ms,
            args,
            overridden,
        },
    )
}

fn repository_info() -> impl Strategy<Value = RepositoryInfo> {
    (
        repository(),
        any::<bool>(),
        any::<u32>(),
        any::<u64>(),
        option::of(any::<u32>()),
        option::of(any::<u64>()),
    )
        .prop_map(
            |(name, verified, packages, bytes, max_packages, max_bytes)| RepositoryInfo {
                name,
                verified,
                packages,
                bytes,
                max_packages,
                max_bytes,
            },
        )
}

fn boot_report() -> impl Strategy<Value = BootReport> {
    let step =
        ("[a-z ]{1,12}", any::<u64>(), any::<u64>()).prop_map(|(name, start_ms, took_ms)| {
            BootStep {
                name,
                start_ms,
                took_ms,
            }
        });
    let outcome = prop_oneof![
        container().prop_map(|container| BootOutcome::Pending { container }),
        (container(), any::<u64>())
            .prop_map(|(container, at_ms)| BootOutcome::Started { container, at_ms }),
        (container(), any::<u64>(), text()).prop_map(|(container, at_ms, reason)| {
            BootOutcome::Failed {
                container,
                at_ms,
                reason,
            }
        }),
    ];
    (
        any::<u64>(),
        vec(step, 0..4),
        vec(outcome, 0..4),
        option::of(any::<u64>()),
        option::of(text()),
        any::<bool>(),
        option::of("[A-Za-z0-9]{1,16}"),
    )
        .prop_map(
            |(kernel_ms, steps, containers, finished_ms, previous_panic, development, slot)| {
                BootReport {
                    kernel_ms,
                    steps,
                    containers,
                    finished_ms,
                    previous_panic,
                    development,
                    slot,
                    ..BootReport::default()
                }
            },
        )
}

pub fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        Just(Response::Ok {}),
        vec(container_info(), 0..4).prop_map(|containers| Response::Containers { containers }),
        (
            container_info(),
            select(manifests()),
            option::of(process()),
            option::of(cgroup_stats())
        )
            .prop_map(
                |(info, manifest, process, cgroup)| Response::Inspect(Box::new(Inspection {
                    info,
                    manifest,
                    process,
                    cgroup,
                    selinux: None,
                }))
            ),
        (container(), any::<i32>())
            .prop_map(|(container, pid)| Response::Started { container, pid }),
        (container(), exit_status())
            .prop_map(|(container, status)| Response::Stopped { container, status }),
        (container(), exit_status(), any::<i32>()).prop_map(|(container, status, pid)| {
            Response::Restarted {
                container,
                status,
                pid,
            }
        }),
        container().prop_map(|container| Response::Installed { container }),
        vec(repository_info(), 0..4)
            .prop_map(|repositories| Response::Repositories { repositories }),
        (vec(text(), 0..6), any::<bool>())
            .prop_map(|(lines, truncated)| Response::Logs { lines, truncated }),
        boot_report().prop_map(|report| Response::BootReport {
            report: Box::new(report)
        }),
        vec(container(), 0..4).prop_map(|containers| Response::Committed { containers }),
        vec(package_check(), 0..4).prop_map(|packages| Response::Verified { packages }),
        system_status().prop_map(|status| Response::System { status }),
        (text(), text(), text(), any::<u64>(), system_status()).prop_map(
            |(slot, version, compatible, bytes, status)| Response::SystemInstalled {
                installed: Box::new(SystemInstalled {
                    slot,
                    version,
                    compatible,
                    bytes,
                    status,
                }),
            }
        ),
    ]
}

pub fn package_check() -> impl Strategy<Value = PackageCheck> {
    let result = prop_oneof![
        Just(CheckResult::Ok {}),
        Just(CheckResult::Development {}),
        text().prop_map(|reason| CheckResult::Failed { reason }),
    ];
    (container(), repository(), result).prop_map(|(container, repository, result)| PackageCheck {
        container,
        repository,
        result,
    })
}

pub fn notification() -> impl Strategy<Value = Notification> {
    prop_oneof![
        (container(), any::<i32>())
            .prop_map(|(container, pid)| Notification::Started { container, pid }),
        (container(), text())
            .prop_map(|(container, reason)| Notification::Failed { container, reason }),
        (container(), exit_status(), any::<bool>()).prop_map(|(container, status, oom)| {
            Notification::Exited {
                container,
                status,
                oom,
            }
        }),
        (container(), any::<u64>())
            .prop_map(|(container, kills)| Notification::Oom { container, kills }),
        (container(), any::<u32>(), any::<u64>()).prop_map(|(container, attempt, delay_ms)| {
            Notification::Restarting {
                container,
                attempt,
                delay_ms,
            }
        }),
        (container(), any::<u32>()).prop_map(|(container, attempts)| Notification::GaveUp {
            container,
            attempts
        }),
        container().prop_map(|container| Notification::Installed { container }),
        container().prop_map(|container| Notification::Uninstalled { container }),
        (container(), text())
            .prop_map(|(container, reason)| Notification::Critical { container, reason }),
        Just(Notification::Shutdown {}),
        any::<u64>().prop_map(|missed| Notification::Lagged { missed }),
        vec(container(), 0..4).prop_map(|containers| Notification::UpdateStarted { containers }),
        container().prop_map(|container| Notification::Healthy { container }),
        vec(container(), 0..4).prop_map(|containers| Notification::Committed { containers }),
        (vec(container(), 0..4), text())
            .prop_map(|(containers, reason)| Notification::RolledBack { containers, reason }),
        container().prop_map(|container| Notification::Ready { container }),
        (container(), text())
            .prop_map(|(container, reason)| Notification::VerifyFailed { container, reason }),
    ]
}

pub fn api_error() -> impl Strategy<Value = ApiError> {
    prop_oneof![
        container().prop_map(|container| ApiError::NotFound { container }),
        repository().prop_map(|repository| ApiError::RepositoryNotFound { repository }),
        select(Permission::ALL.to_vec())
            .prop_map(|permission| ApiError::PermissionDenied { permission }),
        (select(Permission::ALL.to_vec()), repository()).prop_map(|(permission, repository)| {
            ApiError::RepositoryNotGranted {
                permission,
                repository,
            }
        }),
        (select(Permission::ALL.to_vec()), container()).prop_map(|(permission, container)| {
            ApiError::ContainerNotGranted {
                permission,
                container,
            }
        }),
        (version(), version())
            .prop_map(|(server, client)| ApiError::VersionMismatch { server, client }),
        (text(), option::of(text()), option::of(any::<u64>())).prop_map(|(what, field, offset)| {
            ApiError::InvalidRequest {
                what,
                field,
                offset,
            }
        }),
        any::<u64>().prop_map(|limit| ApiError::FrameTooLarge { limit }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(size, limit)| ApiError::PackageTooLarge { size, limit }),
        any::<u32>().prop_map(|per_second| ApiError::RateLimited { per_second }),
        text().prop_map(|reason| ApiError::Busy { reason }),
        text().prop_map(|reason| ApiError::InstallFailed { reason }),
        container().prop_map(|container| ApiError::AlreadyInstalled { container }),
        (repository(), text())
            .prop_map(|(repository, reason)| ApiError::RepositoryFull { repository, reason }),
        (container(), text(), text()).prop_map(|(container, step, message)| {
            ApiError::StartFailed {
                container,
                step,
                message,
            }
        }),
        container().prop_map(|container| ApiError::AlreadyRunning { container }),
        container().prop_map(|container| ApiError::NotRunning { container }),
        container().prop_map(|container| ApiError::ResourceContainer { container }),
        container().prop_map(|container| ApiError::InUse { container }),
        (container(), text())
            .prop_map(|(container, reason)| ApiError::MountFailed { container, reason }),
        "[a-z_]{1,12}".prop_map(|request| ApiError::Unsupported { request }),
        Just(ApiError::ShuttingDown {}),
        text().prop_map(|message| ApiError::Internal { message }),
        (select(Permission::ALL.to_vec()), container_name())
            .prop_map(|(permission, name)| ApiError::NameNotGranted { permission, name }),
        (container(), text(), text()).prop_map(|(container, active, floor)| {
            ApiError::Downgrade {
                container,
                active,
                floor,
            }
        }),
        text().prop_map(|reason| ApiError::RolledBack { reason }),
        Just(ApiError::UpdateInProgress {}),
        text().prop_map(|name| ApiError::NoPrevious { name }),
        text().prop_map(|name| ApiError::Ambiguous { name }),
        text().prop_map(|name| ApiError::NotInstalled { name }),
        text().prop_map(|reason| ApiError::SystemFailed { reason }),
    ]
}

pub fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (version(), permissions()).prop_map(|(version, permissions)| ServerMessage::Welcome(
            Welcome {
                version,
                permissions
            }
        )),
        (request_id(), response())
            .prop_map(|(id, response)| ServerMessage::Response { id, response }),
        (option::of(request_id()), api_error()).prop_map(|(id, e)| ServerMessage::error(id, e)),
        notification().prop_map(|notification| ServerMessage::Notification { notification }),
        (request_id(), vec(text(), 0..4)).prop_map(|(id, lines)| ServerMessage::Log { id, lines }),
        request_id().prop_map(|id| ServerMessage::LogEnd { id }),
    ]
}

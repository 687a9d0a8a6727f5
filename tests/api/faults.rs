//! Database faults: PostgreSQL stopped and resumed, and frozen past a call's deadline, on a
//! throwaway cluster the test starts itself (the shared one is never stopped); and SQLite on a
//! disk that fills up, a small tmpfs of the test's own. Each asserts the status the client gets,
//! that nothing is half-written, and recovery without a restart.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use flexsettle::domain::Role;
use tonic::Code;

use crate::helpers::create_contract_request;

/// A PostgreSQL cluster of its own, in a temporary folder, on a free port.
struct ThrowawayCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _folder: tempfile::TempDir,
}

/// The PostgreSQL tools as the postgres user (the server refuses to run as root), with the
/// system's TLS libraries from where CI put copies of them (`.ci/hermetic` hides the originals).
fn as_postgres() -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--", "env"]);
    if let Ok(libraries) = std::env::var(LIBRARIES_VAR) {
        command.arg(format!("LD_LIBRARY_PATH={libraries}"));
    }
    command
}

/// A folder with copies of the system libraries the PostgreSQL server links against.
const LIBRARIES_VAR: &str = "FLEXSETTLE_TEST_PG_LIBRARIES";

/// A cluster made by `initdb` before the tests, to copy: CI runs the tests where libpq is
/// hidden (`.ci/hermetic`), and `initdb` links against it (`pg_ctl` and `postgres` do not).
const TEMPLATE_VAR: &str = "FLEXSETTLE_TEST_PG_TEMPLATE";

fn run_as_postgres(command: &mut Command) {
    let status = command.status().expect("the PostgreSQL tools run");
    assert!(status.success(), "{command:?}: {status:?}");
}

impl ThrowawayCluster {
    /// initdb and start; `None` (the test then skips, except in CI) where no PostgreSQL server
    /// binaries are installed.
    fn start() -> Option<ThrowawayCluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|version| version.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())?;
        let folder = tempfile::tempdir().unwrap();
        let data = folder.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // The server refuses to run as root: the cluster belongs to the postgres user.
        run_as_postgres(Command::new("chown").args(["-R", "postgres"]).arg(folder.path()));
        match std::env::var(TEMPLATE_VAR) {
            Ok(template) => run_as_postgres(Command::new("cp").args(["-a", &template]).arg(&data)),
            Err(_) => run_as_postgres(
                as_postgres()
                    .arg(bin.join("initdb"))
                    .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                    .arg(&data)
                    .stdout(std::process::Stdio::null()),
            ),
        }
        let cluster = ThrowawayCluster { bin, data, port, _folder: folder };
        cluster.resume();
        Some(cluster)
    }

    fn pg_ctl(&self, args: &[&str]) {
        run_as_postgres(
            as_postgres()
                .arg(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(args)
                .stdout(std::process::Stdio::null()),
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts (again) and waits until it accepts connections.
    fn resume(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c max_connections=40",
            self.port
        );
        self.pg_ctl(&["-w", "-o", &options, "-l", "/dev/null", "start"]);
    }

    fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }

    /// Every process of the cluster, the postmaster first; none when it is not running. (Also
    /// called from `drop`, while a failed test unwinds: it must not panic.)
    fn processes(&self) -> Vec<String> {
        let Ok(pid) = std::fs::read_to_string(self.data.join("postmaster.pid")) else { return Vec::new() };
        let Some(postmaster) = pid.lines().next().map(|line| line.trim().to_owned()) else { return Vec::new() };
        let children = Command::new("pgrep").args(["-P", &postmaster]).output().map(|output| output.stdout);
        std::iter::once(postmaster.clone())
            .chain(
                children
                    .unwrap_or_default()
                    .split(|byte| byte.is_ascii_whitespace())
                    .filter(|pid| !pid.is_empty())
                    .map(|pid| String::from_utf8_lossy(pid).into_owned()),
            )
            .collect()
    }

    fn signal(&self, signal: &str) {
        for pid in self.processes() {
            let _ = Command::new("kill").args([signal, &pid]).status();
        }
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = as_postgres()
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// The service on a cluster, with an admin client.
struct Service {
    address: String,
    store: flexsettle::storage::Store,
    token: String,
    admin: crate::helpers::ContractClient,
    _stop: tokio::sync::oneshot::Sender<()>,
    _data: tempfile::TempDir,
}

impl Service {
    async fn start(cluster: &ThrowawayCluster) -> Service {
        Service::start_on(&cluster.url()).await
    }

    async fn start_on(database_url: &str) -> Service {
        let data = tempfile::tempdir().unwrap();
        let mut settings = crate::helpers::test_settings(database_url);
        settings.data_dir = data.path().to_path_buf();
        settings.database.acquire_timeout_ms = 1_000;
        let app = flexsettle::startup::Application::build(&settings).await.unwrap();
        let address = format!("http://{}", app.local_addr());
        let store = app.store().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let token = crate::helpers::dev_token(data.path(), &settings.auth, Role::Admin);
        let admin = crate::helpers::client(&address, Some(&format!("Bearer {token}")));
        Service { address, store, token, admin, _stop: stop, _data: data }
    }
}

fn cluster() -> Option<ThrowawayCluster> {
    let cluster = ThrowawayCluster::start();
    if cluster.is_none() {
        assert!(std::env::var("CI").is_err(), "CI must run the fault tests: no PostgreSQL server binaries found");
        eprintln!("fault tests skipped: no PostgreSQL server binaries in /usr/lib/postgresql");
    }
    cluster
}

async fn health_of(address: &str) -> Option<i32> {
    health_of_service(address, "").await
}

async fn health_of_service(address: &str, service: &str) -> Option<i32> {
    let channel = tonic::transport::Channel::from_shared(address.to_owned()).ok()?.connect().await.ok()?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest { service: service.to_owned() };
    tokio::time::timeout(Duration::from_secs(1), health.check(request))
        .await
        .ok()?
        .ok()
        .map(|answer| answer.into_inner().status)
}

/// Waits, up to `limit`, until health reports `wanted`; gives how long it took.
async fn until_health(
    address: &str,
    wanted: tonic_health::pb::health_check_response::ServingStatus,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        if health_of(address).await == Some(i32::from(wanted)) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "health did not become {wanted:?} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL stopped under the service and started again: calls are `UNAVAILABLE` (never
/// `INTERNAL`), health turns `NOT_SERVING` and back to `SERVING` by itself, and a refused call
/// retried with its request id happens once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_resumed() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let Some(cluster) = cluster() else { return };
    let Service { address, store, token: _, mut admin, _stop: _keep_serving, _data: _keep_data } =
        Service::start(&cluster).await;
    admin.create_contract(create_contract_request("before", "before")).await.unwrap();
    until_health(&address, ServingStatus::Serving, Duration::from_secs(5)).await;

    cluster.stop();
    let refused = admin.create_contract(create_contract_request("during", "during")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("request id"), "the refusal says how to retry: {refused:?}");
    let down = until_health(&address, ServingStatus::NotServing, Duration::from_secs(10)).await;
    // Alive all the same: a liveness probe must not restart a pod for the database's sake.
    assert_eq!(
        health_of_service(&address, flexsettle::startup::LIVENESS_SERVICE).await,
        Some(i32::from(ServingStatus::Serving))
    );

    cluster.resume();
    let up = until_health(&address, ServingStatus::Serving, Duration::from_secs(15)).await;
    // The refused call, retried with its request id, happens now, once; so does a new one.
    let mut retried = Err(tonic::Status::unavailable("not yet"));
    let started = Instant::now();
    while retried.is_err() && started.elapsed() < Duration::from_secs(10) {
        retried = admin.create_contract(create_contract_request("during", "during")).await;
    }
    retried.unwrap();
    admin.create_contract(create_contract_request("after", "after")).await.unwrap();
    let entries = store.read(|connection| flexsettle::storage::audit::entries_after(connection, 0, 100)).await.unwrap();
    let resources: Vec<&str> = entries.iter().map(|entry| entry.resource.as_str()).collect();
    assert_eq!(resources, ["contracts/before", "contracts/during", "contracts/after"]);
    eprintln!("health NOT_SERVING {down:?} after the stop, SERVING {up:?} after the start");
}

/// PostgreSQL frozen (SIGSTOP) past a call's deadline: the caller hears within its deadline,
/// `UNAVAILABLE` (the outcome unknown: retry with the request id) or `DEADLINE_EXCEEDED`, and
/// once PostgreSQL thaws, the retry leaves exactly one contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_past_the_deadline() {
    let Some(cluster) = cluster() else { return };
    let Service { address, store, token, mut admin, _stop: _keep_serving, _data: _keep_data } =
        Service::start(&cluster).await;
    admin.create_contract(create_contract_request("before", "before")).await.unwrap();

    cluster.signal("-STOP");
    let started = Instant::now();
    let code = crate::hostile::raw_unary(
        &address,
        "/flextensie.settlement.v1.ContractService/CreateContract",
        &token,
        &create_contract_request("frozen", "frozen"),
        "1S",
    )
    .await;
    let took = started.elapsed();
    cluster.signal("-CONT");
    assert!(matches!(code, Code::Unavailable | Code::DeadlineExceeded), "{code:?}");
    assert!(took < Duration::from_secs(2), "answered within the deadline: {took:?}");
    let mut retried = admin.create_contract(create_contract_request("frozen", "frozen")).await;
    let started = Instant::now();
    while retried.is_err() && started.elapsed() < Duration::from_secs(10) {
        retried = admin.create_contract(create_contract_request("frozen", "frozen")).await;
    }
    retried.unwrap();
    let entries = store.read(|connection| flexsettle::storage::audit::entries_after(connection, 0, 100)).await.unwrap();
    let frozen = entries.iter().filter(|entry| entry.resource == "contracts/frozen").count();
    assert_eq!(frozen, 1, "exactly one contract after the retry");
    let seqs: Vec<i64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, (1..=i64::try_from(seqs.len()).unwrap()).collect::<Vec<_>>());
    eprintln!("frozen PostgreSQL: {code:?} after {took:?}");
}

/// A tmpfs of a few megabytes, mounted for one test. It is mounted only inside `.ci/hermetic`'s
/// private mount namespace, so the host never sees it; elsewhere the test skips (never in CI).
struct SmallDisk {
    folder: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<SmallDisk> {
        if std::env::var("FLEXSETTLE_HERMETIC").as_deref() != Ok("done") {
            assert!(std::env::var("CI").is_err(), "CI must run the disk-full test: run the tests through .ci/hermetic");
            eprintln!("disk-full test skipped: it mounts a tmpfs only inside .ci/hermetic's private mount namespace");
            return None;
        }
        let folder = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "flexsettle-test"])
            .arg(folder.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs at {}: {status:?}", folder.path().display());
        Some(SmallDisk { folder })
    }

    fn path(&self) -> &std::path::Path {
        self.folder.path()
    }

    /// Writes a filler file until the disk refuses another byte.
    fn fill(&self) {
        use std::io::Write as _;
        let mut filler = std::fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0_u8; 64 * 1024];
        let mut size = chunk.len();
        while size > 0 {
            match filler.write(&chunk[..size]) {
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(28) => size /= 2, // ENOSPC
                Err(error) => panic!("filling the disk: {error}"),
            }
        }
        let _ = filler.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.folder.path()).status();
    }
}

/// SQLite on a disk that fills up: a write is refused with `RESOURCE_EXHAUSTED` or
/// `UNAVAILABLE` (never `INTERNAL`), nothing of it is written, reads go on; once there is room
/// again the refused call, retried with its request id, happens once, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full() {
    use diesel::connection::SimpleConnection as _;
    let Some(disk) = SmallDisk::mount(8 * 1024 * 1024) else { return };
    let database = disk.path().join("flexsettle.db");
    let Service { address: _, store, token: _, mut admin, _stop: _keep_serving, _data: _keep_data } =
        Service::start_on(&database.display().to_string()).await;
    admin.create_contract(create_contract_request("before", "before")).await.unwrap();
    // An empty write-ahead log: the next commit must take new room on the disk.
    store
        .read(|connection| {
            connection
                .batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(|error| flexsettle::error::Error::internal("truncating the log", error))
        })
        .await
        .unwrap();
    disk.fill();

    let refused = admin.create_contract(create_contract_request("during", "during")).await.unwrap_err();
    assert!(matches!(refused.code(), Code::ResourceExhausted | Code::Unavailable), "{refused:?}");
    assert!(refused.message().contains("request id"), "the refusal says how to retry: {refused:?}");
    // Reads go on while the disk is full.
    let before = admin
        .get_contract(flexsettle::grpc::api::GetContractRequest { name: "contracts/before".to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.name, "contracts/before");
    let absent =
        admin.get_contract(flexsettle::grpc::api::GetContractRequest { name: "contracts/during".to_owned() }).await;
    assert_eq!(absent.unwrap_err().code(), Code::NotFound, "nothing of the refused write is there");

    disk.free();
    admin.create_contract(create_contract_request("during", "during")).await.unwrap();
    admin.create_contract(create_contract_request("during", "during")).await.unwrap();
    admin.create_contract(create_contract_request("after", "after")).await.unwrap();
    let entries = store.read(|connection| flexsettle::storage::audit::entries_after(connection, 0, 100)).await.unwrap();
    let resources: Vec<&str> = entries.iter().map(|entry| entry.resource.as_str()).collect();
    assert_eq!(resources, ["contracts/before", "contracts/during", "contracts/after"]);
    let seqs: Vec<i64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    eprintln!("disk full: {:?} {:?}", refused.code(), refused.message());
}

/// A server whose database went away between its start-up (migrations) and serving is not
/// ready from its very first health answer (tonic's default is SERVING), and is alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_before_the_database_answers() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let Some(cluster) = cluster() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(&cluster.url());
    settings.data_dir = data.path().to_path_buf();
    settings.database.acquire_timeout_ms = 500;
    let app = flexsettle::startup::Application::build(&settings).await.unwrap();
    let address = format!("http://{}", app.local_addr());
    cluster.stop();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let mut first = None;
    while first.is_none() {
        first = health_of(&address).await;
    }
    assert_eq!(first, Some(i32::from(ServingStatus::NotServing)), "not ready while the database is away");
    assert_eq!(
        health_of_service(&address, flexsettle::startup::LIVENESS_SERVICE).await,
        Some(i32::from(ServingStatus::Serving))
    );
    cluster.resume();
    until_health(&address, ServingStatus::Serving, Duration::from_secs(15)).await;
}

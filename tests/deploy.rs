//! The deployment files under docs/deploy/ stay in step with the binary: every Kubernetes
//! document parses, the init container's script writes a node config the server accepts, the
//! StatefulSet's arguments pass `tandem serve --check-config`, the preStop command is a valid
//! `tandem` command line, and the Dockerfile's ENTRYPOINT + CMD run with the built binary.

use std::path::Path;
use std::process::{Command, Output};

use serde_yaml::Value;

const MANIFESTS: &str = include_str!("../docs/deploy/kubernetes/tandem.yaml");
const DOCKERFILE: &str = include_str!("../docs/deploy/Dockerfile");
const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");
/// Where the image puts the binary (the Dockerfile's COPY target).
const IMAGE_BINARY: &str = "/usr/local/bin/tandem";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn documents() -> Vec<Value> {
    serde_yaml::Deserializer::from_str(MANIFESTS)
        .map(|document| Value::deserialize(document).expect("every YAML document parses"))
        .collect()
}

use serde::Deserialize;

fn of_kind<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["kind"] == kind).collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("expected a list, got {value:?}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn stateful_set(documents: &[Value]) -> &Value {
    let sets = of_kind(documents, "StatefulSet");
    assert_eq!(sets.len(), 1, "one StatefulSet");
    sets[0]
}

fn show(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn manifests_parse_and_have_the_required_shape() {
    let documents = documents();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "PodDisruptionBudget",
    ] {
        assert_eq!(of_kind(&documents, kind).len(), 1, "{kind}");
    }
    let services = of_kind(&documents, "Service");
    assert_eq!(
        services.len(),
        2,
        "a headless peer Service and a client Service"
    );
    assert!(
        services
            .iter()
            .any(|s| s["spec"]["clusterIP"] == "None"
                && s["spec"]["publishNotReadyAddresses"] == true)
    );
    let pdb = of_kind(&documents, "PodDisruptionBudget")[0];
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);

    let set = stateful_set(&documents);
    assert_eq!(set["spec"]["replicas"], 3);
    assert_eq!(set["spec"]["serviceName"], "tandem-peers");
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(
        pod["topologySpreadConstraints"][0]["topologyKey"],
        "topology.kubernetes.io/zone"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    let secret = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TANDEM_CLUSTER_SECRET")
        .expect("the cluster secret comes from the environment");
    assert!(secret["valueFrom"]["secretKeyRef"]["name"].is_string());
    assert_eq!(
        set["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "data"
    );
}

/// Runs the init container's script with a stand-in `kubectl` that reports `zone`, for pod
/// `pod_name`; returns the node config it wrote.
fn run_init_script(dir: &Path, pod_name: &str, zone: &str) -> std::path::PathBuf {
    let documents = documents();
    let init = &stateful_set(&documents)["spec"]["template"]["spec"]["initContainers"][0];
    let command = strings(&init["command"]);
    assert_eq!(command[..2], ["sh", "-c"]);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let kubectl = bin.join("kubectl");
    std::fs::write(&kubectl, format!("#!/bin/sh\nprintf '%s' '{zone}'\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let node_config = dir.join("node.toml");
    let output = Command::new("sh")
        .arg("-c")
        .arg(&command[2])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("POD_NAME", pod_name)
        .env("POD_NAMESPACE", "prod")
        .env("NODE_NAME", "worker-7")
        .env("REPLICAS", "3")
        .env("NODE_CONFIG", &node_config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", show(&output));
    node_config
}

/// The container's `args` with Kubernetes' `$(VAR)` references and the mounted paths replaced
/// by sample values.
fn rendered_args(pod_name: &str, node_config: &Path, data: &Path) -> Vec<String> {
    let documents = documents();
    let container = &stateful_set(&documents)["spec"]["template"]["spec"]["containers"][0];
    strings(&container["args"])
        .into_iter()
        .map(|arg| {
            arg.replace("$(POD_NAME)", pod_name)
                .replace("$(POD_NAMESPACE)", "prod")
                .replace("/run/tandem/node.toml", node_config.to_str().unwrap())
                .replace("--data=/data", &format!("--data={}", data.display()))
        })
        .collect()
}

#[test]
fn statefulset_arguments_pass_check_config() {
    for (ordinal, zone) in [(0, "zone-a"), (1, "zone-b"), (2, "zone-c")] {
        let dir = tempfile::tempdir().unwrap();
        let pod_name = format!("tandem-{ordinal}");
        let node_config = run_init_script(dir.path(), &pod_name, zone);
        let written = std::fs::read_to_string(&node_config).unwrap();
        assert!(
            written.contains(&format!("node_id = {}", ordinal + 1)),
            "{written}"
        );
        assert!(
            !written.contains(&format!("\"{}@", ordinal + 1)),
            "{written}"
        );
        let args = rendered_args(&pod_name, &node_config, &dir.path().join("data"));
        let output = Command::new(TANDEM)
            .args(&args)
            .arg("--check-config")
            .env("TANDEM_CLUSTER_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}\n{}", show(&output));
        let effective = String::from_utf8(output.stdout).unwrap();
        assert!(
            effective.contains(&format!("zone = \"{zone}\"")),
            "{effective}"
        );
        assert!(
            effective.contains(&format!("node_id = {}", ordinal + 1)),
            "{effective}"
        );
        assert!(
            effective.contains(&format!(
                "advertise = \"{pod_name}.tandem-peers.prod.svc.cluster.local:7379\""
            )),
            "{effective}"
        );
        assert!(!effective.contains(SECRET), "the secret is never printed");
        assert!(
            !dir.path().join("data").exists(),
            "--check-config creates nothing"
        );
    }
}

#[test]
fn check_config_refuses_the_arguments_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let node_config = run_init_script(dir.path(), "tandem-0", "zone-a");
    let args = rendered_args("tandem-0", &node_config, &dir.path().join("data"));
    let output = Command::new(TANDEM)
        .args(&args)
        .arg("--check-config")
        .env_remove("TANDEM_CLUSTER_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", show(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cluster_secret"),
        "{}",
        show(&output)
    );
}

#[test]
fn prestop_command_is_a_valid_command_line() {
    let documents = documents();
    let container = &stateful_set(&documents)["spec"]["template"]["spec"]["containers"][0];
    let command = strings(&container["lifecycle"]["preStop"]["exec"]["command"]);
    assert_eq!(command[0], IMAGE_BINARY);
    // Pointed at a port nobody listens on, a well-formed command fails to connect (exit 1);
    // a malformed one would be refused by the argument parser (exit 2).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let args: Vec<String> = command[1..]
        .iter()
        .map(|a| a.replace("127.0.0.1:7379", &addr))
        .collect();
    let output = Command::new(TANDEM).args(&args).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot connect"),
        "{}",
        show(&output)
    );
}

/// The JSON array of a Dockerfile instruction (`ENTRYPOINT ["a", "b"]`).
fn exec_form(instruction: &str) -> Vec<String> {
    let line = DOCKERFILE
        .lines()
        .rfind(|l| l.starts_with(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("the Dockerfile has {instruction}"));
    serde_json::from_str(&line[instruction.len() + 1..])
        .unwrap_or_else(|e| panic!("{instruction} is not in exec form: {e}"))
}

#[test]
fn dockerfile_entrypoint_runs_with_the_built_binary() {
    assert!(DOCKERFILE.contains("FROM debian:bookworm-slim"));
    assert!(
        DOCKERFILE.contains("\nUSER 10001"),
        "the image runs as non-root"
    );
    let mut command = exec_form("ENTRYPOINT");
    command.extend(exec_form("CMD"));
    assert_eq!(command[0], IMAGE_BINARY);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args: Vec<String> = command[1..]
        .iter()
        .map(|a| {
            if a == "/data" {
                data.display().to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let output = Command::new(TANDEM)
        .args(&args)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", show(&output));
    let effective = String::from_utf8_lossy(&output.stdout);
    assert!(
        effective.contains("listen = \"0.0.0.0:7379\""),
        "{effective}"
    );
}

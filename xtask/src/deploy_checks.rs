//! What the deployment files promise about secrets and trust, read from
//! the files themselves: commerce-service never mounts the private signing
//! key, auth-service believes `X-Forwarded-For` from the gateway alone, and
//! in Kubernetes only the gateway (and commerce-service, for auth-service)
//! can reach the services, and every manifest is valid against the
//! Kubernetes schemas (offline, with PyPI's `kubernetes-validate`, which
//! `cargo xtask test` installs when missing).

use std::fs;

use yaml_rust2::{Yaml, YamlLoader};

use crate::workspace_root;

fn load(path: &str) -> Vec<Yaml> {
    let text = fs::read_to_string(workspace_root().join(path)).unwrap();
    YamlLoader::load_from_str(&text).unwrap()
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `(volume, mount point)` of each named-volume mount of a compose service.
fn mounts(service: &Yaml) -> Vec<(String, String)> {
    strings(&service["volumes"])
        .iter()
        .filter_map(|entry| {
            let mut parts = entry.split(':');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn compose_gives_commerce_service_the_public_key_only() {
    let compose = &load("docker-compose.yml")[0];
    let services = compose["services"].as_hash().unwrap();
    let keygen = &compose["services"]["keygen"];
    let command = strings(&keygen["command"]);
    let flag = |name: &str| {
        let at = command.iter().position(|arg| arg == name).unwrap();
        command[at + 1].clone()
    };
    let volume_at = |path: String| {
        mounts(keygen)
            .into_iter()
            .find(|(_, mount)| *mount == path)
            .map(|(volume, _)| volume)
            .unwrap()
    };
    let (private, public) = (volume_at(flag("--dir")), volume_at(flag("--public-dir")));
    assert_ne!(private, public, "the key pair is split over two volumes");

    let mut commerce_containers = 0;
    for (name, service) in services {
        let image = service["image"].as_str().unwrap_or_default();
        if !image.starts_with("shop/commerce-service") {
            continue;
        }
        commerce_containers += 1;
        let volumes: Vec<String> = mounts(service).into_iter().map(|(v, _)| v).collect();
        assert!(
            !volumes.contains(&private),
            "{name:?} mounts the private signing key's volume {private:?}"
        );
        assert!(volumes.contains(&public), "{name:?} gets the public key");
    }
    assert!(commerce_containers >= 2, "the seed job and the service");
}

#[test]
fn compose_trusts_the_gateways_address_alone() {
    let compose = &load("docker-compose.yml")[0];
    let trusted = compose["x-service-env"]["TRUSTED_PROXIES"]
        .as_str()
        .unwrap();
    let gateway = compose["services"]["gateway"]["networks"]["default"]["ipv4_address"]
        .as_str()
        .expect("the gateway has a fixed address");
    assert_eq!(trusted, format!("{gateway}/32"));
}

#[test]
fn kubernetes_lets_only_the_gateway_reach_the_services() {
    let policies = load("deploy/k8s/network-policies.yaml");
    let allowed_apps = |app: &str| -> Vec<String> {
        let policy = policies
            .iter()
            .find(|doc| doc["spec"]["podSelector"]["matchLabels"]["app"].as_str() == Some(app))
            .unwrap_or_else(|| panic!("a NetworkPolicy selects {app}"));
        assert_eq!(strings(&policy["spec"]["policyTypes"]), ["Ingress"]);
        let mut apps = Vec::new();
        for rule in policy["spec"]["ingress"].as_vec().unwrap() {
            for peer in rule["from"].as_vec().expect("every rule names its peers") {
                if let Some(app) = peer["podSelector"]["matchLabels"]["app"].as_str() {
                    apps.push(app.to_owned());
                } else {
                    let namespace =
                        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                            .as_str();
                    assert_eq!(
                        namespace,
                        Some("monitoring"),
                        "an unexpected peer: {peer:?}"
                    );
                }
            }
        }
        apps.sort();
        apps
    };
    assert_eq!(
        allowed_apps("auth-service"),
        ["commerce-service", "gateway"]
    );
    assert_eq!(allowed_apps("commerce-service"), ["gateway"]);
    // The bus: the two services, and the NATS nodes' routes to each other.
    assert_eq!(
        allowed_apps("nats"),
        ["auth-service", "commerce-service", "nats"]
    );

    // And the range each service trusts is a narrow one (both count
    // clients: auth its login limits, commerce its guest-cart creations).
    for service in ["auth-service", "commerce-service"] {
        let manifest = load(&format!("deploy/k8s/{service}.yaml"));
        let env = manifest[0]["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_vec()
            .unwrap();
        let trusted = env
            .iter()
            .find(|var| var["name"].as_str() == Some("TRUSTED_PROXIES"))
            .and_then(|var| var["value"].as_str())
            .unwrap_or_else(|| panic!("{service} names its TRUSTED_PROXIES"));
        for range in trusted.split(',') {
            let prefix: u8 = range.split('/').nth(1).unwrap_or("32").parse().unwrap();
            assert!(
                prefix >= 24,
                "{service}: TRUSTED_PROXIES {range} is wider than a /24"
            );
        }
    }
}

#[test]
fn kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let manifests: Vec<std::path::PathBuf> = fs::read_dir(workspace_root().join("deploy/k8s"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    assert!(manifests.len() >= 3, "{manifests:?}");
    let output = std::process::Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .args(&manifests)
        .output()
        .expect("python3 runs (kubernetes-validate: python3 -m pip install kubernetes-validate)");
    assert!(
        output.status.success(),
        "the manifests do not validate (is kubernetes-validate installed? python3 -m pip install kubernetes-validate):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Official images by default, any other by a variable: an offline build
/// substitutes its own (deploy/offline/images.env) without editing a file.
#[test]
fn every_upstream_image_is_a_variable_with_the_official_default() {
    let compose = &load("docker-compose.yml")[0];
    let substitutes = std::fs::read_to_string(workspace_root().join("deploy/offline/images.env"))
        .expect("deploy/offline/images.env");
    for (name, service) in compose["services"].as_hash().unwrap() {
        // A service may take its image from a YAML merge (`<<: *anchor`).
        let image = service["image"]
            .as_str()
            .or_else(|| service["<<"]["image"].as_str())
            .expect("every service names its image");
        if service["build"].as_hash().is_some() {
            assert!(image.starts_with("shop/"), "{name:?} builds {image}");
            continue;
        }
        let variable = image
            .strip_prefix("${")
            .and_then(|rest| rest.split_once(":-"))
            .map(|(variable, _)| variable)
            .unwrap_or_else(|| panic!("{name:?}'s image {image} is not ${{VAR:-official}}"));
        assert!(
            substitutes.contains(&format!("\n{variable}=")),
            "deploy/offline/images.env has no stand-in for {variable}"
        );
    }
    let dockerfile = std::fs::read_to_string(workspace_root().join("deploy/Dockerfile")).unwrap();
    assert!(
        !dockerfile
            .lines()
            .any(|line| line.replace(' ', "").starts_with("#syntax=")),
        "a syntax line makes BuildKit pull its frontend from a registry"
    );
    for line in dockerfile.lines().filter(|line| line.starts_with("FROM ")) {
        let base = line.split_whitespace().nth(1).unwrap();
        assert!(
            base.starts_with("${") || ["runtime"].contains(&base),
            "deploy/Dockerfile's {line:?} is neither an argument nor a stage"
        );
        let variable = base.trim_start_matches("${").trim_end_matches('}');
        assert!(
            !base.starts_with("${") || substitutes.contains(&format!("\n{variable}=")),
            "deploy/offline/images.env has no stand-in for {variable}"
        );
    }
}

/// The image build sends its context to the engine before anything else:
/// every build output (the workspace's and the fuzz workspace's `target`,
/// fuzz artifacts and corpora) stays out of it, or a machine that has run
/// the tests runs out of disk building images.
#[test]
fn the_image_build_context_leaves_out_every_build_output() {
    let ignore = std::fs::read_to_string(workspace_root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for needed in [
        "**/target",
        "fuzz/artifacts",
        "fuzz/corpus",
        ".git",
        "**/*.pem",
    ] {
        assert!(
            patterns.contains(&needed),
            ".dockerignore does not leave out {needed}"
        );
    }
}

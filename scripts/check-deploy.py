"""Checks deploy/kubernetes/*.yaml: every file parses, every object has the fields Kubernetes
requires, the Deployment's probes, ports and selectors agree with each other, the Service and
the autoscaler point at the Deployment; the archive Job is an Indexed Job whose shard count is
its completions, retried per index, with every volume it mounts declared, and is left out of
the kustomization. Prints what the rech tests then run for real: the container's arguments,
the init containers' and the probe paths (crates/cli/tests/serve.rs), and the Job's shell
command (crates/cli/tests/batch.rs).

Usage: check-deploy.py DEPLOY_DIR
"""

import json
import pathlib
import sys

import yaml


def fail(message: str) -> None:
    print(f"check-deploy: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    directory = pathlib.Path(sys.argv[1]) / "kubernetes"
    objects = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for key in ("apiVersion", "kind"):
                if key not in doc:
                    fail(f"{path.name}: no {key}")
            if doc["kind"] != "Kustomization":
                if "name" not in doc.get("metadata", {}):
                    fail(f"{path.name}: {doc['kind']} has no metadata.name")
            objects[doc["kind"]] = doc
    kustomization = objects.get("Kustomization")
    if kustomization is None:
        fail("no kustomization.yaml")
    for resource in kustomization["resources"]:
        if not (directory / resource).is_file():
            fail(f"kustomization lists {resource}, which is missing")

    deployment = objects["Deployment"]
    if deployment["apiVersion"] != "apps/v1":
        fail("the Deployment is not apps/v1")
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    for key, value in spec["selector"]["matchLabels"].items():
        if labels.get(key) != value:
            fail("the Deployment's selector does not match its pods' labels")
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {}
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        if get["port"] not in ports and get["port"] not in ports.values():
            fail(f"{probe} uses a port the container does not declare")
        probes[probe] = get["path"]
    volumes = {v["name"] for v in pod["volumes"]}
    for c in pod["containers"] + pod.get("initContainers", []):
        for mount in c.get("volumeMounts", []):
            if mount["name"] not in volumes:
                fail(f"{c['name']} mounts {mount['name']}, which is not a volume")
    args = container["args"]
    port = int(args[args.index("--port") + 1])
    if port != ports["http"]:
        fail(f"rech listens on {port}, the container declares {ports['http']}")
    grace = int(args[args.index("--grace") + 1])
    if pod["terminationGracePeriodSeconds"] <= grace:
        fail("terminationGracePeriodSeconds must exceed rech's --grace")

    service = objects["Service"]
    if service["spec"]["selector"] != spec["selector"]["matchLabels"]:
        fail("the Service selects other pods than the Deployment's")
    for p in service["spec"]["ports"]:
        if p["targetPort"] not in ports and p["targetPort"] not in ports.values():
            fail("the Service targets a port the container does not declare")
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    if (target["kind"], target["name"]) != ("Deployment", deployment["metadata"]["name"]):
        fail("the autoscaler scales something else")
    if "requests" not in container.get("resources", {}) or "cpu" not in container["resources"]["requests"]:
        fail("a CPU autoscaler needs the container's CPU request")

    archive = check_archive_job(objects.get("Job"), kustomization)

    print(json.dumps({
        "serve_args": args,
        "init_args": pod["initContainers"][0]["args"],
        "probes": probes,
        "archive": archive,
    }))


def check_archive_job(job, kustomization) -> dict:
    """The archive Job's checks; its init container's arguments, its shell command and its
    number of shards."""
    if job is None:
        fail("no archive Job (archive-job.yaml)")
    if "archive-job.yaml" in kustomization["resources"]:
        fail("the kustomization would start the archive Job with every apply")
    if job["apiVersion"] != "batch/v1":
        fail("the archive Job is not batch/v1")
    spec = job["spec"]
    if spec.get("completionMode") != "Indexed":
        fail("the archive Job is not an Indexed Job")
    if "backoffLimitPerIndex" not in spec:
        fail("the archive Job does not retry each shard on its own (backoffLimitPerIndex)")
    pod = spec["template"]["spec"]
    if pod.get("restartPolicy") != "Never":
        fail("backoffLimitPerIndex needs restartPolicy: Never")
    (container,) = pod["containers"]
    if container.get("command") != ["/bin/sh", "-c"] or len(container["args"]) != 1:
        fail("the archive Job runs one shell command")
    (command,) = container["args"]
    completions = spec["completions"]
    shard = f'--shard "$((JOB_COMPLETION_INDEX + 1))/{completions}"'
    if shard not in command:
        fail(f"the archive Job's command does not take shard K+1 of its {completions} completions")
    for flag in ("--skip-existing", "-r"):
        if f" {flag} " not in command:
            fail(f"the archive Job's command has no {flag}")
    volumes = {v["name"] for v in pod["volumes"]}
    for c in pod["containers"] + pod.get("initContainers", []):
        for mount in c.get("volumeMounts", []):
            if mount["name"] not in volumes:
                fail(f"archive Job: {c['name']} mounts {mount['name']}, which is not a volume")
    if "requests" not in container.get("resources", {}):
        fail("the archive Job's pods request no resources")
    return {
        "init_args": pod["initContainers"][0]["args"],
        "command": command,
        "shards": completions,
    }


if __name__ == "__main__":
    main()

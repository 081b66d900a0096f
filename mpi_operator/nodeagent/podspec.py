"""From a Pod object to what a runtime is given: identity, resolved containers, volume contents.

Pure, given two lookups (`Lookup`: ConfigMap and Secret data by namespace and name). Resolves the env
(`value`, `valueFrom` field/resource/ConfigMap/Secret refs, `envFrom`), the user and group (container
securityContext over the pod's), and the files of Secret, ConfigMap, downward-API and projected volumes
with their modes, as the kubelet writes them. A missing referenced object is a `SpecError` the agent
reports as the kubelet does (`CreateContainerConfigError`), unless the reference is optional.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from mpi_operator.kube.meta import JSON
from mpi_operator.nodeagent.runtime import ContainerSpec, Mount, PodIdentity, Volume, VolumeFile

Lookup = Callable[[str, str], JSON | None]     # (namespace, name) -> the object, or None


class SpecError(Exception):
    """The pod cannot be started as written (a referenced ConfigMap or Secret or key is missing)."""

    reason = "CreateContainerConfigError"


def controller_uid(meta: JSON) -> str:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") is True:
            return str(ref.get("uid", ""))
    return ""


def dns_searches(pod: JSON, cluster_domain: str) -> tuple[str, ...]:
    """The kubelet's search list: the cluster's (dnsPolicy ClusterFirst, the default) then
    `dnsConfig.searches`, duplicates dropped; only `dnsConfig.searches` with dnsPolicy None."""
    spec = pod.get("spec") or {}
    namespace = pod["metadata"].get("namespace", "")
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    # ClusterFirst on the host network falls back to the node's resolver, as the kubelet does.
    cluster = policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork"))
    base = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain] if cluster else []
    extra = [str(d) for d in ((spec.get("dnsConfig") or {}).get("searches") or [])]
    return tuple(dict.fromkeys(base + extra))


def identity(pod: JSON, cluster_domain: str = "cluster.local") -> PodIdentity:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    return PodIdentity(
        uid=meta["uid"], namespace=meta.get("namespace", ""), name=meta["name"],
        hostname=(spec.get("hostname") or meta["name"])[:63], subdomain=spec.get("subdomain") or None,
        node=spec.get("nodeName", ""), host_network=bool(spec.get("hostNetwork")),
        restart_policy=spec.get("restartPolicy", "Always"), controller_uid=controller_uid(meta),
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        annotations=tuple(sorted((meta.get("annotations") or {}).items())),
        dns_searches=dns_searches(pod, cluster_domain))


def _secret_data(secret: JSON) -> dict[str, bytes]:
    out = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    out.update({k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return out


def _configmap_data(cm: JSON) -> dict[str, bytes]:
    out = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return out


def field_value(pod: JSON, path: str, pod_ip: str = "") -> str:
    """A downward-API `fieldRef.fieldPath` value."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    simple = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
              "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
              "spec.serviceAccountName": spec.get("serviceAccountName", ""),
              "status.hostIP": status.get("hostIP", ""), "status.podIP": pod_ip or status.get("podIP", "")}
    if path in simple:
        return str(simple[path])
    for prefix, source in (("metadata.labels", meta.get("labels") or {}),
                           ("metadata.annotations", meta.get("annotations") or {})):
        if path == prefix:
            return "\n".join(f'{k}="{v}"' for k, v in sorted(source.items()))
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str(source.get(path[len(prefix) + 2:-2], ""))
    raise SpecError(f"unsupported fieldPath {path!r}")


def _lookup_key(kind: str, lookup: Lookup, namespace: str, ref: JSON, data: Callable[[JSON], dict[str, bytes]],
                ) -> bytes | None:
    obj = lookup(namespace, ref.get("name", ""))
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise SpecError(f'{kind.lower()} "{ref.get("name", "")}" not found')
    values = data(obj)
    if ref.get("key") not in values:
        if optional:
            return None
        raise SpecError(f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name', '')}")
    return values[ref["key"]]


def resolve_env(pod: JSON, container: JSON, configmaps: Lookup, secrets: Lookup,
                pod_ip: str = "") -> tuple[tuple[str, str], ...]:
    namespace = pod["metadata"].get("namespace", "")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key, data, lookup in (("ConfigMap", "configMapRef", _configmap_data, configmaps),
                                        ("Secret", "secretRef", _secret_data, secrets)):
            ref = source.get(key)
            if ref is None:
                continue
            obj = lookup(namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise SpecError(f'{kind.lower()} "{ref.get("name", "")}" not found')
            env.update({prefix + k: v.decode(errors="replace") for k, v in data(obj).items()})
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "valueFrom" not in item:
            env[name] = _expand(str(item.get("value", "")), env)
            continue
        source = item["valueFrom"]
        value: bytes | None
        if "fieldRef" in source:
            value = field_value(pod, source["fieldRef"].get("fieldPath", ""), pod_ip).encode()
        elif "configMapKeyRef" in source:
            value = _lookup_key("ConfigMap", configmaps, namespace, source["configMapKeyRef"], _configmap_data)
        elif "secretKeyRef" in source:
            value = _lookup_key("Secret", secrets, namespace, source["secretKeyRef"], _secret_data)
        elif "resourceFieldRef" in source:
            value = _resource_value(container, source["resourceFieldRef"]).encode()
        else:
            value = b""
        if value is not None:
            env[name] = value.decode(errors="replace")
    return tuple(env.items())


def _expand(text: str, env: dict[str, str]) -> str:
    """`$(VAR)` references to earlier variables, `$$` escapes, as the kubelet expands them."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i)) != -1 and text[i + 2:end] in env:
            out.append(env[text[i + 2:end]])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _resource_value(container: JSON, ref: JSON) -> str:
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    return str(value) if value is not None else "0"


def _user(pod: JSON, container: JSON, key: str) -> int | None:
    for ctx in (container.get("securityContext") or {}, (pod.get("spec") or {}).get("securityContext") or {}):
        if ctx.get(key) is not None:
            return int(ctx[key])
    return None


def container_spec(pod: JSON, container: JSON, configmaps: Lookup, secrets: Lookup, *, init: bool = False,
                   restart_count: int = 0, pod_ip: str = "") -> ContainerSpec:
    pod_ctx = (pod.get("spec") or {}).get("securityContext") or {}
    groups = [int(g) for g in pod_ctx.get("supplementalGroups") or []]
    if pod_ctx.get("fsGroup") is not None:
        groups.append(int(pod_ctx["fsGroup"]))
    return ContainerSpec(
        name=container.get("name", ""), image=str(container.get("image", "")),
        command=tuple(str(x) for x in container.get("command") or ()),
        args=tuple(str(x) for x in container.get("args") or ()),
        env=resolve_env(pod, container, configmaps, secrets, pod_ip),
        working_dir=container.get("workingDir") or None,
        mounts=tuple(Mount(m.get("name", ""), m.get("mountPath", ""), m.get("subPath", ""),
                           bool(m.get("readOnly"))) for m in container.get("volumeMounts") or ()),
        run_as_user=_user(pod, container, "runAsUser"), run_as_group=_user(pod, container, "runAsGroup"),
        supplemental_groups=tuple(groups), init=init, restart_count=restart_count)


def _items(data: dict[str, bytes], items: list[JSON] | None, default_mode: int, kind: str, name: str,
           optional: bool) -> list[VolumeFile]:
    if not items:
        return [VolumeFile(key, value, default_mode) for key, value in sorted(data.items())]
    files = []
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise SpecError(f"configmap references non-existent config key: {key}" if kind == "ConfigMap"
                            else f"references non-existent secret key: {key}")
        files.append(VolumeFile(str(item.get("path", key)), data[key], int(item.get("mode", default_mode))))
    return files


def _source_files(pod: JSON, source: JSON, kind: str, default_mode: int, configmaps: Lookup,
                  secrets: Lookup) -> list[VolumeFile]:
    namespace = pod["metadata"].get("namespace", "")
    if kind == "secret":
        name = source.get("secretName") or source.get("name", "")
        obj = secrets(namespace, name)
        data = _secret_data(obj) if obj is not None else None
        label = "Secret"
    elif kind == "configMap":
        name = source.get("name", "")
        obj = configmaps(namespace, name)
        data = _configmap_data(obj) if obj is not None else None
        label = "ConfigMap"
    else:  # downwardAPI
        files = []
        for item in source.get("items") or []:
            if "fieldRef" in item:
                value = field_value(pod, item["fieldRef"].get("fieldPath", ""))
            else:
                value = _resource_value(_named_container(pod, item), item.get("resourceFieldRef") or {})
            files.append(VolumeFile(str(item.get("path", "")), value.encode(), int(item.get("mode", default_mode))))
        return files
    optional = bool(source.get("optional"))
    if data is None:
        if optional:
            return []
        raise SpecError(f'{label.lower()} "{name}" not found')
    return _items(data, source.get("items"), default_mode, label, name, optional)


def _named_container(pod: JSON, item: JSON) -> JSON:
    wanted = (item.get("resourceFieldRef") or {}).get("containerName")
    for c in (pod.get("spec") or {}).get("containers") or []:
        if not wanted or c.get("name") == wanted:
            return dict(c)
    return {}


def volumes(pod: JSON, configmaps: Lookup, secrets: Lookup) -> list[Volume]:
    """Every volume of the pod with its contents; raises SpecError for a missing required source."""
    out = []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = vol.get("name", "")
        if "hostPath" in vol:
            out.append(Volume(name, host_path=str(vol["hostPath"].get("path", ""))))
        elif "projected" in vol:
            mode = int(vol["projected"].get("defaultMode", 0o644))
            files: list[VolumeFile] = []
            for src in vol["projected"].get("sources") or []:
                for kind in ("secret", "configMap", "downwardAPI"):
                    if kind in src:
                        files += _source_files(pod, src[kind], kind, mode, configmaps, secrets)
            out.append(Volume(name, files=tuple(files)))
        else:
            for kind in ("secret", "configMap", "downwardAPI"):
                if kind in vol:
                    source = vol[kind]
                    files = _source_files(pod, source, kind, int(source.get("defaultMode", 0o644)), configmaps,
                                          secrets)
                    out.append(Volume(name, files=tuple(files)))
                    break
            else:
                out.append(Volume(name))  # emptyDir and anything this node treats as one
    return out

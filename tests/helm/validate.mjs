// The Helm chart test proper (tests/helm/run.sh installs the tools and calls this).
//
//   node validate.mjs HELM CHART_DIR REPO_ROOT [SCHEMAGATE_BINARY]
//
// 1. `helm lint --strict` with each ci/*.yaml values file;
// 2. `helm template` with each ci/*.yaml: every manifest is validated with the kubernetes-models
//    JSON-schema validators (ServiceMonitor: @kubernetes-models/prometheus-operator) and walked
//    against @kubernetes/client-node's model type maps (ServiceMonitor: the prometheus-operator
//    model's declared properties): a field the model does not have is an error;
// 3. each ci-invalid/*.yaml must make `helm template` fail, with the message its `# expect:`
//    line names (and `helm lint --strict` is reported);
// 4. concrete content: security context, probes, ports, writable state paths, every file the
//    config names is mounted, selectors match, the grace period covers shutdown_grace_ms,
//    the checksum/config annotation follows the config and the policy;
// 5. the sidecar example (examples/sidecar-deployment.yaml) validates the same way and appears
//    verbatim in docs/deployment.md; files/policy.yaml is deploy/policy.example.yaml;
// 6. with SCHEMAGATE_BINARY: every rendered schemagate.yaml (+ policy.yaml) passes
//    `schemagate config check`.
// Exit 0 when everything holds, 1 otherwise.

import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import * as k8s from "@kubernetes/client-node";

const [helm, chartDir, repoRoot, binary] = process.argv.slice(2);
if (!helm || !chartDir || !repoRoot) {
  console.error("usage: node validate.mjs HELM CHART_DIR REPO_ROOT [SCHEMAGATE_BINARY]");
  process.exit(2);
}

let failures = 0;
const stats = { lint: 0, rendered: 0, manifests: 0, fieldsChecked: 0, invalidRefused: 0, assertions: 0, configChecks: 0, unresolved: new Set() };
const fail = (msg) => {
  failures++;
  console.error(`FAIL: ${msg}`);
};
const check = (cond, msg) => {
  stats.assertions++;
  if (!cond) fail(msg);
  return cond;
};

function runHelm(args) {
  const r = spawnSync(helm, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}
const render = (valuesFiles, extra = []) =>
  runHelm(["template", "t", chartDir, "--namespace", "ns", ...valuesFiles.flatMap((f) => ["-f", f]), ...extra]);
const parseDocs = (text) =>
  YAML.parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`YAML: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((d) => d);

// ---------------------------------------------------------------------------------------------
// Schema validation (kubernetes-models) and unknown fields (client-node type maps)

const modelModule = {
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "v1/Service": "kubernetes-models/v1/Service",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
};
const clientNodeType = {
  "v1/ConfigMap": "V1ConfigMap",
  "v1/Secret": "V1Secret",
  "v1/Service": "V1Service",
  "v1/ServiceAccount": "V1ServiceAccount",
  "apps/v1/Deployment": "V1Deployment",
  "policy/v1/PodDisruptionBudget": "V1PodDisruptionBudget",
};

function primitiveOk(type, v) {
  switch (type) {
    case "string":
    case "Date":
      return typeof v === "string";
    case "number":
      return typeof v === "number";
    case "boolean":
      return typeof v === "boolean";
    case "IntOrString":
      return typeof v === "string" || Number.isInteger(v);
    case "any":
      return true;
    default:
      return undefined;
  }
}

// Walks `value` as client-node type `type`; reports fields the model does not declare.
function walkClientNode(value, type, where, errors) {
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (!Array.isArray(value)) return errors.push(`${where}: expected a list (${type})`);
    value.forEach((v, i) => walkClientNode(v, arr[1], `${where}[${i}]`, errors));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      return errors.push(`${where}: expected a map (${type})`);
    for (const [k, v] of Object.entries(value)) walkClientNode(v, map[1], `${where}.${k}`, errors);
    return;
  }
  const p = primitiveOk(type, value);
  if (p !== undefined) {
    stats.fieldsChecked++;
    if (!p) errors.push(`${where}: expected ${type}, got ${JSON.stringify(value)}`);
    return;
  }
  const cls = k8s[type];
  if (!cls || !cls.attributeTypeMap) return errors.push(`${where}: no client-node model ${type}`);
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return errors.push(`${where}: expected an object (${type})`);
  const attrs = new Map(cls.attributeTypeMap.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    stats.fieldsChecked++;
    if (!attrs.has(k)) {
      errors.push(`${where}.${k}: unknown field (not in ${type})`);
      continue;
    }
    if (v !== null) walkClientNode(v, attrs.get(k), `${where}.${k}`, errors);
  }
}

// The prometheus-operator models have no type map; their .d.ts files declare each interface's
// properties and import the types they use. Walk those declarations the same way.
const nodeModules = path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules");
const dtsCache = new Map();
function dtsInterface(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  const src = fs.readFileSync(file, "utf8");
  const imports = new Map();
  for (const m of src.matchAll(/import \{([^}]+)\} from "([^"]+)";/g)) {
    let target = m[2];
    if (target.startsWith(".")) target = path.resolve(path.dirname(file), target.replace(/\.js$/, ".d.ts"));
    else {
      const parts = target.split("/");
      const pkgParts = parts[0].startsWith("@") ? 2 : 1;
      const rest = parts.slice(pkgParts);
      target = path.join(nodeModules, ...parts.slice(0, pkgParts), ...(rest.length ? rest : ["index"])) + ".d.ts";
    }
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) imports.set(name.split(" as ")[0], target);
  }
  // The class declaration lists every property, inherited ones included (the interface may
  // only extend others).
  const body =
    /export declare class \w+ extends Model<\w+> implements \w+ \{([\s\S]*?)\n\}/.exec(src) ??
    /export interface \w+ \{([\s\S]*?)\n\}/.exec(src);
  const props = new Map();
  if (body) {
    const text = body[1].replace(/\/\*\*[\s\S]*?\*\//g, "");
    for (const m of text.matchAll(/^ {4}"([^"]+)"\??: ([^;]+);/gm)) props.set(m[1], m[2].trim());
    if (/extends TypeMeta/.test(src)) for (const k of ["apiVersion", "kind"]) if (!props.has(k)) props.set(k, "string");
  }
  const r = { props, imports, alias: /export type \w+ = ([^;]+);/.exec(src)?.[1] };
  dtsCache.set(file, r);
  return r;
}
function walkDts(value, type, file, where, errors) {
  type = type.trim();
  if (/^(string|number|boolean)$/.test(type) || /^"/.test(type) || type.includes("|")) {
    stats.fieldsChecked++;
    return; // types and enums: the JSON-schema validator checks those
  }
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => walkDts(v, arr[1], file, `${where}[${i}]`, errors));
    return;
  }
  if (/^\{/.test(type)) return; // maps: any key
  const { imports } = dtsInterface(file);
  const target = imports.get(type);
  if (!target) {
    stats.unresolved.add(type); // no unknown-field check below this point (reported)
    return;
  }
  const decl = dtsInterface(target);
  if (decl.props.size === 0) {
    if (decl.alias) walkDts(value, decl.alias, target, where, errors);
    return;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    stats.fieldsChecked++;
    if (!decl.props.has(k)) errors.push(`${where}.${k}: unknown field (not in ${type})`);
    else if (v !== null) walkDts(v, decl.props.get(k), target, `${where}.${k}`, errors);
  }
}

async function validateManifest(obj, source) {
  const id = `${source}: ${obj.kind}/${obj.metadata?.name}`;
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (!modelModule[key]) return fail(`${id}: unexpected ${key} (no validator)`);
  const mod = await import(modelModule[key]);
  const Model = mod[obj.kind] ?? mod.default;
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(`${id}: schema: ${e.message}`);
  }
  const errors = [];
  if (clientNodeType[key]) walkClientNode(obj, clientNodeType[key], obj.kind, errors);
  else {
    const pkg = path.join(nodeModules, "@kubernetes-models/prometheus-operator");
    const file = path.join(pkg, "monitoring.coreos.com/v1/ServiceMonitor.d.ts");
    // the root type is declared in the file itself, not imported
    if (!dtsInterface(file).props.size) errors.push("ServiceMonitor: could not read the model's properties");
    const root = dtsInterface(file).props;
    for (const k of Object.keys(obj)) if (!root.has(k)) errors.push(`ServiceMonitor.${k}: unknown field`);
    if (obj.spec) walkDts(obj.spec, root.get("spec"), file, "ServiceMonitor.spec", errors);
  }
  for (const e of errors) fail(`${id}: ${e}`);
  stats.manifests++;
}

// The checkers must see what they are meant to: a field no model has, a wrong type, in a
// Deployment and in a ServiceMonitor.
async function selfTest() {
  const before = failures;
  const probe = async (obj, want) => {
    const saved = failures;
    const out = console.error;
    const seen = [];
    console.error = (m) => seen.push(m);
    await validateManifest(obj, "self-test");
    console.error = out;
    const caught = failures > saved && seen.some((m) => m.includes(want));
    failures = saved;
    stats.manifests--;
    check(caught, `self-test: the validator reports ${want}`);
  };
  const dep = (container, extraSpec = {}) => ({
    apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" },
    spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } },
            spec: { containers: [container], ...extraSpec } } },
  });
  await probe(dep({ name: "c", image: "i", readOnlyRootFilesytem: true }), "readOnlyRootFilesytem: unknown field");
  await probe(dep({ name: "c", image: "i", securityContext: { runAsNonroot: true } }), "runAsNonroot: unknown field");
  await probe(dep({ name: "c", image: "i" }, { volumes: [{ name: "v", emptyDir: { sizelimit: "1Mi" } }] }), "sizelimit: unknown field");
  await probe(dep({ name: "c", image: "i", ports: [{ containerPort: "6432" }] }), "containerPort");
  await probe({ apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "x" },
                spec: { selector: {}, endpoints: [{ port: "admin", pathh: "/metrics" }] } }, "pathh: unknown field");
  await probe({ apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "x" },
                spec: { selector: { matchLabelz: {} }, endpoints: [] } }, "matchLabelz: unknown field");
  await probe({ apiVersion: "v1", kind: "Service", metadata: { name: "x" }, spec: { ports: [{ port: "6432" }] } }, "port");
  return failures === before;
}

// ---------------------------------------------------------------------------------------------
// Content assertions on one rendering

const byKind = (docs, kind) => docs.filter((d) => d.kind === kind);
const dirOf = (p) => p.slice(0, p.lastIndexOf("/")) || "/";

function assertContent(docs, name) {
  const [dep] = byKind(docs, "Deployment");
  const [cm] = byKind(docs, "ConfigMap");
  const [svc] = byKind(docs, "Service");
  if (!check(dep && cm && svc, `${name}: a Deployment, a ConfigMap and a Service`)) return null;
  const pod = dep.spec.template.spec;
  const c = pod.containers.find((x) => x.name === "schemagate");
  if (!check(c, `${name}: container schemagate`)) return null;
  const sc = c.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  check(sc.runAsNonRoot === true && psc.runAsNonRoot === true, `${name}: runAsNonRoot`);
  check(sc.runAsUser === 10001 && psc.runAsUser === 10001, `${name}: runAsUser 10001`);
  check(sc.readOnlyRootFilesystem === true, `${name}: readOnlyRootFilesystem`);
  check(sc.allowPrivilegeEscalation === false, `${name}: allowPrivilegeEscalation false`);
  check(sc.capabilities?.drop?.includes("ALL") && !sc.capabilities?.add, `${name}: capabilities drop ALL, add none`);
  check(psc.seccompProfile?.type === "RuntimeDefault", `${name}: seccompProfile RuntimeDefault`);
  check(pod.automountServiceAccountToken === false, `${name}: no service account token`);
  const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  const cfg = YAML.parse(cm.data["schemagate.yaml"]);
  check(ports.admin === cfg.admin.port && ports.postgres === cfg.listen.port, `${name}: container ports match the config`);
  check(cfg.admin.address === "0.0.0.0", `${name}: admin listener binds 0.0.0.0`);
  const lp = c.livenessProbe?.httpGet;
  const rp = c.readinessProbe?.httpGet;
  check(lp?.path === "/healthz" && lp?.port === "admin", `${name}: liveness GET /healthz on port admin`);
  check(rp?.path === "/readyz" && rp?.port === "admin", `${name}: readiness GET /readyz on port admin`);
  const scheme = cfg.admin.tls ? "HTTPS" : "HTTP";
  check(lp?.scheme === scheme && rp?.scheme === scheme, `${name}: probe scheme ${scheme}`);
  check(c.resources?.requests && c.resources?.limits?.memory, `${name}: resources set`);
  const args = c.args ?? [];
  const ci = args.indexOf("--config");
  check(ci >= 0 && args[ci + 1] === "/etc/schemagate/schemagate.yaml", `${name}: --config /etc/schemagate/schemagate.yaml`);
  // volumes and mounts
  const vols = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
  const mounts = c.volumeMounts ?? [];
  const mountFor = (file) =>
    mounts
      .filter((m) => file === m.mountPath || file.startsWith(m.mountPath + "/"))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  const cmMount = mountFor("/etc/schemagate/schemagate.yaml");
  check(cmMount && vols[cmMount.name]?.configMap?.name === cm.metadata.name && !cmMount.subPath,
        `${name}: the ConfigMap is mounted at /etc/schemagate as a directory (no subPath)`);
  const writable = [cfg.state.path];
  if ((cfg.approvals?.store?.backend ?? "sqlite") === "sqlite") writable.push(cfg.approvals.store.path);
  for (const f of writable) {
    const m = mountFor(f);
    check(f.startsWith("/") && m && !m.readOnly && vols[m.name]?.emptyDir, `${name}: ${f} is on a writable emptyDir`);
  }
  if (cfg.listen.unix_socket_dir) {
    const m = mountFor(cfg.listen.unix_socket_dir + "/.s.PGSQL.6432");
    check(m && !m.readOnly && vols[m.name]?.emptyDir, `${name}: unix_socket_dir is a writable emptyDir`);
  }
  // every file the config names is mounted from a Secret holding that key
  const files = [];
  const collect = (o) => {
    if (o && typeof o === "object")
      for (const [k, v] of Object.entries(o)) {
        if (/(_file)$/.test(k) && typeof v === "string") files.push(v);
        else collect(v);
      }
  };
  collect(cfg);
  for (const f of files) {
    const m = mountFor(f);
    const v = m && vols[m.name];
    const rel = m && f.slice(m.mountPath.length + 1);
    const ok = v?.secret && (!v.secret.items || v.secret.items.some((i) => i.path === rel));
    check(ok && m.readOnly, `${name}: ${f} is mounted read-only from a Secret`);
    const own = byKind(docs, "Secret").find((s) => s.metadata.name === v?.secret?.secretName);
    if (own) {
      const key = v.secret.items?.find((i) => i.path === rel)?.key ?? rel;
      check(key in (own.data ?? {}) || key in (own.stringData ?? {}), `${name}: Secret ${own.metadata.name} has key ${key}`);
    }
  }
  // selectors
  const podLabels = dep.spec.template.metadata.labels;
  const matches = (sel) => Object.entries(sel ?? {}).every(([k, v]) => podLabels[k] === v);
  check(matches(dep.spec.selector.matchLabels), `${name}: Deployment selector matches its pods`);
  check(matches(svc.spec.selector), `${name}: Service selector matches the pods`);
  const svcPorts = Object.fromEntries(svc.spec.ports.map((p) => [p.name, p.targetPort]));
  check(svcPorts.postgres === "postgres" && svcPorts.admin === "admin", `${name}: Service ports postgres and admin`);
  for (const pdb of byKind(docs, "PodDisruptionBudget")) check(matches(pdb.spec.selector.matchLabels), `${name}: PDB selector`);
  for (const sm of byKind(docs, "ServiceMonitor")) {
    const ep = sm.spec.endpoints[0];
    check(ep.port === "admin" && ep.path === "/metrics", `${name}: ServiceMonitor scrapes /metrics on port admin`);
    check(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v),
          `${name}: ServiceMonitor selects the Service`);
  }
  const grace = cfg.limits?.shutdown_grace_ms ?? 30000;
  check(pod.terminationGracePeriodSeconds * 1000 > grace, `${name}: terminationGracePeriodSeconds > shutdown_grace_ms`);
  return { dep, cm, cfg };
}

// Writes a rendered ConfigMap's files into a directory as the pod would see them, with every
// mounted Secret file replaced by a placeholder, and runs `schemagate config check`.
function configCheck(cm, label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sg-helm-"));
  try {
    const relocate = (text) =>
      text.replaceAll("/etc/schemagate/", `${dir}/`).replaceAll("/var/run/secrets/schemagate/", `${dir}/secrets/`);
    const cfgText = relocate(cm.data["schemagate.yaml"]);
    fs.writeFileSync(path.join(dir, "schemagate.yaml"), cfgText);
    fs.writeFileSync(path.join(dir, "policy.yaml"), cm.data["policy.yaml"]);
    const cfg = YAML.parse(cfgText);
    if (cfg.admin?.tokens_file) {
      fs.mkdirSync(path.dirname(cfg.admin.tokens_file), { recursive: true });
      fs.writeFileSync(cfg.admin.tokens_file, "ci-approver:0123456789abcdef0123456789abcdef\n");
    }
    for (const h of cfg.approvals?.webhooks ?? []) {
      fs.mkdirSync(path.dirname(h.secret_file), { recursive: true });
      fs.writeFileSync(h.secret_file, "ci-webhook-secret-0123456789abcdef\n");
    }
    const r = spawnSync(binary, ["config", "check", path.join(dir, "schemagate.yaml")], { encoding: "utf8" });
    stats.configChecks++;
    if (r.error) fail(`${label}: cannot run ${binary}: ${r.error.message}`);
    else if (r.status !== 0) fail(`${label}: schemagate config check exit ${r.status}: ${`${r.stderr}${r.stdout}`.trim()}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

await selfTest();
const ciDir = path.join(chartDir, "ci");
const ciFiles = fs.readdirSync(ciDir).filter((f) => f.endsWith(".yaml")).sort();
if (ciFiles.length < 5) fail(`expected at least 5 ci/ values files, found ${ciFiles.length}`);
const kinds = new Set();
for (const f of ciFiles) {
  const values = path.join(ciDir, f);
  const lint = runHelm(["lint", "--strict", chartDir, "-f", values]);
  stats.lint++;
  if (lint.code !== 0 || !/1 chart\(s\) linted, 0 chart\(s\) failed/.test(lint.out))
    fail(`helm lint --strict -f ci/${f}: ${lint.out}${lint.err}`);
  const r = render([values]);
  if (r.code !== 0) {
    fail(`helm template -f ci/${f}: ${r.err}`);
    continue;
  }
  stats.rendered++;
  const docs = parseDocs(r.out);
  for (const d of docs) {
    kinds.add(d.kind);
    await validateManifest(d, `ci/${f}`);
  }
  const got = assertContent(docs, `ci/${f}`);
  if (got && binary) configCheck(got.cm, `ci/${f}`);
}
for (const k of ["Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceMonitor", "Secret", "ServiceAccount"])
  check(kinds.has(k), `some ci/ values file renders a ${k}`);

// ci-invalid: each must be refused by helm template, for the reason its `# expect:` names.
const badDir = path.join(chartDir, "ci-invalid");
const badFiles = fs.readdirSync(badDir).filter((f) => f.endsWith(".yaml")).sort();
let lintRefused = 0;
for (const f of badFiles) {
  const file = path.join(badDir, f);
  const expect = /^# expect: (.+)$/m.exec(fs.readFileSync(file, "utf8"))?.[1];
  if (!check(expect, `ci-invalid/${f}: has an '# expect: MESSAGE' line`)) continue;
  const r = render([file]);
  if (r.code === 0) fail(`ci-invalid/${f}: helm template accepted it`);
  else if (!(r.err + r.out).includes(expect)) fail(`ci-invalid/${f}: refused, but not with '${expect}': ${r.err.trim()}`);
  else stats.invalidRefused++;
  if (runHelm(["lint", "--strict", chartDir, "-f", file]).code !== 0) lintRefused++;
}

// Specific renderings.
const defaults = path.join(ciDir, "default-values.yaml");
const annotations = (extra) => {
  const r = render([defaults], extra);
  if (r.code !== 0) {
    fail(`helm template ${extra.join(" ")}: ${r.err}`);
    return {};
  }
  return byKind(parseDocs(r.out), "Deployment")[0].spec.template.metadata.annotations ?? {};
};
const base = annotations([])["checksum/config"];
check(/^[0-9a-f]{64}$/.test(base ?? ""), "checksum/config annotation present by default");
check(annotations([])["checksum/config"] === base, "checksum/config is stable for the same values");
check(annotations(["--set", "policy.rules.drop_table=reject"])["checksum/config"] !== base,
      "checksum/config changes when the policy changes");
check(annotations(["--set-string", "policyText=mode: enforce"])["checksum/config"] !== base,
      "checksum/config changes when policyText changes");
check(annotations(["--set", "config.log.level=debug"])["checksum/config"] !== base,
      "checksum/config changes when schemagate.yaml changes");
check(!("checksum/config" in annotations(["--set", "rollOnConfigChange=false"])),
      "no checksum/config annotation with rollOnConfigChange=false");
{
  const r = render([defaults], ["--set", "config.limits.shutdown_grace_ms=120000"]);
  const pod = byKind(parseDocs(r.out), "Deployment")[0]?.spec.template.spec;
  check(pod?.terminationGracePeriodSeconds === 135, "terminationGracePeriodSeconds follows shutdown_grace_ms (120 s + 5 + 10)");
}
{
  const docs = parseDocs(render([defaults]).out);
  const policy = YAML.parse(byKind(docs, "ConfigMap")[0].data["policy.yaml"]);
  const cfg = YAML.parse(byKind(docs, "ConfigMap")[0].data["schemagate.yaml"]);
  check(policy.mode === "observe" && cfg.policy.mode === "observe" && cfg.policy.file === "policy.yaml",
        "default: observe mode, policy.yaml beside schemagate.yaml");
  check(!byKind(docs, "ServiceMonitor").length, "no ServiceMonitor by default");
}
check(
  fs.readFileSync(path.join(chartDir, "files/policy.yaml"), "utf8") ===
    fs.readFileSync(path.join(repoRoot, "deploy/policy.example.yaml"), "utf8"),
  "helm/schemagate/files/policy.yaml is a copy of deploy/policy.example.yaml",
);

// The sidecar example of docs/deployment.md.
{
  const file = path.join(chartDir, "examples/sidecar-deployment.yaml");
  const text = fs.readFileSync(file, "utf8");
  const docs = parseDocs(text);
  for (const d of docs) await validateManifest(d, "examples/sidecar-deployment.yaml");
  const doc = fs.readFileSync(path.join(repoRoot, "docs/deployment.md"), "utf8");
  const body = text.split("\n").filter((l) => !l.startsWith("#")).join("\n").trim();
  check(doc.includes(body), "docs/deployment.md shows examples/sidecar-deployment.yaml verbatim");
  const pod = byKind(docs, "Deployment")[0].spec.template.spec;
  const sg = pod.initContainers.find((c) => c.name === "schemagate");
  check(sg?.restartPolicy === "Always", "sidecar example: native sidecar (restartPolicy Always)");
  check(sg?.readinessProbe?.httpGet?.path === "/readyz" && sg?.livenessProbe?.httpGet?.path === "/healthz",
        "sidecar example: probes");
  const cfg = YAML.parse(byKind(docs, "ConfigMap")[0].data["schemagate.yaml"]);
  check(cfg.io.busy_poll_us === 0 && cfg.listen.address === "127.0.0.1", "sidecar example: busy_poll_us 0, loopback");
  if (binary) configCheck(byKind(docs, "ConfigMap")[0], "examples/sidecar-deployment.yaml");
  const sidecarValues = path.join(ciDir, "sidecar-config-values.yaml");
  const r = render([sidecarValues], ["--show-only", "templates/configmap.yaml"]);
  check(r.code === 0 && parseDocs(r.out).length === 1, "--show-only templates/configmap.yaml renders the sidecar's ConfigMap");
}

// NOTES.txt is rendered only by `helm install` (which needs a cluster): render it through a
// scratch copy of the chart that wraps it in a ConfigMap, for every ci/ values file.
{
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "sg-chart-"));
  try {
    fs.cpSync(chartDir, copy, { recursive: true });
    fs.copyFileSync(path.join(copy, "templates/NOTES.txt"), path.join(copy, "files/notes.txt"));
    fs.writeFileSync(path.join(copy, "templates/zz-notes-test.yaml"),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n{{ tpl (.Files.Get "files/notes.txt") . | indent 4 }}\n');
    for (const f of ciFiles) {
      const r = runHelm(["template", "t", copy, "-f", path.join(ciDir, f), "--show-only", "templates/zz-notes-test.yaml"]);
      const notes = r.code === 0 ? parseDocs(r.out)[0]?.data?.notes ?? "" : "";
      check(r.code === 0 && /psql "host=t-schemagate\./.test(notes) && /healthz/.test(notes),
            `ci/${f}: NOTES.txt renders (${r.err.trim().split("\n")[0] ?? ""})`);
    }
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

const helmVersion = execFileSync(helm, ["version", "--short"], { encoding: "utf8" }).trim();
console.log(`helm ${helmVersion}`);
console.log(`lint --strict: ${stats.lint} ci/ values files`);
console.log(`template: ${stats.rendered} ci/ renderings; ${stats.manifests} manifests validated` +
            ` (kubernetes-models schemas + unknown-field walk over ${stats.fieldsChecked} fields); kinds: ${[...kinds].sort().join(", ")}`);
console.log(`ci-invalid: ${stats.invalidRefused}/${badFiles.length} refused by helm template with the expected message` +
            ` (${lintRefused} also by helm lint --strict; lint only evaluates values.schema.json, not 'required'/'fail')`);
console.log(`content assertions: ${stats.assertions}`);
if (stats.unresolved.size)
  console.log(`ServiceMonitor unknown-field walk: not descended into ${[...stats.unresolved].sort().join(", ")}`);
console.log(binary ? `schemagate config check: ${stats.configChecks} rendered configs passed`
                   : "schemagate config check: skipped (no binary given)");
const total = stats.assertions + stats.manifests + stats.lint + stats.rendered + badFiles.length + stats.configChecks;
console.log(`helm-chart: ${Math.max(0, total - failures)} passed, ${failures} failed`);
if (failures) {
  console.error(`helm chart test: ${failures} failure(s)`);
  process.exit(1);
}
console.log("helm chart test: all checks passed");

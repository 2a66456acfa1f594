// Package scaleout checks the deployment examples of docs/scale-out.md:
// the Kubernetes manifests are decoded strictly into the Kubernetes API's
// own types (an unknown or mistyped field fails), the replica configuration
// loads, and the parts agree with each other (ports, probes, labels, the
// store's secret). No cluster is needed.
package scaleout

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/policy"
)

func TestKubernetesManifests(t *testing.T) {
	b, err := os.ReadFile("kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var (
		dep *appsv1.Deployment
		svc *corev1.Service
		ing *networkingv1.Ingress
		pdb *policyv1.PodDisruptionBudget
	)
	for i, doc := range strings.Split(string(b), "\n---\n") {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			dep = &appsv1.Deployment{}
			obj = dep
		case "v1 Service":
			svc = &corev1.Service{}
			obj = svc
		case "networking.k8s.io/v1 Ingress":
			ing = &networkingv1.Ingress{}
			obj = ing
		case "policy/v1 PodDisruptionBudget":
			pdb = &policyv1.PodDisruptionBudget{}
			obj = pdb
		default:
			t.Fatalf("document %d: unexpected %s %s", i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("document %d (%s): %v", i, meta.Kind, err)
		}
	}
	if dep == nil || svc == nil || ing == nil || pdb == nil {
		t.Fatal("a Deployment, a Service, an Ingress and a PodDisruptionBudget are expected")
	}

	cfg := loadConfig(t)
	pod := dep.Spec.Template
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("replicas: %v", dep.Spec.Replicas)
	}
	if !matches(dep.Spec.Selector.MatchLabels, pod.Labels) || !matches(svc.Spec.Selector, pod.Labels) || !matches(pdb.Spec.Selector.MatchLabels, pod.Labels) {
		t.Error("the selectors do not select the pods")
	}
	if pdb.Spec.MinAvailable == nil || int32(pdb.Spec.MinAvailable.IntValue()) >= *dep.Spec.Replicas {
		t.Errorf("the disruption budget leaves no room to drain a node: %v", pdb.Spec.MinAvailable)
	}
	c := pod.Spec.Containers[0]
	if !slices.Contains(c.Args, "serve") || !slices.Contains(c.Args, "/etc/toolgate/toolgate.yaml") {
		t.Errorf("args: %v", c.Args)
	}
	var store *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == config.StoreEnv {
			store = &c.Env[i]
		}
	}
	if store == nil || store.Value != "" || store.ValueFrom == nil || store.ValueFrom.SecretKeyRef == nil {
		t.Errorf("%s must come from a secret: %+v", config.StoreEnv, store)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || !strings.HasSuffix(cfg.Listen, ":"+strconv.Itoa(int(c.Ports[0].ContainerPort))) {
		t.Errorf("container port %v and listen %s disagree", c.Ports, cfg.Listen)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[name]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe: %+v", name, p)
			continue
		}
		host := ""
		for _, h := range p.HTTPGet.HTTPHeaders {
			if h.Name == "Host" {
				host = h.Value
			}
		}
		if !slices.Contains(cfg.HTTP.AllowedHosts, host) {
			t.Errorf("%s probe sends Host %q, which http.allowed_hosts %v refuses", name, host, cfg.HTTP.AllowedHosts)
		}
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = true
	}
	// The config's relative paths are relative to it: in the pod, under
	// /etc/toolgate.
	here, _ := filepath.Abs(".")
	for _, dir := range cfg.Policy.Dirs {
		rel, err := dir, error(nil)
		if filepath.IsAbs(dir) {
			rel, err = filepath.Rel(here, dir)
		}
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("policy directory %s is outside the example", dir)
			continue
		}
		found := false
		for m := range mounts {
			found = found || strings.HasPrefix(m, filepath.Join("/etc/toolgate", rel)+"/")
		}
		if !found {
			t.Errorf("policy directory %s is not mounted under /etc/toolgate", rel)
		}
	}
	if !mounts[cfg.DataDir] {
		t.Errorf("the data directory %s is not a volume (the root filesystem is read-only)", cfg.DataDir)
	}
	if svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("service target port %v", svc.Spec.Ports[0].TargetPort)
	}
	be := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if be.Name != svc.Name || be.Port.Name != svc.Spec.Ports[0].Name {
		t.Errorf("ingress backend %+v is not the service", be)
	}
	if !strings.Contains(ing.Annotations["nginx.ingress.kubernetes.io/upstream-hash-by"], "mcp_session_id") {
		t.Error("the ingress does not keep an MCP session on its replica")
	}
	if host := ing.Spec.Rules[0].Host; !slices.Contains(cfg.HTTP.AllowedHosts, host) || cfg.Approvals.PublicURL != "https://"+host {
		t.Errorf("ingress host %s, allowed hosts %v, approval links %s", host, cfg.HTTP.AllowedHosts, cfg.Approvals.PublicURL)
	}
}

// loadConfig loads the replica configuration, as a replica started with
// TOOLGATE_STORE would, and its policies.
func loadConfig(t *testing.T) *config.Config {
	t.Helper()
	t.Setenv(config.StoreEnv, "postgres://toolgate@db.internal:5432/toolgate?sslmode=verify-full")
	cfg, err := config.Load("toolgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if store, err := config.ResolveStore(cfg); err != nil || !config.IsPostgres(store) {
		t.Fatalf("store: %q %v", store, err)
	}
	if _, err := policy.NewEngine(cfg.Policy, nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestReplicaConfig(t *testing.T) { loadConfig(t) }

// TestSystemdUnit: the unit file's sections and keys are the ones systemd
// knows, and it runs one replica per instance on the shared store.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("toolgate@.service")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string][]string{
		"Unit":    {"Description", "Documentation", "Wants", "After"},
		"Service": {"Type", "EnvironmentFile", "ExecStart", "KillSignal", "TimeoutStopSec", "Restart", "RestartSec", "DynamicUser", "StateDirectory", "Environment", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictAddressFamilies", "LockPersonality", "MemoryMax"},
		"Install": {"WantedBy"},
	}
	keys := map[string]string{}
	section := ""
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			if _, ok := known[section]; !ok {
				t.Errorf("line %d: unknown section %s", n+1, line)
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || !slices.Contains(known[section], k) {
				t.Errorf("line %d: %q is not a known key of [%s]", n+1, line, section)
			}
			keys[k] = v
		}
	}
	if !strings.Contains(keys["ExecStart"], " serve ") || !strings.Contains(keys["ExecStart"], "--listen 127.0.0.1:%i") {
		t.Errorf("ExecStart: %s", keys["ExecStart"])
	}
	if keys["EnvironmentFile"] == "" || keys["KillSignal"] != "SIGTERM" {
		t.Errorf("the store's URL comes from EnvironmentFile, and SIGTERM drains: %v", keys)
	}
}

func matches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

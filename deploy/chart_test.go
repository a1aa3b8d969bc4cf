package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "helm/ferry"

// kubeVersion is the cluster version the chart is rendered for: a Helm
// built with go build (not its release ldflags) would otherwise assume
// v1.20, below the chart's kubeVersion (preStop sleep needs 1.30).
const kubeVersion = "1.33.0"

// exampleValues are the chart's per-region example values files.
var exampleValues = []string{"values-eu.yaml", "values-us.yaml"}

// testCatalog stands for an image build's plugins.json.
const testCatalog = `[
  {"kind": "fhir", "path": "/usr/bin/ferry-connector-fhir", "sha256": "0000000000000000000000000000000000000000000000000000000000000001", "sandbox": "required"},
  {"kind": "hl7v2", "path": "/usr/bin/ferry-connector-hl7v2", "sha256": "0000000000000000000000000000000000000000000000000000000000000002", "sandbox": "required"}
]`

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm builds the Helm CLI pinned as a tool in this module's go.mod.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-helm-")
		if err != nil {
			helmErr = err
			return
		}
		helmPath = filepath.Join(dir, "helm")
		out, err := exec.Command("go", "build", "-o", helmPath, "helm.sh/helm/v3/cmd/helm").CombinedOutput()
		if err != nil {
			helmErr = fmt.Errorf("building helm: %v: %s", err, out)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// runHelm runs helm with its state in the test's temp dir.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helm(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

func catalogFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plugins.json")
	if err := os.WriteFile(p, []byte(testCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestChartLint: helm lint, strict, with each region's values.
func TestChartLint(t *testing.T) {
	for _, v := range exampleValues {
		out, err := runHelm(t, "lint", "--strict", "--kube-version", kubeVersion, chartDir, "-f", filepath.Join(chartDir, v), "--set-file", "pluginCatalog="+catalogFile(t))
		if err != nil {
			t.Errorf("helm lint with %s: %v\n%s", v, err, out)
		}
	}
}

// rendered is one object of a rendered chart, decoded into its API type.
type rendered struct {
	kind string
	obj  any
}

// render templates the chart with a values file and decodes every object
// strictly into its Kubernetes API type: an unknown or misspelt field fails.
func render(t *testing.T, values string, extra ...string) []rendered {
	t.Helper()
	args := append([]string{"template", "ferry", chartDir, "--kube-version", kubeVersion, "--namespace", "ferry", "-f", filepath.Join(chartDir, values),
		"--set-file", "pluginCatalog=" + catalogFile(t)}, extra...)
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm template with %s: %v\n%s", values, err, out)
	}
	var objs []rendered
	for _, doc := range strings.Split(out, "\n---") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v\n%s", values, err, doc)
		}
		if string(js) == "null" {
			continue
		}
		var head struct{ APIVersion, Kind string }
		if err := json.Unmarshal(js, &head); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "autoscaling/v2 HorizontalPodAutoscaler":
			obj = &autoscalingv2.HorizontalPodAutoscaler{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "networking.k8s.io/v1 NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			obj = &monitoringv1.ServiceMonitor{}
		default:
			t.Fatalf("%s renders %s %s, which this test does not know", values, head.APIVersion, head.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Fatalf("%s: %s does not decode strictly: %v\n%s", values, head.Kind, err, doc)
		}
		objs = append(objs, rendered{head.Kind, obj})
	}
	return objs
}

func find[T any](objs []rendered) (*T, bool) {
	for _, o := range objs {
		if v, ok := o.obj.(*T); ok {
			return v, true
		}
	}
	return nil, false
}

// TestChartPolicies renders every example values file, with and without the
// ServiceMonitor, and checks what an operator's admission policies would:
// non-root, read-only root, no capabilities, RuntimeDefault seccomp, probes,
// the drain, a PDB, an HPA, spread across zones, no `latest`, and a config
// holding the region and the image's plugin catalog.
func TestChartPolicies(t *testing.T) {
	for _, v := range exampleValues {
		for _, extra := range [][]string{nil, {"--set", "serviceMonitor.enabled=true"}} {
			objs := render(t, v, extra...)
			checkPolicies(t, v, objs)
			if _, ok := find[monitoringv1.ServiceMonitor](objs); ok != (extra != nil) {
				t.Errorf("%s %v: ServiceMonitor rendered %v", v, extra, ok)
			}
		}
	}
}

func checkPolicies(t *testing.T, values string, objs []rendered) {
	t.Helper()
	fail := func(format string, args ...any) { t.Errorf(values+": "+format, args...) }
	d, ok := find[appsv1.Deployment](objs)
	if !ok {
		t.Fatalf("%s: no Deployment", values)
	}
	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("pod securityContext: want runAsNonRoot and seccomp RuntimeDefault, got %+v", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		fail("the pod mounts a Kubernetes API token it never uses")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers", values, len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		fail("container securityContext: want read-only root, no escalation, drop ALL, got %+v", sc)
	}
	if i := strings.LastIndex(c.Image, ":"); i < 0 || c.Image[i+1:] == "latest" || strings.HasSuffix(c.Image, ":") {
		fail("image %q: want a fixed tag", c.Image)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			fail("%s probe: want GET %s, got %+v", name, path, p)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("startup", c.StartupProbe, "/healthz")
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		fail("no preStop sleep: the endpoint would still get requests as Ferry drains")
	} else if grace := pod.TerminationGracePeriodSeconds; grace == nil || *grace <= c.Lifecycle.PreStop.Sleep.Seconds {
		fail("terminationGracePeriodSeconds %v leaves no time to drain after preStop's %ds", grace, c.Lifecycle.PreStop.Sleep.Seconds)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
		c.Resources.Limits.Memory().IsZero() {
		fail("resources: want CPU and memory requests and a memory limit, got %+v", c.Resources)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		fail("rolling update may take capacity away: %+v", d.Spec.Strategy)
	}
	zones := false
	for _, ts := range pod.TopologySpreadConstraints {
		zones = zones || ts.TopologyKey == "topology.kubernetes.io/zone"
	}
	if !zones {
		fail("no topology spread across zones")
	}
	if d.Spec.Template.Annotations["checksum/config"] == "" {
		fail("a config change would not roll the pods")
	}
	tmpInMemory := false
	for _, vol := range pod.Volumes {
		if vol.HostPath != nil {
			fail("volume %s is a hostPath", vol.Name)
		}
		if vol.EmptyDir != nil && vol.EmptyDir.Medium != corev1.StorageMediumMemory {
			fail("volume %s is an emptyDir on disk: Ferry writes nothing to disk", vol.Name)
		}
		tmpInMemory = tmpInMemory || vol.Name == "tmp" && vol.EmptyDir != nil
	}
	if !tmpInMemory {
		fail("no in-memory /tmp for go-plugin's sockets")
	}
	if _, ok := find[policyv1.PodDisruptionBudget](objs); !ok {
		fail("no PodDisruptionBudget")
	}
	if hpa, ok := find[autoscalingv2.HorizontalPodAutoscaler](objs); !ok || len(hpa.Spec.Metrics) == 0 ||
		hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
		fail("no HPA on CPU")
	}
	np, ok := find[networkingv1.NetworkPolicy](objs)
	if !ok {
		fail("no NetworkPolicy")
	} else {
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.String() == "admin" && (len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil) {
					fail("the admin port is open beyond the monitoring namespace: %+v", rule.From)
				}
			}
		}
	}
	cm, ok := find[corev1.ConfigMap](objs)
	if !ok {
		t.Fatalf("%s: no ConfigMap", values)
	}
	var cfg struct {
		Node struct {
			Region string `json:"region"`
			Drain  struct {
				Delay, Grace string
			} `json:"drain"`
			Tracing *struct {
				Endpoint string `json:"endpoint"`
			} `json:"tracing"`
		} `json:"node"`
		Plugins json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(cm.Data["config.json"]), &cfg); err != nil {
		t.Fatalf("%s: config.json: %v", values, err)
	}
	if want := strings.TrimSuffix(strings.TrimPrefix(values, "values-"), ".yaml"); cfg.Node.Region != want {
		fail("config node.region %q, want %q", cfg.Node.Region, want)
	}
	// The eu example exports traces; us leaves tracing off.
	if (cfg.Node.Tracing != nil) != (values == "values-eu.yaml") || cfg.Node.Tracing != nil && cfg.Node.Tracing.Endpoint == "" {
		fail("config node.tracing %+v", cfg.Node.Tracing)
	}
	// SIGTERM must not kill Ferry before its drain is done.
	delay, err1 := time.ParseDuration(cfg.Node.Drain.Delay)
	grace, err2 := time.ParseDuration(cfg.Node.Drain.Grace)
	if err1 != nil || err2 != nil || grace < time.Second {
		fail("config node.drain %+v: want a delay and a grace", cfg.Node.Drain)
	} else if tgp, c := d.Spec.Template.Spec.TerminationGracePeriodSeconds, d.Spec.Template.Spec.Containers[0]; tgp != nil &&
		c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil &&
		time.Duration(*tgp)*time.Second < time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second+delay+2*grace {
		fail("terminationGracePeriodSeconds %d < preStop %ds + delay %v + 2 x grace %v", *tgp, c.Lifecycle.PreStop.Sleep.Seconds, delay, grace)
	}
	var got, want any
	_ = json.Unmarshal(cfg.Plugins, &got)
	_ = json.Unmarshal([]byte(testCatalog), &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		fail("config plugins %s, want the catalog", cfg.Plugins)
	}
}

// TestChartRefuses: what the chart will not render, each with its reason.
func TestChartRefuses(t *testing.T) {
	values := filepath.Join(chartDir, "values-eu.yaml")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no catalog", []string{"-f", values}, "pluginCatalog is required"},
		{"no region", []string{"--set-file", "pluginCatalog=" + catalogFile(t)}, "region is required"},
		{"latest", []string{"-f", values, "--set-file", "pluginCatalog=" + catalogFile(t), "--set", "image.tag=latest"}, "latest is refused"},
		{"node section", []string{"-f", values, "--set-file", "pluginCatalog=" + catalogFile(t), "--set", "ferry.node.listen=x"}, "ferry.node is the chart's"},
		{"catalog not JSON", []string{"-f", values, "--set", "pluginCatalog=nope"}, "not a JSON array"},
		{"drain longer than the pod may take", []string{"-f", values, "--set-file", "pluginCatalog=" + catalogFile(t),
			"--set", "drain.graceSeconds=30"}, "drain.terminationGracePeriodSeconds 60 is too short"},
	} {
		out, err := runHelm(t, append([]string{"template", "ferry", chartDir, "--kube-version", kubeVersion}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: err %v, output %q; want a failure saying %q", tc.name, err, out, tc.want)
		}
	}
}

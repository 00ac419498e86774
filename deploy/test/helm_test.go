package deploytest

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// kubeVersion is the oldest Kubernetes the chart supports (Chart.yaml's
// kubeVersion: StatefulSet ordinals and the pod-index label are GA in 1.31).
var kubeVersion = chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}

const (
	release   = "rmq"
	namespace = "mq"
)

func chartDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "deploy", "helm", "robustmq")
}

// valueSets are the configurations every check runs over: the defaults, and
// every option switched on with other sizes.
var valueSets = map[string]map[string]any{
	"defaults": {},
	"options": {
		"placement": map[string]any{"replicas": 5, "storage": map[string]any{"storageClassName": "fast"}},
		"journal":   map[string]any{"replicas": 4},
		"broker": map[string]any{
			"autoscaling": map[string]any{"enabled": true, "maxReplicas": 12},
			"service":     map[string]any{"type": "LoadBalancer"},
			"config":      map[string]any{"listeners": map[string]any{"ws": map[string]any{"path": "/ws"}}},
		},
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
		"image":          map[string]any{"repository": "registry.example/robustmq-go", "tag": "v1"},
	},
}

// TestHelmLint runs helm lint (the SDK's, as the CLI does) on every value
// set; warnings fail as well as errors.
func TestHelmLint(t *testing.T) {
	for name, vals := range valueSets {
		linter := lint.AllWithKubeVersion(chartDir(t), vals, namespace, &kubeVersion)
		for _, m := range linter.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: %s", name, m)
			} else {
				t.Logf("%s: %s", name, m)
			}
		}
	}
}

// render runs helm template with vals.
func render(t testing.TB, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	caps := *chartutil.DefaultCapabilities
	caps.KubeVersion = kubeVersion
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, &caps)
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	return engine.Render(ch, rv)
}

// serviceMonitor is prometheus-operator's monitoring.coreos.com/v1
// ServiceMonitor, as far as the chart uses it (k8s.io/api does not have
// it); decoded strictly like the rest.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests holds one rendering, decoded.
type manifests struct {
	configMaps   []*corev1.ConfigMap
	services     []*corev1.Service
	statefulSets []*appsv1.StatefulSet
	deployments  []*appsv1.Deployment
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	monitors     []*serviceMonitor
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decode splits the rendered files into documents and decodes each one
// strictly into its k8s.io/api type: an unknown or misplaced field fails.
func decode(t *testing.T, files map[string]string) *manifests {
	t.Helper()
	m := &manifests{}
	for _, file := range slices.Sorted(mapsKeys(files)) {
		if !strings.HasSuffix(file, ".yaml") {
			continue
		}
		for _, doc := range docSep.Split(files[file], -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v\n%s", file, err, doc)
			}
			var obj any
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/ConfigMap":
				o := &corev1.ConfigMap{}
				m.configMaps, obj = append(m.configMaps, o), o
			case "v1/Service":
				o := &corev1.Service{}
				m.services, obj = append(m.services, o), o
			case "apps/v1/StatefulSet":
				o := &appsv1.StatefulSet{}
				m.statefulSets, obj = append(m.statefulSets, o), o
			case "apps/v1/Deployment":
				o := &appsv1.Deployment{}
				m.deployments, obj = append(m.deployments, o), o
			case "policy/v1/PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				m.pdbs, obj = append(m.pdbs, o), o
			case "autoscaling/v2/HorizontalPodAutoscaler":
				o := &autoscalingv2.HorizontalPodAutoscaler{}
				m.hpas, obj = append(m.hpas, o), o
			case "monitoring.coreos.com/v1/ServiceMonitor":
				o := &serviceMonitor{}
				m.monitors, obj = append(m.monitors, o), o
			default:
				t.Fatalf("%s: unexpected %s %s", file, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %s: %v\n%s", file, tm.Kind, err, doc)
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// workload is a StatefulSet or Deployment: the pods it makes.
type workload struct {
	kind, name  string
	replicas    int
	start       int // first pod ordinal (StatefulSet)
	serviceName string
	selector    *metav1.LabelSelector
	pod         corev1.PodTemplateSpec
	claims      []corev1.PersistentVolumeClaim
}

func (m *manifests) workloads() []*workload {
	var out []*workload
	for _, s := range m.statefulSets {
		w := &workload{kind: "StatefulSet", name: s.Name, replicas: 1, serviceName: s.Spec.ServiceName,
			selector: s.Spec.Selector, pod: s.Spec.Template, claims: s.Spec.VolumeClaimTemplates}
		if s.Spec.Replicas != nil {
			w.replicas = int(*s.Spec.Replicas)
		}
		if s.Spec.Ordinals != nil {
			w.start = int(s.Spec.Ordinals.Start)
		}
		out = append(out, w)
	}
	for _, d := range m.deployments {
		w := &workload{kind: "Deployment", name: d.Name, replicas: 1, selector: d.Spec.Selector, pod: d.Spec.Template}
		if d.Spec.Replicas != nil {
			w.replicas = int(*d.Spec.Replicas)
		}
		out = append(out, w)
	}
	return out
}

func (m *manifests) service(name string) *corev1.Service {
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func namedPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestHelmTemplate renders every value set and checks the manifests
// against each other and against the binaries.
func TestHelmTemplate(t *testing.T) {
	for name, vals := range valueSets {
		t.Run(name, func(t *testing.T) {
			files, err := render(t, vals)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			checkManifests(t, name, decode(t, files))
		})
	}
	// The chart refuses a Raft group that cannot have a majority.
	_, err := render(t, map[string]any{"placement": map[string]any{"replicas": 2}})
	if err == nil || !strings.Contains(err.Error(), "placement.replicas must be an odd number") {
		t.Errorf("placement.replicas=2: err = %v, want the chart's refusal", err)
	}
}

func checkManifests(t *testing.T, set string, m *manifests) {
	options := set == "options"
	counts := map[string]int{"ConfigMap": len(m.configMaps), "Service": len(m.services), "StatefulSet": len(m.statefulSets),
		"Deployment": len(m.deployments), "PodDisruptionBudget": len(m.pdbs), "HorizontalPodAutoscaler": len(m.hpas), "ServiceMonitor": len(m.monitors)}
	want := map[string]int{"ConfigMap": 1, "Service": 5, "StatefulSet": 2, "Deployment": 1, "PodDisruptionBudget": 3}
	if options {
		want["HorizontalPodAutoscaler"], want["ServiceMonitor"] = 1, 1
	} else {
		want["HorizontalPodAutoscaler"], want["ServiceMonitor"] = 0, 0
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d %s, want %d", counts[k], k, n)
		}
	}
	// The ConfigMap's files are TOML holding the values' config maps.
	if len(m.configMaps) == 1 {
		for file, want := range map[string]string{"placement-center.toml": "raft.election_ticks", "journal-server.toml": "segment.max_bytes", "broker-server.toml": "limits.max_inflight"} {
			var doc map[string]any
			md, err := toml.Decode(m.configMaps[0].Data[file], &doc)
			if err != nil {
				t.Errorf("%s: %v\n%s", file, err, m.configMaps[0].Data[file])
				continue
			}
			path := strings.Split(want, ".")
			if typ := md.Type(path...); typ != "Integer" {
				t.Errorf("%s: %s is a TOML %q, want an Integer", file, want, typ)
			}
		}
		if options {
			var doc struct {
				Listeners struct{ WS struct{ Path string } }
			}
			if _, err := toml.Decode(m.configMaps[0].Data["broker-server.toml"], &doc); err != nil || doc.Listeners.WS.Path != "/ws" {
				t.Errorf("broker-server.toml: listeners.ws.path = %q (%v), want the value /ws", doc.Listeners.WS.Path, err)
			}
		}
	}
	wls := m.workloads()
	podsOf := func(sel labels.Selector) []*workload {
		var out []*workload
		for _, w := range wls {
			if sel.Matches(labels.Set(w.pod.Labels)) {
				out = append(out, w)
			}
		}
		return out
	}
	for _, w := range wls {
		ctx := w.kind + " " + w.name
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || !sel.Matches(labels.Set(w.pod.Labels)) {
			t.Errorf("%s: selector %v does not match its pod labels %v (%v)", ctx, w.selector, w.pod.Labels, err)
		}
		ps := w.pod.Spec
		if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s: pods must run as a numeric non-root user: %+v", ctx, sc)
		}
		if len(ps.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", ctx, len(ps.Containers))
		}
		c := ps.Containers[0]
		for _, ic := range append(slices.Clone(ps.InitContainers), c) {
			staticBinary(t, ic.Command[0]) // a binary the image holds
			if ic.Image != c.Image {
				t.Errorf("%s: init container %s uses %s, not the service's image", ctx, ic.Name, ic.Image)
			}
		}
		if options && c.Image != "registry.example/robustmq-go:v1" {
			t.Errorf("%s: image %s does not follow the values", ctx, c.Image)
		}
		prefix, ok := envPrefix[c.Command[0]]
		if !ok {
			t.Fatalf("%s runs %s, not a service", ctx, c.Command[0])
		}
		env := map[string]string{}
		for _, e := range c.Env {
			if !strings.HasPrefix(e.Name, prefix) && e.Name != "POD_NAME" && e.Name != "POD_IP" {
				t.Errorf("%s: env %s lacks the prefix %s", ctx, e.Name, prefix)
			}
			env[e.Name] = e.Value
		}
		for _, err := range registeredAddrs(c.Command[0], env) {
			t.Errorf("%s: %v", ctx, err)
		}
		// --config names a key of a mounted ConfigMap.
		i := slices.Index(c.Command, "--config")
		if i < 0 {
			t.Fatalf("%s: no --config", ctx)
		}
		if _, ok := configFile(t, m, w, c.Command[i+1]); !ok {
			t.Errorf("%s: --config %s is no key of a mounted ConfigMap", ctx, c.Command[i+1])
		}
		// Readiness is /healthz on the HTTP port the service binds.
		httpPort := portOf(envValue(c, prefix+"HTTP_ADDR"))
		if rp := c.ReadinessProbe; rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/healthz" ||
			int(namedPort(c, rp.HTTPGet.Port.String())) != httpPort {
			t.Errorf("%s: readiness must GET /healthz on the http_addr port %d: %+v", ctx, httpPort, rp)
		}
		if c.LivenessProbe == nil {
			t.Errorf("%s: no liveness probe", ctx)
		}
		if w.kind == "StatefulSet" {
			if w.start != 1 {
				t.Errorf("%s: ordinals start at %d: pod numbers are node ids, which must be positive", ctx, w.start)
			}
			hs := m.service(w.serviceName)
			if hs == nil || hs.Spec.ClusterIP != "None" || !hs.Spec.PublishNotReadyAddresses {
				t.Errorf("%s: serviceName %s must be a headless service publishing not-ready pods", ctx, w.serviceName)
			}
			dataDir := envValue(c, prefix+"DATA_DIR")
			if len(w.claims) != 1 || !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool {
				return v.Name == w.claims[0].Name && v.MountPath == dataDir
			}) {
				t.Errorf("%s: data_dir %s is not a PVC mount (claims %d, mounts %v)", ctx, dataDir, len(w.claims), c.VolumeMounts)
			} else if q := w.claims[0].Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
				t.Errorf("%s: PVC requests no storage", ctx)
			}
		}
	}
	placement := findWorkload(t, wls, release+"-robustmq-placement")
	if want := map[bool]int{false: 3, true: 5}[options]; placement.replicas != want {
		t.Errorf("placement replicas %d, want %d", placement.replicas, want)
	}
	peers := strings.Split(envValue(placement.pod.Spec.Containers[0], "ROBUSTMQ_PLACEMENT_RAFT_PEERS"), ",")
	if len(peers) != placement.replicas {
		t.Errorf("raft peers %v for %d members", peers, placement.replicas)
	}
	for i, p := range peers {
		want := fmt.Sprintf("%d=%s-%d.%s.%s.svc.cluster.local:1228", i+1, placement.name, i+1, placement.serviceName, namespace)
		if p != want {
			t.Errorf("raft peer %d = %q, want %q", i, p, want)
		}
	}
	// Services and PDBs select pods, by port names the pods have.
	for _, s := range m.services {
		ws := podsOf(labels.SelectorFromSet(s.Spec.Selector))
		if len(ws) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", s.Name, len(ws))
			continue
		}
		for _, p := range s.Spec.Ports {
			if namedPort(ws[0].pod.Spec.Containers[0], p.TargetPort.String()) == 0 {
				t.Errorf("Service %s: targetPort %s is no container port of %s", s.Name, p.TargetPort.String(), ws[0].name)
			}
		}
	}
	for _, p := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || len(podsOf(sel)) != 1 {
			t.Errorf("PDB %s selects %d workloads (%v)", p.Name, len(podsOf(sel)), err)
		}
		if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PDB %s: maxUnavailable %v, want 1", p.Name, p.Spec.MaxUnavailable)
		}
	}
	broker := m.deployments[0]
	// The broker's client listeners bind the container ports its client
	// Service targets.
	bc, bsvc := broker.Spec.Template.Spec.Containers[0], m.service(broker.Name)
	for _, l := range []struct{ port, key string }{{"mqtt", "TCP"}, {"mqtt-ws", "WS"}, {"kafka", "KAFKA"}} {
		key := "ROBUSTMQ_BROKER_LISTENERS_" + l.key + "_ADDR"
		if p := namedPort(bc, l.port); p == 0 || int(p) != portOf(envValue(bc, key)) {
			t.Errorf("broker: container port %s (%d) is not where %s=%q binds", l.port, p, key, envValue(bc, key))
		}
		if bsvc == nil || !slices.ContainsFunc(bsvc.Spec.Ports, func(p corev1.ServicePort) bool { return p.TargetPort.String() == l.port }) {
			t.Errorf("Service %s has no port for %s", broker.Name, l.port)
		}
	}
	if options {
		if broker.Spec.Replicas != nil {
			t.Errorf("with the HPA on, the Deployment must not set replicas (%d)", *broker.Spec.Replicas)
		}
		h := m.hpas[0]
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != broker.Name || h.Spec.MaxReplicas != 12 {
			t.Errorf("HPA targets %+v (max %d), want Deployment %s (max 12)", h.Spec.ScaleTargetRef, h.Spec.MaxReplicas, broker.Name)
		}
		if _, ok := broker.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; !ok {
			t.Error("the HPA's CPU utilization needs a CPU request on the broker")
		}
		sm := m.monitors[0]
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		var scraped []string
		for _, s := range m.services {
			if sel.Matches(labels.Set(s.Labels)) {
				scraped = append(scraped, s.Name)
				if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port }) {
					t.Errorf("ServiceMonitor port %s is not a port of Service %s", sm.Spec.Endpoints[0].Port, s.Name)
				}
			}
		}
		if len(scraped) != 3 || sm.Labels["release"] != "prometheus" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor scrapes %v (labels %v, path %s), want the 3 components' /metrics", scraped, sm.Labels, sm.Spec.Endpoints[0].Path)
		}
	} else if broker.Spec.Replicas == nil || *broker.Spec.Replicas != 2 {
		t.Errorf("broker replicas %v, want 2", broker.Spec.Replicas)
	}
	if n := len(broker.Spec.Template.Spec.InitContainers); n != map[bool]int{false: 3, true: 4}[options] {
		t.Errorf("broker waits for %d journal nodes", n)
	}
}

func findWorkload(t *testing.T, wls []*workload, name string) *workload {
	t.Helper()
	for _, w := range wls {
		if w.name == name {
			return w
		}
	}
	t.Fatalf("no workload %s", name)
	return nil
}

// configFile returns the content of path as mounted into w's container
// from a ConfigMap volume.
func configFile(t *testing.T, m *manifests, w *workload, path string) (string, bool) {
	c := w.pod.Spec.Containers[0]
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		for _, v := range w.pod.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			if cm := m.configMap(v.ConfigMap.Name); cm != nil {
				data, ok := cm.Data[rel]
				return data, ok
			}
		}
	}
	return "", false
}

var kubeVarRE = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// podEnv computes a pod's environment as the kubelet does: field
// references for this pod, then $(VAR) expanded from earlier variables.
func podEnv(t *testing.T, c corev1.Container, podName string, ordinal int) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			switch f := e.ValueFrom.FieldRef; {
			case f == nil:
				t.Fatalf("env %s: only field references are used", e.Name)
			case f.FieldPath == "metadata.name":
				v = podName
			case f.FieldPath == "metadata.labels['apps.kubernetes.io/pod-index']":
				v = strconv.Itoa(ordinal)
			case f.FieldPath == "status.podIP":
				// The pod's own address; on loopback, 127.0.0.1 is "this node".
				v = "127.0.0.1"
			default:
				t.Fatalf("env %s: field %s not emulated", e.Name, f.FieldPath)
			}
		}
		env[e.Name] = kubeVarRE.ReplaceAllStringFunc(v, func(m string) string {
			name := kubeVarRE.FindStringSubmatch(m)[1]
			if val, ok := env[name]; ok {
				return val
			}
			return m // the kubelet leaves an unknown reference as is
		})
		if strings.Contains(env[e.Name], "$(") {
			t.Errorf("env %s = %q: a reference the kubelet would not expand", e.Name, env[e.Name])
		}
	}
	return env
}

// TestHelmOnLoopback starts the release the default values render, pod by
// pod on loopback: each container's command, the ConfigMap file it mounts,
// its environment as the kubelet would compute it, its PVC as a directory,
// every pod and Service DNS name moved to a loopback port. Pods are waited
// for with their readiness probes, broker pods after their init containers
// pass. Then robustctl sees every journal and broker registered,
// mosquitto clients publish and consume through
// every broker pod, and from one broker pod to the other (forwarded through
// the advertised pod addresses), and kcat finds every broker pod's
// advertised Kafka address in Metadata and produces and consumes through
// them.
func TestHelmOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the cluster")
	}
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install mosquitto-clients; .ci/run installs it)", tool)
		}
	}
	files, err := render(t, valueSets["defaults"])
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, files)
	l := newLoopback(t)
	domain := namespace + ".svc.cluster.local"
	type pod struct {
		w    *workload
		n    *node
		init [][]string
	}
	var pods []*pod
	for _, w := range m.workloads() {
		for i := 0; i < w.replicas; i++ {
			ordinal := w.start + i
			name := fmt.Sprintf("%s-%d", w.name, ordinal)
			if w.kind == "Deployment" {
				name = fmt.Sprintf("%s-pod%d", w.name, i+1)
			}
			c := w.pod.Spec.Containers[0]
			n := &node{name: name, argv: c.Command, env: podEnv(t, c, name, ordinal), dirs: map[string]string{}}
			if w.serviceName != "" {
				n.hosts = []string{name + "." + w.serviceName + "." + domain, name + "." + w.serviceName}
			}
			cfgPath := c.Command[slices.Index(c.Command, "--config")+1]
			n.config, _ = configFile(t, m, w, cfgPath)
			for _, cl := range w.claims {
				for _, vm := range c.VolumeMounts {
					if vm.Name == cl.Name {
						n.dirs[vm.MountPath] = "" // a directory of its own (loopback.add)
					}
				}
			}
			n.health = []string{"robustmq-healthcheck", fmt.Sprintf("http://127.0.0.1:%d%s",
				namedPort(c, c.ReadinessProbe.HTTPGet.Port.String()), c.ReadinessProbe.HTTPGet.Path)}
			p := &pod{w: w, n: n}
			for _, ic := range w.pod.Spec.InitContainers {
				p.init = append(p.init, ic.Command)
			}
			pods = append(pods, p)
			l.add(n)
		}
	}
	// A ClusterIP Service name means one of its pods; the first will do.
	for _, s := range m.services {
		if s.Spec.ClusterIP == "None" {
			continue
		}
		for _, p := range pods {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(p.w.pod.Labels)) {
				l.hosts[s.Name], l.hosts[s.Name+"."+domain] = p.n, p.n
				break
			}
		}
	}
	// Placement members first (a pod without a leader is not ready), then
	// the rest; a pod starts once its init containers have passed.
	for _, phase := range []string{"placement", ""} {
		var started []*pod
		for _, p := range pods {
			if p.n.cmd != nil || (phase != "" && !strings.Contains(p.w.name, phase)) {
				continue
			}
			for _, ic := range p.init {
				waitCommand(t, l, p.n, ic, 60*time.Second)
			}
			l.start(p.n)
			started = append(started, p)
		}
		for _, p := range started {
			l.waitHealthy(p.n, 60*time.Second)
		}
	}

	placementSvc := release + "-robustmq-placement:1228"
	ctl := &node{name: "robustctl", env: map[string]string{"ROBUSTMQ_PLACEMENT": placementSvc}}
	out, err := l.run(ctl, time.Minute, "robustctl", "node", "list", "-o", "json")
	if err != nil {
		t.Fatalf("robustctl node list: %v\n%s", err, out)
	}
	var listed []clusterNode
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("node list: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, n := range listed {
		kinds[n.Kind]++
	}
	if kinds["NODE_KIND_JOURNAL"] != 3 || kinds["NODE_KIND_BROKER"] != 2 {
		t.Errorf("registered %v, want 3 journal and 2 broker nodes", listed)
	}
	var mqttPorts, kafkaPorts []int
	for _, p := range pods {
		if p.w.kind == "Deployment" {
			mqttPorts = append(mqttPorts, l.PortOf(p.n.name, int(namedPort(p.w.pod.Spec.Containers[0], "mqtt"))))
			kafkaPorts = append(kafkaPorts, l.PortOf(p.n.name, int(namedPort(p.w.pod.Spec.Containers[0], "kafka"))))
		}
	}
	for i, port := range mqttPorts {
		next := mqttPorts[(i+1)%len(mqttPorts)]
		pubSub(t, port, port, fmt.Sprintf("helm/%d", i))
		pubSub(t, next, port, fmt.Sprintf("helm/%d-to-next", i))
	}
	kafkaCheck(t, kafkaPorts, "helm-kafka")
}

// waitCommand runs argv inside n until it exits 0, as the kubelet retries a
// failing init container.
func waitCommand(t *testing.T, l *loopback, n *node, argv []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := l.run(n, 5*time.Second, argv...)
		if err == nil {
			t.Logf("%s: init %v passed", n.name, argv)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: init %v did not pass in %s: %s", n.name, argv, timeout, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

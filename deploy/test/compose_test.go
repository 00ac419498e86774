package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The subset of the Compose Specification deploy/docker-compose.yml uses,
// decoded with unknown fields refused: a misspelt key fails here instead of
// being ignored by an older compose.
type composeFile struct {
	Services   map[string]*composeService `yaml:"services"`
	Volumes    map[string]*struct{}       `yaml:"volumes"`
	Extensions map[string]any             `yaml:",inline"` // x-* anchors only
}

type composeService struct {
	Image           string            `yaml:"image"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Hostname        string            `yaml:"hostname"`
	Command         []string          `yaml:"command"`
	Entrypoint      []string          `yaml:"entrypoint"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
	Healthcheck     *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	DependsOn dependsOn `yaml:"depends_on"`
	Deploy    *struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	Profiles []string `yaml:"profiles"`
}

// dependsOn is either a list of services or a map service -> condition.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, s := range names {
			(*d)[s] = "service_started"
		}
		return nil
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for s, c := range m {
			(*d)[s] = c.Condition
		}
		return nil
	}
	return fmt.Errorf("depends_on: line %d: a list or a map", n.Line)
}

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-([^}]*))?\}`)

// loadCompose reads the file with ${VAR:-default} replaced by its default,
// as compose does with the variable unset.
func loadCompose(t testing.TB) *composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	text := interpolation.ReplaceAllStringFunc(string(raw), func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		if sub[2] == "" {
			t.Errorf("${%s} has no default: compose would substitute an empty string", sub[1])
		}
		return sub[3]
	})
	if strings.Contains(text, "$") {
		t.Errorf("a '$' is left after interpolation: compose would read it as a variable")
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	var cf composeFile
	if err := dec.Decode(&cf); err != nil {
		t.Fatalf("deploy/docker-compose.yml: %v", err)
	}
	return &cf
}

// binaryOf is the image binary a service runs.
func (s *composeService) binaryOf() string {
	if len(s.Entrypoint) > 0 {
		return s.Entrypoint[0]
	}
	if len(s.Command) > 0 {
		return s.Command[0]
	}
	return ""
}

func (s *composeService) replicas() int {
	if s.Deploy != nil && s.Deploy.Replicas > 0 {
		return s.Deploy.Replicas
	}
	return 1
}

type portRange struct {
	ip         string
	lo, hi     int
	container  int
	service    string
	definition string
}

var portRE = regexp.MustCompile(`^(?:([0-9.]+):)?([0-9]+)(?:-([0-9]+))?:([0-9]+)(?:/tcp)?$`)

func parsePort(service, p string) (portRange, error) {
	m := portRE.FindStringSubmatch(p)
	if m == nil {
		return portRange{}, fmt.Errorf("%s: port %q is not [ip:]host[-host]:container", service, p)
	}
	r := portRange{ip: m[1], service: service, definition: p}
	if r.ip == "" {
		r.ip = "0.0.0.0"
	}
	r.lo, _ = strconv.Atoi(m[2])
	r.hi = r.lo
	if m[3] != "" {
		r.hi, _ = strconv.Atoi(m[3])
	}
	r.container, _ = strconv.Atoi(m[4])
	if r.hi < r.lo {
		return r, fmt.Errorf("%s: port range %q runs backwards", service, p)
	}
	return r, nil
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestComposeFile checks deploy/docker-compose.yml without running it.
func TestComposeFile(t *testing.T) {
	cf := loadCompose(t)
	for k := range cf.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("unknown top-level key %q", k)
		}
	}
	// The cluster the issue asks for.
	for _, s := range []string{"placement-1", "placement-2", "placement-3", "journal-1", "journal-2", "journal-3", "broker"} {
		if cf.Services[s] == nil {
			t.Fatalf("service %s missing", s)
		}
	}
	if r := cf.Services["broker"].replicas(); r < 2 {
		t.Errorf("broker: %d replicas by default, want at least 2", r)
	}

	var ranges []portRange
	usedVolumes := map[string]bool{}
	peers := map[string]string{} // id -> grpc addr, from the placement services
	for _, name := range slices.Sorted(mapsKeys(cf.Services)) {
		s := cf.Services[name]
		bin := s.binaryOf()
		isRobustMQ := strings.HasPrefix(s.Image, "robustmq-go:")
		if isRobustMQ {
			staticBinary(t, bin) // the command names a binary the image holds
			prefix, service := envPrefix[bin]
			for k := range s.Environment {
				switch {
				case service && !strings.HasPrefix(k, prefix):
					t.Errorf("%s runs %s but sets %s (prefix %s)", name, bin, k, prefix)
				case !service && k != "ROBUSTMQ_PLACEMENT":
					t.Errorf("%s (robustctl) sets %s; robustctl reads ROBUSTMQ_PLACEMENT only", name, k)
				}
			}
			if service && len(s.Profiles) == 0 {
				if s.Healthcheck == nil {
					t.Errorf("%s has no health check", name)
				} else {
					hc := s.Healthcheck.Test
					if len(hc) < 2 || hc[0] != "CMD" {
						t.Errorf("%s: health check %v must be [CMD, binary, ...]: the image has no shell", name, hc)
					} else {
						staticBinary(t, hc[1])
						httpAddr := s.Environment[prefix+"HTTP_ADDR"]
						if !strings.Contains(strings.Join(hc, " "), fmt.Sprintf(":%d/healthz", portOf(httpAddr))) {
							t.Errorf("%s: health check %v does not probe /healthz on the HTTP port of %s", name, hc, httpAddr)
						}
					}
				}
			}
		}
		for _, p := range s.Ports {
			r, err := parsePort(name, p)
			if err != nil {
				t.Error(err)
				continue
			}
			if n := r.hi - r.lo + 1; n < s.replicas() {
				t.Errorf("%s: %d replicas but %q publishes %d host ports", name, s.replicas(), p, n)
			}
			ranges = append(ranges, r)
		}
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(repoRoot(t), "deploy", src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
				continue
			}
			if _, ok := cf.Volumes[src]; !ok {
				t.Errorf("%s: volume %q is not a named volume of the file", name, src)
			}
			usedVolumes[src] = true
			if dataDir, ok := s.Environment[envPrefix[bin]+"DATA_DIR"]; ok && dataDir != dst && isRobustMQ {
				t.Errorf("%s: volume %s is mounted at %s but data_dir is %s", name, src, dst, dataDir)
			}
		}
		if _, service := envPrefix[bin]; service && isRobustMQ {
			for _, err := range registeredAddrs(bin, s.Environment) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if bin == "placement-center" || bin == "journal-server" {
			dataDir := s.Environment[envPrefix[bin]+"DATA_DIR"]
			if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.Contains(v, ":"+dataDir) && !strings.HasPrefix(v, ".") }) {
				t.Errorf("%s: data_dir %q is not on a named volume (%v)", name, dataDir, s.Volumes)
			}
			if s.Hostname != name {
				t.Errorf("%s: hostname %q, want the service name (its address for the others)", name, s.Hostname)
			}
		}
		if bin == "placement-center" {
			peers[s.Environment["ROBUSTMQ_PLACEMENT_NODE_ID"]] = s.Environment["ROBUSTMQ_PLACEMENT_GRPC_ADDR"]
			if h, _, _ := net.SplitHostPort(s.Environment["ROBUSTMQ_PLACEMENT_GRPC_ADDR"]); h != s.Hostname {
				t.Errorf("%s binds gRPC to %q: it must be its hostname, the address its peers know it by", name, h)
			}
		}
		if bin == "journal-server" {
			if h, _, _ := net.SplitHostPort(s.Environment["ROBUSTMQ_JOURNAL_ADVERTISE_ADDR"]); h != s.Hostname {
				t.Errorf("%s advertises %q, not its hostname", name, h)
			}
		}
		for dep, cond := range s.DependsOn {
			d := cf.Services[dep]
			switch {
			case d == nil:
				t.Errorf("%s depends on %s, which does not exist", name, dep)
			case cond == "service_healthy" && d.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
	}
	for v := range cf.Volumes {
		if !usedVolumes[v] {
			t.Errorf("volume %s is declared but not used", v)
		}
	}
	// No two published ports may overlap on the same address (0.0.0.0
	// overlaps everything).
	for i, a := range ranges {
		for _, b := range ranges[i+1:] {
			sameIP := a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0"
			if sameIP && a.lo <= b.hi && b.lo <= a.hi {
				t.Errorf("port clash: %s %q and %s %q", a.service, a.definition, b.service, b.definition)
			}
		}
	}
	// The broker's client listeners are published, in ranges that allow the
	// scale test's 4 replicas.
	broker := cf.Services["broker"]
	for _, key := range []string{"ROBUSTMQ_BROKER_LISTENERS_TCP_ADDR", "ROBUSTMQ_BROKER_LISTENERS_WS_ADDR", "ROBUSTMQ_BROKER_LISTENERS_KAFKA_ADDR"} {
		port := portOf(broker.Environment[key])
		i := slices.IndexFunc(ranges, func(r portRange) bool { return r.service == "broker" && r.container == port })
		switch {
		case i < 0:
			t.Errorf("broker: %s=%q is not a published container port", key, broker.Environment[key])
		case ranges[i].hi-ranges[i].lo+1 < 4:
			t.Errorf("broker: range %q for %s holds fewer than 4 replicas", ranges[i].definition, key)
		}
	}
	// Raft peers: every placement service, by its id and address.
	want := []string{}
	for _, id := range slices.Sorted(mapsKeys(peers)) {
		want = append(want, id+"="+peers[id])
	}
	for _, name := range []string{"placement-1", "placement-2", "placement-3"} {
		got := strings.Split(cf.Services[name].Environment["ROBUSTMQ_PLACEMENT_RAFT_PEERS"], ",")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: raft peers %v, want %v", name, got, want)
		}
	}
	checkPrometheusTargets(t, cf)
}

// checkPrometheusTargets: the monitoring profile scrapes hosts and ports
// the compose services really have.
func checkPrometheusTargets(t *testing.T, cf *composeFile) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	httpPort := func(host string) int {
		s := cf.Services[host]
		if s == nil {
			return -1
		}
		return portOf(s.Environment[envPrefix[s.binaryOf()]+"HTTP_ADDR"])
	}
	n := 0
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				h, _, _ := net.SplitHostPort(target)
				if p := portOf(target); p != httpPort(h) {
					t.Errorf("prometheus job %s: target %s, but %s serves /metrics on %d", sc.JobName, target, h, httpPort(h))
				}
				n++
			}
		}
		for _, d := range sc.DNSSDConfigs {
			for _, h := range d.Names {
				if d.Port != httpPort(h) {
					t.Errorf("prometheus job %s: %s:%d, but the service serves /metrics on %d", sc.JobName, h, d.Port, httpPort(h))
				}
				n++
			}
		}
	}
	if n < 7 {
		t.Errorf("prometheus scrapes %d targets, want the 3 placement, 3 journal and the broker service", n)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// composeNodes turns the file's RobustMQ services (profiles aside) into
// nodes, one per replica; named volumes become temporary directories.
func composeNodes(t *testing.T, cf *composeFile) []*node {
	var nodes []*node
	for _, name := range slices.Sorted(mapsKeys(cf.Services)) {
		s := cf.Services[name]
		if len(s.Profiles) > 0 {
			continue
		}
		for i := 1; i <= s.replicas(); i++ {
			nodes = append(nodes, replicaNode(t, cf, name, i))
		}
	}
	return nodes
}

// replicaNode is replica i of a service ("broker#3"), or the service's one
// container when it is not replicated.
func replicaNode(t *testing.T, cf *composeFile, name string, i int) *node {
	s := cf.Services[name]
	n := &node{name: name, argv: s.Command, env: s.Environment, dirs: map[string]string{}}
	if s.replicas() > 1 || i > 1 {
		n.name = fmt.Sprintf("%s#%d", name, i)
	}
	n.hosts = []string{name}
	if s.Hostname != "" && s.Hostname != name {
		n.hosts = append(n.hosts, s.Hostname)
	}
	for _, v := range s.Volumes {
		_, dst, _ := strings.Cut(v, ":")
		n.dirs[dst] = "" // a directory of its own (loopback.add)
	}
	if s.Healthcheck != nil {
		n.health = s.Healthcheck.Test[1:]
	}
	return n
}

type clusterNode struct {
	NodeID   string `json:"nodeId"`
	Kind     string `json:"kind"`
	GrpcAddr string `json:"grpcAddr"`
	Status   string `json:"status"`
}

// registeredAddrs checks, from a service's environment, the addresses it
// gives out: what a placement member binds (it has no advertise_addr), and
// what a journal node or a broker registers with the placement center (its
// advertise_addr, else its bound address) for gRPC and, for a broker, its
// MQTT listeners (a draining broker refers MQTT 5 clients to another
// broker's) and its Kafka listener (Metadata sends Kafka clients to every
// broker's). Other containers and pods must be able to use each one: not
// an unspecified address (0.0.0.0, ::) nor loopback, nor unset (the
// defaults bind 127.0.0.1). It returns one error per bad address. On
// loopback this cannot be seen: every address is 127.0.0.1 there.
func registeredAddrs(binary string, env map[string]string) []error {
	prefix := envPrefix[binary]
	var keys [][2]string // advertise key, bind key
	switch binary {
	case "placement-center":
		keys = [][2]string{{"", "GRPC_ADDR"}}
	case "journal-server":
		keys = [][2]string{{"ADVERTISE_ADDR", "GRPC_ADDR"}}
	case "broker-server":
		keys = [][2]string{{"ADVERTISE_ADDR", "GRPC_ADDR"}, {"LISTENERS_TCP_ADVERTISE_ADDR", "LISTENERS_TCP_ADDR"}}
		for _, l := range []string{"LISTENERS_WS_", "LISTENERS_KAFKA_"} {
			if env[prefix+l+"ADDR"] != "" {
				keys = append(keys, [2]string{l + "ADVERTISE_ADDR", l + "ADDR"})
			}
		}
	}
	var errs []error
	for _, k := range keys {
		key, addr := prefix+k[1], env[prefix+k[1]]
		if a := env[prefix+k[0]]; k[0] != "" && a != "" {
			key, addr = prefix+k[0], a
		}
		host, _, err := net.SplitHostPort(addr)
		ip := net.ParseIP(host)
		switch {
		case addr == "":
			errs = append(errs, fmt.Errorf("%s is not set: the default binds and registers 127.0.0.1", key))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s=%q: %w", key, addr, err))
		case host == "" || host == "localhost" || ip != nil && (ip.IsUnspecified() || ip.IsLoopback()):
			errs = append(errs, fmt.Errorf("%s=%q is given out as this node's address, which no other container or pod can use", key, addr))
		}
	}
	return errs
}

// TestComposeOnLoopback starts the compose cluster from the file itself:
// each service's command and environment, each volume as a directory, every
// address moved to a loopback port, in depends_on order, each waited for
// with its own health check. Then, as scripts/test-compose.sh does through
// Docker: robustctl (the tools profile's service) sees 3 journal and 2
// broker nodes, mosquitto clients publish and consume
// through every broker and from each broker to another, kcat finds every
// broker's Kafka listener in Metadata and produces and consumes through
// them, brokers scale
// 2 -> 4 -> 2 with a subscriber on broker 1 served throughout (messages
// published on the new brokers reach it), and a 3-replica stream keeps taking writes with one journal
// node stopped.
func TestComposeOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the cluster")
	}
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install mosquitto-clients; .ci/run installs it)", tool)
		}
	}
	cf := loadCompose(t)
	l := newLoopback(t)
	nodes := composeNodes(t, cf)
	for _, n := range nodes {
		l.add(n)
	}
	// Start in depends_on order: a service once all it depends on is healthy.
	healthy := map[string]bool{}
	serviceOf := func(n *node) string { s, _, _ := strings.Cut(n.name, "#"); return s }
	for len(healthy) < len(nodes) {
		var wave []*node
		for _, n := range nodes {
			if n.cmd != nil {
				continue
			}
			ready := true
			for dep := range cf.Services[serviceOf(n)].DependsOn {
				for _, m := range nodes {
					if serviceOf(m) == dep && !healthy[m.name] {
						ready = false
					}
				}
			}
			if ready {
				wave = append(wave, n)
			}
		}
		if len(wave) == 0 {
			t.Fatal("depends_on has a cycle")
		}
		for _, n := range wave {
			l.start(n)
		}
		for _, n := range wave {
			l.waitHealthy(n, 60*time.Second)
			healthy[n.name] = true
		}
	}

	ctl := &node{name: "robustctl", env: cf.Services["robustctl"].Environment}
	robustctl := func(args ...string) string {
		t.Helper()
		out, err := l.run(ctl, 2*time.Minute, append([]string{"robustctl"}, args...)...)
		if err != nil {
			t.Fatalf("robustctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	brokers := cf.Services["broker"].replicas()
	if brokers < 2 {
		t.Fatalf("broker: %d replicas", brokers)
	}
	// nodesAlive waits until robustctl lists the journal and broker counts.
	nodesAlive := func(journals, brokers int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var listed []clusterNode
			out := robustctl("node", "list", "-o", "json")
			if err := json.Unmarshal([]byte(out), &listed); err != nil {
				t.Fatalf("node list: %v\n%s", err, out)
			}
			count := map[string]int{}
			for _, n := range listed {
				if n.Status == "NODE_STATUS_ALIVE" {
					count[n.Kind]++
				}
			}
			if count["NODE_KIND_JOURNAL"] == journals && count["NODE_KIND_BROKER"] == brokers {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node list: want %d journal and %d broker nodes alive, got %v", journals, brokers, listed)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	nodesAlive(3, brokers)

	// MQTT through every broker replica, with mosquitto clients: on one
	// broker, and from each broker to the next.
	for i := 1; i <= brokers; i++ {
		this, next := l.PortOf(fmt.Sprintf("broker#%d", i), 1883), l.PortOf(fmt.Sprintf("broker#%d", i%brokers+1), 1883)
		pubSub(t, this, this, fmt.Sprintf("compose/%d", i))
		pubSub(t, next, this, fmt.Sprintf("compose/%d-to-%d", i, i%brokers+1))
	}
	var kafkaPorts []int
	for i := 1; i <= brokers; i++ {
		kafkaPorts = append(kafkaPorts, l.PortOf(fmt.Sprintf("broker#%d", i), portOf(cf.Services["broker"].Environment["ROBUSTMQ_BROKER_LISTENERS_KAFKA_ADDR"])))
	}
	kafkaCheck(t, kafkaPorts, "compose-kafka")

	// Scale brokers up by 2 and back (`--scale broker=N`: more replicas of
	// the same service definition) while a subscriber stays on broker#1.
	first := strconv.Itoa(l.PortOf("broker#1", 1883))
	steady := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", first, "-t", "compose/steady", "-q", "1", "-C", "3", "-W", "120")
	var got strings.Builder
	steady.Stdout, steady.Stderr = &got, &got
	if err := steady.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = steady.Process.Kill() }()
	publish := func(msg string) {
		t.Helper()
		if out, err := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", first, "-t", "compose/steady", "-q", "1", "-m", msg).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	first1883 := l.PortOf("broker#1", 1883)
	pubSub(t, first1883, first1883, "compose/ready") // the subscriber's broker is serving
	time.Sleep(500 * time.Millisecond)               // and its subscription is in place
	publish("before-scale")
	var extra []*node
	for i := brokers + 1; i <= brokers+2; i++ {
		n := replicaNode(t, cf, "broker", i)
		l.add(n)
		l.start(n)
		extra = append(extra, n)
	}
	for _, n := range extra {
		l.waitHealthy(n, 60*time.Second)
		// A new broker serves, and forwards to a subscriber on an old one.
		pubSub(t, first1883, l.PortOf(n.name, 1883), "compose/"+strings.ReplaceAll(n.name, "#", "-"))
	}
	nodesAlive(3, brokers+2)
	publish("after-scale-up")
	for _, n := range extra {
		l.stop(n)
	}
	nodesAlive(3, brokers) // a stopped broker unregisters
	publish("after-scale-down")
	if err := steady.Wait(); err != nil || got.String() != "before-scale\nafter-scale-up\nafter-scale-down\n" {
		t.Fatalf("the subscriber kept across scaling: %v, got %q", err, got.String())
	}

	// Writes continue with one journal node stopped.
	robustctl("stream", "create", "compose-demo", "--partitions", "3", "--replicas", "3")
	robustctl("bench", "produce", "--stream", "compose-demo", "--count", "600", "--size", "100", "--timeout", "90s")
	l.stop(l.nodes["journal-2"])
	robustctl("bench", "produce", "--stream", "compose-demo", "--count", "600", "--size", "100", "--timeout", "90s")
	out := robustctl("bench", "consume", "--stream", "compose-demo", "--expect", "1200", "--timeout", "90s")
	t.Logf("consume after journal-2 stopped: %s", strings.TrimSpace(out))
}

// pubSub publishes one QoS 1 message with mosquitto_pub to the broker on
// pubPort and receives it with mosquitto_sub on the broker on subPort (the
// same broker, or another one: brokers forward to each other's
// subscribers through the addresses they registered).
func pubSub(t *testing.T, subPort, pubPort int, topic string) {
	t.Helper()
	sp, pp := strconv.Itoa(subPort), strconv.Itoa(pubPort)
	sub := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", sp, "-t", topic, "-q", "1", "-C", "1", "-W", "20")
	var got strings.Builder
	sub.Stdout, sub.Stderr = &got, &got
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	msg := "hello " + topic
	// The subscription (and its route, on another broker) may not be in
	// place yet: publish until it is received.
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()
	for i := 0; ; i++ {
		if out, err := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", pp, "-t", topic, "-q", "1", "-m", msg).CombinedOutput(); err != nil {
			_ = sub.Process.Kill()
			t.Fatalf("mosquitto_pub to port %s: %v\n%s", pp, err, out)
		}
		select {
		case err := <-done:
			if err != nil || strings.TrimSpace(got.String()) != msg {
				t.Fatalf("mosquitto_sub on port %s: %v, got %q want %q", sp, err, got.String(), msg)
			}
			t.Logf("published on port %s, consumed on port %s: %q", pp, sp, msg)
			return
		case <-time.After(500 * time.Millisecond):
		}
		if i == 30 {
			_ = sub.Process.Kill()
			t.Fatalf("mosquitto_sub on port %s received nothing published on port %s in 15 s: %q", sp, pp, got.String())
		}
	}
}

// kafkaCheck drives the brokers' Kafka listeners on ports with kcat
// (librdkafka): Metadata from each broker lists exactly the brokers'
// advertised addresses, which on loopback are 127.0.0.1:port (a broker
// advertising another listener's or another broker's address shows here),
// and a record produced through the first broker is consumed through the
// last. Producing and consuming go to the brokers Metadata names, at their
// advertised addresses, as they would in the real deployment.
func kafkaCheck(t *testing.T, ports []int, topic string) {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is needed (apt-get install kcat)")
	}
	kcat := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "kcat", args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return string(out)
	}
	var want []string
	for _, p := range ports {
		want = append(want, fmt.Sprintf("127.0.0.1:%d", p))
	}
	slices.Sort(want)
	for _, p := range ports {
		var md struct {
			Brokers []struct {
				ID   int    `json:"id"`
				Name string `json:"name"`
			} `json:"brokers"`
		}
		out := kcat("", "-b", fmt.Sprintf("127.0.0.1:%d", p), "-L", "-J", "-m", "20")
		if err := json.Unmarshal([]byte(out), &md); err != nil {
			t.Fatalf("kcat -L -J on port %d: %v\n%s", p, err, out)
		}
		var got []string
		for _, b := range md.Brokers {
			got = append(got, b.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("Kafka Metadata from port %d lists brokers %v, want %v", p, got, want)
		}
	}
	first, last := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[len(ports)-1])
	msg := "hello " + topic
	kcat(msg+"\n", "-b", first, "-P", "-t", topic)
	if got := strings.TrimSpace(kcat("", "-b", last, "-C", "-t", topic, "-o", "beginning", "-c", "1", "-q")); got != msg {
		t.Fatalf("kcat consumed %q through %s, want %q produced through %s", got, last, msg, first)
	}
	t.Logf("Kafka: Metadata lists %v; produced through %s, consumed through %s", want, first, last)
}

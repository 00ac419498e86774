package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// kcat runs kcat (librdkafka) with stdin and returns its stdout.
func kcat(t *testing.T, stdin string, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\nstdout: %s\nstderr: %s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// TestIntegrationKafkaKcat: kcat -L lists both brokers, -P produces
// through one broker, -C reads through the other, and -C -G consumes as a
// group, commits, and a second run resumes after the committed offsets.
func TestIntegrationKafkaKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed (Debian package kcat; .ci/run installs it)")
	}
	c := startCluster(t, 2, "ROBUSTMQ_BROKER_KAFKA_DEFAULT_PARTITIONS=2")
	tp := topic("kcat")
	var lines []string
	for i := 0; i < 50; i++ {
		lines = append(lines, fmt.Sprintf("line-%02d", i))
	}
	kcat(t, strings.Join(lines, "\n")+"\n", 30*time.Second, "-b", c.kafka(0), "-P", "-t", tp)

	md := kcat(t, "", 20*time.Second, "-b", c.kafka(1), "-L", "-t", tp)
	if !strings.Contains(md, "2 brokers:") || !strings.Contains(md, fmt.Sprintf("topic \"%s\" with 2 partitions", tp)) {
		t.Fatalf("kcat -L:\n%s", md)
	}

	out := kcat(t, "", 30*time.Second, "-b", c.kafka(1), "-C", "-t", tp, "-o", "beginning", "-e", "-f", "%p %o %s\n")
	got := parseKcat(t, out)
	checkInOrder(t, lines, got)

	// A group consumer reads everything and commits.
	grp := "kcat-group-" + tp
	out = kcat(t, "", 60*time.Second, "-b", c.kafka(0), "-C", "-G", grp, "-o", "beginning", "-c", "50", "-f", "%p %o %s\n",
		"-X", "auto.commit.interval.ms=100", tp)
	checkInOrder(t, lines, parseKcat(t, out))

	adm := kadm.NewClient(kgoClient(t, c.bc.KafkaAddrs()))
	ctx := ctxFor(t, 30*time.Second)
	offs, err := adm.FetchOffsets(ctx, grp)
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != 50 {
		t.Fatalf("group %s committed %d records' worth of offsets, want 50: %+v", grp, committed, offs)
	}

	// More records; the same group resumes where it committed.
	more := []string{"after-1", "after-2", "after-3"}
	kcat(t, strings.Join(more, "\n")+"\n", 30*time.Second, "-b", c.kafka(1), "-P", "-t", tp)
	// (A partition that had no record before has no committed offset:
	// earliest makes it start at 0 rather than at its end.)
	out = kcat(t, "", 60*time.Second, "-b", c.kafka(1), "-C", "-G", grp, "-c", "3", "-f", "%p %o %s\n",
		"-X", "auto.offset.reset=earliest", tp)
	checkInOrder(t, more, parseKcat(t, out))
}

func parseKcat(t *testing.T, out string) []record {
	t.Helper()
	var got []record
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r record
		if _, err := fmt.Sscanf(l, "%d %d %s", &r.partition, &r.offset, &r.value); err != nil {
			t.Fatalf("kcat line %q: %v", l, err)
		}
		got = append(got, r)
	}
	return got
}
